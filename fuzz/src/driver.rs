//! Reads fuzz input as a program of operations against a [`B2bua`] (and so
//! the [`Endpoint`](tonegate_sip::Endpoint) under it) on a simulated clock:
//! raw datagrams from the customer, the carrier or a stranger, over UDP or
//! TCP (framed by a [`StreamDecoder`] first); time steps; transport
//! errors; and structured messages built from what the B2BUA sent last
//! (responses to its requests, with or without 100rel, and in-dialog
//! requests with its tags), so the fuzzer reaches deep call states quickly.
//!
//! Checked after every step: no panic; everything sent parses; after
//! `handle_timeout(now)` no deadline is left at or before `now` (a driver
//! would spin); and at the end, once the clock has run 5 minutes on with
//! no input, nothing is sent any more (every retransmission ends).
//!
//! This file is shared: the cargo-fuzz target in `fuzz/` and a stable
//! proptest in `crates/sip/tests/fuzz_driver.rs` both run [`run`].

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonegate_sip::b2bua::{B2bua, B2buaConfig, Trunk};
use tonegate_sip::framing::StreamDecoder;
use tonegate_sip::message::{parse, Method, Request, SipMessage, StatusCode};
use tonegate_sip::transaction::TransactionKey;
use tonegate_sip::{EndpointConfig, Transport};

const CUSTOMER: &str = "192.0.2.10:5060";
const CARRIER: &str = "203.0.113.5:5060";
const STRANGER: &str = "198.51.100.66:5060";

struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (b, rest) = self.data.split_first()?;
        self.data = rest;
        Some(*b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from(self.byte()?) << 8 | u16::from(self.byte()?))
    }
    fn bytes(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.data.len());
        let (a, b) = self.data.split_at(n);
        self.data = b;
        a
    }
}

struct State {
    b2b: B2bua,
    now: Instant,
    /// Recent requests the B2BUA sent, with their destination.
    sent_requests: Vec<(SocketAddr, Request)>,
    /// Recent responses the B2BUA sent to the customer.
    to_customer: Vec<tonegate_sip::Response>,
    keys: Vec<TransactionKey>,
    decoders: [StreamDecoder; 3],
    invites: u32,
}

fn addr(i: u8) -> SocketAddr {
    match i % 3 {
        0 => CUSTOMER,
        1 => CARRIER,
        _ => STRANGER,
    }
    .parse()
    .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 5060)))
}

const STATUSES: [u16; 12] = [100, 180, 183, 200, 202, 302, 404, 408, 480, 486, 487, 503];
const OFFER: &str = "v=0\r\no=x 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";

impl State {
    fn new() -> Self {
        let trunk = Trunk::new(
            "acme",
            vec!["192.0.2.0/24".parse().expect("cidr")],
            "sip:203.0.113.5:5060",
        )
        .expect("trunk");
        let config = B2buaConfig {
            endpoint: EndpointConfig {
                via_sent_by: "198.18.0.1:5060".into(),
                ..EndpointConfig::default()
            },
            trunks: vec![trunk],
            ..B2buaConfig::default()
        };
        Self {
            b2b: B2bua::new(config, 1),
            now: Instant::now(),
            sent_requests: Vec::new(),
            to_customer: Vec::new(),
            keys: Vec::new(),
            decoders: [
                StreamDecoder::new(8192),
                StreamDecoder::new(8192),
                StreamDecoder::new(8192),
            ],
            invites: 0,
        }
    }

    /// Drain and check what the B2BUA sends; remember some of it.
    fn drain(&mut self) -> usize {
        let mut n = 0;
        while let Some(t) = self.b2b.poll_transmit() {
            n += 1;
            let msg = match parse(&t.payload) {
                Ok(m) => m,
                Err(e) => panic!(
                    "the B2BUA sent something unparseable ({e}): {:?}",
                    String::from_utf8_lossy(&t.payload)
                ),
            };
            if let Some(k) = t.transaction {
                push_bounded(&mut self.keys, k);
            }
            match msg {
                SipMessage::Request(r) => push_bounded(&mut self.sent_requests, (t.destination, r)),
                SipMessage::Response(r) => {
                    if t.destination == addr(0) {
                        push_bounded(&mut self.to_customer, r);
                    }
                }
            }
        }
        while self.b2b.poll_event().is_some() {}
        n
    }

