//! Over TCP: messages framed by the stream decoder reach the endpoint, no
//! retransmissions happen and the wait timers (D, I, J, K) are zero.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::framing::StreamDecoder;
use tonegate_sip::message::{Method, StatusCode};
use tonegate_sip::{Event, Transport};

#[test]
fn tcp_client_invite_no_retransmissions_timer_d_zero() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Tcp)
            .unwrap();
    let t = h.transmits();
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].transport, Transport::Tcp);
    let inv = match tonegate_sip::message::parse(&t[0].payload).unwrap() {
        tonegate_sip::SipMessage::Request(r) => r,
        _ => panic!(),
    };
    assert_eq!(inv.top_via().unwrap().transport, "TCP");
    h.advance(Duration::from_secs(10));
    assert!(h.transmits().is_empty(), "no Timer A on TCP");

    // The 503 arrives in two TCP segments together with a keep-alive.
    let resp = reply_to(&inv, 503, "c");
    let mut dec = StreamDecoder::default();
    dec.feed(b"\r\n\r\n");
    dec.feed(&resp[..30]);
    assert_eq!(dec.next_message().unwrap(), None);
    dec.feed(&resp[30..]);
    let msg = dec.next_message().unwrap().expect("complete");
    h.receive_over(Transport::Tcp, &msg);
    assert_eq!(methods(&h.sent()), vec![Method::Ack]);
    assert!(matches!(&h.events()[..], [Event::Response { key: k, .. }] if *k == key));
    // Timer D is zero on TCP.
    assert_eq!(h.ep.poll_timeout(), Some(h.now));
    h.advance(Duration::ZERO);
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn tcp_server_timer_j_is_zero() {
    let mut h = Harness::new();
    let opts =
        incoming_in_dialog("OPTIONS", "z9hG4bKtcp", 1, None).replace("SIP/2.0/UDP", "SIP/2.0/TCP");
    h.receive_over(Transport::Tcp, opts.as_bytes());
    let Some(Event::Request { key, transport, .. }) = h.ep.poll_event() else {
        panic!()
    };
    assert_eq!(transport, Transport::Tcp);
    h.ep.reply(h.now, &key, StatusCode::OK).unwrap();
    let t = h.transmits();
    assert_eq!(t[0].transport, Transport::Tcp);
    h.advance(Duration::ZERO);
    assert_eq!(h.ep.transaction_count(), (0, 0));
}
