//! Random garbage and mutated messages never panic the parser, the stream
//! decoder or the endpoint, and whatever the endpoint answers parses.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use tonegate_sip::b2bua::{B2bua, B2buaConfig, Trunk};
use tonegate_sip::framing::StreamDecoder;
use tonegate_sip::message::{parse, StatusCode};
use tonegate_sip::{Endpoint, EndpointConfig, Event, Transport};

const VALID: &[&str] = &[
    "INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1;rport\r\nMax-Forwards: 70\r\nFrom: \"A\" <sip:a@a.example>;tag=1\r\nTo: <sip:bob@b.example>\r\nCall-ID: x@y\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 4\r\n\r\nv=0\n",
    "SIP/2.0 200 OK\r\nv: SIP/2.0/UDP gw;branch=z9hG4bKb2\r\nf: <sip:a@a>;tag=1\r\nt: <sip:b@b>;tag=2\r\ni: c\r\nCSeq: 1 INVITE\r\nl: 0\r\n\r\n",
    "ACK sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>;tag=2\r\nCall-ID: x@y\r\nCSeq: 1 ACK\r\n\r\n",
    "CANCEL sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKa1\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: x@y\r\nCSeq: 1 CANCEL\r\nReason: Q.850;cause=16;text=\"x\"\r\n\r\n",
];

fn from() -> SocketAddr {
    "198.51.100.1:5060".parse().unwrap()
}

fn drive(ep: &mut Endpoint, now: Instant, data: &[u8], transport: Transport) {
    ep.handle_datagram(now, from(), transport, data);
    while let Some(t) = ep.poll_transmit() {
        // Whatever we send must itself parse.
        assert!(
            parse(&t.payload).is_ok(),
            "unparseable output: {:?}",
            String::from_utf8_lossy(&t.payload)
        );
    }
    // A minimal TU: answer everything, so every transaction can end.
    while let Some(e) = ep.poll_event() {
        match e {
            Event::Request { key, .. } | Event::Cancel { key, .. } => {
                ep.reply(now, &key, StatusCode::SERVER_INTERNAL_ERROR)
                    .unwrap();
            }
            _ => {}
        }
    }
    while let Some(t) = ep.poll_transmit() {
        assert!(parse(&t.payload).is_ok());
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, Vec<u8>),
    Delete(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (
            any::<usize>(),
            prop::collection::vec(
                prop_oneof![
                    Just(b'\r'),
                    Just(b'\n'),
                    Just(b':'),
                    Just(b';'),
                    Just(b'"'),
                    Just(b'<'),
                    Just(b' '),
                    any::<u8>()
                ],
                1..8
            )
        )
            .prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..20).prop_map(|(i, n)| Mutation::Delete(i, n)),
    ]
}

fn apply(base: &[u8], muts: &[Mutation]) -> Vec<u8> {
    let mut v = base.to_vec();
    for m in muts {
        let len = v.len().max(1);
        match m {
            Mutation::Flip(i, b) => {
                if !v.is_empty() {
                    let i = i % len;
                    v[i] = *b;
                }
            }
            Mutation::Truncate(i) => v.truncate(i % (len + 1)),
            Mutation::Insert(i, bytes) => {
                let i = i % (v.len() + 1);
                v.splice(i..i, bytes.iter().copied());
            }
            Mutation::Delete(i, n) => {
                if !v.is_empty() {
                    let i = i % len;
                    let end = (i + n).min(v.len());
                    v.drain(i..end);
                }
            }
        }
    }
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(data in prop::collection::vec(any::<u8>(), 0..600), tcp in any::<bool>()) {
        let mut ep = Endpoint::new(EndpointConfig::default(), 1);
        let now = Instant::now();
        let transport = if tcp { Transport::Tcp } else { Transport::Udp };
        drive(&mut ep, now, &data, transport);
        ep.handle_timeout(now + Duration::from_secs(100));
        let mut dec = StreamDecoder::new(1024);
        for chunk in data.chunks(7) {
            dec.feed(chunk);
            while let Ok(Some(m)) = dec.next_message() {
                drive(&mut ep, now, &m, Transport::Tcp);
            }
        }
    }

    #[test]
    fn mutated_messages_never_panic(
        idx in 0..VALID.len(),
        muts in prop::collection::vec(mutation(), 1..6),
        seq in prop::collection::vec((0..VALID.len(), 0u64..40_000), 0..6),
    ) {
        let mut ep = Endpoint::new(EndpointConfig::default(), 2);
        let t0 = Instant::now();
        let data = apply(VALID[idx].as_bytes(), &muts);
        drive(&mut ep, t0, &data, Transport::Udp);
        // Interleave valid traffic and timers with the mutated message.
        for (i, ms) in seq {
            let now = t0 + Duration::from_millis(ms);
            drive(&mut ep, now, VALID[i].as_bytes(), Transport::Udp);
            drive(&mut ep, now, &data, Transport::Udp);
            ep.handle_timeout(now);
        }
        ep.handle_timeout(t0 + Duration::from_secs(200));
        while ep.poll_transmit().is_some() {}
        prop_assert_eq!(ep.transaction_count(), (0, 0));
    }

    #[test]
    fn mutated_header_sections_never_panic_the_parser(
        idx in 0..VALID.len(),
        muts in prop::collection::vec(mutation(), 1..10),
    ) {
        let data = apply(VALID[idx].as_bytes(), &muts);
        if let Ok(m) = parse(&data) {
            // Anything accepted prints to something that parses the same,
            // except that printing always emits Content-Length.
            let printed = m.to_bytes();
            let again = parse(&printed).map_err(|e| TestCaseError::fail(format!("{e}")))?;
            let strip = |m: &tonegate_sip::SipMessage| {
                let mut h = m.headers().clone();
                h.remove("Content-Length");
                h
            };
            prop_assert_eq!(strip(&again), strip(&m));
            prop_assert_eq!(again.to_bytes(), printed);
        }
    }

    #[test]
    fn mutated_traffic_never_panics_the_b2bua(
        msgs in prop::collection::vec((0..VALID.len(), prop::collection::vec(mutation(), 0..4), any::<bool>(), 0u64..5_000), 1..12),
    ) {
        let trunk = Trunk::new("t", vec!["0.0.0.0/0".parse().unwrap()], "sip:203.0.113.5").unwrap();
        let mut b2b = B2bua::new(B2buaConfig { trunks: vec![trunk], ..B2buaConfig::default() }, 3);
        let mut now = Instant::now();
        let carrier: SocketAddr = "203.0.113.5:5060".parse().unwrap();
        for (idx, muts, to_carrier_side, dt) in msgs {
            now += Duration::from_millis(dt);
            let data = apply(VALID[idx].as_bytes(), &muts);
            let src = if to_carrier_side { carrier } else { from() };
            b2b.handle_datagram(now, src, Transport::Udp, &data);
            b2b.handle_timeout(now);
            while let Some(t) = b2b.poll_transmit() {
                prop_assert!(parse(&t.payload).is_ok(), "unparseable output {:?}", String::from_utf8_lossy(&t.payload));
            }
            while b2b.poll_event().is_some() {}
        }
        // Everything winds down: every call ends by Timer B at the latest.
        for _ in 0..10_000 {
            match b2b.poll_timeout() {
                Some(at) => {
                    now = now.max(at);
                    b2b.handle_timeout(now);
                }
                None => break,
            }
            while b2b.poll_transmit().is_some() {}
        }
        prop_assert_eq!(b2b.poll_timeout(), None);
        prop_assert_eq!(b2b.call_count(), 0);
    }
}
