//! Symmetric latching: the relay sends to the SDP address until a party's
//! packets show where it really is; a changed source port is followed; in
//! strict mode foreign sources are dropped.

mod common;

use std::time::Instant;

use common::*;
use tonegate_rtp::{Component, DropReason, MediaRelay, RelayConfig, Side, Verdict};

fn relay(strict: bool) -> (MediaRelay, Instant) {
    let now = Instant::now();
    let mut r = MediaRelay::new(
        now,
        20000,
        20002,
        RelayConfig {
            strict,
            timeout: None,
        },
    );
    r.session_mut(Side::A)
        .set_signalled(Some(addr("10.0.0.5:4000")), Some(addr("10.0.0.5:4001")));
    r.session_mut(Side::B)
        .set_signalled(Some(addr("10.9.0.9:6000")), Some(addr("10.9.0.9:6001")));
    (r, now)
}

fn forward_to(v: Verdict) -> (Side, Component, std::net::SocketAddr) {
    match v {
        Verdict::Forward {
            side,
            component,
            to,
        } => (side, component, to),
        Verdict::Drop(r) => panic!("dropped: {r:?}"),
    }
}

#[test]
fn sends_to_the_sdp_address_until_the_party_speaks_then_to_its_real_source() {
    let (mut r, now) = relay(false);
    // The carrier speaks first: to the customer's SDP address.
    let p = rtp(0, 1, 160, 0xB, &[0xFF; 160]);
    let (v, info) = r.handle_packet(now, Side::B, Component::Rtp, addr("10.9.0.9:6000"), &p);
    assert_eq!(
        forward_to(v),
        (Side::A, Component::Rtp, addr("10.0.0.5:4000"))
    );
    assert_eq!(info.unwrap().payload.len(), 160);
    // The customer is behind NAT: its packets come from elsewhere.
    let p = rtp(0, 1, 160, 0xA, &[0xFF; 160]);
    let (v, _) = r.handle_packet(now, Side::A, Component::Rtp, addr("198.51.100.7:31000"), &p);
    assert_eq!(
        forward_to(v),
        (Side::B, Component::Rtp, addr("10.9.0.9:6000"))
    );
    // Now the carrier's audio follows the customer's real address.
    let p = rtp(0, 2, 320, 0xB, &[0xFF; 160]);
    let (v, _) = r.handle_packet(now, Side::B, Component::Rtp, addr("10.9.0.9:6000"), &p);
    assert_eq!(forward_to(v).2, addr("198.51.100.7:31000"));
    // The customer's NAT rebinds to another port: followed.
    let p = rtp(0, 2, 320, 0xA, &[0xFF; 160]);
    r.handle_packet(now, Side::A, Component::Rtp, addr("198.51.100.7:31002"), &p);
    let p = rtp(0, 3, 480, 0xB, &[0xFF; 160]);
    let (v, _) = r.handle_packet(now, Side::B, Component::Rtp, addr("10.9.0.9:6000"), &p);
    assert_eq!(forward_to(v).2, addr("198.51.100.7:31002"));
    assert_eq!(r.session(Side::A).stats().latches, 2);
}

#[test]
fn strict_mode_drops_foreign_sources() {
    let (mut r, now) = relay(true);
    let p = rtp(8, 1, 160, 1, &[0xD5; 160]);
    // Another host than the SDP's: dropped before and after latching.
    let (v, _) = r.handle_packet(now, Side::A, Component::Rtp, addr("203.0.113.66:4000"), &p);
    assert_eq!(v, Verdict::Drop(DropReason::ForeignSource));
    let (v, _) = r.handle_packet(now, Side::A, Component::Rtp, addr("10.0.0.5:4010"), &p);
    assert!(
        matches!(v, Verdict::Forward { .. }),
        "the SDP host, another port: latched"
    );
    let (v, _) = r.handle_packet(now, Side::A, Component::Rtp, addr("10.0.0.5:4012"), &p);
    assert_eq!(v, Verdict::Drop(DropReason::ForeignSource));
    assert_eq!(r.session(Side::A).stats().dropped_foreign, 2);
}

