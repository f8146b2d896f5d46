//! End to end through the real binary: a sipp caller (UAC) → `tonegate run`
//! → a sipp carrier (UAS), all on 127.0.0.1. Each test starts its own
//! gateway (on a port the kernel picks), its own sipp UAS (on a free port)
//! and its own sipp UAC, so the tests run in parallel; each is bounded in
//! time. The scenarios are in `testdata/sipp/`.
//!
//! sipp (Debian package `sip-tester`) must be on PATH: without it these
//! tests fail, they do not skip.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn sipp_flag(self) -> &'static str {
        match self {
            Proto::Udp => "u1",
            Proto::Tcp => "t1",
        }
    }
}

fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sipp")
        .join(name)
}

fn sipp() -> &'static str {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "sipp is not on PATH: install it (Debian/Ubuntu: apt-get install -y sip-tester); \
         these end-to-end tests cannot run without it"
    );
    "sipp"
}

/// A scratch directory for one test's config and logs.
fn scratch(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tonegate-sipp-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
fn free_port() -> u16 {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port");
}

/// Kills the process when dropped (tests must not leak gateways or sipps).
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

struct Gateway {
    guard: Guard,
    addr: SocketAddr,
    log: PathBuf,
}

fn start_gateway(dir: &Path, carrier_port: u16, proto: Proto, extra_sip: &str) -> Gateway {
    let transport = match proto {
        Proto::Udp => "",
        Proto::Tcp => ";transport=tcp",
    };
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n{extra_sip}\n\
         [[trunks]]\nname = \"acme\"\nsources = [\"127.0.0.1/32\"]\n\
         target = \"sip:127.0.0.1:{carrier_port}{transport}\"\n"
    );
    let path = dir.join("tonegate.toml");
    std::fs::write(&path, config).unwrap();
    let log = dir.join("tonegate.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["run", "--config"])
        .arg(&path)
        .env("TONEGATE_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start tonegate");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let mut r = BufReader::new(stdout);
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the gateway never blocks on stdout.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("tonegate did not start; log:\n{}", read(&log)));
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}; log:\n{}", read(&log)))
        .parse()
        .unwrap();
    Gateway { guard, addr, log }
}

fn read(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    if s.len() > 20_000 {
        s = format!("...{}", &s[s.len() - 20_000..]);
    }
    s
}

fn sipp_cmd(dir: &Path, role: &str, scenario_file: &str, proto: Proto) -> Command {
    let mut c = Command::new(sipp());
    c.arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-i", "127.0.0.1", "-t", proto.sipp_flag(), "-m", "1"])
        .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
        .arg("-trace_err")
        .arg("-error_file")
        .arg(dir.join(format!("{role}_errors.log")))
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(dir.join(format!("{role}_messages.log")))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{role}_screen.log"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{role}_stderr.log"))).unwrap());
    c
}