    fn recv(&mut self, from: SocketAddr, transport: Transport, data: &[u8]) {
        self.b2b.handle_datagram(self.now, from, transport, data);
        self.drain();
    }

    /// Move the clock on by `d`, firing every timer on the way.
    fn advance(&mut self, d: Duration) -> usize {
        let end = self.now + d;
        let mut sent = 0;
        let mut rounds = 0;
        while let Some(at) = self.b2b.poll_timeout() {
            if at > end {
                break;
            }
            self.now = self.now.max(at);
            self.b2b.handle_timeout(self.now);
            sent += self.drain();
            if let Some(next) = self.b2b.poll_timeout() {
                assert!(
                    next > self.now,
                    "a deadline at or before now survived handle_timeout(now)"
                );
            }
            rounds += 1;
            assert!(rounds < 1_000_000, "timers never settle");
        }
        self.now = end;
        sent
    }
}

fn push_bounded<T>(v: &mut Vec<T>, x: T) {
    if v.len() >= 16 {
        v.remove(0);
    }
    v.push(x);
}

fn customer_invite(n: u32, flags: u8) -> String {
    let mut extra = String::new();
    if flags & 1 != 0 {
        extra += "Supported: 100rel\r\n";
    }
    if flags & 2 != 0 {
        extra += "Require: 100rel\r\n";
    }
    let mf = if flags & 4 != 0 { 0 } else { 70 };
    format!(
        "INVITE sip:+4930{n}@198.18.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKf{n};rport\r\n\
Max-Forwards: {mf}\r\n\
From: \"A\" <sip:+4940111@customer.example>;tag=ft{n}\r\n\
To: <sip:+4930{n}@198.18.0.1>\r\n\
Call-ID: fuzz-{n}@customer.example\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
{extra}Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\
\r\n{OFFER}",
        OFFER.len()
    )
}

