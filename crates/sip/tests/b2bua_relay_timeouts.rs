//! Relayed in-dialog requests that go wrong: an UPDATE the carrier never
//! answers gets 408 after Timer F; a relayed 2xx re-INVITE the customer
//! never ACKs (Timer L, RFC 3261 §13.3.1.4) is ACKed on the B leg and the
//! call is ended with BYE on both legs.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::CallEvent;
use tonegate_sip::message::Method;

#[test]
fn unanswered_update_gets_408() {
    let mut h = B2bHarness::new();
    let (_b_inv, our_tag) = answered_call(&mut h);
    let out =
        h.recv_customer(customer_in_dialog("UPDATE", "z9hG4bKcustupd", 21, &our_tag).as_bytes());
    out.carrier_request("UPDATE");
    let out = h.advance(Duration::from_secs(33));
    assert_eq!(out.customer_statuses(), vec![408]);
    assert_eq!(h.b2b.call_count(), 1, "the call goes on");
}

#[test]
fn unacked_reinvite_2xx_ends_the_call() {
    let mut h = B2bHarness::new();
    let (_b_inv, our_tag) = answered_call(&mut h);
    let reinv = customer_offer("INVITE", "z9hG4bKcustre", 21, &our_tag);
    let b_re = h.recv_customer(&reinv).carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_re, 200, Some(REANSWER)))
        .customer_response(200);
    let out = h.advance(Duration::from_secs(40));
    let methods = out.carrier_methods();
    assert!(methods.contains(&"ACK".to_owned()), "{methods:?}");
    let ack = out.carrier_request("ACK");
    assert_eq!(ack.cseq().unwrap().seq, b_re.cseq().unwrap().seq);
    out.carrier_request("BYE");
    assert!(out
        .to_customer
        .iter()
        .any(|m| matches!(m, tonegate_sip::SipMessage::Request(r) if r.method == Method::Bye)));
    assert!(matches!(
        &h.events()[..],
        [CallEvent::Ended { status: 200, .. }]
    ));
}
