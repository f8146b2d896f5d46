//! re-INVITE glare (RFC 3261 §14.2): while a relayed re-INVITE is pending,
//! a re-INVITE from the other side gets 491 Request Pending, one from the
//! same side 500 with Retry-After; once the first completes, the next is
//! relayed. A CANCEL of the pending re-INVITE cancels it on the other leg.

mod common;

use common::b2b::*;
use tonegate_sip::message::Method;

#[test]
fn crossing_reinvites_get_491() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);
    let reinv = customer_offer("INVITE", "z9hG4bKcustg1", 21, &our_tag);
    let b_re = h.recv_customer(&reinv).carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_re, 100, None));

    // The carrier's re-INVITE crosses ours: 491, nothing to the customer.
    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("INVITE", &b_inv, 7),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    assert_eq!(out.carrier_methods(), vec!["100", "491"]);
    assert!(out.to_customer.is_empty());

    // A second re-INVITE from the customer overlaps its first: 500.
    let out = h.recv_customer(&customer_offer("INVITE", "z9hG4bKcustg2", 22, &our_tag));
    assert_eq!(out.customer_statuses(), vec![100, 500]);
    assert!(out.customer_response(500).header("Retry-After").is_some());
    assert!(out.to_carrier.is_empty());

    // The carrier answers ours; the customer ACKs; then the carrier's
    // retried re-INVITE goes through.
    let out = h.recv_carrier(&carrier_response(&b_re, 200, Some(REANSWER)));
    out.customer_response(200);
    // Still pending until the ACK: another carrier re-INVITE gets 491.
    let out = h.recv_carrier(&carrier_in_dialog("INVITE", &b_inv, 8));
    assert_eq!(out.carrier_methods(), vec!["100", "491"]);
    let out =
        h.recv_customer(customer_in_dialog("ACK", "z9hG4bKcustg1ack", 21, &our_tag).as_bytes());
    out.carrier_request("ACK");
    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("INVITE", &b_inv, 9),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    assert_eq!(out.carrier_methods(), vec!["100"]);
    assert_eq!(customer_request(&out).method, Method::Invite);
}

#[test]
fn cancelled_reinvite_is_cancelled_on_the_other_leg() {
    let mut h = B2bHarness::new();
    let (_b_inv, our_tag) = answered_call(&mut h);
    let reinv = customer_in_dialog("INVITE", "z9hG4bKcustc1", 21, &our_tag);
    let b_re = h.recv_customer(reinv.as_bytes()).carrier_request("INVITE");
    assert!(
        b_re.body.is_empty(),
        "an offerless re-INVITE stays offerless"
    );
    h.recv_carrier(&carrier_response(&b_re, 180, None));
    let cancel = customer_in_dialog("CANCEL", "z9hG4bKcustc1", 21, &our_tag);
    let out = h.recv_customer(cancel.as_bytes());
    assert_eq!(out.customer_statuses(), vec![200], "the CANCEL is answered");
    let b_cancel = out.carrier_request("CANCEL");
    assert_eq!(b_cancel.top_branch().unwrap(), b_re.top_branch().unwrap());
    h.recv_carrier(&carrier_response(&b_cancel, 200, None));
    let out = h.recv_carrier(&carrier_response(&b_re, 487, None));
    out.carrier_request("ACK");
    out.customer_response(487);
    assert_eq!(h.b2b.call_count(), 1, "the call goes on");
}