#[test]
fn a_reinvite_moving_the_media_drops_the_latch() {
    let (mut r, now) = relay(false);
    let p = rtp(0, 1, 160, 0xA, &[0xFF; 160]);
    r.handle_packet(now, Side::A, Component::Rtp, addr("198.51.100.7:31000"), &p);
    assert_eq!(
        r.session(Side::A).rtp_destination(),
        Some(addr("198.51.100.7:31000"))
    );
    r.session_mut(Side::A)
        .set_signalled(Some(addr("10.0.0.6:4100")), Some(addr("10.0.0.6:4101")));
    assert_eq!(
        r.session(Side::A).rtp_destination(),
        Some(addr("10.0.0.6:4100"))
    );
}

#[test]
fn rtcp_goes_port_to_port_and_muxed_rtcp_to_the_rtp_address() {
    let (mut r, now) = relay(false);
    let rr = rtcp_rr(0xA);
    let (v, info) = r.handle_packet(now, Side::A, Component::Rtcp, addr("10.0.0.5:4001"), &rr);
    assert_eq!(
        forward_to(v),
        (Side::B, Component::Rtcp, addr("10.9.0.9:6001"))
    );
    assert!(info.is_none());
    // The carrier muxes RTCP on its RTP address.
    r.session_mut(Side::B)
        .set_signalled(Some(addr("10.9.0.9:6000")), Some(addr("10.9.0.9:6000")));
    let (v, _) = r.handle_packet(now, Side::A, Component::Rtcp, addr("10.0.0.5:4001"), &rr);
    assert_eq!(
        forward_to(v),
        (Side::B, Component::Rtp, addr("10.9.0.9:6000"))
    );
    // RTCP arriving on a muxed RTP port goes to the other party's RTCP port.
    let (v, _) = r.handle_packet(now, Side::B, Component::Rtp, addr("10.9.0.9:6000"), &rr);
    assert_eq!(
        forward_to(v),
        (Side::A, Component::Rtcp, addr("10.0.0.5:4001"))
    );
}

#[test]
fn any_payload_ssrc_change_and_sequence_jump_pass() {
    let (mut r, now) = relay(false);
    let from = addr("10.9.0.9:6000");
    for (pt, seq, ssrc) in [
        (0, 1, 5),
        (101, 2, 5),
        (18, 3, 5),
        (0, 40000, 5),
        (0, 7, 6),
        (0, 10, 6),
    ] {
        let p = rtp(pt, seq, 0, ssrc, &[1, 2, 3, 4]);
        let (v, _) = r.handle_packet(now, Side::B, Component::Rtp, from, &p);
        assert!(matches!(v, Verdict::Forward { .. }), "pt {pt} seq {seq}");
    }
    let s = r.session(Side::B).stats();
    assert_eq!(s.forwarded, 6);
    assert_eq!(s.ssrc_changes, 2);
    assert_eq!(s.seq_jumps, 1);
    assert_eq!(s.lost, 2, "8 and 9 missing");
}

#[test]
fn garbage_and_unknown_destinations_are_dropped_with_a_reason() {
    let now = Instant::now();
    let mut r = MediaRelay::new(
        now,
        20000,
        20002,
        RelayConfig {
            strict: false,
            timeout: None,
        },
    );
    let from = addr("10.9.0.9:6000");
    for junk in [&b""[..], &[0x00; 20], &[0x80, 0, 0]] {
        let (v, _) = r.handle_packet(now, Side::B, Component::Rtp, from, junk);
        assert_eq!(v, Verdict::Drop(DropReason::Malformed));
    }
    // No SDP from the customer yet.
    let p = rtp(0, 1, 0, 1, &[0xFF; 160]);
    let (v, info) = r.handle_packet(now, Side::B, Component::Rtp, from, &p);
    assert_eq!(v, Verdict::Drop(DropReason::NoDestination));
    assert!(info.is_some(), "still tapped");
    let s = r.session(Side::B).stats();
    assert_eq!(
        (s.packets, s.dropped_malformed, s.dropped_no_destination),
        (4, 3, 1)
    );
}
