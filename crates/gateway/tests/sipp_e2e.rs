//! End to end through the real binary: a sipp caller (UAC) → `tonegate run`
//! → a sipp carrier (UAS), all on 127.0.0.1. Each test starts its own
//! gateway (on a port the kernel picks), its own sipp UAS (on a free port)
//! and its own sipp UAC, so the tests run in parallel; each is bounded in
//! time. The scenarios are in `testdata/sipp/`.
//!
//! sipp (Debian package `sip-tester`) must be on PATH: without it these
//! tests fail, they do not skip.

mod common;

use std::process::{Command, ExitStatus};
use std::time::Duration;

use common::*;

/// Run caller scenario `uac` against carrier scenario `uas` through a fresh
/// gateway; both sipps must end with every call successful.
fn call(test: &str, uac: &str, uas: &str, proto: Proto, extra_sip: &str) {
    let dir = scratch(test);
    let carrier_port = free_port();
    let gw = start_gateway(&dir, carrier_port, proto, extra_sip, "");

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
