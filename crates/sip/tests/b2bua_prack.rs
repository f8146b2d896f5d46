//! RFC 3262 (100rel) through the B2BUA, hop by hop: the carrier's reliable
//! 18x is PRACKed by the B2BUA; the customer that supports 100rel gets its
//! own reliable 18x (own RSeq, retransmitted until PRACK); a 2xx waits for
//! that PRACK; no PRACK within 64·T1 gives 504 and cancels the B leg.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::CallEvent;
use tonegate_sip::message::{Method, Request};

fn with_100rel(invite: String, header: &str) -> String {
    invite.replace(
        "Max-Forwards: 70",
        &format!("Max-Forwards: 70\r\n{header}: 100rel"),
    )
}

/// A carrier response made reliable (Require: 100rel, RSeq).
fn reliable(raw: Vec<u8>, rseq: u32) -> Vec<u8> {
    let s = String::from_utf8(raw).unwrap();
    let (first, rest) = s.split_once("\r\n").unwrap();
    format!("{first}\r\nRequire: 100rel\r\nRSeq: {rseq}\r\n{rest}").into_bytes()
}

fn customer_prack(our_tag: &str, branch: &str, rack: &str) -> String {
    customer_in_dialog("PRACK", branch, 21, our_tag).replace(
        "Content-Length: 0",
        &format!("RAck: {rack}\r\nContent-Length: 0"),
    )
}

