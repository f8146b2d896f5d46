//! Media through the real binary, with sipp on both sides (all 127.0.0.1):
//! the carrier plays an announcement from the shipped library as early
//! media (a pcap made by `testdata/gen/wav2pcap.py`, played by sipp's
//! `play_pcap_audio`) then rejects the call; the caller's media is a socket
//! of the test, which counts what tonegate relays; the recording of the
//! early media classifies to the announcement's code. An answered call
//! carries audio both ways (the carrier echoes, `-rtp_echo`) and follows
//! the caller to a new source port (latching).
//!
//! Each test uses its own RTP port range (free when the test starts, below
//! 20000: outside the default range and the ephemeral ports), so they run
//! in parallel.

mod common;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

/// The announcement played (and its pcap, 6 s of it, PCMU).
const PCAP: &str = "../../testdata/pcap/2114-ct-pcmu.pcap";
const PCAP_PACKETS: usize = 300;

fn media_tables(dir: &Path, ports: &str) -> String {
    format!(
        "[rtp]\nports = \"{ports}\"\naddress = \"127.0.0.1\"\n\
         [recordings]\ndir = \"{}\"\n",
        dir.join("rec").display()
    )
}

fn sink() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    s
}

/// An RTP packet: PCMU, `ssrc`, `seq`.
fn rtp(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&ssrc.to_be_bytes());
    p.extend_from_slice(&[0xFF; 160]);
    p
}

fn ssrc_of(p: &[u8]) -> Option<u32> {
    (p.len() >= 12 && p[0] >> 6 == 2).then(|| u32::from_be_bytes([p[8], p[9], p[10], p[11]]))
}

fn finish(dir: &Path, log: &Path, uac: &mut Guard, uas: &mut Guard, test: &str) {
    let uac_status = wait_bounded(&mut uac.0, Duration::from_secs(40));
    let uas_status = wait_bounded(&mut uas.0, Duration::from_secs(15));
    let ok = |s: Option<std::process::ExitStatus>| s.is_some_and(|s| s.success());
    if ok(uac_status) && ok(uas_status) {
        return;
    }
    let mut report = format!(
        "{test}: caller sipp {uac_status:?}, carrier sipp {uas_status:?} ({})\n",
        dir.display()
    );
    for f in [
        "uac_errors.log",
        "uas_errors.log",
        "uac_messages.log",
        "uas_messages.log",
    ] {
        report += &format!("----- {f}\n{}\n", read(&dir.join(f)));
    }
    report += &format!("----- tonegate log\n{}\n", read(log));
    panic!("{report}");
}

