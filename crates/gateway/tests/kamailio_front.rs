//! The Kamailio dispatcher front of `deploy/kamailio/` in front of two
//! tonegate instances (this build's binary): calls reach both, a drained
//! instance stops getting calls while its calls in progress finish, and it
//! exits 0. The scenario is the script `deploy/kamailio/run-test.sh`, so
//! operators can run the same thing by hand.
//!
//! Needs `kamailio`/`kamcmd` (Debian package kamailio), `sipp` (sip-tester)
//! and `curl` on the PATH: without them this test fails, it does not skip.

use std::path::Path;
use std::process::Command;

#[test]
fn kamailio_routes_to_both_instances_and_stops_at_a_drained_one() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for tool in ["kamailio", "kamcmd", "sipp", "curl"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "{tool} is not on PATH (Debian: apt-get install -y kamailio sip-tester curl); \
             this test cannot run without it"
        );
    }
    let out = Command::new("bash")
        .arg(root.join("deploy/kamailio/run-test.sh"))
        .env("TONEGATE_BIN", env!("CARGO_BIN_EXE_tonegate"))
        .output()
        .expect("run deploy/kamailio/run-test.sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "run-test.sh failed ({:?}):\n{}\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
}
