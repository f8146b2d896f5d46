//! INVITE server transaction timers: G retransmits a final error response
//! until the ACK, H reports a missing ACK, I absorbs ACK retransmissions;
//! after a 2xx the transaction retransmits it until the end-to-end ACK and
//! reports Timer L if none comes.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::message::StatusCode;
use tonegate_sip::transaction::{Timer, TransactionKey};
use tonegate_sip::Event;

#[test]
fn timer_g_retransmits_and_timer_h_reports_missing_ack() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKh1").as_bytes());
    h.sent();
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.ep.reply(h.now, &key, StatusCode::BUSY_HERE).unwrap();
    assert_eq!(statuses(&h.sent()), vec![486]);
    let mut times = Vec::new();
    let mut timeouts = Vec::new();
    while h.fire_next().is_some() {
        let s = statuses(&h.sent());
        if !s.is_empty() {
            assert_eq!(s, vec![486]);
            times.push(h.ms());
        }
        for e in h.events() {
            if let Event::Timeout {
                key: TransactionKey::Server(k),
                timer,
            } = e
            {
                assert_eq!(k, key);
                timeouts.push((timer, h.ms()));
            }
        }
    }
    assert_eq!(
        times,
        vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
    );
    assert_eq!(timeouts, vec![(Timer::H, 32_000)]);
}

#[test]
fn ack_stops_g_and_timer_i_ends_the_transaction() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKi1").as_bytes());
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.ep.reply(h.now, &key, StatusCode::NOT_FOUND).unwrap();
    let tag = as_response(&h.sent()[1]).to_tag().unwrap();
    h.advance(Duration::from_millis(600)); // one G retransmission
    assert_eq!(statuses(&h.sent()), vec![404]);
    let ack = incoming_in_dialog("ACK", "z9hG4bKi1", 10, Some(&tag));
    h.receive(ack.as_bytes());
    assert_eq!(
        h.ep.poll_timeout(),
        Some(h.now + Duration::from_secs(5)),
        "Timer I = T4"
    );
    h.advance(Duration::from_secs(2));
    h.receive(ack.as_bytes());
    assert!(h.sent().is_empty());
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(3));
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn two_hundred_is_retransmitted_until_the_end_to_end_ack() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKok1").as_bytes());
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    let sent = h.sent();
    let tag = as_response(&sent[1]).to_tag().unwrap();
    h.advance(Duration::from_millis(500));
    h.advance(Duration::from_millis(1000));
    assert_eq!(statuses(&h.sent()), vec![200, 200]);
    // The ACK for a 2xx has its own branch (§13.2.2.4).
    h.receive(incoming_in_dialog("ACK", "z9hG4bKackE2E", 10, Some(&tag)).as_bytes());
    assert!(
        matches!(&h.events()[..], [Event::Ack { request, .. }] if request.to_tag().as_deref() == Some(tag.as_str()))
    );
    h.advance(Duration::from_secs(40));
    assert!(h.sent().is_empty(), "ACK stopped the retransmissions");
    assert!(h.events().is_empty(), "no Timer L report after the ACK");
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn missing_ack_for_2xx_reports_timer_l() {
    let mut h = Harness::new();
    h.receive(incoming_invite("z9hG4bKok2").as_bytes());
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    h.advance(Duration::from_secs(32));
    let events = h.events();
    assert!(
        matches!(
            &events[..],
            [Event::Timeout {
                timer: Timer::L,
                ..
            }]
        ),
        "{events:?}"
    );
}
