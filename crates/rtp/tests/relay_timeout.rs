//! An answered call without RTP for the configured time is reported once;
//! ringing calls and calls with media are not.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tonegate_rtp::{Component, MediaRelay, RelayConfig, RelayEvent, Side};

#[test]
fn no_rtp_after_answer_times_out_once() {
    let t0 = Instant::now();
    let cfg = RelayConfig {
        strict: false,
        timeout: Some(Duration::from_secs(30)),
    };
    let mut r = MediaRelay::new(t0, 20000, 20002, cfg);
    assert_eq!(r.poll_timeout(), None, "not while ringing");
    r.set_answered(t0 + Duration::from_secs(5));
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(35)));
    // Media keeps it alive.
    let p = rtp(0, 1, 0, 1, &[0xFF; 160]);
    r.handle_packet(
        t0 + Duration::from_secs(20),
        Side::A,
        Component::Rtp,
        addr("10.0.0.5:4000"),
        &p,
    );
    assert_eq!(r.handle_timeout(t0 + Duration::from_secs(35)), None);
    assert_eq!(r.poll_timeout(), Some(t0 + Duration::from_secs(50)));
    // RTCP alone does not.
    r.handle_packet(
        t0 + Duration::from_secs(45),
        Side::A,
        Component::Rtcp,
        addr("10.0.0.5:4001"),
        &rtcp_rr(1),
    );
    assert_eq!(
        r.handle_timeout(t0 + Duration::from_secs(50)),
        Some(RelayEvent::Timeout)
    );
    assert_eq!(
        r.handle_timeout(t0 + Duration::from_secs(90)),
        None,
        "reported once"
    );
    assert_eq!(r.poll_timeout(), None);
}
