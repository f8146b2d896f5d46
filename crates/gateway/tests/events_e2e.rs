//! Events end to end: sipp caller → tonegate → sipp carrier, with a webhook
//! receiver of the test's own on 127.0.0.1. An announcement in early media
//! then 480 gives one HangupCauseEvent with the heard code and a recordUrl
//! that downloads the recording; an answered call gives a
//! SipDockingCallEnd with its duration; a receiver answering 500 gets the
//! event again on schedule; a gateway killed with SIGKILL while the
//! receiver is down delivers everything after its restart.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use common::*;

const PCAP: &str = "../../testdata/pcap/2114-ct-pcmu.pcap";

/// `[rtp]`, `[recordings]`, `[http]`, `[events]` and the trunk's callback.
fn tables(dir: &Path, rtp_ports: &str, http_port: u16, hook_port: u16, callback: &str) -> String {
    format!(
        "callback_url = \"http://127.0.0.1:{hook_port}/hook\"\n{callback}\n\
         [rtp]\nports = \"{rtp_ports}\"\naddress = \"127.0.0.1\"\n\
         [recordings]\ndir = \"{rec}\"\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\nsecret = \"s3cret\"\n\
         [events]\noutbox = \"{outbox}\"\n",
        rec = dir.join("rec").display(),
        outbox = dir.join("outbox.redb").display(),
    )
}

/// A gateway whose trunk posts its events to the hook on `hook_port`, with `callback`'s
/// trunk settings.
fn start_hooked(
    dir: &Path,
    carrier_port: u16,
    http_port: u16,
    hook_port: u16,
    callback: &str,
) -> Gateway {
    let tables = tables(dir, &rtp_ports(20).1, http_port, hook_port, callback);
    start_gateway(dir, carrier_port, Proto::Udp, "", &tables)
}

/// `calls` calls that the carrier refuses with 486.
fn refused_calls(dir: &Path, gw: &Gateway, carrier_port: u16, calls: u32) {
    run_sipp_pair(
        dir,
        gw,
        carrier_port,
        "uac_expect_486.xml",
        "uas_reject_486.xml",
        calls,
        &[],
    );
}

fn run_sipp_pair(
    dir: &Path,
    gw: &Gateway,
    carrier_port: u16,
    uac: &str,
    uas: &str,
    calls: u32,
    extra_uac: &[&str],
) {
    let calls = calls.to_string();
    let mut uas = start_carrier(dir, uas, carrier_port, &["-m", &calls]);
    let mut args = vec!["-m", calls.as_str(), "-r", "5"];
    args.extend_from_slice(extra_uac);
    let mut uac = start_caller(dir, "uac", uac, gw.addr, &args);
    let a = wait_bounded(&mut uac.0, Duration::from_secs(40));
    let b = wait_bounded(&mut uas.0, Duration::from_secs(15));
    assert!(
        a.is_some_and(|s| s.success()) && b.is_some_and(|s| s.success()),
        "sipp caller {a:?} carrier {b:?}\n{}\n{}\n----- log\n{}",
        read(&dir.join("uac_errors.log")),
        read(&dir.join("uas_errors.log")),
        read(&gw.log)
    );
}

/// GET over plain HTTP/1.1: (status, body).
fn http_get(url: &str) -> (u16, Vec<u8>) {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_once('/').unwrap();
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    let head_end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, buf[head_end + 4..].to_vec())
}

