//! Non-INVITE transactions in simulated time: Timer E retransmissions and
//! Timer F timeout for a client OPTIONS, Timer K after a final response,
//! Timer J for the server side.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::message::{Method, StatusCode};
use tonegate_sip::transaction::{Timer, TransactionKey};
use tonegate_sip::{Event, Transport};

#[test]
fn options_to_a_dead_peer_times_out_with_timer_f() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Options, 1), peer(), Transport::Udp)
            .unwrap();
    assert_eq!(h.sent().len(), 1);
    let mut times = Vec::new();
    let mut timeouts = Vec::new();
    while h.fire_next().is_some() {
        if !h.sent().is_empty() {
            times.push(h.ms());
        }
        for e in h.events() {
            if let Event::Timeout {
                key: TransactionKey::Client(k),
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
    assert_eq!(timeouts, vec![(Timer::F, 32_000)]);
}

#[test]
fn timer_k_absorbs_final_response_retransmissions() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Bye, 2), peer(), Transport::Udp)
            .unwrap();
    let bye = as_request(&h.sent()[0]).clone();
    h.advance(Duration::from_millis(700)); // one retransmission at 0.5 s
    assert_eq!(h.sent().len(), 1);
    h.receive(&reply_to(&bye, 200, "c"));
    assert!(matches!(&h.events()[..], [Event::Response { key: k, .. }] if *k == key));
    h.receive(&reply_to(&bye, 200, "c"));
    assert!(
        h.events().is_empty(),
        "retransmitted 200 absorbed in Completed"
    );
    assert_eq!(
        h.ep.poll_timeout(),
        Some(h.now + Duration::from_secs(5)),
        "Timer K = T4"
    );
    h.advance(Duration::from_secs(5));
    assert_eq!(h.ep.transaction_count(), (0, 0));
    assert!(
        h.sent().is_empty(),
        "no retransmission after the final response"
    );
}

#[test]
fn server_timer_j_keeps_the_response_for_64_t1() {
    let mut h = Harness::new();
    let opts = incoming_in_dialog("OPTIONS", "z9hG4bKopt", 1, None);
    h.receive(opts.as_bytes());
    let Some(Event::Request { key, .. }) = h.ep.poll_event() else {
        panic!()
    };
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    assert_eq!(statuses(&h.sent()), vec![200]);
    h.advance(Duration::from_secs(31));
    h.receive(opts.as_bytes());
    assert_eq!(statuses(&h.sent()), vec![200], "still absorbed at 31 s");
    assert!(h.events().is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.ep.transaction_count(), (0, 0), "Timer J fired at 32 s");
    // After Timer J the same request is new again.
    h.receive(opts.as_bytes());
    assert!(matches!(&h.events()[..], [Event::Request { .. }]));
}
