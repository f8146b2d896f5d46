//! Server transaction matching (RFC 3261 §17.2.3): branch + sent-by +
//! method, ACK folded into INVITE, CANCEL separate; RFC 2543 requests
//! without the magic cookie fall back to Call-ID/From tag/CSeq/Via.

mod common;

use common::*;
use tonegate_sip::message::{Method, StatusCode};
use tonegate_sip::Event;

fn request_events(h: &mut Harness) -> Vec<tonegate_sip::transaction::ServerKey> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Request { key, .. } => Some(key),
            _ => None,
        })
        .collect()
}

#[test]
fn same_branch_different_sent_by_are_different_transactions() {
    let mut h = Harness::new();
    let a = incoming_in_dialog("OPTIONS", "z9hG4bKsame", 1, None);
    let b = a.replace(
        "Via: SIP/2.0/UDP 192.0.2.10:5060",
        "Via: SIP/2.0/UDP 192.0.2.11:5060",
    );
    h.receive(a.as_bytes());
    h.receive(b.as_bytes());
    let keys = request_events(&mut h);
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert_eq!(keys[0].branch, keys[1].branch);
    // Same branch and sent-by but another method: another transaction too.
    let c = a.replace("OPTIONS", "INFO");
    h.receive(c.as_bytes());
    assert_eq!(request_events(&mut h).len(), 1);
    // sent-by compares case-insensitively (a host name is case-insensitive).
    let upper = a.replace("192.0.2.10:5060;branch", "UA.Example.COM:5060;branch");
    let lower = a.replace("192.0.2.10:5060;branch", "ua.example.com:5060;branch");
    h.receive(upper.as_bytes());
    assert_eq!(request_events(&mut h).len(), 1);
    h.receive(lower.as_bytes());
    assert!(request_events(&mut h).is_empty(), "a retransmission");
}

#[test]
fn rfc2543_requests_match_by_dialog_fields() {
    let mut h = Harness::new();
    let old = incoming_in_dialog("OPTIONS", "oldstyle1", 1, None);
    h.receive(old.as_bytes());
    let keys = request_events(&mut h);
    assert_eq!(keys.len(), 1);
    assert!(keys[0].branch.starts_with("rfc2543;"));
    h.ep.reply(h.now, &keys[0], StatusCode::OK).unwrap();
    h.transmits();
    // Retransmission: absorbed, answered again.
    h.receive(old.as_bytes());
    assert!(request_events(&mut h).is_empty());
    assert_eq!(statuses(&h.sent()), vec![200]);
    // A new CSeq is a new transaction.
    h.receive(incoming_in_dialog("OPTIONS", "oldstyle1", 2, None).as_bytes());
    assert_eq!(request_events(&mut h).len(), 1);
}

#[test]
fn ack_with_invite_branch_matches_the_invite_transaction() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKm1").as_bytes());
    let keys = request_events(&mut h);
    assert_eq!(keys[0].method, Method::Invite);
    h.ep.reply(h.now, &keys[0], StatusCode::SERVICE_UNAVAILABLE)
        .unwrap();
    h.transmits();
    h.receive(incoming_in_dialog("ACK", "z9hG4bKm1", 10, Some("x")).as_bytes());
    assert!(h.events().is_empty(), "absorbed by the INVITE transaction");
    // An ACK with an unknown branch is not absorbed: it reaches the TU.
    h.receive(incoming_in_dialog("ACK", "z9hG4bKother", 10, Some("x")).as_bytes());
    assert!(matches!(&h.events()[..], [Event::Ack { .. }]));
}