/// Run caller scenario `uac` against carrier scenario `uas` through a fresh
/// gateway; both sipps must end with every call successful.
fn call(test: &str, uac: &str, uas: &str, proto: Proto, extra_sip: &str) {
    let dir = scratch(test);
    let carrier_port = free_port();
    let gw = start_gateway(&dir, carrier_port, proto, extra_sip);

    let mut uas_cmd = sipp_cmd(&dir, "uas", uas, proto);
    uas_cmd.args(["-p", &carrier_port.to_string()]);
    let mut uas = Guard(uas_cmd.spawn().expect("start sipp UAS"));
    // Let the UAS bind before the first INVITE reaches it.
    std::thread::sleep(Duration::from_millis(300));

    let mut uac_cmd = sipp_cmd(&dir, "uac", uac, proto);
    uac_cmd
        .arg(gw.addr.to_string())
        .args(["-s", "4930123456", "-p", &free_port().to_string()]);
    let mut uac = Guard(uac_cmd.spawn().expect("start sipp UAC"));

    let uac_status = wait_bounded(&mut uac.0, Duration::from_secs(40));
    let uas_status = wait_bounded(&mut uas.0, Duration::from_secs(15));
    let ok = |s: Option<ExitStatus>| s.is_some_and(|s| s.success());
    if !ok(uac_status) || !ok(uas_status) {
        drop(gw.guard);
        let mut report = format!(
            "{test} over {proto:?}: caller sipp {uac_status:?}, carrier sipp {uas_status:?} \
             (scratch dir {})\n",
            dir.display()
        );
        for f in [
            "uac_errors.log",
            "uas_errors.log",
            "uac_stderr.log",
            "uas_stderr.log",
            "uac_messages.log",
            "uas_messages.log",
        ] {
            report += &format!("----- {f}\n{}\n", read(&dir.join(f)));
        }
        report += &format!("----- tonegate log\n{}\n", read(&gw.log));
        panic!("{report}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn answered_caller_hangs_up_udp() {
    call(
        "answer_bye_a",
        "uac_answer_bye.xml",
        "uas_answer_recv_bye.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn answered_callee_hangs_up_udp() {
    call(
        "answer_bye_b",
        "uac_answer_recv_bye.xml",
        "uas_answer_send_bye.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn busy_486_udp() {
    call(
        "busy",
        "uac_expect_486.xml",
        "uas_reject_486.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn not_found_404_udp() {
    call(
        "notfound",
        "uac_expect_404.xml",
        "uas_reject_404.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn cancel_during_183_udp() {
    call(
        "cancel",
        "uac_cancel_after_183.xml",
        "uas_183_wait_cancel.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn early_media_then_480_udp() {
    call(
        "em480",
        "uac_183_then_480.xml",
        "uas_183_then_480.xml",
        Proto::Udp,
        "",
    );
}

#[test]
fn reliable_183_with_prack_udp() {
    call("prack", "uac_100rel.xml", "uas_100rel.xml", Proto::Udp, "");
}

/// The caller's re-INVITE after answer is relayed to the carrier, its 200
/// back, the ACK end to end.
#[test]
fn reinvite_after_answer_udp() {
    call(
        "reinvite",
        "uac_reinvite.xml",
        "uas_reinvite.xml",
        Proto::Udp,
        "",
    );
}

/// Timer B = 64·T1 = 3.2 s with T1 = 50 ms: the caller gets 408.
#[test]
fn carrier_never_answers_408_udp() {
    call(
        "noanswer",
        "uac_expect_408.xml",
        "uas_no_answer.xml",
        Proto::Udp,
        "t1_ms = 50\n",
    );
}

#[test]
fn answered_caller_hangs_up_tcp() {
    call(
        "tcp_answer_bye_a",
        "uac_answer_bye.xml",
        "uas_answer_recv_bye.xml",
        Proto::Tcp,
        "",
    );
}

#[test]
fn answered_callee_hangs_up_tcp() {
    call(
        "tcp_answer_bye_b",
        "uac_answer_recv_bye.xml",
        "uas_answer_send_bye.xml",
        Proto::Tcp,
        "",
    );
}

#[test]
fn busy_486_tcp() {
    call(
        "tcp_busy",
        "uac_expect_486.xml",
        "uas_reject_486.xml",
        Proto::Tcp,
        "",
    );
}

#[test]
fn cancel_during_183_tcp() {
    call(
        "tcp_cancel",
        "uac_cancel_after_183.xml",
        "uas_183_wait_cancel.xml",
        Proto::Tcp,
        "",
    );
}

#[test]
fn reliable_183_with_prack_tcp() {
    call(
        "tcp_prack",
        "uac_100rel.xml",
        "uas_100rel.xml",
        Proto::Tcp,
        "",
    );
}

/// Over TCP Timer B still fires (no retransmissions): 408.
#[test]
fn carrier_never_answers_408_tcp() {
    call(
        "tcp_noanswer",
        "uac_expect_408.xml",
        "uas_no_answer.xml",
        Proto::Tcp,
        "t1_ms = 50\n",
    );
}

/// `tonegate run` refuses a config with an unknown key, naming it.
#[test]
fn run_rejects_unknown_config_keys() {
    let dir = scratch("badconfig");
    let path = dir.join("bad.toml");
    std::fs::write(
        &path,
        "[sip]\nlisten = \"127.0.0.1:0\"\nlisten_tcp = \"127.0.0.1:0\"\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["run", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("unknown field `listen_tcp`"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
