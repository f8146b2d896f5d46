//! Headers the gateway adds to the customer's final failure response: the
//! code heard in early media on a relayed carrier failure, and the Reason
//! of an early release (the gateway cancels the carrier itself).

mod common;

use common::b2b::*;
use tonegate_sip::b2bua::{CallEvent, CallId, EndCause};
use tonegate_sip::message::StatusCode;

fn gcode(code: &str) -> Vec<(String, String)> {
    vec![("X-Hangup-Gcode".to_owned(), code.to_owned())]
}

#[test]
fn relayed_carrier_failure_carries_the_heard_code() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKf1", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    h.b2b.set_final_headers(CallId(1), gcode("2114"));
    let out = h.recv_carrier(&carrier_response(&b_inv, 480, None));
    let r = out.customer_response(480);
    assert_eq!(r.header("X-Hangup-Gcode"), Some("2114"));
}

#[test]
fn early_release_cancels_the_carrier_and_answers_with_reason() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKf2", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    h.events();
    let mut headers = gcode("2114");
    headers.push((
        "Reason".to_owned(),
        "Q.850;cause=1;text=\"Unallocated number\"".to_owned(),
    ));
    h.b2b.set_final_headers(CallId(1), headers);
    assert!(h
        .b2b
        .hangup(h.now, CallId(1), StatusCode::new(404).unwrap()));
    let out = h.drain();
    out.carrier_request("CANCEL");
    let r = out.customer_response(404);
    assert_eq!(r.header("X-Hangup-Gcode"), Some("2114"));
    assert_eq!(
        r.header("Reason"),
        Some("Q.850;cause=1;text=\"Unallocated number\"")
    );
    assert!(h.events().contains(&CallEvent::Ended {
        call: CallId(1),
        status: 404,
        cause: EndCause::Gateway,
    }));
    // The carrier's 487 afterwards is absorbed: the customer has its answer.
    let out = h.recv_carrier(&carrier_response(&b_inv, 487, None));
    assert!(out.to_customer.is_empty(), "{:?}", out.customer_statuses());
}

#[test]
fn an_answer_never_carries_them() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKf3", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    h.b2b.set_final_headers(CallId(1), gcode("2101"));
    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    assert_eq!(out.customer_response(200).header("X-Hangup-Gcode"), None);
}
