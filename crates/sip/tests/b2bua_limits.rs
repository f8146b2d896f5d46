//! Limits: calls per second and concurrent calls (global and per trunk)
//! answer 503 with Retry-After and report the refusal; draining refuses new
//! calls and OPTIONS probes; a maximum duration ends calls.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::{CallEvent, EndCause, Limits, RejectReason};

/// The customer's INVITE number `n` (its own Call-ID and tag).
fn invite(n: u32) -> Vec<u8> {
    customer_invite(&format!("z9hG4bKlim{n}"), 70)
        .replace("secret-call-id@", &format!("call-{n}@"))
        .replace("tag=custtag", &format!("tag=custtag{n}"))
        .into_bytes()
}

fn rejected(events: &[CallEvent]) -> Vec<RejectReason> {
    events
        .iter()
        .filter_map(|e| match e {
            CallEvent::Rejected { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect()
}

#[test]
fn calls_per_second_over_the_limit_get_503() {
    let mut h = B2bHarness::with_limits(
        Limits {
            max_calls: None,
            cps: Some(2.0),
        },
        Limits::default(),
    );
    for n in 0..2 {
        h.recv_customer(&invite(n)).carrier_request("INVITE");
    }
    let out = h.recv_customer(&invite(2));
    let r = out.customer_response(503);
    assert_eq!(r.header("Retry-After"), Some("1"));
    assert!(out.to_carrier.is_empty());
    let ev = h.events();
    assert_eq!(rejected(&ev), [RejectReason::Cps]);
    let Some(CallEvent::Rejected {
        call_id,
        parties,
        trunk,
        ..
    }) = ev.last()
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (call_id.as_str(), trunk.as_str()),
        ("call-2@customer.example", "acme")
    );
    assert_eq!(parties.called, "+4930123456");
    // Half a second later one token is back.
    h.advance(Duration::from_millis(500));
    h.recv_customer(&invite(3)).carrier_request("INVITE");
}

#[test]
fn concurrent_calls_over_the_trunk_limit_get_503_until_one_ends() {
    let mut h = B2bHarness::with_limits(
        Limits::default(),
        Limits {
            max_calls: Some(1),
            cps: None,
        },
    );
    let b_inv = h.recv_customer(&invite(0)).carrier_request("INVITE");
    let out = h.recv_customer(&invite(1));
    assert_eq!(out.customer_response(503).header("Retry-After"), Some("5"));
    assert_eq!(rejected(&h.events()), [RejectReason::Concurrency]);
    assert_eq!(h.b2b.active_calls(), 1);
    // The first call fails: room again.
    h.recv_carrier(&carrier_response(&b_inv, 486, None));
    assert_eq!(h.b2b.active_calls(), 0);
    h.recv_customer(&invite(2)).carrier_request("INVITE");
}

#[test]
fn draining_refuses_new_calls_and_probes_but_not_calls_in_progress() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);
    h.b2b.set_draining(true);
    let out = h.recv_customer(&invite(9));
    out.customer_response(503);
    assert_eq!(rejected(&h.events()), [RejectReason::Draining]);
    let options = customer_invite("z9hG4bKopt", 70)
        .replace("INVITE sip:", "OPTIONS sip:")
        .replace("CSeq: 20 INVITE", "CSeq: 20 OPTIONS");
    h.recv_customer(options.as_bytes()).customer_response(503);
    // The answered call still hangs up normally.
    let out =
        h.recv_customer(customer_in_dialog("BYE", "z9hG4bKdrainbye", 21, &our_tag).as_bytes());
    out.customer_response(200);
    let bye = out.carrier_request("BYE");
    assert_eq!(bye.call_id().unwrap(), b_inv.call_id().unwrap());
}

#[test]
fn maximum_call_duration_ends_the_call() {
    let mut h = B2bHarness::with_duration(Duration::from_secs(60));
    answered_call(&mut h);
    let out = h.advance(Duration::from_secs(59));
    assert!(out.to_carrier.is_empty());
    let out = h.advance(Duration::from_secs(2));
    out.carrier_request("BYE");
    // (UDP: the BYE may have been retransmitted within the step.)
    assert!(out
        .to_customer
        .iter()
        .all(|m| matches!(m, tonegate_sip::SipMessage::Request(r) if r.method.as_str() == "BYE")));
    assert!(!out.to_customer.is_empty());
    assert!(h.events().iter().any(|e| matches!(
        e,
        CallEvent::Ended {
            cause: EndCause::Gateway,
            ..
        }
    )));
}
