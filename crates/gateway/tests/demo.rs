//! `tonegate demo` as a user runs it (the README's first command), with a
//! few calls: every call goes through SIP as scripted, every unanswered call
//! gets its HangupCauseEvent, and the announcements are heard.

use std::io::Read as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const CALLS: usize = 8;

#[test]
fn demo_places_the_calls_and_reports_what_it_heard() {
    let library = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/library");
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args([
            "demo",
            "--calls",
            &CALLS.to_string(),
            "--rate",
            "4",
            "--json",
        ])
        .arg("--library")
        .arg(&library)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tonegate demo");
    let read_all = |mut r: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));

    // Bounded: the demo takes about 20 s; at 90 s it is asked to stop
    // (it then stops its gateway), and killed if it does not.
    let end = Instant::now() + Duration::from_secs(90);
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > end && !timed_out {
            timed_out = true;
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
        }
        if Instant::now() > end + Duration::from_secs(15) {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = stdout.join().unwrap();
    let err = stderr.join().unwrap();
    let context = format!("status {status:?}\n--- stdout\n{out}\n--- stderr\n{err}");
    assert!(!timed_out, "the demo did not finish within 90 s\n{context}");
    assert!(status.success(), "{context}");

    let lines: Vec<Value> = out
        .lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}\n{context}"))
        })
        .collect();
    let summary = lines.last().expect("a summary line");
    assert_eq!(summary["type"], "summary", "{context}");
    assert_eq!(summary["calls"], CALLS as u64, "{context}");
    assert_eq!(summary["failedCalls"], 0, "{context}");
    assert_eq!(
        summary["problems"].as_array().map(Vec::len),
        Some(0),
        "{context}"
    );
    assert_eq!(summary["interrupted"], false);
    let details = summary["details"].as_array().expect("details");
    assert_eq!(details.len(), CALLS, "{context}");

    // Every unanswered call has exactly one HangupCauseEvent line, with the
    // expectation of the plan; answered calls have none.
    let events: Vec<&Value> = lines.iter().filter(|l| l["type"] == "event").collect();
    for d in details {
        let n = d["call"].as_u64().unwrap();
        let hangups: Vec<&&Value> = events
            .iter()
            .filter(|e| e["call"].as_u64() == Some(n) && e["event"] == "HangupCauseEvent")
            .collect();
        if d["scenario"] == "answered" {
            assert!(hangups.is_empty(), "answered call #{n}\n{context}");
            assert!(
                events
                    .iter()
                    .any(|e| e["call"].as_u64() == Some(n) && e["event"] == "SipDockingCallEnd"),
                "call end of answered call #{n}\n{context}"
            );
        } else {
            assert_eq!(hangups.len(), 1, "call #{n}\n{context}");
            let ev = hangups[0];
            assert_eq!(ev["expected"], d["expected"], "{context}");
            assert!(ev["hangupGcode"].is_u64(), "{context}");
            assert!(ev["hangupGname"].is_string(), "{context}");
        }
        let status = d["finalStatus"].as_u64();
        let scripted = match d["scenario"].as_str().unwrap() {
            "answered" => 200,
            "busy tone" => 486,
            "congestion tone" => 503,
            _ => 480,
        };
        assert_eq!(status, Some(scripted), "call #{n}\n{context}");
        assert!(d["mediaPackets"].as_u64() > Some(0), "call #{n}\n{context}");
    }

    // The announcements are heard: at least half right, and no wrong code anywhere.
    let rows = summary["rows"].as_array().unwrap();
    let ann = rows
        .iter()
        .find(|r| r["scenario"] == "announcement")
        .expect("announcements in the plan");
    let (calls, right) = (
        ann["calls"].as_u64().unwrap(),
        ann["right"].as_u64().unwrap(),
    );
    assert!(calls >= 4, "{context}");
    assert!(
        2 * right >= calls,
        "announcements right {right} of {calls}\n{context}"
    );
    assert_eq!(summary["total"]["wrong"], 0, "no wrong code\n{context}");
    assert_eq!(summary["total"]["missing"], 0, "{context}");
}
