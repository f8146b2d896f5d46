//! Harness for B2BUA scenarios: a customer at 192.0.2.10 on trunk
//! "acme" (192.0.2.0/24) routed to a carrier at 203.0.113.5.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tonegate_sip::b2bua::{B2bua, B2buaConfig, CallEvent, Trunk};
use tonegate_sip::message::{parse, Request, Response, SipMessage, StatusCode};
use tonegate_sip::{EndpointConfig, Transport};

pub const CUSTOMER: &str = "192.0.2.10:5060";
pub const CARRIER: &str = "203.0.113.5:5060";
pub const STRANGER: &str = "198.51.100.66:5060";

pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// What the B2BUA sent, split by destination.
#[derive(Debug, Default)]
pub struct Out {
    pub to_customer: Vec<SipMessage>,
    pub to_carrier: Vec<SipMessage>,
    pub raw_to_carrier: Vec<Vec<u8>>,
    pub raw_to_customer: Vec<Vec<u8>>,
}

impl Out {
    pub fn customer_statuses(&self) -> Vec<u16> {
        super::statuses(&self.to_customer)
    }
    pub fn carrier_methods(&self) -> Vec<String> {
        self.to_carrier
            .iter()
            .map(|m| match m {
                SipMessage::Request(r) => r.method.to_string(),
                SipMessage::Response(r) => r.status.code().to_string(),
            })
            .collect()
    }
    pub fn carrier_request(&self, method: &str) -> Request {
        self.to_carrier
            .iter()
            .find_map(|m| match m {
                SipMessage::Request(r) if r.method.as_str() == method => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {method} to carrier in {:?}", self.carrier_methods()))
    }
    pub fn customer_response(&self, status: u16) -> Response {
        self.to_customer
            .iter()
            .find_map(|m| match m {
                SipMessage::Response(r) if r.status.code() == status => Some(r.clone()),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {status} to customer in {:?}", self.customer_statuses()))
    }
}

pub struct B2bHarness {
    pub b2b: B2bua,
    pub t0: Instant,
    pub now: Instant,
}

impl B2bHarness {
    pub fn new() -> Self {
        Self::with_media(None)
    }

    /// A harness whose B2BUA anchors media on 198.18.0.1 and `ports`.
    pub fn anchoring(ports: std::ops::RangeInclusive<u16>) -> Self {
        Self::with_media(Some(tonegate_sip::b2bua::MediaConfig {
            address: "198.18.0.1".parse().unwrap(),
            ports,
        }))
    }

    /// A harness with the gateway's `global` and the trunk's `trunk` limits.
    pub fn with_limits(
        global: tonegate_sip::b2bua::Limits,
        trunk: tonegate_sip::b2bua::Limits,
    ) -> Self {
        Self::build(None, global, trunk, None)
    }

    /// A harness whose calls last at most `d`.
    pub fn with_duration(d: Duration) -> Self {
        Self::build(None, Default::default(), Default::default(), Some(d))
    }

    fn with_media(media: Option<tonegate_sip::b2bua::MediaConfig>) -> Self {
        Self::build(media, Default::default(), Default::default(), None)
    }

    fn build(
        media: Option<tonegate_sip::b2bua::MediaConfig>,
        limits: tonegate_sip::b2bua::Limits,
        trunk_limits: tonegate_sip::b2bua::Limits,
        max_call_duration: Option<Duration>,
    ) -> Self {
        let mut trunk = Trunk::new(
            "acme",
            vec!["192.0.2.0/24".parse().unwrap()],
            "sip:203.0.113.5:5060",
        )
        .unwrap();
        trunk.limits = trunk_limits;
        let config = B2buaConfig {
            endpoint: EndpointConfig {
                via_sent_by: "198.18.0.1:5060".into(),
                ..EndpointConfig::default()
            },
            trunks: vec![trunk],
            media,
            limits,
            max_call_duration,
            ..B2buaConfig::default()
        };
        let t0 = Instant::now();
        Self {
            b2b: B2bua::new(config, 7),
            t0,
            now: t0,
        }
    }

    pub fn recv_customer(&mut self, msg: &[u8]) -> Out {
        self.b2b
            .handle_datagram(self.now, addr(CUSTOMER), Transport::Udp, msg);
        self.drain()
    }

    pub fn recv_carrier(&mut self, msg: &[u8]) -> Out {
        self.b2b
            .handle_datagram(self.now, addr(CARRIER), Transport::Udp, msg);
        self.drain()
    }

    pub fn recv_from(&mut self, from: &str, msg: &[u8]) -> Out {
        self.b2b
            .handle_datagram(self.now, addr(from), Transport::Udp, msg);
        self.drain()
    }

    pub fn advance(&mut self, d: Duration) -> Out {
        let end = self.now + d;
        let mut out = Out::default();
        while let Some(at) = self.b2b.poll_timeout() {
            if at > end {
                break;
            }
            self.now = at.max(self.now);
            self.b2b.handle_timeout(self.now);
            let o = self.drain();
            out.to_customer.extend(o.to_customer);
            out.to_carrier.extend(o.to_carrier);
            out.raw_to_carrier.extend(o.raw_to_carrier);
            out.raw_to_customer.extend(o.raw_to_customer);
        }
        self.now = end;
        out
    }

    pub fn drain(&mut self) -> Out {
        let mut out = Out::default();
        while let Some(t) = self.b2b.poll_transmit() {
            let m = parse(&t.payload).expect("B2BUA output parses");
            if t.destination == addr(CARRIER) {
                out.to_carrier.push(m);
                out.raw_to_carrier.push(t.payload.to_vec());
            } else {
                out.to_customer.push(m);
                out.raw_to_customer.push(t.payload.to_vec());
            }
        }
        out
    }

    pub fn events(&mut self) -> Vec<CallEvent> {
        std::iter::from_fn(|| self.b2b.poll_event()).collect()
    }
}

pub const OFFER: &str = "v=0\r\no=cust 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n";
pub const ANSWER: &str = "v=0\r\no=carrier 2 2 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\n";

/// The customer's INVITE, with Record-Route, PAI and X-User-Data.
pub fn customer_invite(branch: &str, max_forwards: u32) -> String {
    format!(
        "INVITE sip:+4930123456@198.18.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Via: SIP/2.0/UDP 10.99.0.7:5060;branch=z9hG4bKinternal\r\n\
Record-Route: <sip:edge.customer.example;lr>\r\n\
Max-Forwards: {max_forwards}\r\n\
From: \"Alice\" <sip:+4940111@customer.example>;tag=custtag\r\n\
To: <sip:+4930123456@198.18.0.1>\r\n\
Call-ID: secret-call-id@customer.example\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060>\r\n\
P-Asserted-Identity: <sip:+4940111@customer.example>\r\n\
X-User-Data: account=42;plan=gold\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\
\r\n{OFFER}",
        OFFER.len()
    )
}

/// A request from the customer inside the A dialog.
pub fn customer_in_dialog(method: &str, branch: &str, cseq: u32, our_tag: &str) -> String {
    format!(
        "{method} sip:gw@198.18.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch={branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+4940111@customer.example>;tag=custtag\r\n\
To: <sip:+4930123456@198.18.0.1>;tag={our_tag}\r\n\
Call-ID: secret-call-id@customer.example\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\
\r\n"
    )
}

/// The carrier's response to a request the B2BUA sent it.
pub fn carrier_response(req: &Request, status: u16, body: Option<&str>) -> Vec<u8> {
    let mut r = req.response(StatusCode::new(status).unwrap(), Some("carriertag"));
    if status != 100 {
        r.headers.push("Contact", "<sip:core@203.0.113.9:5060>");
        r.headers
            .push("Record-Route", "<sip:sbc.carrier.example;lr>");
    }
    r.headers.push("X-Carrier-Secret", "internal-route-7");
    if let Some(b) = body {
        r.set_body(Some("application/sdp"), b.as_bytes().to_vec());
    }
    r.to_bytes().to_vec()
}

/// A request from the carrier inside the B dialog (e.g. BYE).
pub fn carrier_in_dialog(method: &str, b_invite: &Request, cseq: u32) -> Vec<u8> {
    let mut to = b_invite.header("From").unwrap().to_owned();
    to = to.to_string();
    let from = format!("{};tag=carriertag", b_invite.header("To").unwrap());
    format!(
        "{method} sip:gw@198.18.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKcarrier{cseq}\r\n\
Max-Forwards: 70\r\n\
From: {from}\r\n\
To: {to}\r\n\
Call-ID: {}\r\n\
CSeq: {cseq} {method}\r\n\
Content-Length: 0\r\n\
\r\n",
        b_invite.call_id().unwrap()
    )
    .into_bytes()
}

pub const REOFFER: &str = "v=0\r\no=cust 1 2 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4002 RTP/AVP 0\r\n";
pub const REANSWER: &str = "v=0\r\no=carrier 2 3 IN IP4 203.0.113.9\r\ns=-\r\nc=IN IP4 203.0.113.9\r\nt=0 0\r\nm=audio 6002 RTP/AVP 0\r\n";

/// `msg` (ending in `Content-Length: 0` and no body) with a Contact and an
/// SDP body.
pub fn with_sdp(msg: &[u8], contact: &str, body: &str) -> Vec<u8> {
    let s = String::from_utf8(msg.to_vec()).unwrap();
    s.replace(
        "Content-Length: 0\r\n\r\n",
        &format!(
            "Contact: {contact}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .into_bytes()
}

/// A call answered by the carrier and ACKed by the customer: the B-leg
/// INVITE and our tag towards the customer.
pub fn answered_call(h: &mut B2bHarness) -> (Request, String) {
    let out = h.recv_customer(customer_invite("z9hG4bKansw", 70).as_bytes());
    let b_inv = out.carrier_request("INVITE");
    let our_tag = h
        .recv_carrier(&carrier_response(&b_inv, 200, Some(ANSWER)))
        .customer_response(200)
        .to_tag()
        .unwrap();
    let out = h.recv_customer(customer_in_dialog("ACK", "z9hG4bKanswack", 20, &our_tag).as_bytes());
    out.carrier_request("ACK");
    h.events();
    (b_inv, our_tag)
}

/// The only request sent to the customer.
pub fn customer_request(out: &Out) -> Request {
    let reqs: Vec<Request> = out
        .to_customer
        .iter()
        .filter_map(|m| match m {
            SipMessage::Request(r) => Some(r.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(reqs.len(), 1, "{:?}", out.to_customer);
    reqs[0].clone()
}

/// Asserts that none of `secrets` appears in the header sections of `raw`.
pub fn assert_no_leak(raw: &[Vec<u8>], secrets: &[&str]) {
    for m in raw {
        let s = String::from_utf8_lossy(m);
        let head = s.split("\r\n\r\n").next().unwrap();
        for secret in secrets {
            assert!(!head.contains(secret), "{secret} leaked: {head}");
        }
    }
}

/// What of the customer must never reach the carrier.
pub const CUSTOMER_SECRETS: &[&str] = &[
    "192.0.2.10",
    "10.99.0.7",
    "edge.customer.example",
    "secret-call-id",
    "custtag",
    "alice",
    "z9hG4bKcust",
];

/// What of the carrier must never reach the customer.
pub const CARRIER_SECRETS: &[&str] = &[
    "203.0.113",
    "sbc.carrier.example",
    "carriertag",
    "X-Carrier-Secret",
    "core",
    "z9hG4bKcarrier",
];

/// A customer request (re-INVITE, UPDATE) in the dialog, offering `REOFFER`.
pub fn customer_offer(method: &str, branch: &str, cseq: u32, our_tag: &str) -> Vec<u8> {
    with_sdp(
        customer_in_dialog(method, branch, cseq, our_tag).as_bytes(),
        "<sip:alice@192.0.2.10:5060>",
        REOFFER,
    )
}
