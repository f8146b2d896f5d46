//! The customer never ACKs the relayed 200: the A-leg 200 is retransmitted
//! (T1 doubling to T2), and at Timer L (64·T1) the B2BUA ACKs and BYEs the
//! carrier and BYEs the customer (RFC 3261 §13.3.1.4).

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::CallEvent;

#[test]
fn no_ack_from_customer_tears_down_both_legs() {
    let mut h = B2bHarness::new();
    let b_inv = h
        .recv_customer(customer_invite("z9hG4bKnoack", 70).as_bytes())
        .carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    assert_eq!(out.customer_statuses(), vec![200]);

    let out = h.advance(Duration::from_millis(31_999));
    assert_eq!(
        out.customer_statuses(),
        vec![200; 10],
        "2xx retransmitted until Timer L"
    );
    assert!(out.to_carrier.is_empty());

    let out = h.advance(Duration::from_millis(1));
    assert_eq!(out.carrier_methods(), vec!["ACK", "BYE"]);
    let bye_a: Vec<_> = out
        .to_customer
        .iter()
        .filter_map(|m| match m {
            tonegate_sip::SipMessage::Request(r) => Some(r.method.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(bye_a, vec!["BYE"]);
    assert!(matches!(
        &h.events()[..],
        [
            CallEvent::Started { .. },
            CallEvent::Answered { .. },
            CallEvent::Ended { status: 200, .. }
        ]
    ));
    // Both BYEs time out (nobody answers): the call is forgotten after Timer F.
    h.advance(Duration::from_secs(40));
    assert_eq!(h.b2b.call_count(), 0);
}