fn carrier_requests(out: &Out) -> Vec<Request> {
    out.to_carrier
        .iter()
        .filter_map(|m| match m {
            tonegate_sip::SipMessage::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn reliable_183_prack_on_both_legs_and_held_200() {
    let mut h = B2bHarness::new();
    let inv = with_100rel(customer_invite("z9hG4bKrel", 70), "Require");
    let out = h.recv_customer(inv.as_bytes());
    assert_eq!(
        out.customer_statuses(),
        vec![100],
        "Require: 100rel is accepted"
    );
    let b_inv = out.carrier_request("INVITE");
    assert_eq!(b_inv.header("Supported"), Some("100rel"));
    assert_eq!(
        b_inv.header("Require"),
        None,
        "the B leg does not require it"
    );

    // The carrier's reliable 183 with SDP: PRACKed at once, relayed
    // reliably with our own RSeq.
    let r183 = reliable(carrier_response(&b_inv, 183, Some(ANSWER)), 7);
    let out = h.recv_carrier(&r183);
    let prack = out.carrier_request("PRACK");
    assert_eq!(prack.header("RAck"), Some("7 1 INVITE"));
    assert_eq!(
        prack.uri, "sip:core@203.0.113.9:5060",
        "to the 183's Contact"
    );
    assert_eq!(prack.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(prack.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(prack.cseq().unwrap().seq, 2);
    assert_eq!(prack.header("Route"), Some("<sip:sbc.carrier.example;lr>"));
    let a183 = out.customer_response(183);
    assert_eq!(a183.header("Require"), Some("100rel"));
    assert_eq!(a183.header("RSeq"), Some("1"));
    assert_eq!(&a183.body[..], ANSWER.as_bytes());
    let our_tag = a183.to_tag().unwrap();

    // The carrier's PRACK transaction completes; a 183 retransmission is
    // neither PRACKed again nor relayed.
    h.recv_carrier(&carrier_response(&prack, 200, None));
    let out = h.recv_carrier(&r183);
    assert!(out.to_carrier.is_empty() && out.to_customer.is_empty());

    // No PRACK from the customer yet: the 183 is retransmitted after T1.
    let out = h.advance(Duration::from_millis(510));
    assert_eq!(out.customer_statuses(), vec![183]);
    assert_eq!(out.customer_response(183).header("RSeq"), Some("1"));

    // The carrier answers: the 200 waits for the customer's PRACK.
    let ok = carrier_response(&b_inv, 200, Some(ANSWER));
    let out = h.recv_carrier(&ok);
    assert!(
        out.to_customer.is_empty(),
        "2xx held: {:?}",
        out.customer_statuses()
    );
    assert!(h
        .events()
        .iter()
        .all(|e| !matches!(e, CallEvent::Answered { .. })));

    // A PRACK for another RSeq matches nothing.
    let out = h.recv_customer(customer_prack(&our_tag, "z9hG4bKpr0", "2 20 INVITE").as_bytes());
    assert_eq!(out.customer_statuses(), vec![481]);
    // The right one: 200 for the PRACK, then the held 200 for the INVITE.
    let out = h.recv_customer(customer_prack(&our_tag, "z9hG4bKpr1", "1 20 INVITE").as_bytes());
    assert_eq!(out.customer_statuses(), vec![200, 200]);
    let ok_inv = out
        .to_customer
        .iter()
        .find_map(|m| match m {
            tonegate_sip::SipMessage::Response(r) if r.cseq().unwrap().method == Method::Invite => {
                Some(r.clone())
            }
            _ => None,
        })
        .unwrap();
    assert_eq!(ok_inv.to_tag().as_deref(), Some(our_tag.as_str()));
    assert_eq!(&ok_inv.body[..], ANSWER.as_bytes());
    assert!(h.events().contains(&CallEvent::Answered {
        call: tonegate_sip::b2bua::CallId(1)
    }));
    // Retransmissions stopped.
    let out = h.advance(Duration::from_millis(2100));
    assert!(!out.customer_statuses().contains(&183));

    // ACK end to end, then BYE with the next CSeq after the PRACK.
    let out = h.recv_customer(customer_in_dialog("ACK", "z9hG4bKrelack", 20, &our_tag).as_bytes());
    assert_eq!(out.carrier_request("ACK").cseq().unwrap().seq, 1);
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKrelbye", 22, &our_tag).as_bytes());
    let bye = out.carrier_request("BYE");
    assert_eq!(bye.cseq().unwrap().seq, 3);
    h.recv_carrier(&carrier_response(&bye, 200, None));
    assert_eq!(h.b2b.call_count(), 0);
}

#[test]
fn customer_without_100rel_gets_plain_18x_and_carrier_is_pracked() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKplain", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    assert_eq!(b_inv.header("Supported"), None);
    let out = h.recv_carrier(&reliable(carrier_response(&b_inv, 180, None), 1));
    assert_eq!(
        out.carrier_request("PRACK").header("RAck"),
        Some("1 1 INVITE")
    );
    let ringing = out.customer_response(180);
    assert_eq!(ringing.header("Require"), None);
    assert_eq!(ringing.header("RSeq"), None);
    // A second reliable 18x (next RSeq) is PRACKed too.
    let out = h.recv_carrier(&reliable(carrier_response(&b_inv, 183, Some(ANSWER)), 2));
    assert_eq!(
        out.carrier_request("PRACK").header("RAck"),
        Some("2 1 INVITE")
    );
    // Nothing is retransmitted to the customer.
    let out = h.advance(Duration::from_secs(2));
    assert!(out
        .customer_statuses()
        .iter()
        .all(|s| *s == 100 || *s >= 200));
}

#[test]
fn second_provisional_waits_for_the_first_prack() {
    let mut h = B2bHarness::new();
    let inv = with_100rel(customer_invite("z9hG4bKq", 70), "Supported");
    let b_inv = h.recv_customer(inv.as_bytes()).carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_inv, 180, None));
    let our_tag = out.customer_response(180).to_tag().unwrap();
    assert_eq!(out.customer_response(180).header("RSeq"), Some("1"));
    let out = h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    assert!(
        out.to_customer.is_empty(),
        "183 queued behind the unPRACKed 180"
    );
    let out = h.recv_customer(customer_prack(&our_tag, "z9hG4bKq1", "1 20 INVITE").as_bytes());
    assert_eq!(out.customer_statuses(), vec![200, 183]);
    assert_eq!(out.customer_response(183).header("RSeq"), Some("2"));
    // A carrier error while the 183 is unPRACKed is relayed at once.
    let out = h.recv_carrier(&carrier_response(&b_inv, 486, None));
    assert_eq!(out.customer_statuses(), vec![486]);
    let out = h.advance(Duration::from_secs(3));
    assert!(
        !out.customer_statuses().contains(&183),
        "no retransmission after the final"
    );
}

#[test]
fn no_prack_within_64_t1_gives_504_and_cancels_the_b_leg() {
    let mut h = B2bHarness::new();
    let inv = with_100rel(customer_invite("z9hG4bKnp", 70), "Require");
    let b_inv = h.recv_customer(inv.as_bytes()).carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 100, None));
    let out = h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    assert_eq!(out.customer_statuses(), vec![183]);
    h.events();
    // Retransmitted at T1, 2T1, 4T1, ... then given up at 64·T1 = 32 s.
    let out = h.advance(Duration::from_secs(33));
    let n183 = out
        .customer_statuses()
        .iter()
        .filter(|s| **s == 183)
        .count();
    assert!((5..=7).contains(&n183), "{n183} retransmissions");
    assert!(
        out.customer_statuses().contains(&504),
        "{:?}",
        out.customer_statuses()
    );
    let methods: Vec<Method> = carrier_requests(&out)
        .into_iter()
        .map(|r| r.method)
        .collect();
    assert!(methods.contains(&Method::Cancel), "{methods:?}");
    assert!(h.events().contains(&CallEvent::Ended {
        call: tonegate_sip::b2bua::CallId(1),
        status: 504,
        cause: tonegate_sip::b2bua::EndCause::Other,
    }));
}