#[test]
fn announcement_then_480_gives_one_hangup_cause_event_with_a_working_record_url() {
    let dir = scratch("ev_announcement");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(PCAP),
        dir.join("early.pcap"),
    )
    .unwrap();
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 200);

    let hook_port = hook.port;
    let gw = start_gateway(
        &dir,
        carrier_port,
        Proto::Udp,
        "",
        &tables(
            &dir,
            &rtp_ports(20).1,
            http_port,
            hook_port,
            "callback_secret = \"hooksecret\"",
        ),
    );
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    run_sipp_pair(
        &dir,
        &gw,
        carrier_port,
        "uac_early_media.xml",
        "uas_early_media_480.xml",
        1,
        &["-key", "sink_port", &sink_port],
    );

    let got = hook.wait_for(Duration::from_secs(10), |g| g.len() >= 2);
    assert_eq!(got.len(), 2, "{got:?}\n{}", read(&gw.log));
    let cause: Vec<_> = got
        .iter()
        .filter(|h| h.json()["event"] == "HangupCauseEvent")
        .collect();
    assert_eq!(cause.len(), 1, "exactly one HangupCauseEvent");
    let ev = cause[0].json();
    assert_eq!(ev["hangupGcode"], 2114, "{ev}");
    assert_eq!(ev["hangupGname"], "空号");
    assert_eq!(ev["mediaLabel"], "announcement");
    assert_eq!(ev["sipStatus"], 480);
    assert_eq!(ev["called"], "4930123456");
    assert_eq!(ev["caller"], "+4940111");
    for k in ["callTime", "ringingTime", "hangupTime"] {
        let v = ev[k].as_u64().unwrap_or_else(|| panic!("{k} in {ev}"));
        assert_eq!(v.to_string().len(), 13, "{k} is 13-digit ms");
    }
    assert!(ev["ringingTime"].as_u64() >= ev["callTime"].as_u64());
    assert!(ev["hangupTime"].as_u64() >= ev["ringingTime"].as_u64());
    assert!(
        ev["decidedAtMs"]
            .as_u64()
            .is_some_and(|ms| ms > 0 && ms < 6500),
        "{ev}"
    );
    assert_eq!(
        ev["eventId"].as_str().unwrap(),
        cause[0].header("X-Tonegate-Event-Id").unwrap()
    );
    // Signed with the trunk's secret.
    let sig = cause[0].header("X-Tonegate-Signature").unwrap();
    let mac = sig.strip_prefix("sha256=").unwrap();
    assert_eq!(mac.len(), 64);

    // recordUrl downloads the WAV; a wrong token is refused.
    let url = ev["recordUrl"].as_str().unwrap().to_owned();
    let (status, wav) = http_get(&url);
    assert_eq!(status, 200);
    assert_eq!(&wav[..4], b"RIFF");
    assert!(
        wav.len() > 8000 * 2 * 5,
        "about 6 s of 8 kHz PCM: {} bytes",
        wav.len()
    );
    let (status, _) = http_get(&format!("{}0", url));
    assert_eq!(status, 403);

    let end = got
        .iter()
        .find(|h| h.json()["event"] == "SipDockingCallEnd")
        .unwrap()
        .json();
    assert_eq!(end["hangupGcode"], 2114);
    assert_eq!(end["duration"], 0);
    assert_eq!(end["answerTime"], "");
    let t = end["callTime"].as_str().unwrap();
    assert_eq!(t.len(), 19, "yyyy-MM-dd HH:mm:ss: {t}");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn answered_call_gives_a_call_end_record_with_its_duration() {
    let dir = scratch("ev_answered");
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 200);

    let hook_port = hook.port;
    let gw = start_hooked(&dir, carrier_port, http_port, hook_port, "");
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    run_sipp_pair(
        &dir,
        &gw,
        carrier_port,
        "uac_answer_sink_bye.xml",
        "uas_answer_echo.xml",
        1,
        &["-key", "sink_port", &sink_port],
    );
    hook.wait_for(Duration::from_secs(10), |g| !g.is_empty());
    // Time for a second event, were one (wrongly) sent.
    std::thread::sleep(Duration::from_millis(300));
    let got = hook.requests();
    assert_eq!(
        got.len(),
        1,
        "only SipDockingCallEnd for an answered call: {got:?}"
    );
    let end = got[0].json();
    assert_eq!(end["event"], "SipDockingCallEnd");
    assert_eq!(end["hangupGcode"], 0);
    assert_eq!(end["hangupGname"], "正常结束");
    // The caller holds the call 5 s before its BYE.
    let d = end["duration"].as_u64().unwrap();
    assert!((4500..=8000).contains(&d), "duration {d} ms");
    assert_eq!(end["answerTime"].as_str().unwrap().len(), 19);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn receiver_errors_are_retried_on_schedule_with_the_same_event_id() {
    let dir = scratch("ev_retry");
    let (carrier_port, http_port) = (free_port(), free_port());
    // 500 twice, then 200.
    let hook = Hook::start(0, |n| if n < 2 { 500 } else { 200 });

    let hook_port = hook.port;
    let callback = "events = [\"HangupCauseEvent\"]\nretry_interval_s = 0.5\nretries = 3";
    let gw = start_hooked(&dir, carrier_port, http_port, hook_port, callback);
    refused_calls(&dir, &gw, carrier_port, 1);
    let got = hook.wait_for(Duration::from_secs(15), |g| g.len() >= 3);
    assert_eq!(got.len(), 3, "{got:?}");
    let ids: Vec<_> = got
        .iter()
        .map(|h| h.header("X-Tonegate-Event-Id").unwrap().to_owned())
        .collect();
    assert!(ids.iter().all(|i| *i == ids[0]), "{ids:?}");
    let ev = got[2].json();
    assert_eq!(
        ev["hangupGcode"], 1017,
        "486 without early media: user busy"
    );
    assert!(wait_log(
        &gw.log,
        "webhook delivered",
        1,
        Duration::from_secs(5)
    ));
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(hook.requests().len(), 3, "no attempt after the 200");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn events_survive_sigkill_while_the_receiver_is_down() {
    let dir = scratch("ev_sigkill");
    let (carrier_port, http_port, hook_port) = (free_port(), free_port(), free_port());
    let tables = tables(
        &dir,
        &rtp_ports(20).1,
        http_port,
        hook_port,
        "retry_interval_s = 600",
    );
    let gw = start_gateway(&dir, carrier_port, Proto::Udp, "", &tables);
    // Five rejected calls, nobody listening at the callback: 10 events stored, none delivered.
    refused_calls(&dir, &gw, carrier_port, 5);
    assert!(
        wait_log(&gw.log, "webhook event stored", 10, Duration::from_secs(10)),
        "{}",
        read(&gw.log)
    );
    assert!(wait_log(
        &gw.log,
        "webhook attempt failed",
        10,
        Duration::from_secs(10)
    ));
    let mut gw = gw;
    gw.guard.0.kill().unwrap(); // SIGKILL
    let _ = gw.guard.0.wait();

    // Receiver up, gateway back on the same outbox: everything is delivered.
    let hook = Hook::start(hook_port, |_| 200);
    let gw2 = launch(&dir.join("tonegate.toml"), dir.join("tonegate2.log"));
    let got = hook.wait_for(Duration::from_secs(15), |g| g.len() >= 10);
    let mut ids: Vec<String> = got
        .iter()
        .map(|h| h.json()["eventId"].as_str().unwrap().to_owned())
        .collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        10,
        "all ten events, duplicates only by eventId: {got:?}\n{}",
        read(&gw2.log)
    );
    let causes = got
        .iter()
        .filter(|h| h.json()["event"] == "HangupCauseEvent")
        .count();
    assert!(causes >= 5);
    drop(gw2);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Seconds since midnight of a sipp message-log timestamp line
/// (`----- 2026-11-23 01:33:10.479209`).
fn log_time(line: &str) -> Option<f64> {
    let t = line.split_whitespace().last()?;
    let mut it = t.split(':');
    let (h, m, s) = (it.next()?, it.next()?, it.next()?);
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// When the carrier received the first message starting with `start`.
fn received_at(messages: &str, start: &str) -> Option<f64> {
    let mut stamp = None;
    let mut lines = messages.lines().peekable();
    while let Some(l) = lines.next() {
        if l.starts_with("-----") {
            stamp = log_time(l);
        } else if l.contains("message received") {
            // The message follows after a blank line.
            let msg = lines.by_ref().find(|x| !x.trim().is_empty())?;
            if msg.starts_with(start) {
                return stamp;
            }
        }
    }
    None
}

#[test]
fn early_release_cuts_a_looping_announcement_short() {
    let dir = scratch("ev_early_release");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcap/2103-ct-loop30-pcmu.pcap"),
        dir.join("early.pcap"),
    )
    .unwrap();
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 200);

    let hook_port = hook.port;
    let callback = "events = [\"HangupCauseEvent\"]\nearly_release = true";
    let gw = start_hooked(&dir, carrier_port, http_port, hook_port, callback);
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    run_sipp_pair(
        &dir,
        &gw,
        carrier_port,
        "uac_early_release.xml",
        "uas_early_media_cancel.xml",
        1,
        &["-key", "sink_port", &sink_port],
    );

    // Carrier occupancy: from its INVITE to the CANCEL.
    let messages = read_all(&dir.join("uas_messages.log"));
    let invite = received_at(&messages, "INVITE ").expect("INVITE in the carrier's log");
    let cancel = received_at(&messages, "CANCEL ").expect("CANCEL in the carrier's log");
    let occupancy = cancel - invite;
    eprintln!("carrier occupancy {occupancy:.3} s");
    assert!(
        occupancy > 0.0 && occupancy < 3.0,
        "carrier held for {occupancy:.3} s"
    );

    let got = hook.wait_for(Duration::from_secs(10), |g| !g.is_empty());
    let ev = got[0].json();
    assert_eq!(ev["hangupGcode"], 2103, "{ev}");
    assert_eq!(ev["hangupGname"], "网络忙");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

fn copy_dir(from: &Path, to: &Path, skip: &str) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with(skip) {
            continue;
        }
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(&name), skip);
        } else {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}

