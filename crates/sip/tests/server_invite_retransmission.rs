//! A retransmitted INVITE is absorbed by its server transaction, which
//! re-sends the 100 Trying and later the last provisional response; the TU
//! sees the INVITE once.

mod common;

use common::*;
use tonegate_sip::message::{Method, StatusCode};
use tonegate_sip::Event;

#[test]
fn retransmitted_invite_is_absorbed() {
    let mut h = Harness::new();
    let invite = incoming_invite("z9hG4bKcust1");
    h.receive(invite.as_bytes());
    let sent = h.sent();
    assert_eq!(statuses(&sent), vec![100], "100 Trying at once");
    let trying = as_response(&sent[0]);
    assert_eq!(trying.to_tag(), None);
    assert_eq!(trying.top_branch().unwrap(), "z9hG4bKcust1");
    // The top Via records where it came from (RFC 3581).
    assert_eq!(trying.top_via().unwrap().param("rport"), Some("5060"));

    let events = h.events();
    let key = match &events[..] {
        [Event::Request { key, request, .. }] => {
            assert_eq!(request.method, Method::Invite);
            assert_eq!(&request.body[..], b"v=0\r\no=x\r\n");
            key.clone()
        }
        other => panic!("expected one request event, got {other:?}"),
    };

    // Retransmission before any TU response: 100 again, no new event.
    h.advance(std::time::Duration::from_millis(500));
    h.receive(invite.as_bytes());
    assert_eq!(statuses(&h.sent()), vec![100]);
    assert!(h.events().is_empty());

    // TU rings; the next retransmission gets the 180 with the same tag.
    h.ep.reply(h.now, &key, StatusCode::RINGING).unwrap();
    let ringing = h.sent();
    assert_eq!(statuses(&ringing), vec![180]);
    let tag = as_response(&ringing[0])
        .to_tag()
        .expect("180 carries a To tag");
    h.advance(std::time::Duration::from_millis(1000));
    h.receive(invite.as_bytes());
    let again = h.sent();
    assert_eq!(statuses(&again), vec![180]);
    assert_eq!(
        as_response(&again[0]).to_tag().as_deref(),
        Some(tag.as_str())
    );
    assert!(h.events().is_empty());

    // Final 200 uses the same local tag.
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    let ok = h.sent();
    assert_eq!(statuses(&ok), vec![200]);
    assert_eq!(as_response(&ok[0]).to_tag(), Some(tag));
    // RFC 6026 Accepted: an INVITE retransmission is absorbed silently.
    h.receive(invite.as_bytes());
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
}

#[test]
fn retransmitted_non_invite_gets_the_final_response_again() {
    let mut h = Harness::new();
    let bye = incoming_in_dialog("BYE", "z9hG4bKbye1", 11, Some("gwtag"));
    h.receive(bye.as_bytes());
    assert!(
        h.sent().is_empty(),
        "non-INVITE: nothing until the TU answers"
    );
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.receive(bye.as_bytes());
    assert!(h.sent().is_empty(), "Trying absorbs silently");
    assert!(h.events().is_empty());
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    assert_eq!(statuses(&h.sent()), vec![200]);
    h.receive(bye.as_bytes());
    assert_eq!(statuses(&h.sent()), vec![200]);
    assert!(h.events().is_empty());
}