#[test]
fn early_media_is_relayed_recorded_and_classified() {
    let dir = scratch("early_media");
    let (base, ports) = rtp_ports(20);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(PCAP),
        dir.join("early.pcap"),
    )
    .unwrap();
    let carrier_port = free_port();
    let gw = start_gateway(
        &dir,
        carrier_port,
        Proto::Udp,
        "",
        &media_tables(&dir, &ports),
    );

    let mut uas = start_carrier(&dir, "uas_early_media_480.xml", carrier_port, &[]);
    let caller_media = sink();
    let sink_port = caller_media.local_addr().unwrap().port().to_string();
    let mut uac = start_caller(
        &dir,
        "uac",
        "uac_early_media.xml",
        gw.addr,
        &["-key", "sink_port", &sink_port],
    );

    // Count the early media tonegate relays to the caller until the call ends.
    let mut received = 0usize;
    let mut from_port = None;
    let mut buf = [0u8; 2048];
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        match caller_media.recv_from(&mut buf) {
            Ok((n, from)) => {
                if ssrc_of(&buf[..n]).is_some() {
                    received += 1;
                    from_port = Some(from.port());
                }
            }
            Err(_) => {
                if uac.0.try_wait().unwrap().is_some() {
                    break;
                }
            }
        }
    }
    finish(&dir, &gw.log, &mut uac, &mut uas, "early media");
    // Loopback loses nothing; allow a few packets at the edges.
    assert!(
        received >= PCAP_PACKETS - 10,
        "caller got {received} of {PCAP_PACKETS} early-media packets; log:\n{}",
        read(&gw.log)
    );
    assert_eq!(
        from_port,
        Some(base),
        "sent from the caller-facing port of the first call"
    );

    // The recording: one WAV of about the 6 s played, classified 2114.
    let recs: Vec<_> = std::fs::read_dir(dir.join("rec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(recs.len(), 1, "{recs:?}");
    let wav = hound::WavReader::open(&recs[0]).unwrap();
    assert_eq!(wav.spec().sample_rate, 8000);
    let secs = wav.duration() as f64 / 8000.0;
    assert!((5.5..=6.5).contains(&secs), "recording is {secs} s");
    let out = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["classify", "--json"])
        .arg(&recs[0])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["hangupGcode"], 2114, "{line}");
    // The gateway heard it live, on the call's own stream.
    let log = read(&gw.log);
    assert!(
        log.contains("early media classified") && log.contains("code=2114"),
        "no live decision in the log:\n{log}"
    );
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn answered_call_carries_audio_both_ways_and_follows_a_new_source_port() {
    let dir = scratch("answered_media");
    let (base, ports) = rtp_ports(20);
    let carrier_port = free_port();
    let gw = start_gateway(
        &dir,
        carrier_port,
        Proto::Udp,
        "",
        &format!("{}whole_call = true\n", media_tables(&dir, &ports)),
    );

    let mut uas = start_carrier(&dir, "uas_answer_echo.xml", carrier_port, &["-rtp_echo"]);
    let first = sink();
    let sink_port = first.local_addr().unwrap().port().to_string();
    let mut uac = start_caller(
        &dir,
        "uac",
        "uac_answer_sink_bye.xml",
        gw.addr,
        &["-key", "sink_port", &sink_port],
    );

    // The caller-facing port of the first call of the range.
    let gw_media = SocketAddr::from(([127, 0, 0, 1], base));
    // Caller → tonegate → carrier (echo) → tonegate → caller.
    let echoes = |sock: &UdpSocket, ssrc: u32, want: usize| -> usize {
        let mut got = 0;
        let mut seq = 0u16;
        let mut buf = [0u8; 2048];
        let end = Instant::now() + Duration::from_secs(4);
        while got < want && Instant::now() < end {
            seq = seq.wrapping_add(1);
            sock.send_to(&rtp(ssrc, seq), gw_media).unwrap();
            while let Ok((n, _)) = sock.recv_from(&mut buf) {
                if ssrc_of(&buf[..n]) == Some(ssrc) {
                    got += 1;
                }
            }
        }
        got
    };
    let got_first = echoes(&first, 0x1111, 25);
    // The caller's NAT moves it to another port: tonegate follows.
    let second = sink();
    let got_second = echoes(&second, 0x2222, 25);
    // Nothing of the new stream goes back to the old port.
    let mut buf = [0u8; 2048];
    let mut stale = 0;
    while let Ok((n, _)) = first.recv_from(&mut buf) {
        if ssrc_of(&buf[..n]) == Some(0x2222) {
            stale += 1;
        }
    }
    finish(&dir, &gw.log, &mut uac, &mut uas, "answered media");
    assert!(
        got_first >= 25,
        "echoes at the first port: {got_first}; log:\n{}",
        read(&gw.log)
    );
    assert!(
        got_second >= 25,
        "echoes at the new port: {got_second}; log:\n{}",
        read(&gw.log)
    );
    assert_eq!(stale, 0);
    // Whole-call recording: the carrier's side and the caller's, each in its own file.
    let mut recs: Vec<_> = std::fs::read_dir(dir.join("rec"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    recs.sort();
    assert_eq!(recs.len(), 2, "{recs:?}");
    assert!(
        recs[0].to_string_lossy().ends_with(".caller.wav"),
        "{recs:?}"
    );
    for r in &recs {
        let secs = hound::WavReader::open(r).unwrap().duration() as f64 / 8000.0;
        assert!(secs >= 0.5, "{}: {secs} s", r.display());
    }
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An answered call on which nobody sends RTP is released after
/// `rtp.timeout_s`: both parties get a BYE.
#[test]
fn answered_call_without_rtp_is_released_both_ways() {
    let dir = scratch("rtp_timeout");
    let carrier_port = free_port();
    let tables = media_tables(&dir, &rtp_ports(20).1).replace("[rtp]\n", "[rtp]\ntimeout_s = 2\n");
    let gw = start_gateway(&dir, carrier_port, Proto::Udp, "", &tables);
    let mut uas = start_carrier(&dir, "uas_answer_recv_bye.xml", carrier_port, &[]);
    let started = Instant::now();
    let mut uac = start_caller(
        &dir,
        "uac",
        "uac_answer_recv_bye.xml",
        gw.addr,
        &["-mp", &free_port().to_string()],
    );
    finish(&dir, &gw.log, &mut uac, &mut uas, "rtp timeout");
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(2), "released after {took:?}");
    assert!(read(&gw.log).contains("no RTP on the answered call"));
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
