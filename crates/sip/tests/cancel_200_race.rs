//! CANCEL crosses the 200 OK: the INVITE still completes (RFC 6026
//! Accepted, the TU gets the 200 and must ACK and BYE), and the CANCEL gets
//! its own 200 in its own transaction.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::message::Method;
use tonegate_sip::transaction::ClientKey;
use tonegate_sip::{Error, Event, Transport};

#[test]
fn two_hundred_after_cancel_still_completes_the_invite() {
    let mut h = Harness::new();
    let inv_key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let inv = as_request(&h.sent()[0]).clone();
    h.advance(Duration::from_millis(100));
    h.receive(&reply_to(&inv, 180, "carrier"));
    h.events();

    let cancel_key = h.ep.cancel(h.now, &inv_key).unwrap();
    assert_eq!(
        cancel_key,
        ClientKey {
            branch: inv_key.branch.clone(),
            method: Method::Cancel
        },
        "§9.1: CANCEL reuses the INVITE's branch"
    );
    let sent = h.sent();
    assert_eq!(methods(&sent), vec![Method::Cancel]);
    let cancel = as_request(&sent[0]).clone();
    assert_eq!(cancel.uri, inv.uri);
    assert_eq!(cancel.call_id().unwrap(), inv.call_id().unwrap());
    assert_eq!(cancel.cseq().unwrap().seq, inv.cseq().unwrap().seq);
    assert_eq!(cancel.header("From"), inv.header("From"));
    assert_eq!(cancel.header("To"), inv.header("To"));
    assert_eq!(cancel.headers.elements("Via").len(), 1);

    // The callee answered before it saw the CANCEL.
    h.advance(Duration::from_millis(50));
    h.receive(&reply_to(&inv, 200, "carrier"));
    h.receive(&reply_to(&cancel, 200, "carrier"));
    let events = h.events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(
        matches!(&events[0], Event::Response { key, response } if *key == inv_key && response.status.code() == 200)
    );
    assert!(
        matches!(&events[1], Event::Response { key, response } if *key == cancel_key && response.status.code() == 200)
    );
    assert!(h.sent().is_empty(), "no ACK from the transaction for a 2xx");

    // Too late to cancel again.
    assert!(matches!(
        h.ep.cancel(h.now, &inv_key),
        Err(Error::InvalidState { state: "Accepted" })
    ));

    // The CANCEL's CANCEL retransmissions are over (Completed), Timer K
    // ends it; Timer M ends the INVITE.
    h.advance(Duration::from_secs(40));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn cancel_then_487_is_acked_by_the_transaction() {
    let mut h = Harness::new();
    let inv_key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let inv = as_request(&h.sent()[0]).clone();
    h.receive(&reply_to(&inv, 183, "carrier"));
    let cancel_key = h.ep.cancel(h.now, &inv_key).unwrap();
    let cancel = as_request(&h.sent()[0]).clone();
    h.receive(&reply_to(&cancel, 200, "carrier"));
    h.receive(&reply_to(&inv, 487, "carrier"));
    let sent = h.sent();
    assert_eq!(methods(&sent), vec![Method::Ack]);
    assert_eq!(as_request(&sent[0]).top_branch().unwrap(), inv_key.branch);
    let codes: Vec<(Method, u16)> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Response { key, response } => Some((key.method, response.status.code())),
            _ => None,
        })
        .collect();
    assert_eq!(
        codes,
        vec![
            (Method::Invite, 183),
            (Method::Cancel, 200),
            (Method::Invite, 487)
        ]
    );
    let _ = cancel_key;
}

#[test]
fn cancelled_invite_without_final_response_ends_after_64_t1() {
    let mut h = Harness::new();
    let inv_key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let inv = as_request(&h.sent()[0]).clone();
    h.receive(&reply_to(&inv, 180, "carrier"));
    h.advance(Duration::from_secs(5));
    let cancel_key = h.ep.cancel(h.now, &inv_key).unwrap();
    let cancel = as_request(&h.sent()[0]).clone();
    h.receive(&reply_to(&cancel, 200, "carrier"));
    h.events();
    // The callee never sends its 487: §9.1 destroys the INVITE transaction.
    h.advance(Duration::from_millis(31_999));
    assert!(h.events().is_empty());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.events(),
        vec![Event::Timeout {
            key: tonegate_sip::transaction::TransactionKey::Client(inv_key),
            timer: tonegate_sip::transaction::Timer::B
        }]
    );
    h.advance(Duration::from_secs(10));
    assert_eq!(h.ep.transaction_count(), (0, 0));
    let _ = cancel_key;
}
