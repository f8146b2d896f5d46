//! Operations end to end: a CPS flood above the limit gets 503s while the
//! admitted calls complete, and `/metrics` counts exactly the calls made;
//! SIGTERM during calls lets them finish (new calls get 503, `/readyz`
//! turns 503) and the gateway exits 0.

mod common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;

fn http_get(port: u16, path: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return (0, String::new());
    };
    let _ = write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    );
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = buf
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_owned())
        .unwrap_or_default();
    (status, body)
}

/// The value of one metric line (`name{labels} value`), 0 if absent.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
fn cps_flood_gets_503s_and_metrics_count_the_calls() {
    let dir = scratch("ops_cps");
    let (carrier_port, http_port) = (free_port(), free_port());
    let hook = Hook::start(0, |_| 200);

    let hook_port = hook.port;
    let extra = format!(
        "callback_url = \"http://127.0.0.1:{hook_port}/hook\"\nevents = [\"HangupCauseEvent\"]\n\
         [http]\nlisten = \"127.0.0.1:{http_port}\"\n[limits]\ncps = 5\n\
         [events]\noutbox = \"{}\"\n",
        dir.join("outbox.redb").display()
    );
    let gw = start_gateway(&dir, carrier_port, Proto::Udp, "", &extra);
    let _uas = start_carrier(&dir, "uas_reject_486.xml", carrier_port, &["-m", "1000"]);
    // 40 calls at 40/s against a limit of 5/s.
    let mut uac = start_caller(
        &dir,
        "uac",
        "uac_486_or_503.xml",
        gw.addr,
        &["-m", "40", "-r", "40"],
    );
    let status = wait_bounded(&mut uac.0, Duration::from_secs(40));
    assert!(
        status.is_some_and(|s| s.success()),
        "every call must complete (486 or 503): {status:?}\n{}\n{}",
        read(&dir.join("uac_errors.log")),
        read(&gw.log)
    );
    // The metrics settle once the last call's events are made.
    let end = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < end {
        text = http_get(http_port, "/metrics").1;
        let done = metric(
            &text,
            "tonegate_calls_total{outcome=\"failed\",trunk=\"acme\"}",
        ) + metric(
            &text,
            "tonegate_calls_total{outcome=\"limited\",trunk=\"acme\"}",
        );
        if done >= 40.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let failed = metric(
        &text,
        "tonegate_calls_total{outcome=\"failed\",trunk=\"acme\"}",
    );
    let limited = metric(
        &text,
        "tonegate_calls_total{outcome=\"limited\",trunk=\"acme\"}",
    );
    let rejections = metric(&text, "tonegate_limit_rejections_total{reason=\"cps\"}");
    assert_eq!(failed + limited, 40.0, "{text}");
    assert_eq!(limited, rejections);
    assert!(
        limited >= 20.0,
        "40 calls in about 1 s against 5/s: {limited} refused"
    );
    assert!(
        failed >= 5.0,
        "the admitted ones reached the carrier: {failed}"
    );
    assert_eq!(
        metric(&text, "tonegate_sip_requests_total{method=\"INVITE\"}"),
        40.0
    );
    assert_eq!(
        metric(
            &text,
            "tonegate_sip_responses_total{class=\"4xx\",direction=\"in\"}"
        ),
        failed
    );
    assert_eq!(metric(&text, "tonegate_calls_active"), 0.0);
    // Every call has its event: the refused ones say 1900 (资源不足).
    let got = hook.wait_for(Duration::from_secs(10), |g| g.len() >= 40);
    assert_eq!(got.len(), 40);
    let code = |c: u64| got.iter().filter(|h| h.json()["hangupGcode"] == c).count() as f64;
    assert_eq!(code(1900), limited);
    assert_eq!(code(1017), failed);
    drop(gw);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sigterm_lets_calls_finish_refuses_new_ones_and_exits_0() {
    let dir = scratch("ops_drain");
    let (carrier_port, http_port) = (free_port(), free_port());
    let extra =
        format!("[http]\nlisten = \"127.0.0.1:{http_port}\"\n[limits]\ndrain_timeout_s = 20\n");
    let mut gw = start_gateway(&dir, carrier_port, Proto::Udp, "", &extra);
    assert_eq!(http_get(http_port, "/readyz").0, 200);
    let mut uas = start_carrier(&dir, "uas_answer_echo.xml", carrier_port, &["-m", "3"]);
    // Three answered calls held 5 s each.
    let sink = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sink_port = sink.local_addr().unwrap().port().to_string();
    let mut uac = start_caller(
        &dir,
        "uac",
        "uac_answer_sink_bye.xml",
        gw.addr,
        &["-m", "3", "-r", "10", "-key", "sink_port", &sink_port],
    );
    assert!(
        wait_log(&gw.log, "answered", 3, Duration::from_secs(10)),
        "{}",
        read(&gw.log)
    );

    let pid = gw.guard.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(wait_log(&gw.log, "draining", 1, Duration::from_secs(5)));
    assert_eq!(
        http_get(http_port, "/readyz").0,
        503,
        "not ready while draining"
    );
    // A new call now: 503.
    let mut late = start_caller(&dir, "late", "uac_486_or_503.xml", gw.addr, &[]);
    assert!(wait_bounded(&mut late.0, Duration::from_secs(10)).is_some_and(|s| s.success()));
    assert!(read_all(&dir.join("late_messages.log")).contains("SIP/2.0 503"));

    // The three calls complete; then the gateway exits 0.
    let status = wait_bounded(&mut uac.0, Duration::from_secs(30));
    assert!(
        status.is_some_and(|s| s.success()),
        "calls dropped: {status:?}\n{}",
        read(&dir.join("uac_errors.log"))
    );
    let _ = wait_bounded(&mut uas.0, Duration::from_secs(10));
    let exit = wait_bounded(&mut gw.guard.0, Duration::from_secs(15));
    assert_eq!(exit.and_then(|s| s.code()), Some(0), "{}", read(&gw.log));
    assert!(read_all(&gw.log).contains("drained: no call left"));
    let _ = std::fs::remove_dir_all(&dir);
}
