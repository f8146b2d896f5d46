//! Requests the B2BUA answers itself: unknown source 403, Max-Forwards 0
//! 483, OPTIONS 200, malformed 400, Require (other than 100rel) 420, unknown dialog 481; a
//! carrier error is relayed and ACKed hop by hop on both legs; Timer B on
//! the B leg gives the customer 408.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::CallEvent;

#[test]
fn unknown_source_gets_403() {
    let mut h = B2bHarness::new();
    let out = h.recv_from(STRANGER, customer_invite("z9hG4bKst", 70).as_bytes());
    assert_eq!(out.customer_statuses(), vec![100, 403]);
    assert!(out.to_carrier.is_empty());
    assert_eq!(h.b2b.call_count(), 0);
    assert!(h.events().is_empty());
}

#[test]
fn max_forwards_zero_gets_483_and_is_decremented_otherwise() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKmf0", 0).as_bytes());
    assert_eq!(out.customer_statuses(), vec![100, 483]);
    assert!(out.to_carrier.is_empty());
    let out = h.recv_customer(customer_invite("z9hG4bKmf1", 1).as_bytes());
    assert_eq!(
        out.carrier_request("INVITE").max_forwards().unwrap(),
        Some(0)
    );
}

#[test]
fn options_answered_locally() {
    let mut h = B2bHarness::new();
    let opts = "OPTIONS sip:198.18.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.66:5060;branch=z9hG4bKping\r\nMax-Forwards: 70\r\nFrom: <sip:mon@198.51.100.66>;tag=m\r\nTo: <sip:198.18.0.1>\r\nCall-ID: ping-1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let out = h.recv_from(STRANGER, opts.as_bytes());
    assert_eq!(out.customer_statuses(), vec![200]);
    let ok = out.customer_response(200);
    assert!(ok.header("Allow").unwrap().contains("INVITE"));
    assert!(ok.to_tag().is_some());
    assert!(out.to_carrier.is_empty());
}

#[test]
fn malformed_request_gets_400() {
    let mut h = B2bHarness::new();
    let bad = customer_invite("z9hG4bKbad", 70).replace("Max-Forwards: 70", "Max-Forwards: lots");
    let out = h.recv_customer(bad.as_bytes());
    assert_eq!(out.customer_statuses(), vec![400]);
    assert!(out.customer_response(400).reason.contains("Max-Forwards"));
    assert!(out.to_carrier.is_empty());
    // Without a usable CSeq no well-formed response can be built: silence.
    let bad = customer_invite("z9hG4bKbad2", 70).replace("CSeq: 20 INVITE", "CSeq: twenty INVITE");
    let out = h.recv_customer(bad.as_bytes());
    assert!(out.to_customer.is_empty() && out.to_carrier.is_empty());
}

#[test]
fn unsupported_require_gets_420() {
    let mut h = B2bHarness::new();
    let inv = customer_invite("z9hG4bKreq", 70).replace(
        "Max-Forwards: 70",
        "Max-Forwards: 70\r\nRequire: 100rel, precondition",
    );
    let out = h.recv_customer(inv.as_bytes());
    assert_eq!(out.customer_statuses(), vec![100, 420]);
    assert_eq!(
        out.customer_response(420).header("Unsupported"),
        Some("precondition"),
        "100rel is supported; only the others are named"
    );
}

#[test]
fn bye_for_unknown_dialog_gets_481() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKnod", 3, "nosuchtag").as_bytes());
    assert_eq!(out.customer_statuses(), vec![481]);
}

#[test]
fn carrier_busy_is_relayed_and_acked_hop_by_hop() {
    let mut h = B2bHarness::new();
    let b_inv = h
        .recv_customer(customer_invite("z9hG4bKbusy", 70).as_bytes())
        .carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_inv, 486, None));
    let ack = out.carrier_request("ACK");
    assert_eq!(
        ack.top_branch().unwrap(),
        b_inv.top_branch().unwrap(),
        "non-2xx ACK: same branch"
    );
    let busy = out.customer_response(486);
    assert!(busy.to_tag().is_some());
    assert!(busy.header("Contact").is_none());
    // The customer's ACK for the 486 is absorbed; the 486 retransmission
    // (Timer G) stops.
    let tag = busy.to_tag().unwrap();
    let ack = customer_in_dialog("ACK", "z9hG4bKbusy", 20, &tag)
        .replace("sip:gw@198.18.0.1:5060", "sip:+4930123456@198.18.0.1");
    h.advance(Duration::from_millis(100));
    let out = h.recv_customer(ack.as_bytes());
    assert!(out.to_carrier.is_empty() && out.to_customer.is_empty());
    let later = h.advance(Duration::from_secs(10));
    assert!(
        later.to_customer.is_empty(),
        "no 486 retransmissions after the ACK"
    );
    assert_eq!(h.b2b.call_count(), 0);
    assert!(matches!(
        &h.events()[..],
        [
            CallEvent::Started { .. },
            CallEvent::Ended { status: 486, .. }
        ]
    ));
}

#[test]
fn timer_b_on_the_b_leg_gives_408() {
    let mut h = B2bHarness::new();
    h.recv_customer(customer_invite("z9hG4bKsilent", 70).as_bytes());
    let out = h.advance(Duration::from_millis(31_999));
    assert_eq!(out.carrier_methods().len(), 10, "INVITE retransmissions");
    assert!(out.to_customer.is_empty());
    let out = h.advance(Duration::from_millis(1));
    assert_eq!(out.customer_statuses(), vec![408]);
    assert_eq!(h.b2b.call_count(), 0);
    assert!(matches!(
        h.events().last(),
        Some(CallEvent::Ended { status: 408, .. })
    ));
}
