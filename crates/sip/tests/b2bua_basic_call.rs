//! A complete call through the B2BUA: INVITE with topology hiding and
//! header copying, 180/200 relayed with bodies untouched, end-to-end ACK,
//! re-ACK of a retransmitted 200, BYE from the customer.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::CallEvent;
use tonegate_sip::message::Method;

#[test]
fn customer_call_answered_and_hung_up() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKcustinv", 70).as_bytes());
    assert_eq!(out.customer_statuses(), vec![100], "100 Trying at once");
    assert_eq!(out.carrier_methods(), vec!["INVITE"]);
    let b_inv = out.carrier_request("INVITE");
    let raw = String::from_utf8(out.raw_to_carrier[0].clone()).unwrap();

    // Topology hiding: nothing of the customer's Via, Record-Route,
    // Contact or Call-ID reaches the carrier.
    for secret in [
        "192.0.2.10",
        "10.99.0.7",
        "z9hG4bKcustinv",
        "edge.customer.example",
        "secret-call-id",
        "custtag",
        "alice@",
    ] {
        assert!(
            !raw.split("\r\n\r\n").next().unwrap().contains(secret),
            "{secret} leaked into {raw}"
        );
    }
    assert_eq!(b_inv.headers.elements("Via").len(), 1);
    assert_eq!(b_inv.top_via().unwrap().sent_by(), "198.18.0.1:5060");
    assert!(b_inv.header("Record-Route").is_none());
    assert_eq!(b_inv.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_ne!(b_inv.call_id().unwrap(), "secret-call-id@customer.example");
    assert_ne!(b_inv.from_tag().as_deref(), Some("custtag"));
    // Copied: user parts, identity, custom headers, body; hops decremented.
    assert_eq!(b_inv.uri, "sip:+4930123456@203.0.113.5:5060");
    let from = b_inv.from_header().unwrap();
    assert_eq!(from.user().as_deref(), Some("+4940111"));
    assert_eq!(from.display_name.as_deref(), Some("Alice"));
    assert_eq!(
        b_inv.to_header().unwrap().user().as_deref(),
        Some("+4930123456")
    );
    assert_eq!(b_inv.to_tag(), None);
    assert_eq!(
        b_inv.header("P-Asserted-Identity"),
        Some("<sip:+4940111@customer.example>")
    );
    assert_eq!(b_inv.header("X-User-Data"), Some("account=42;plan=gold"));
    assert_eq!(b_inv.max_forwards().unwrap(), Some(69));
    assert_eq!(&b_inv.body[..], OFFER.as_bytes());
    assert_eq!(b_inv.header("Content-Type"), Some("application/sdp"));
    assert_eq!(b_inv.cseq().unwrap().method, Method::Invite);
    assert_eq!(
        h.events(),
        vec![CallEvent::Started {
            call: tonegate_sip::b2bua::CallId(1),
            trunk: "acme".into(),
            call_id: "secret-call-id@customer.example".into(),
            parties: tonegate_sip::b2bua::Parties {
                caller: "+4940111".into(),
                display_caller: "+4940111".into(),
                called: "+4930123456".into(),
                user_data: Some("account=42;plan=gold".into()),
            },
            media: None,
        }]
    );

    // Carrier rings with early media; the customer sees 180 with the body.
    h.advance(Duration::from_millis(100));
    let out = h.recv_carrier(&carrier_response(&b_inv, 100, None));
    assert!(out.to_customer.is_empty(), "carrier 100 is not relayed");
    let out = h.recv_carrier(&carrier_response(&b_inv, 180, Some(ANSWER)));
    let ringing = out.customer_response(180);
    assert_eq!(&ringing.body[..], ANSWER.as_bytes());
    let our_tag = ringing.to_tag().expect("tag on 180");
    let raw = String::from_utf8(out.raw_to_customer[0].clone()).unwrap();
    // Headers only: the SDP body is relayed untouched.
    let raw = raw.split("\r\n\r\n").next().unwrap();
    for secret in [
        "203.0.113.9",
        "sbc.carrier.example",
        "carriertag",
        "X-Carrier-Secret",
        b_inv.call_id().unwrap(),
    ] {
        assert!(
            !raw.contains(secret),
            "{secret} leaked to the customer: {raw}"
        );
    }
    assert_eq!(
        ringing.call_id().unwrap(),
        "secret-call-id@customer.example"
    );
    assert_eq!(
        ringing.headers.elements("Via").len(),
        2,
        "the customer's own Vias"
    );

    // Answer.
    let ok = carrier_response(&b_inv, 200, Some(ANSWER));
    let out = h.recv_carrier(&ok);
    let answer = out.customer_response(200);
    // §12.1.1: the customer's own Record-Route comes back in the answer
    // (the carrier's never does).
    assert_eq!(
        answer.headers.get_all("Record-Route").collect::<Vec<_>>(),
        vec!["<sip:edge.customer.example;lr>"]
    );
    assert_eq!(
        answer.to_tag().as_deref(),
        Some(our_tag.as_str()),
        "same tag as the 180"
    );
    assert_eq!(&answer.body[..], ANSWER.as_bytes());
    assert!(
        out.to_carrier.is_empty(),
        "B leg not ACKed before the customer ACKs"
    );
    assert_eq!(
        h.events(),
        vec![
            CallEvent::Ringing {
                call: tonegate_sip::b2bua::CallId(1)
            },
            CallEvent::Answered {
                call: tonegate_sip::b2bua::CallId(1)
            }
        ]
    );

    // The customer's ACK (new branch) triggers the carrier ACK.
    let out = h.recv_customer(customer_in_dialog("ACK", "z9hG4bKcustack", 20, &our_tag).as_bytes());
    let ack = out.carrier_request("ACK");
    assert_eq!(
        ack.uri, "sip:core@203.0.113.9:5060",
        "ACK to the carrier's Contact"
    );
    assert_eq!(ack.cseq().unwrap().seq, b_inv.cseq().unwrap().seq);
    assert_eq!(ack.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(ack.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(ack.header("Route"), Some("<sip:sbc.carrier.example;lr>"));
    assert_ne!(ack.top_branch().unwrap(), b_inv.top_branch().unwrap());

    // The carrier did not get our ACK and retransmits its 200: re-ACK.
    h.advance(Duration::from_millis(500));
    let out = h.recv_carrier(&ok);
    assert_eq!(out.carrier_methods(), vec!["ACK"]);
    assert!(out.to_customer.is_empty());

    // Customer hangs up.
    h.advance(Duration::from_secs(60));
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKcustbye", 21, &our_tag).as_bytes());
    assert_eq!(out.customer_statuses(), vec![200]);
    let bye = out.carrier_request("BYE");
    assert_eq!(bye.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(bye.cseq().unwrap().seq, b_inv.cseq().unwrap().seq + 1);
    assert_eq!(bye.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(bye.from_tag(), b_inv.from_tag());
    assert_eq!(bye.uri, "sip:core@203.0.113.9:5060");
    assert_eq!(
        h.events(),
        vec![CallEvent::Ended {
            call: tonegate_sip::b2bua::CallId(1),
            status: 200,
            cause: tonegate_sip::b2bua::EndCause::Hangup,
        }]
    );
    assert_eq!(h.b2b.call_count(), 1, "waiting for the BYE's response");
    h.recv_carrier(&carrier_response(&bye, 200, None));
    assert_eq!(h.b2b.call_count(), 0);
}

#[test]
fn carrier_hangs_up() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKc2", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    let our_tag = h
        .recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)))
        .customer_response(200)
        .to_tag()
        .unwrap();
    h.recv_customer(customer_in_dialog("ACK", "z9hG4bKc2ack", 20, &our_tag).as_bytes());
    h.events();

    let out = h.recv_carrier(&carrier_in_dialog("BYE", &b_inv, 5));
    assert_eq!(out.carrier_methods(), vec!["200"]);
    let bye = out
        .to_customer
        .iter()
        .find_map(|m| match m {
            tonegate_sip::SipMessage::Request(r) => Some(r.clone()),
            _ => None,
        })
        .expect("BYE to the customer");
    assert_eq!(bye.method, Method::Bye);
    assert_eq!(
        bye.uri, "sip:alice@192.0.2.10:5060",
        "to the customer's Contact"
    );
    assert_eq!(bye.call_id().unwrap(), "secret-call-id@customer.example");
    assert_eq!(bye.to_tag().as_deref(), Some("custtag"));
    assert_eq!(bye.from_tag().as_deref(), Some(our_tag.as_str()));
    assert_eq!(bye.header("Route"), Some("<sip:edge.customer.example;lr>"));
    let raw = String::from_utf8(out.raw_to_customer.last().unwrap().clone()).unwrap();
    assert!(
        !raw.contains("203.0.113") && !raw.contains("carriertag"),
        "{raw}"
    );

    let resp = bye.response(tonegate_sip::StatusCode::OK, None).to_bytes();
    h.recv_customer(&resp);
    assert_eq!(h.b2b.call_count(), 0);
    assert!(matches!(
        &h.events()[..],
        [CallEvent::Ended { status: 200, .. }]
    ));
}
