//! A retransmitted 200 OK to our INVITE reaches the TU (RFC 6026 Accepted),
//! which re-sends its ACK; after Timer M the 200 still reaches the TU as a
//! stray 2xx so it can re-ACK again.

mod common;

use std::time::Duration;

use common::*;
use tonegate_sip::message::{Method, Request};
use tonegate_sip::{Event, Transport};

fn ack_for(invite: &Request, to: &str) -> Request {
    let cseq = invite.cseq().unwrap().seq;
    Request::new(Method::Ack, "sip:+4930123456@carrier.example.com")
        .with_header("From", invite.header("From").unwrap())
        .with_header("To", to)
        .with_header("Call-ID", invite.call_id().unwrap())
        .with_header("CSeq", format!("{cseq} ACK"))
}

#[test]
fn retransmitted_200_is_reacked_by_the_tu() {
    let mut h = Harness::new();
    let key =
        h.ep.send_request(h.now, outgoing(Method::Invite, 1), peer(), Transport::Udp)
            .unwrap();
    let inv = as_request(&h.sent()[0]).clone();
    let ok = reply_to(&inv, 200, "carrier");

    let mut acks = Vec::new();
    let mut deliveries = 0;
    // The 200 arrives three times: at 0.1 s, 0.6 s (inside Accepted) and at
    // 40 s (after Timer M at 32.1 s).
    for at in [100u64, 600, 40_000] {
        h.advance(Duration::from_millis(at) - (h.now - h.t0));
        h.receive(&ok);
        for e in h.events() {
            let response = match e {
                Event::Response { key: k, response } => {
                    assert_eq!(k, key);
                    response
                }
                Event::StrayResponse { response, .. } => {
                    assert_eq!(h.ms(), 40_000, "stray only after Timer M");
                    response
                }
                other => panic!("unexpected {other:?}"),
            };
            assert_eq!(response.status.code(), 200);
            deliveries += 1;
            let to = response.header("To").unwrap().to_owned();
            h.ep.send_ack(h.now, ack_for(&inv, &to), peer(), Transport::Udp)
                .unwrap();
        }
        let sent = h.sent();
        assert_eq!(methods(&sent), vec![Method::Ack], "one ACK per 200");
        acks.push(as_request(&sent[0]).clone());
    }
    assert_eq!(deliveries, 3);
    // The transaction never retransmits the INVITE after the 200.
    let ack = &acks[0];
    assert_ne!(
        ack.top_branch().unwrap(),
        key.branch,
        "2xx ACK has a new branch"
    );
    assert_eq!(ack.to_tag().as_deref(), Some("carrier"));
    assert_eq!(ack.cseq().unwrap().seq, 1);
    // Timer M removed the transaction.
    assert_eq!(h.ep.transaction_count(), (0, 0));
}

#[test]
fn stray_non_2xx_or_non_invite_is_dropped() {
    let mut h = Harness::new();
    let inv = outgoing(Method::Invite, 5)
        .with_header("Via", "SIP/2.0/UDP gw.example.net:5060;branch=z9hG4bKgone");
    h.receive(&reply_to(&inv, 486, "x"));
    let bye = outgoing(Method::Bye, 6)
        .with_header("Via", "SIP/2.0/UDP gw.example.net:5060;branch=z9hG4bKgone2");
    h.receive(&reply_to(&bye, 200, "x"));
    assert!(h.events().is_empty());
    assert!(h.sent().is_empty());
}