/// Run one fuzz input.
pub fn run(data: &[u8]) {
    let mut s = State::new();
    let mut input = Input { data };
    let mut steps = 0;
    while let Some(op) = input.byte() {
        steps += 1;
        if steps > 512 {
            break;
        }
        match op % 8 {
            // Raw bytes from someone.
            0 => {
                let Some(who) = input.byte() else { break };
                let len = usize::from(input.u16().unwrap_or(0)) % 2048;
                let bytes = input.bytes(len).to_vec();
                let from = addr(who);
                if who & 0x80 != 0 {
                    // Over TCP: through a stream decoder, in the chunk given.
                    let i = usize::from(who % 3);
                    s.decoders[i].feed(&bytes);
                    loop {
                        match s.decoders[i].next_message() {
                            Ok(Some(m)) => s.recv(from, Transport::Tcp, &m),
                            Ok(None) => break,
                            Err(_) => {
                                s.decoders[i] = StreamDecoder::new(8192);
                                break;
                            }
                        }
                    }
                } else {
                    s.recv(from, Transport::Udp, &bytes);
                }
            }
            // A time step: up to ~65 s, in ms.
            1 => {
                let ms = u64::from(input.u16().unwrap_or(0));
                s.advance(Duration::from_millis(ms));
            }
            // A well-formed customer INVITE.
            2 => {
                let flags = input.byte().unwrap_or(0);
                let n = if flags & 8 != 0 {
                    s.invites.saturating_sub(1)
                } else {
                    s.invites
                };
                s.invites += 1;
                let inv = customer_invite(n, flags);
                let tr = if flags & 16 != 0 {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
                s.recv(addr(0), tr, inv.as_bytes());
            }
            // A response to a request the B2BUA sent.
            3 | 7 => {
                let (Some(pick), Some(st), Some(flags)) =
                    (input.byte(), input.byte(), input.byte())
                else {
                    break;
                };
                if s.sent_requests.is_empty() {
                    continue;
                }
                let (dest, req) =
                    s.sent_requests[usize::from(pick) % s.sent_requests.len()].clone();
                if req.method == Method::Ack {
                    continue;
                }
                let code = STATUSES[usize::from(st) % STATUSES.len()];
                let Some(status) = StatusCode::new(code) else {
                    continue;
                };
                let mut r = req.response(status, Some("fuzztag"));
                if code != 100 {
                    r.headers.push("Contact", "<sip:core@203.0.113.9:5060>");
                }
                if flags & 1 != 0 && (180..200).contains(&code) {
                    r.headers.push("Require", "100rel");
                    r.headers.push("RSeq", (u32::from(flags >> 4)).to_string());
                }
                if flags & 2 != 0 {
                    r.set_body(Some("application/sdp"), OFFER.as_bytes().to_vec());
                }
                let bytes = r.to_bytes();
                s.recv(dest, Transport::Udp, &bytes);
            }
            // An in-dialog request from the customer, with our tag.
            4 => {
                let (Some(pick), Some(m), Some(rack)) = (input.byte(), input.byte(), input.byte())
                else {
                    break;
                };
                if s.to_customer.is_empty() {
                    continue;
                }
                let resp = s.to_customer[usize::from(pick) % s.to_customer.len()].clone();
                let method = [
                    Method::Ack,
                    Method::Bye,
                    Method::Cancel,
                    Method::Prack,
                    Method::Info,
                ][usize::from(m) % 5]
                    .clone();
                let (Ok(call_id), Ok(cseq)) = (resp.call_id(), resp.cseq()) else {
                    continue;
                };
                let mut to = resp.header("To").unwrap_or_default().to_owned();
                if method == Method::Cancel {
                    to = to.split(";tag=").next().unwrap_or_default().to_owned();
                }
                let seq = match method {
                    Method::Ack | Method::Cancel => cseq.seq,
                    _ => cseq.seq + 1 + u32::from(m >> 4),
                };
                let branch = if method == Method::Cancel {
                    resp.top_branch().unwrap_or_default()
                } else {
                    format!("z9hG4bKd{steps}")
                };
                let rack_line = if method == Method::Prack {
                    format!("RAck: {} {} INVITE\r\n", rack % 4, cseq.seq)
                } else {
                    String::new()
                };
                let req = format!(
                    "{method} sip:gw@198.18.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: {}\r\n\
To: {to}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {seq} {method}\r\n\
{rack_line}Content-Length: 0\r\n\r\n",
                    resp.header("From").unwrap_or_default(),
                );
                s.recv(addr(0), Transport::Udp, req.as_bytes());
            }
            // An in-dialog request from the carrier.
            5 => {
                let (Some(pick), Some(m)) = (input.byte(), input.byte()) else {
                    break;
                };
                let Some((_, req)) = s
                    .sent_requests
                    .iter()
                    .filter(|(d, _)| *d == addr(1))
                    .nth(usize::from(pick) % 4)
                    .cloned()
                else {
                    continue;
                };
                let method = [Method::Bye, Method::Info, Method::Prack][usize::from(m) % 3].clone();
                let (Ok(call_id), Some(ftag)) = (req.call_id(), req.from_tag()) else {
                    continue;
                };
                let msg = format!(
                    "{method} sip:gw@198.18.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKc{steps}\r\n\
Max-Forwards: 70\r\n\
From: <sip:x@203.0.113.5>;tag=fuzztag\r\n\
To: <sip:gw@198.18.0.1>;tag={ftag}\r\n\
Call-ID: {call_id}\r\n\
CSeq: {} {method}\r\n\
Content-Length: 0\r\n\r\n",
                    u32::from(m) + 1
                );
                s.recv(addr(1), Transport::Udp, msg.as_bytes());
            }
            // A transport error for a recent transaction.
            _ => {
                let Some(pick) = input.byte() else { break };
                if s.keys.is_empty() {
                    continue;
                }
                let k = s.keys[usize::from(pick) % s.keys.len()].clone();
                s.b2b.handle_transport_error(s.now, &k);
                s.drain();
            }
        }
    }
    // Everything must settle: after 5 idle minutes (every RFC 3261 timer
    // is at most 64·T1 = 32 s, and chains of them are short) nothing is
    // sent any more.
    s.advance(Duration::from_secs(5 * 60));
    let late = s.advance(Duration::from_secs(5 * 60));
    assert_eq!(late, 0, "still transmitting after 5 idle minutes");
}
