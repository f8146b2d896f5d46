//! An INVITE to a silent peer over UDP: Timer A retransmits at
//! 0.5, 1.5, 3.5, 7.5, 11.5, ... s (doubling, capped at T2), Timer B fires at
//! 64·T1 = 32 s and the TU gets a Timeout; the transaction is gone.

mod common;

use common::*;
use tonegate_sip::message::Method;
use tonegate_sip::transaction::{Timer, TransactionKey};
use tonegate_sip::{Event, Transport};

#[test]
fn invite_retransmits_then_times_out() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let first = h.sent();
    assert_eq!(methods(&first), vec![Method::Invite]);
    let inv = as_request(&first[0]);
    assert_eq!(inv.top_branch().unwrap(), key.branch);
    assert!(key.branch.starts_with("z9hG4bK"));
    assert_eq!(inv.top_via().unwrap().sent_by(), "gw.example.net:5060");
    assert_eq!(inv.max_forwards().unwrap(), Some(70));

    let mut retransmit_times = Vec::new();
    let mut timeout_at = None;
    while h.fire_next().is_some() {
        let sent = h.sent();
        if !sent.is_empty() {
            assert_eq!(sent.len(), 1);
            assert_eq!(as_request(&sent[0]).top_branch().unwrap(), key.branch);
            retransmit_times.push(h.ms());
        }
        for e in h.events() {
            match e {
                Event::Timeout {
                    key: TransactionKey::Client(k),
                    timer: Timer::B,
                } => {
                    assert_eq!(k, key);
                    timeout_at = Some(h.ms());
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
    }
    assert_eq!(
        retransmit_times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeout_at, Some(32_000));
    assert_eq!(h.ep.transaction_count(), (0, 0));
    assert_eq!(h.ep.poll_timeout(), None);
}

#[test]
fn provisional_response_stops_timer_b() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let inv = as_request(&h.sent()[0]).clone();
    h.advance(std::time::Duration::from_millis(200));
    h.receive(&reply_to(&inv, 180, "carrier"));
    let ev = h.events();
    assert!(
        matches!(&ev[..], [Event::Response { key: k, response }] if *k == key && response.status.code() == 180)
    );
    // Nothing armed any more: the TU owns the call duration from here.
    assert_eq!(h.ep.poll_timeout(), None);
    h.advance(std::time::Duration::from_secs(60));
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
}
