//! re-INVITE on an answered call (RFC 3261 §14), from either side: relayed
//! as a new INVITE transaction in the other leg's dialog with the SDP
//! copied, responses relayed back, the ACK for a 2xx relayed end to end,
//! a non-2xx ACKed hop by hop; nothing of one leg's topology on the other.

mod common;

use std::time::Duration;

use common::b2b::*;
use tonegate_sip::message::Method;

#[test]
fn customer_reinvite_answered_200_and_acked_end_to_end() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);
    h.advance(Duration::from_secs(10));

    let reinv = customer_offer("INVITE", "z9hG4bKcustre1", 21, &our_tag);
    let out = h.recv_customer(&reinv);
    assert_eq!(out.customer_statuses(), vec![100], "100 Trying at once");
    let b_re = out.carrier_request("INVITE");
    assert_eq!(
        b_re.uri, "sip:core@203.0.113.9:5060",
        "to the carrier's Contact"
    );
    assert_eq!(b_re.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(b_re.from_tag(), b_inv.from_tag());
    assert_eq!(b_re.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(b_re.cseq().unwrap().seq, 2, "the B dialog's own CSeq");
    assert_eq!(b_re.cseq().unwrap().method, Method::Invite);
    assert_eq!(b_re.header("Route"), Some("<sip:sbc.carrier.example;lr>"));
    assert_eq!(b_re.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_eq!(b_re.headers.elements("Via").len(), 1);
    assert_eq!(b_re.top_via().unwrap().sent_by(), "198.18.0.1:5060");
    assert_eq!(&b_re.body[..], REOFFER.as_bytes());
    assert_eq!(b_re.header("Content-Type"), Some("application/sdp"));
    assert_eq!(b_re.max_forwards().unwrap(), Some(69));
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);

    // 100 is not relayed; a 180 would be; the 200 with the answer is.
    let out = h.recv_carrier(&carrier_response(&b_re, 100, None));
    assert!(out.to_customer.is_empty());
    let ok = carrier_response(&b_re, 200, Some(REANSWER));
    let out = h.recv_carrier(&ok);
    let a_ok = out.customer_response(200);
    assert_eq!(a_ok.cseq().unwrap().seq, 21);
    assert_eq!(a_ok.cseq().unwrap().method, Method::Invite);
    assert_eq!(a_ok.call_id().unwrap(), "secret-call-id@customer.example");
    assert_eq!(a_ok.to_tag().as_deref(), Some(our_tag.as_str()));
    assert_eq!(a_ok.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_eq!(&a_ok.body[..], REANSWER.as_bytes());
    assert!(out.to_carrier.is_empty(), "no ACK before the customer's");
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);
    assert_no_leak(&out.raw_to_customer, &[b_inv.call_id().unwrap()]);

    // The customer's ACK (new branch, CSeq 21) triggers ours (CSeq 2).
    let out =
        h.recv_customer(customer_in_dialog("ACK", "z9hG4bKcustre1ack", 21, &our_tag).as_bytes());
    let ack = out.carrier_request("ACK");
    assert_eq!(ack.cseq().unwrap().seq, 2);
    assert_eq!(ack.uri, "sip:core@203.0.113.9:5060");
    assert_eq!(ack.to_tag().as_deref(), Some("carriertag"));
    assert_eq!(ack.header("Route"), Some("<sip:sbc.carrier.example;lr>"));
    assert_ne!(ack.top_branch().unwrap(), b_re.top_branch().unwrap());
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);

    // The carrier missed it and retransmits the 200: re-ACKed, not relayed.
    h.advance(Duration::from_millis(500));
    let out = h.recv_carrier(&ok);
    assert_eq!(out.carrier_methods(), vec!["ACK"]);
    assert_eq!(out.carrier_request("ACK").cseq().unwrap().seq, 2);
    assert!(out.to_customer.is_empty());

    // The call goes on: a BYE uses the next B CSeq.
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKcustbye", 22, &our_tag).as_bytes());
    assert_eq!(out.carrier_request("BYE").cseq().unwrap().seq, 3);
}