/// The learning loop: a code the library lacks is not heard; `tonegate
/// library add` and SIGHUP (with a call in progress, which completes)
/// make the next call heard.
#[test]
fn sighup_reloads_the_library_without_dropping_a_call() {
    let dir = scratch("ev_sighup");
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    std::fs::copy(
        shipped.join("pcap/2103-ct-pcmu.pcap"),
        dir.join("early.pcap"),
    )
    .unwrap();
    let lib = dir.join("library");
    copy_dir(&shipped.join("library"), &lib, "2103");
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 200);

    let hook_port = hook.port;
    let extra = format!(
        "{}[classify]\nlibrary = \"{}\"\n",
        tables(
            &dir,
            &rtp_ports(20).1,
            http_port,
            hook_port,
            "events = [\"HangupCauseEvent\"]"
        ),
        lib.display()
    );
    let gw = start_gateway(&dir, carrier_port, Proto::Udp, "", &extra);

    let mut uas = start_carrier(&dir, "uas_early_media_480.xml", carrier_port, &["-m", "2"]);
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let caller = |role: &str| {
        start_caller(
            &dir,
            role,
            "uac_early_media.xml",
            gw.addr,
            &["-key", "sink_port", &sink_port],
        )
    };

    // Call A rings with the 2103 announcement; the library learns 2103 meanwhile.
    let mut a = caller("uac_a");
    std::thread::sleep(Duration::from_millis(1500));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["library", "add", "--code", "2103", "--library"])
        .arg(&lib)
        .arg(shipped.join("library/2103-network-busy/ct.wav"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = gw.guard.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        wait_log(
            &gw.log,
            "configuration reloaded",
            1,
            Duration::from_secs(20)
        ),
        "{}",
        read(&gw.log)
    );
    let status = wait_bounded(&mut a.0, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "call A dropped: {status:?}\n{}",
        read(&dir.join("uac_a_errors.log"))
    );

    // Call B: heard.
    let mut b = caller("uac_b");
    let status = wait_bounded(&mut b.0, Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "call B: {status:?}");
    let _ = wait_bounded(&mut uas.0, Duration::from_secs(10));

    let got = hook.wait_for(Duration::from_secs(10), |g| g.len() >= 2);
    assert_eq!(got.len(), 2, "{got:?}");
    let codes: Vec<_> = got
        .iter()
        .map(|h| h.json()["hangupGcode"].clone())
        .collect();
    assert_ne!(
        codes[0], 2103,
        "call A started before the reload: {codes:?}"
    );
    assert_eq!(codes[1], 2103, "call B after the reload: {codes:?}");
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A receiver that never accepts the event: given up after the retries,
/// and listable with `tonegate outbox` once the gateway stopped.
#[test]
fn given_up_events_stay_listable() {
    let dir = scratch("ev_given_up");
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 503);

    let hook_port = hook.port;
    let callback = "events = [\"HangupCauseEvent\"]\nretry_interval_s = 0.2\nretries = 1";
    let mut gw = start_hooked(&dir, carrier_port, http_port, hook_port, callback);
    refused_calls(&dir, &gw, carrier_port, 1);
    assert!(
        wait_log(&gw.log, "webhook given up", 1, Duration::from_secs(10)),
        "{}",
        read(&gw.log)
    );
    assert_eq!(hook.requests().len(), 2, "first attempt and one retry");
    let pid = gw.guard.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let _ = wait_bounded(&mut gw.guard.0, Duration::from_secs(10));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["outbox", "--json", "--config"])
        .arg(dir.join("tonegate.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert_eq!(lines[0]["kind"], "HangupCauseEvent");
    assert_eq!(lines[0]["attempts"], 2);
    assert_eq!(lines[0]["body"]["hangupGcode"], 1017);
    assert_eq!(lines[1]["givenUp"], 1);
    assert_eq!(lines[1]["pending"], 0);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}
