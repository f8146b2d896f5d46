//! The customer cancels: 200 to the CANCEL, CANCEL on the B leg, 487 to
//! the customer. When the carrier's 200 crosses the CANCEL, the B leg is
//! ACKed and BYEd.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::{CallEvent, EndCause};
use tonegate_sip::message::Method;

fn cancel_text(branch: &str) -> String {
    format!(
        "CANCEL sip:+4930123456@198.18.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+4940111@customer.example>;tag=custtag\r\n\
To: <sip:+4930123456@198.18.0.1>\r\n\
Call-ID: secret-call-id@customer.example\r\n\
CSeq: 20 CANCEL\r\n\
Content-Length: 0\r\n\
\r\n"
    )
}

#[test]
fn customer_cancel_while_ringing() {
    let mut h = B2bHarness::new();
    let b_inv = h
        .recv_customer(customer_invite("z9hG4bKcx1", 70).as_bytes())
        .carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 180, None));
    h.advance(Duration::from_secs(2));

    let out = h.recv_customer(cancel_text("z9hG4bKcx1").as_bytes());
    assert_eq!(out.customer_statuses(), vec![200, 487]);
    assert_eq!(out.to_customer[0].headers().get("CSeq"), Some("20 CANCEL"));
    let cancel = out.carrier_request("CANCEL");
    assert_eq!(cancel.top_branch().unwrap(), b_inv.top_branch().unwrap());
    assert_eq!(cancel.call_id().unwrap(), b_inv.call_id().unwrap());
    assert!(matches!(
        &h.events()[..],
        [
            CallEvent::Started { .. },
            CallEvent::Ringing { .. },
            CallEvent::Ended {
                status: 487,
                cause: EndCause::CallerCancel,
                ..
            }
        ]
    ));

    // Carrier confirms: 200 to CANCEL, 487 to INVITE, which the B leg's
    // transaction ACKs (hop by hop) with the INVITE's branch.
    let out = h.recv_carrier(&carrier_response(&cancel, 200, None));
    assert!(out.to_carrier.is_empty() && out.to_customer.is_empty());
    let out = h.recv_carrier(&carrier_response(&b_inv, 487, None));
    let ack = out.carrier_request("ACK");
    assert_eq!(ack.top_branch().unwrap(), b_inv.top_branch().unwrap());
    assert!(
        out.to_customer.is_empty(),
        "487 already sent to the customer"
    );
    assert_eq!(h.b2b.call_count(), 0);

    // The customer's ACK for the 487 is absorbed by its transaction.
    let out = h.recv_customer(
        customer_in_dialog("ACK", "z9hG4bKcx1", 20, "whatever")
            .replace("sip:gw@198.18.0.1:5060", "sip:+4930123456@198.18.0.1")
            .as_bytes(),
    );
    assert!(out.to_carrier.is_empty() && out.to_customer.is_empty());
}

#[test]
fn carrier_200_crossing_the_cancel_is_acked_and_byed() {
    let mut h = B2bHarness::new();
    let b_inv = h
        .recv_customer(customer_invite("z9hG4bKcx2", 70).as_bytes())
        .carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    let out = h.recv_customer(cancel_text("z9hG4bKcx2").as_bytes());
    assert_eq!(out.customer_statuses(), vec![200, 487]);
    let cancel = out.carrier_request("CANCEL");

    // The carrier answered before it saw the CANCEL.
    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    assert_eq!(out.carrier_methods(), vec!["ACK", "BYE"]);
    assert!(
        out.to_customer.is_empty(),
        "the customer already has its 487"
    );
    let ack = out.carrier_request("ACK");
    assert_eq!(ack.cseq().unwrap().seq, b_inv.cseq().unwrap().seq);
    assert_eq!(ack.to_tag().as_deref(), Some("carriertag"));
    let bye = out.carrier_request("BYE");
    assert_eq!(bye.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(bye.call_id().unwrap(), b_inv.call_id().unwrap());

    // The CANCEL still gets its own 200; the BYE its 200; the call is gone.
    h.recv_carrier(&carrier_response(&cancel, 200, None));
    assert_eq!(h.b2b.call_count(), 1);
    // A retransmitted 200 for the INVITE is re-ACKed, not re-BYEd.
    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    assert_eq!(out.carrier_methods(), vec!["ACK"]);
    h.recv_carrier(&carrier_response(&bye, 200, None));
    assert_eq!(h.b2b.call_count(), 0);
    let ends: Vec<_> = h
        .events()
        .into_iter()
        .filter(|e| matches!(e, CallEvent::Ended { .. }))
        .collect();
    assert!(matches!(&ends[..], [CallEvent::Ended { status: 487, .. }]));
    let _ = Method::Ack;
}

#[test]
fn cancelled_call_is_forgotten_when_the_carrier_stays_silent() {
    let mut h = B2bHarness::new();
    let b_inv = h
        .recv_customer(customer_invite("z9hG4bKcx3", 70).as_bytes())
        .carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 180, None));
    let out = h.recv_customer(cancel_text("z9hG4bKcx3").as_bytes());
    assert_eq!(out.customer_statuses(), vec![200, 487]);
    // Neither the CANCEL nor the INVITE is ever answered.
    h.advance(Duration::from_secs(31));
    assert_eq!(h.b2b.call_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.b2b.call_count(),
        0,
        "§9.1: INVITE destroyed 64·T1 after CANCEL"
    );
}
