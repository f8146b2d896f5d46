//! A customer cancels its INVITE: the TU gets a Cancel event naming the
//! INVITE transaction, answers 200 to the CANCEL and 487 to the INVITE, and
//! the ACK for the 487 is absorbed by the INVITE server transaction. A
//! CANCEL matching nothing gets 481 without bothering the TU.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::message::{Method, StatusCode};
use tonegate_sip::transaction::ServerKey;
use tonegate_sip::Event;

#[test]
fn cancel_of_a_pending_invite() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKcanc1").as_bytes());
    assert_eq!(statuses(&h.sent()), vec![100]);
    let Some(Event::Request { key: inv_key, .. }) = h.ep.poll_event() else {
        panic!()
    };

    h.advance(Duration::from_millis(300));
    h.receive(incoming_in_dialog("CANCEL", "z9hG4bKcanc1", 10, None).as_bytes());
    let events = h.events();
    let (cancel_key, target) = match &events[..] {
        [Event::Cancel {
            key,
            invite,
            request,
            ..
        }] => {
            assert_eq!(request.method, Method::Cancel);
            (key.clone(), invite.clone())
        }
        other => panic!("expected a Cancel event, got {other:?}"),
    };
    assert_eq!(target, inv_key);
    assert_eq!(cancel_key.method, Method::Cancel);
    h.ep.reply(h.now, &cancel_key, StatusCode::OK).unwrap();
    h.ep.reply(h.now, &inv_key, StatusCode::REQUEST_TERMINATED)
        .unwrap();
    let sent = h.sent();
    assert_eq!(statuses(&sent), vec![200, 487]);
    assert_eq!(as_response(&sent[0]).cseq().unwrap().method, Method::Cancel);
    let to_tag = as_response(&sent[1]).to_tag().unwrap();

    // The customer ACKs the 487 with the INVITE's branch: absorbed.
    h.advance(Duration::from_millis(100));
    h.receive(incoming_in_dialog("ACK", "z9hG4bKcanc1", 10, Some(&to_tag)).as_bytes());
    assert!(
        h.events().is_empty(),
        "ACK for non-2xx never reaches the TU"
    );
    assert!(h.sent().is_empty());
    // Timer I (T4) ends the INVITE transaction, Timer J (64·T1) the CANCEL's.
    h.advance(Duration::from_secs(5));
    assert_eq!(h.ep.transaction_count(), (0, 1));
    h.advance(Duration::from_secs(30));
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn cancel_without_invite_gets_481() {
    let mut h = Harness::new();
    h.receive(incoming_in_dialog("CANCEL", "z9hG4bKnothing", 10, None).as_bytes());
    let sent = h.sent();
    assert_eq!(statuses(&sent), vec![481]);
    assert!(as_response(&sent[0]).to_tag().is_some());
    assert!(h.events().is_empty());
    // A retransmitted CANCEL gets the same 481 from its transaction.
    h.receive(incoming_in_dialog("CANCEL", "z9hG4bKnothing", 10, None).as_bytes());
    assert_eq!(statuses(&h.sent()), vec![481]);
    assert!(h.events().is_empty());
    let _: Option<ServerKey> = None;
}