#[test]
fn carrier_reinvite_answered_200_and_acked_end_to_end() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);

    let reinv = with_sdp(
        &carrier_in_dialog("INVITE", &b_inv, 7),
        "<sip:core2@203.0.113.9:5070>",
        REANSWER,
    );
    let out = h.recv_carrier(&reinv);
    assert_eq!(out.carrier_methods(), vec!["100"]);
    let a_re = customer_request(&out);
    assert_eq!(a_re.method, Method::Invite);
    assert_eq!(
        a_re.uri, "sip:alice@192.0.2.10:5060",
        "to the customer's Contact"
    );
    assert_eq!(a_re.call_id().unwrap(), "secret-call-id@customer.example");
    assert_eq!(a_re.from_tag().as_deref(), Some(our_tag.as_str()));
    assert_eq!(a_re.to_tag().as_deref(), Some("custtag"));
    assert_eq!(
        a_re.cseq().unwrap().seq,
        1,
        "our first request in the A dialog"
    );
    assert_eq!(a_re.header("Route"), Some("<sip:edge.customer.example;lr>"));
    assert_eq!(a_re.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_eq!(a_re.headers.elements("Via").len(), 1);
    assert_eq!(&a_re.body[..], REANSWER.as_bytes());
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);
    assert_no_leak(&out.raw_to_customer, &[b_inv.call_id().unwrap()]);

    // The customer answers from a new Contact.
    let mut ok = a_re.response(tonegate_sip::StatusCode::OK, None);
    ok.headers.push("Contact", "<sip:alice@192.0.2.10:5062>");
    ok.set_body(Some("application/sdp"), REOFFER.as_bytes().to_vec());
    let out = h.recv_customer(&ok.to_bytes());
    assert!(out.to_customer.is_empty());
    let statuses: Vec<String> = out.carrier_methods();
    assert_eq!(statuses, vec!["200"]);
    let b_ok = match &out.to_carrier[0] {
        tonegate_sip::SipMessage::Response(r) => r.clone(),
        m => panic!("{m:?}"),
    };
    assert_eq!(b_ok.cseq().unwrap().seq, 7);
    assert_eq!(b_ok.call_id().unwrap(), b_inv.call_id().unwrap());
    assert_eq!(b_ok.header("Contact"), Some("<sip:gw@198.18.0.1:5060>"));
    assert_eq!(&b_ok.body[..], REOFFER.as_bytes());
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);

    // The carrier's ACK triggers ours, to the customer's new Contact.
    let out = h.recv_carrier(&carrier_in_dialog("ACK", &b_inv, 7));
    let ack = customer_request(&out);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.cseq().unwrap().seq, 1);
    assert_eq!(
        ack.uri, "sip:alice@192.0.2.10:5062",
        "target refreshed (§12.2)"
    );
    assert_eq!(ack.to_tag().as_deref(), Some("custtag"));
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);

    // A retransmitted 200 from the customer is re-ACKed.
    let out = h.recv_customer(&ok.to_bytes());
    let again = customer_request(&out);
    assert_eq!(again.method, Method::Ack);
    assert!(out.to_carrier.is_empty());

    // The carrier's re-INVITE moved its target too: our BYE goes there.
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKcustbye", 21, &our_tag).as_bytes());
    assert_eq!(out.carrier_request("BYE").uri, "sip:core2@203.0.113.9:5070");
}

#[test]
fn customer_reinvite_rejected_488_is_acked_hop_by_hop() {
    let mut h = B2bHarness::new();
    let (b_inv, our_tag) = answered_call(&mut h);
    let reinv = customer_offer("INVITE", "z9hG4bKcustre2", 21, &our_tag);
    let b_re = h.recv_customer(&reinv).carrier_request("INVITE");
    let out = h.recv_carrier(&carrier_response(&b_re, 488, None));
    // The carrier's 488 is ACKed by our client transaction (same branch).
    let ack = out.carrier_request("ACK");
    assert_eq!(ack.top_branch().unwrap(), b_re.top_branch().unwrap());
    assert_eq!(ack.cseq().unwrap().seq, 2);
    let rej = out.customer_response(488);
    assert_eq!(rej.cseq().unwrap().seq, 21);
    assert!(rej.header("Contact").is_none());
    assert_no_leak(&out.raw_to_customer, CARRIER_SECRETS);

    // The customer's ACK for the 488 is absorbed by our server transaction.
    let out = h.recv_customer(customer_in_dialog("ACK", "z9hG4bKcustre2", 21, &our_tag).as_bytes());
    assert!(out.to_carrier.is_empty() && out.to_customer.is_empty());

    // The dialog survives: a new re-INVITE is relayed with the next CSeq.
    let reinv = customer_offer("INVITE", "z9hG4bKcustre3", 22, &our_tag);
    let out = h.recv_customer(&reinv);
    assert_eq!(out.carrier_request("INVITE").cseq().unwrap().seq, 3);
    assert_eq!(
        out.carrier_request("INVITE").call_id().unwrap(),
        b_inv.call_id().unwrap()
    );
}

#[test]
fn carrier_reinvite_rejected_488_by_the_customer() {
    let mut h = B2bHarness::new();
    let (b_inv, _our_tag) = answered_call(&mut h);
    let reinv = with_sdp(
        &carrier_in_dialog("INVITE", &b_inv, 7),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    );
    let a_re = customer_request(&h.recv_carrier(&reinv));
    let rej = a_re.response(tonegate_sip::StatusCode::NOT_ACCEPTABLE_HERE, None);
    let out = h.recv_customer(&rej.to_bytes());
    // Our client transaction ACKs the customer's 488 hop by hop.
    let ack = customer_request(&out);
    assert_eq!(ack.method, Method::Ack);
    assert_eq!(ack.top_branch().unwrap(), a_re.top_branch().unwrap());
    assert_eq!(out.carrier_methods(), vec!["488"]);
    assert_no_leak(&out.raw_to_carrier, CUSTOMER_SECRETS);
    assert_eq!(h.b2b.call_count(), 1, "the call goes on");
}

#[test]
fn reinvite_before_the_initial_ack_gets_491() {
    let mut h = B2bHarness::new();
    let out = h.recv_customer(customer_invite("z9hG4bKcustearly", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    // Our INVITE on the B leg is not ACKed yet (§14.2).
    let out = h.recv_carrier(&with_sdp(
        &carrier_in_dialog("INVITE", &b_inv, 7),
        "<sip:core@203.0.113.9:5060>",
        REANSWER,
    ));
    assert_eq!(out.carrier_methods(), vec!["100", "491"]);
    assert!(out.to_customer.is_empty());
}
