//! UPDATE (RFC 3311) in the early dialog (after a 183) and after answer,
//! from either side: relayed as a non-INVITE transaction in the other
//! leg's dialog with the SDP copied, the response relayed back, nothing of
//! one leg's topology on the other.

mod common;

use common::b2b::*;
use tonegate_sip::message::Method;
use tonegate_sip::{SipMessage, StatusCode};

fn carrier_response_of(out: &Out) -> tonegate_sip::Response {
    out.to_carrier
        .iter()
        .find_map(|m| match m {
            SipMessage::Response(r) if r.status.code() > 100 => Some(r.clone()),
            _ => None,
        })
        .expect("a response to the carrier")
}

#[test]
fn customer_update_during_early_media() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKcustu", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    let our_tag = out.customer_response(183).to_tag().unwrap();

    let update = customer_offer("UPDATE", "z9hG4bKcustupd", 21, &our_tag);
    let out = h.recv_customer(&update);
    assert!(out.to_customer.is_empty(), "no 100 for a non-INVITE");
    let b_upd = out.carrier_request("UPDATE");
    assert_eq!(b_upd.uri, "sip:core@203.0.113.9:5060", "the 183's Contact");
    assert_eq!(b_upd.header("Route"), Some("<sip:sbc.carrier.example;lr>"));
    assert_eq!(b_upd.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(b_upd.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(b_upd.cseq().unwrap().seq, 2);
    assert_eq!(b_upd.cseq().unwrap().method, Method::Update);
    assert_eq!(b_upd.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_eq!(&b_upd.body[..], REOFFER.as_bytes());
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);

    let out = h.recv_carrier(&carrier_response(&b_upd, 200, Some(REANSWER)));
    let ok = out.customer_response(200);
    assert_eq!(ok.cseq().unwrap().method, Method::Update);
    assert_eq!(ok.cseq().unwrap().seq, 21);
    assert_eq!(&ok.body[..], REANSWER.as_bytes());
    assert_eq!(ok.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);
    assert_no_leak(&out.raw_to_customer, &[b_inv.call_id().unwrap()]);

    // The call is still ringing; the answer is relayed as usual.
    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    out.customer_response(200);
}

#[test]
fn carrier_update_during_early_media() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKcustu2", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    let our_tag = out.customer_response(183).to_tag().unwrap();

    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("UPDATE", &b_inv, 3),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    assert!(out.to_carrier.is_empty());
    let a_upd = customer_request(&out);
    assert_eq!(a_upd.method, Method::Update);
    assert_eq!(a_upd.uri, "sip:alice@192.0.2.10:5060");
    assert_eq!(a_upd.from_tag().as_deref(), Some(our_tag.as_str()));
    assert_eq!(a_upd.to_tag().as_deref(), Some("custtag"));
    assert_eq!(a_upd.call_id().unwrap(), "secret-call-id@customer.example");
    assert_eq!(&a_upd.body[..], REANSWER.as_bytes());
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);

    let mut ok = a_upd.response(StatusCode::OK, None);
    ok.headers.push("Contact", "<sip:alice@192.0.2.10:5060>");
    ok.set_body(Some("application/sdp"), REOFFER.as_bytes().to_vec());
    let out = h.recv_customer(&ok.to_bytes());
    let b_ok = carrier_response_of(&out);
    assert_eq!(b_ok.status.code(), 200);
    assert_eq!(b_ok.cseq().unwrap().seq, 3);
    assert_eq!(&b_ok.body[..], REOFFER.as_bytes());
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);
}

#[test]
fn updates_after_answer_both_ways_and_glare() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);

    let update = customer_offer("UPDATE", "z9hG4bKcustupd", 21, &our_tag);
    let b_upd = h.recv_customer(&update).carrier_request("UPDATE");
    assert_eq!(b_upd.cseq().unwrap().seq, 2);

    // The carrier's offer crosses ours (RFC 3311 §5.2): 491.
    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("UPDATE", &b_inv, 3),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    assert_eq!(carrier_response_of(&out).status.code(), 491);
    assert!(out.to_customer.is_empty());

    // A carrier's 488 is relayed back.
    let out = h.recv_carrier(&carrier_response(&b_upd, 488, None));
    assert_eq!(out.customer_response(488).cseq().unwrap().seq, 21);
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);

    // Now the carrier's UPDATE goes through.
    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("UPDATE", &b_inv, 4),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    let a_upd = customer_request(&out);
    assert_eq!(a_upd.cseq().unwrap().seq, 1);
    let out = h.recv_customer(&a_upd.response(StatusCode::OK, None).to_bytes());
    assert_eq!(carrier_response_of(&out).status.code(), 200);
}
