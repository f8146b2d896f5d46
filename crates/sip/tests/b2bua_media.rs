//! Media anchoring: offers and answers (INVITE, 18x, 200, re-INVITE) carry
//! the gateway's address and the call's ports; the parties' own media
//! addresses are reported as events; an exhausted port pool gives 503;
//! ports come back when the call is over; the gateway can hang up.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::b2b::*;
use tonegate_sip::b2bua::{CallEvent, CallId, EndCause, MediaPorts, Parties};
use tonegate_sip::message::StatusCode;
use tonegate_sip::sdp::parse_audio;
use tonegate_sip::Method;

fn sdp_rtp(body: &[u8]) -> Option<SocketAddr> {
    parse_audio(body).unwrap().rtp
}

fn gw(port: u16) -> Option<SocketAddr> {
    Some(SocketAddr::new("198.18.0.1".parse().unwrap(), port))
}

#[test]
fn offer_and_answers_are_anchored_on_the_calls_ports() {
    let mut h = B2bHarness::anchoring(30000..=30099);
    let out = h.recv_customer(customer_invite("z9hG4bKm1", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    // The carrier is told to send to the carrier-facing port, not to the customer.
    assert_eq!(sdp_rtp(&b_inv.body), gw(30002));
    assert_no_leak(&out.raw_to_carrier, &["192.0.2.10"]);
    let ev = h.events();
    assert_eq!(
        ev[0],
        CallEvent::Started {
            call: CallId(1),
            trunk: "acme".into(),
            call_id: "secret-call-id@customer.example".into(),
            parties: Parties {
                caller: "+4940111".into(),
                display_caller: "+4940111".into(),
                called: "+4930123456".into(),
                user_data: Some("account=42;plan=gold".into()),
            },
            media: Some(MediaPorts { a: 30000, b: 30002 }),
        }
    );
    let CallEvent::Media {
        from_a: true,
        media,
        ..
    } = &ev[1]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(media.rtp, Some("192.0.2.10:4000".parse().unwrap()));
    assert_eq!(media.codecs[0].name, "PCMA");
    assert_eq!(h.b2b.port_stats(), Some((48, 50)));

    // 183 with SDP: early media; the customer is told the customer-facing port.
    let out = h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    let r183 = out.customer_response(183);
    assert_eq!(sdp_rtp(&r183.body), gw(30000));
    assert_no_leak(&out.raw_to_customer, &["203.0.113.9"]);
    let ev = h.events();
    assert!(
        matches!(&ev[0], CallEvent::Media { from_a: false, media, .. }
        if media.rtp == Some("203.0.113.9:6000".parse().unwrap())),
        "{ev:?}"
    );
    assert_eq!(ev[1], CallEvent::Ringing { call: CallId(1) });
    assert_eq!(ev[2], CallEvent::EarlyMedia { call: CallId(1) });
    // A second 18x with SDP is not a second start of early media.
    h.recv_carrier(&carrier_response(&b_inv, 180, Some(ANSWER)));
    assert!(!h
        .events()
        .contains(&CallEvent::EarlyMedia { call: CallId(1) }));

    let out = h.recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)));
    let ok = out.customer_response(200);
    assert_eq!(sdp_rtp(&ok.body), gw(30000));
    let our_tag = ok.to_tag().unwrap();
    h.recv_customer(customer_in_dialog("ACK", "z9hG4bKm1ack", 20, &our_tag).as_bytes());

    // A re-INVITE from the customer moves its media; the ports stay.
    let out = h.recv_customer(&customer_offer("INVITE", "z9hG4bKm1re", 21, &our_tag));
    let b_re = out.carrier_request("INVITE");
    assert_eq!(sdp_rtp(&b_re.body), gw(30002));
    let ev = h.events();
    assert!(
        ev.iter()
            .any(|e| matches!(e, CallEvent::Media { from_a: true, media, .. }
        if media.rtp == Some("192.0.2.10:4002".parse().unwrap()))),
        "{ev:?}"
    );
    let out = h.recv_carrier(&carrier_response(&b_re, 200, Some(REANSWER)));
    assert_eq!(sdp_rtp(&out.customer_response(200).body), gw(30000));

    // The customer hangs up: the call's ports go back once it is over.
    let out = h.recv_customer(customer_in_dialog("BYE", "z9hG4bKm1bye", 23, &our_tag).as_bytes());
    let bye = out.carrier_request("BYE");
    h.recv_carrier(&carrier_response(&bye, 200, None));
    h.advance(Duration::from_secs(40));
    assert_eq!(h.b2b.call_count(), 0);
    assert_eq!(h.b2b.port_stats(), Some((50, 50)));
}

#[test]
fn exhausted_pool_gives_503_with_retry_after() {
    // Room for one call (two pairs).
    let mut h = B2bHarness::anchoring(30000..=30003);
    let out = h.recv_customer(customer_invite("z9hG4bKp1", 70).as_bytes());
    out.carrier_request("INVITE");
    let second = customer_invite("z9hG4bKp2", 70)
        .replace("secret-call-id@", "another-call@")
        .replace("tag=custtag", "tag=custtag2");
    let out = h.recv_customer(second.as_bytes());
    let r = out.customer_response(503);
    assert!(r.header("Retry-After").is_some());
    assert!(out.to_carrier.is_empty(), "no B leg without ports");
    assert_eq!(h.b2b.call_count(), 1);
}

#[test]
fn an_offer_without_audio_is_refused_488() {
    let mut h = B2bHarness::anchoring(30000..=30099);
    let video_only = customer_invite("z9hG4bKv1", 70)
        .replace("m=audio 4000 RTP/AVP 8", "m=video 4000 RTP/AVP 96");
    let out = h.recv_customer(video_only.as_bytes());
    out.customer_response(488);
    assert!(out.to_carrier.is_empty());
    assert_eq!(h.b2b.port_stats(), Some((50, 50)), "ports returned");
}

#[test]
fn gateway_hangup_byes_both_legs_of_an_answered_call() {
    let mut h = B2bHarness::anchoring(30000..=30099);
    answered_call(&mut h);
    assert!(h.b2b.hangup(h.now, CallId(1), StatusCode::REQUEST_TIMEOUT));
    let out = h.drain();
    let bye_a = customer_request(&out);
    assert_eq!(bye_a.method, Method::Bye);
    let bye_b = out.carrier_request("BYE");
    assert!(h.events().contains(&CallEvent::Ended {
        call: CallId(1),
        status: 200,
        cause: EndCause::Gateway,
    }));
    h.recv_carrier(&carrier_response(&bye_b, 200, None));
    h.recv_customer(&bye_a.response(StatusCode::OK, None).to_bytes());
    h.advance(Duration::from_secs(40));
    assert_eq!(h.b2b.call_count(), 0);
    assert!(!h.b2b.hangup(h.now, CallId(1), StatusCode::REQUEST_TIMEOUT));
}

#[test]
fn gateway_hangup_of_a_ringing_call_cancels_the_carrier() {
    let mut h = B2bHarness::anchoring(30000..=30099);
    let out = h.recv_customer(customer_invite("z9hG4bKr1", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    h.recv_carrier(&carrier_response(&b_inv, 183, Some(ANSWER)));
    h.events();
    assert!(h
        .b2b
        .hangup(h.now, CallId(1), StatusCode::TEMPORARILY_UNAVAILABLE));
    let out = h.drain();
    out.carrier_request("CANCEL");
    out.customer_response(480);
    assert!(h.events().contains(&CallEvent::Ended {
        call: CallId(1),
        status: 480,
        cause: EndCause::Gateway,
    }));
}
