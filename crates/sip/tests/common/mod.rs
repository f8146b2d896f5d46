//! Shared harness for the behaviour scenarios: an endpoint, a simulated
//! clock and helpers to build and inspect messages.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonegate_sip::message::{parse, Method, Request, Response, SipMessage, StatusCode};
use tonegate_sip::{Endpoint, EndpointConfig, Event, Transmit, Transport};

pub const PEER: &str = "192.0.2.10:5060";

pub fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

/// An endpoint plus a simulated clock.
pub struct Harness {
    pub ep: Endpoint,
    pub t0: Instant,
    pub now: Instant,
}

impl Harness {
    pub fn new() -> Self {
        let t0 = Instant::now();
        Self {
            ep: Endpoint::new(
                EndpointConfig {
                    via_sent_by: "gw.example.net:5060".into(),
                    ..EndpointConfig::default()
                },
                42,
            ),
            t0,
            now: t0,
        }
    }

    /// Seconds since start, in milliseconds.
    pub fn ms(&self) -> u128 {
        (self.now - self.t0).as_millis()
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.ep.handle_timeout(self.now);
    }

    /// Jump to the next deadline and fire it; `None` if nothing is armed.
    pub fn fire_next(&mut self) -> Option<Instant> {
        let at = self.ep.poll_timeout()?;
        assert!(at >= self.now, "deadline in the past");
        self.now = at;
        self.ep.handle_timeout(at);
        Some(at)
    }

    pub fn receive(&mut self, msg: &[u8]) {
        self.ep
            .handle_datagram(self.now, peer(), Transport::Udp, msg);
    }

    pub fn receive_over(&mut self, transport: Transport, msg: &[u8]) {
        self.ep.handle_datagram(self.now, peer(), transport, msg);
    }

    pub fn transmits(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.ep.poll_transmit()).collect()
    }

    pub fn sent(&mut self) -> Vec<SipMessage> {
        self.transmits()
            .into_iter()
            .map(|t| parse(&t.payload).expect("we only send parseable messages"))
            .collect()
    }

    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.ep.poll_event()).collect()
    }
}

pub fn statuses(msgs: &[SipMessage]) -> Vec<u16> {
    msgs.iter()
        .filter_map(|m| match m {
            SipMessage::Response(r) => Some(r.status.code()),
            SipMessage::Request(_) => None,
        })
        .collect()
}

pub fn methods(msgs: &[SipMessage]) -> Vec<Method> {
    msgs.iter()
        .filter_map(|m| match m {
            SipMessage::Request(r) => Some(r.method.clone()),
            SipMessage::Response(_) => None,
        })
        .collect()
}

pub fn as_request(m: &SipMessage) -> &Request {
    match m {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("expected a request, got {m:?}"),
    }
}

pub fn as_response(m: &SipMessage) -> &Response {
    match m {
        SipMessage::Response(r) => r,
        SipMessage::Request(_) => panic!("expected a response, got {m:?}"),
    }
}

/// An INVITE as a customer would send it.
pub fn incoming_invite(branch: &str) -> String {
    format!(
        "INVITE sip:+4930123456@gw.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+4940111@customer.example>;tag=custtag\r\n\
To: <sip:+4930123456@gw.example.net>\r\n\
Call-ID: cust-call-1@192.0.2.10\r\n\
CSeq: 10 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 10\r\n\
\r\n\
v=0\r\no=x\r\n"
    )
}

/// A request of `method` in the same dialog as [`incoming_invite`].
pub fn incoming_in_dialog(method: &str, branch: &str, cseq: u32, to_tag: Option<&str>) -> String {
    let to_tag = to_tag.map(|t| format!(";tag={t}")).unwrap_or_default();
    format!(
        "{method} sip:+4930123456@gw.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+4940111@customer.example>;tag=custtag\r\n\
To: <sip:+4930123456@gw.example.net>{to_tag}\r\n\
Call-ID: cust-call-1@192.0.2.10\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\
\r\n"
    )
}

/// An outgoing request without Via (the endpoint adds it).
pub fn outgoing(method: Method, cseq: u32) -> Request {
    Request::new(method.clone(), "sip:+4930123456@carrier.example.com")
        .with_header("From", "<sip:+4940111@gw.example.net>;tag=gwtag")
        .with_header("To", "<sip:+4930123456@carrier.example.com>")
        .with_header("Call-ID", "gw-call-1")
        .with_header("CSeq", format!("{cseq} {method}"))
        .with_header("Contact", "<sip:gw@gw.example.net:5060>")
}

/// The peer's response to a request we sent.
pub fn reply_to(req: &Request, status: u16, to_tag: &str) -> Vec<u8> {
    req.response(StatusCode::new(status).unwrap(), Some(to_tag))
        .to_bytes()
        .to_vec()
}
pub mod b2b;
