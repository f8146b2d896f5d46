//! A sans-IO back-to-back user agent core.
//!
//! Customers (A legs) send INVITEs from the source networks of a trunk; the
//! B2BUA answers 100 Trying at once (the INVITE server transaction does),
//! and places a B leg to the trunk's target with its own Call-ID, From tag,
//! Via, Contact and CSeq. Topology hiding: no Via, Record-Route, Contact or
//! Call-ID of one side ever reaches the other. Copied to the B leg: the
//! From and To user parts (and the From display name), the Request-URI
//! user, P-Asserted-Identity, the configured custom headers (default
//! `X-User-Data`), and the body with its Content-Type, untouched.
//!
//! Relayed back: 180/183/2xx and non-2xx finals with bodies untouched.
//! Non-2xx finals are ACKed hop by hop by the transactions; the ACK for a
//! 2xx travels end to end (the customer's ACK triggers the B-leg ACK, with
//! its body). BYE from either side is answered and forwarded. A CANCEL from
//! the customer gets 200, the B leg is CANCELled and the customer gets 487;
//! if the carrier's 200 crosses the CANCEL, the B leg is ACKed and BYEd.
//! OPTIONS is answered 200 locally; Max-Forwards is decremented (483 at
//! zero); unknown sources get 403; Timer B on the B leg gives 408 to the
//! customer. Malformed requests are answered 400 by the [`Endpoint`].
//!
//! Reliable provisional responses (RFC 3262, `100rel`) are handled per
//! leg, hop by hop. A carrier's 18x with `Require: 100rel` is PRACKed by
//! the B2BUA itself (once per RSeq; retransmissions are neither PRACKed
//! again nor relayed). Towards a customer whose INVITE has `100rel` in
//! `Supported` or `Require`, relayed 18x are sent reliably with our own
//! RSeq and retransmitted (T1, doubling) until the customer's PRACK, which
//! is answered 200 (481 if its RAck matches nothing); the next 18x waits
//! for that PRACK, and so does a 2xx (§3: a 2xx must not overtake an
//! unacknowledged reliable 18x with SDP). No PRACK within 64·T1: the
//! customer gets 504 and the B leg is cancelled (or ACKed and BYEd). The
//! B leg offers `Supported: 100rel` when the customer supports it. Any
//! other `Require` option gets 420.
//!
//! In-dialog re-INVITE (RFC 3261 §14), UPDATE (RFC 3311) and INFO
//! (RFC 6086) are relayed from either leg to the other as new transactions
//! in that leg's dialog, bodies copied, responses relayed back; the ACK
//! for a 2xx re-INVITE travels end to end; crossing re-INVITEs (or UPDATE
//! offers) get 491 (see `relay`). Other in-dialog methods get 501.
//!
//! With [`B2buaConfig::media`] set, media is anchored (see `media`): every
//! SDP is rewritten to the gateway's address and a port pair of the call,
//! the parties' own media addresses are reported as [`CallEvent::Media`],
//! and an INVITE finding the port pool exhausted gets 503.
//!
//! Not done yet: forking (the last To tag wins), offer/answer in PRACK bodies (not
//! relayed), DNS (targets are IP addresses).

mod limits;
mod media;
mod relay;

pub use limits::{max_duration, Limits, RejectReason};
pub use media::{MediaConfig, MediaPorts, PortPool};

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use tracing::{debug, info, warn};

use crate::endpoint::{Endpoint, EndpointConfig, Event, Transmit};
use crate::message::{uri_user, Method, NameAddr, Request, Response, SipUri, StatusCode};
use crate::sdp::AudioMedia;
use crate::transaction::{ClientKey, ServerKey, Timer, TransactionKey, Transport};
use crate::Error;

/// An IPv4 or IPv6 network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is inside the network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl FromStr for Cidr {
    type Err = Error;

    /// `192.0.2.0/24`, `2001:db8::/32`, or a bare address (a host route).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = Error::InvalidArgument {
            reason: "invalid CIDR",
        };
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| bad.clone())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.trim().parse::<u8>().map_err(|_| bad.clone())?,
            None => max,
        };
        if prefix > max {
            return Err(bad);
        }
        Ok(Self { addr, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// A trunk: customers from `sources` are routed to `target_uri`.
#[derive(Debug, Clone)]
pub struct Trunk {
    /// Name for logs and events.
    pub name: String,
    /// Networks customers of this trunk send from.
    pub sources: Vec<Cidr>,
    /// Carrier URI; its host must be an IP address (no DNS here).
    pub target_uri: String,
    /// Where B legs are sent (from the target URI, port 5060 by default).
    pub target: SocketAddr,
    /// Transport of the B legs (`transport` URI parameter, UDP by default).
    pub transport: Transport,
    /// This trunk's caps.
    pub limits: Limits,
    target_host_port: String,
}

impl Trunk {
    /// A trunk; fails if the target is not a `sip:` URI with an IP host.
    pub fn new(
        name: impl Into<String>,
        sources: Vec<Cidr>,
        target_uri: impl Into<String>,
    ) -> Result<Self, Error> {
        let target_uri = target_uri.into();
        let uri = SipUri::parse(&target_uri)?;
        let ip: IpAddr = uri
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| Error::InvalidUri {
                uri: target_uri.clone(),
            })?;
        let transport = match uri.transport.as_deref() {
            Some("TCP") => Transport::Tcp,
            Some("TLS") => Transport::Tls,
            _ if uri.secure => Transport::Tls,
            _ => Transport::Udp,
        };
        let default_port = if transport == Transport::Tls {
            5061
        } else {
            5060
        };
        Ok(Self {
            name: name.into(),
            sources,
            target: SocketAddr::new(ip, uri.port.unwrap_or(default_port)),
            transport,
            limits: Limits::default(),
            target_host_port: uri.host_port(),
            target_uri,
        })
    }

    fn accepts(&self, ip: IpAddr) -> bool {
        self.sources.iter().any(|c| c.contains(ip))
    }
}

/// B2BUA configuration.
#[derive(Debug, Clone)]
pub struct B2buaConfig {
    /// Transaction layer settings; `via_sent_by` is also our Contact host.
    pub endpoint: EndpointConfig,
    /// The trunk table, searched in order.
    pub trunks: Vec<Trunk>,
    /// Headers copied verbatim from the A-leg INVITE to the B leg.
    pub copy_headers: Vec<String>,
    /// The header whose value is reported as the call's user data.
    pub user_data_header: String,
    /// Media anchoring (SDP rewrite and port pool); `None`: bodies untouched.
    pub media: Option<MediaConfig>,
    /// The gateway's caps (all trunks together).
    pub limits: Limits,
    /// Calls longer than this (from the INVITE) are ended.
    pub max_call_duration: Option<Duration>,
}

impl Default for B2buaConfig {
    fn default() -> Self {
        Self {
            endpoint: EndpointConfig::default(),
            trunks: Vec::new(),
            copy_headers: vec!["X-User-Data".to_owned()],
            user_data_header: "X-User-Data".to_owned(),
            media: None,
            limits: Limits::default(),
            max_call_duration: None,
        }
    }
}

/// Identifies a call inside one [`B2bua`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CallId(pub u64);

/// What happened to a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallEvent {
    /// An INVITE was accepted and a B leg placed on `trunk`.
    Started {
        /// The call.
        call: CallId,
        /// Trunk name.
        trunk: String,
        /// The customer's Call-ID.
        call_id: String,
        /// Who calls and whom: numbers from the customer's INVITE.
        parties: Parties,
        /// The gateway's RTP ports of the call, when media is anchored.
        media: Option<MediaPorts>,
    },
    /// The carrier's first provisional (180/183) was relayed: the call rings.
    Ringing {
        /// The call.
        call: CallId,
    },
    /// A party said where it wants its audio (an SDP from the customer if
    /// `from_a`, else from the carrier); the gateway's SDP went on instead.
    Media {
        /// The call.
        call: CallId,
        /// The SDP came from the customer.
        from_a: bool,
        /// Its first audio stream.
        media: AudioMedia,
    },
    /// An INVITE was refused by a limit (503 with Retry-After), before
    /// any B leg: the call never started.
    Rejected {
        /// The trunk it came on.
        trunk: String,
        /// The customer's Call-ID.
        call_id: String,
        /// Its numbers.
        parties: Parties,
        /// Which limit.
        reason: RejectReason,
    },
    /// The carrier sent its first provisional response with SDP: early
    /// media starts (once per call, anchored calls only).
    EarlyMedia {
        /// The call.
        call: CallId,
    },
    /// The carrier answered and the answer was relayed.
    Answered {
        /// The call.
        call: CallId,
    },
    /// The call is over; `status` is the final status sent to the customer
    /// for unanswered calls, 200 for answered ones.
    Ended {
        /// The call.
        call: CallId,
        /// Final status of the A leg's INVITE.
        status: u16,
        /// Why it ended.
        cause: EndCause,
    },
}

/// The numbers of a call, from the customer's INVITE (personal data: log
/// them at debug level only).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parties {
    /// The From user part.
    pub caller: String,
    /// The number presented: the P-Asserted-Identity user part, else the caller.
    pub display_caller: String,
    /// The Request-URI user part (else the To user part).
    pub called: String,
    /// The value of the configured user-data header (`X-User-Data`), if any.
    pub user_data: Option<String>,
}

/// Why a call ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndCause {
    /// An answered call was hung up by a party (BYE), or its answer was
    /// never confirmed.
    Hangup,
    /// The carrier's final failure response (or its BYE of the early
    /// dialog, as 480), relayed to the customer.
    Rejected {
        /// The carrier's status.
        status: u16,
        /// Its `Reason` header values (RFC 3326), joined with ", ".
        reason: Option<String>,
    },
    /// The customer cancelled (CANCEL, or BYE on the early dialog).
    CallerCancel,
    /// The carrier never answered the INVITE (Timer B): 408 to the customer.
    Timeout,
    /// The carrier leg failed at transport level: 503 to the customer.
    TransportFailure,
    /// The gateway released the call itself ([`B2bua::hangup`]).
    Gateway,
    /// A protocol failure between the legs (e.g. no PRACK in time).
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallState {
    /// B leg INVITE pending.
    Proceeding,
    /// The customer cancelled; waiting for the B leg's final response.
    Cancelling,
    /// 2xx relayed to the customer.
    Answered,
    /// BYE sent or received; waiting for the remaining transactions.
    Ending,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientRole {
    BInvite,
    BCancel,
    BBye,
    ABye,
    BPrack,
    /// A relayed in-dialog request (re-INVITE, UPDATE, INFO), either leg.
    Relay,
}

/// An in-dialog request relayed from one leg to the other, waiting for its
/// final response.
#[derive(Debug)]
struct Relay {
    /// The originating side's server transaction.
    server: ServerKey,
    /// The request as received (responses are built from it).
    request: Request,
    /// It came from the customer.
    from_a: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReInviteState {
    /// No final response yet.
    Pending,
    /// 2xx relayed; waiting for the originator's ACK.
    AwaitingAck,
    /// ACK relayed (kept to re-send it on 2xx retransmissions).
    Done,
}

/// The latest re-INVITE relayed on a call (RFC 3261 §14).
#[derive(Debug)]
struct ReInvite {
    state: ReInviteState,
    from_a: bool,
    server: ServerKey,
    client: ClientKey,
    /// CSeq number of the received re-INVITE (its ACK carries it).
    in_seq: u32,
    /// CSeq number of the re-INVITE we sent (our ACK carries it).
    out_seq: u32,
    /// Our ACK on the other leg.
    ack: Option<Request>,
}

/// A reliable provisional response sent to the customer, not PRACKed yet.
#[derive(Debug)]
struct Unacked {
    response: Response,
    rseq: u32,
    /// Next retransmission.
    next: Instant,
    /// Current retransmission interval (T1, doubling).
    interval: Duration,
    /// 64·T1 after the first send: give up.
    give_up: Instant,
}

/// RFC 3262 state of one call (both legs).
#[derive(Debug, Default)]
struct Rel100 {
    /// The customer supports (or requires) 100rel.
    a_supported: bool,
    /// RSeq of the last reliable provisional sent to the customer.
    a_rseq: u32,
    a_unacked: Option<Unacked>,
    /// Provisionals waiting for the PRACK of `a_unacked`.
    a_queue: VecDeque<Response>,
    /// A 2xx waiting for the PRACK of `a_unacked`.
    a_deferred_2xx: Option<Response>,
    /// RSeq of the last reliable provisional received from the carrier.
    b_rseq: Option<u32>,
}

/// Most provisionals kept waiting for a PRACK; older ones are dropped.
const MAX_QUEUED_PROVISIONALS: usize = 8;

#[derive(Debug)]
struct Call {
    id: CallId,
    state: CallState,
    /// The trunk as configured when the call started (a reload does not
    /// move calls in progress).
    trunk: Trunk,
    // A leg (customer side): we are the UAS.
    a_invite: Request,
    a_key: ServerKey,
    a_source: SocketAddr,
    a_transport: Transport,
    a_call_id: String,
    a_remote_tag: String,
    a_local_tag: String,
    a_local_cseq: u32,
    a_final_sent: bool,
    // B leg (carrier side): we are the UAC.
    b_invite: Request,
    b_key: ClientKey,
    b_call_id: String,
    b_remote_tag: Option<String>,
    b_remote_target: Option<String>,
    b_route_set: Vec<String>,
    b_local_cseq: u32,
    b_ack: Option<Request>,
    rel: Rel100,
    /// The customer's current Contact URI (§12.2: target refreshes).
    a_remote_target: Option<String>,
    /// Relayed in-dialog requests by the client transaction on the other leg.
    relays: HashMap<ClientKey, Relay>,
    reinvite: Option<ReInvite>,
    /// Anchored media ports.
    media: Option<media::CallMedia>,
    /// Client transactions of this call without a final outcome yet.
    open: HashSet<ClientKey>,
    ended_reported: bool,
    /// A 180/183 was relayed to the customer.
    ringing_reported: bool,
    /// Added to a final failure response to the customer.
    final_headers: Vec<(String, String)>,
}

/// The B2BUA: owns an [`Endpoint`] and drives it as its transaction user.
#[derive(Debug)]
pub struct B2bua {
    ep: Endpoint,
    config: B2buaConfig,
    calls: HashMap<CallId, Call>,
    by_a_invite: HashMap<ServerKey, CallId>,
    by_a_dialog: HashMap<(String, String), CallId>,
    by_b_call_id: HashMap<String, CallId>,
    by_client: HashMap<ClientKey, (CallId, ClientRole)>,
    next_call: u64,
    events: VecDeque<CallEvent>,
    /// Retransmission deadlines of reliable provisionals (may be stale).
    rel_timers: BinaryHeap<Reverse<(Instant, CallId)>>,
    /// RTP ports, when media is anchored.
    ports: Option<PortPool>,
    /// New calls are refused.
    draining: bool,
    /// Calls not yet over, in all and by trunk name.
    active: usize,
    active_by_trunk: HashMap<String, usize>,
    global_bucket: Option<limits::TokenBucket>,
    trunk_buckets: HashMap<String, limits::TokenBucket>,
    /// Maximum-duration deadlines (may be stale).
    deadlines: BinaryHeap<Reverse<(Instant, CallId)>>,
}

impl B2bua {
    /// A B2BUA; `seed` drives every tag, branch and Call-ID.
    pub fn new(config: B2buaConfig, seed: u64) -> Self {
        let ports = config
            .media
            .as_ref()
            .map(|m| PortPool::new(m.ports.clone()));
        let global_bucket = config.limits.cps.map(limits::TokenBucket::new);
        Self {
            ep: Endpoint::new(config.endpoint.clone(), seed),
            config,
            calls: HashMap::new(),
            by_a_invite: HashMap::new(),
            by_a_dialog: HashMap::new(),
            by_b_call_id: HashMap::new(),
            by_client: HashMap::new(),
            next_call: 1,
            events: VecDeque::new(),
            rel_timers: BinaryHeap::new(),
            ports,
            draining: false,
            active: 0,
            active_by_trunk: HashMap::new(),
            global_bucket,
            trunk_buckets: HashMap::new(),
            deadlines: BinaryHeap::new(),
        }
    }

    /// A received message (see [`Endpoint::handle_datagram`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        data: &[u8],
    ) {
        self.ep.handle_datagram(now, from, transport, data);
        self.process(now);
    }

    /// Timers (see [`Endpoint::handle_timeout`]).
    pub fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.process(now);
        self.rel_timeouts(now);
        self.duration_timeouts(now);
    }

    /// A send failed (see [`Endpoint::handle_transport_error`]).
    pub fn handle_transport_error(&mut self, now: Instant, key: &TransactionKey) {
        self.ep.handle_transport_error(now, key);
        self.process(now);
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.ep.poll_transmit()
    }

    /// Next deadline.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let ep = self.ep.poll_timeout();
        let rel = self.rel_deadline();
        let duration = self.duration_deadline();
        [ep, rel, duration].into_iter().flatten().min()
    }

    /// Next call event.
    pub fn poll_event(&mut self) -> Option<CallEvent> {
        self.events.pop_front()
    }

    /// A new trunk table (a configuration reload): new calls are routed by
    /// it; calls in progress keep the trunk they started on.
    pub fn set_trunks(&mut self, trunks: Vec<Trunk>) {
        self.config.trunks = trunks;
    }

    /// Number of calls in progress.
    pub fn call_count(&self) -> usize {
        self.calls.len()
    }

    /// Headers to add to the final failure response the customer will get
    /// for this call (e.g. `X-Hangup-Gcode` once the early media told the
    /// code, or `Reason` before [`Self::hangup`]). Replaces earlier ones.
    pub fn set_final_headers(&mut self, id: CallId, headers: Vec<(String, String)>) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.final_headers = headers;
        }
    }

    /// Ends a call on the gateway's own account (e.g. no RTP any more): an
    /// answered call gets a BYE on both legs; a ringing one has its B leg
    /// cancelled and the customer gets `status`. Returns whether the call
    /// was still up.
    pub fn hangup(&mut self, now: Instant, id: CallId, status: StatusCode) -> bool {
        let Some(call) = self.calls.get(&id) else {
            return false;
        };
        let answered = call.state == CallState::Answered && call.rel.a_deferred_2xx.is_none();
        match call.state {
            CallState::Ending | CallState::Cancelling => return false,
            CallState::Answered if answered => {
                info!(call = id.0, "gateway hangs up: BYE both legs");
                self.send_a_bye(now, id);
                self.send_b_bye(now, id);
                self.report_end(id, 200, EndCause::Gateway);
            }
            CallState::Answered => {
                // The 2xx waits for a PRACK: the customer's dialog is early.
                self.fail_a_invite(now, id, status);
                self.ack_and_bye_b(now, id);
                self.report_end(id, status.code(), EndCause::Gateway);
            }
            CallState::Proceeding => {
                info!(
                    call = id.0,
                    status = status.code(),
                    "gateway releases a ringing call"
                );
                self.cancel_b(now, id, status);
                self.report_end(id, status.code(), EndCause::Gateway);
                return true;
            }
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.state = CallState::Ending;
        }
        self.maybe_remove(id);
        true
    }

    fn process(&mut self, now: Instant) {
        while let Some(ev) = self.ep.poll_event() {
            self.on_event(now, ev);
        }
    }

    fn on_event(&mut self, now: Instant, ev: Event) {
        match ev {
            Event::Request {
                key,
                request,
                source,
                transport,
            } => self.on_request(now, key, request, source, transport),
            Event::Cancel { key, invite, .. } => self.on_cancel(now, key, invite),
            Event::Ack { request, .. } => self.on_ack(now, request),
            Event::Response { key, response } => self.on_response(now, key, response),
            Event::StrayResponse { response, .. } => self.on_stray(now, response),
            Event::Timeout { key, timer } => self.on_failure(now, key, Some(timer)),
            Event::TransportError { key } => self.on_failure(now, key, None),
        }
    }

    fn reply(&mut self, now: Instant, key: &ServerKey, status: StatusCode) {
        if let Err(e) = self.ep.reply(now, key, status) {
            debug!(error = %e, "reply failed");
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        key: ServerKey,
        req: Request,
        source: SocketAddr,
        transport: Transport,
    ) {
        if req.method == Method::Options {
            // Answered locally, in or out of dialog, from anyone (keep-alive
            // pings come from monitoring hosts too); 503 while draining, so
            // that a dispatcher's probe takes this instance out.
            let status = if self.draining && req.to_tag().is_none() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::OK
            };
            let mut resp = req.response(status, None);
            resp.headers.push(
                "Allow",
                "INVITE, ACK, CANCEL, BYE, OPTIONS, PRACK, UPDATE, INFO",
            );
            resp.headers.push("Accept", "application/sdp");
            if let Err(e) = self.ep.respond(now, &key, resp) {
                debug!(error = %e, "OPTIONS reply failed");
            }
            return;
        }
        if req.to_tag().is_some() {
            self.on_in_dialog(now, key, req, source);
            return;
        }
        if req.method != Method::Invite {
            // Out-of-dialog requests other than INVITE/OPTIONS.
            let status = if self.trunk_for(source.ip()).is_none() {
                StatusCode::FORBIDDEN
            } else {
                StatusCode::METHOD_NOT_ALLOWED
            };
            self.reply(now, &key, status);
            return;
        }
        self.on_initial_invite(now, key, req, source, transport);
    }

    fn trunk_for(&self, ip: IpAddr) -> Option<usize> {
        self.config.trunks.iter().position(|t| t.accepts(ip))
    }

    fn on_initial_invite(
        &mut self,
        now: Instant,
        a_key: ServerKey,
        a_inv: Request,
        source: SocketAddr,
        transport: Transport,
    ) {
        let Some(trunk_idx) = self.trunk_for(source.ip()) else {
            info!(%source, "INVITE from unknown source: 403");
            self.reply(now, &a_key, StatusCode::FORBIDDEN);
            return;
        };
        // RFC 3261 §16.3 step 3 (applied as a B2BUA): no hop left -> 483.
        let max_forwards = match a_inv.max_forwards() {
            Ok(Some(0)) => {
                self.reply(now, &a_key, Error::TooManyHops.status_or_500());
                return;
            }
            Ok(Some(n)) => n - 1,
            _ => 69,
        };
        // §8.2.2.3: of the extensions that need Require, we support 100rel.
        let required: Vec<String> = a_inv
            .headers
            .elements("Require")
            .into_iter()
            .filter(|o| !o.eq_ignore_ascii_case("100rel"))
            .map(str::to_owned)
            .collect();
        let a_100rel = ["Require", "Supported"].iter().any(|h| {
            a_inv
                .headers
                .elements(h)
                .iter()
                .any(|o| o.eq_ignore_ascii_case("100rel"))
        });
        if !required.is_empty() {
            let mut resp = a_inv.response(
                Error::BadExtension {
                    unsupported: required.clone(),
                }
                .status_or_500(),
                None,
            );
            resp.headers.push("Unsupported", required.join(", "));
            if let Err(e) = self.ep.respond(now, &a_key, resp) {
                debug!(error = %e, "420 failed");
            }
            return;
        }
        let Some(user) = uri_user(&a_inv.uri).or_else(|| a_inv.to_header().ok()?.user()) else {
            self.reply(now, &a_key, StatusCode::NOT_FOUND);
            return;
        };
        let (Ok(a_from), Ok(a_to), Ok(a_call_id)) =
            (a_inv.from_header(), a_inv.to_header(), a_inv.call_id())
        else {
            self.reply(now, &a_key, StatusCode::BAD_REQUEST);
            return;
        };
        let a_remote_tag = a_from.tag().unwrap_or_default().to_owned();
        let a_call_id = a_call_id.to_owned();

        let trunk = &self.config.trunks[trunk_idx];
        let local = self.config.endpoint.via_sent_by.clone();
        let target_hp = trunk.target_host_port.clone();
        let (b_dest, b_transport, trunk_name) = (trunk.target, trunk.transport, trunk.name.clone());
        let transport_param = match b_transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };

        let b_call_id = format!("{}@tonegate", self.ep.new_call_id());
        let b_local_tag = self.ep.new_tag();
        let a_local_tag = self.ep.new_tag();
        let from_user = a_from.user().unwrap_or_else(|| "anonymous".to_owned());
        let to_user = a_to.user().unwrap_or_else(|| user.clone());
        let parties = Parties {
            caller: from_user.clone(),
            display_caller: a_inv
                .header("P-Asserted-Identity")
                .and_then(|v| NameAddr::parse(v, "P-Asserted-Identity").ok())
                .and_then(|n| n.user())
                .unwrap_or_else(|| from_user.clone()),
            called: user.clone(),
            user_data: a_inv
                .header(&self.config.user_data_header)
                .map(str::to_owned),
        };
        let mut b_from = NameAddr::new(format!("sip:{from_user}@{local}"));
        b_from.display_name = a_from.display_name.clone();
        b_from.set_tag(b_local_tag.clone());

        let mut b_inv = Request::new(
            Method::Invite,
            format!("sip:{user}@{target_hp}{transport_param}"),
        )
        .with_header("Max-Forwards", max_forwards.to_string())
        .with_header("From", b_from.to_string())
        .with_header(
            "To",
            NameAddr::new(format!("sip:{to_user}@{target_hp}")).to_string(),
        )
        .with_header("Call-ID", b_call_id.clone())
        .with_header("CSeq", "1 INVITE")
        .with_header("Contact", format!("<sip:gw@{local}{transport_param}>"));
        if a_100rel {
            b_inv.headers.push("Supported", "100rel");
        }
        for pai in a_inv.headers.get_all("P-Asserted-Identity") {
            b_inv.headers.push("P-Asserted-Identity", pai);
        }
        for name in &self.config.copy_headers {
            for v in a_inv.headers.get_all(name) {
                b_inv.headers.push(name.clone(), v);
            }
        }
        if let Err(reason) = self.admit(now, trunk_idx) {
            let refused = CallEvent::Rejected {
                trunk: trunk_name,
                call_id: a_call_id,
                parties,
                reason,
            };
            self.reject(now, &a_key, &a_inv, refused);
            return;
        }
        let Ok(media) = self.allocate_media() else {
            warn!(trunk = %trunk_name, "RTP port pool exhausted: 503");
            let refused = CallEvent::Rejected {
                trunk: trunk_name,
                call_id: a_call_id,
                parties,
                reason: RejectReason::Ports,
            };
            self.reject(now, &a_key, &a_inv, refused);
            return;
        };
        let mut a_media = None;
        if !a_inv.body.is_empty() {
            let ct = a_inv.header("Content-Type");
            let body = match self.anchored(media.as_ref().map(|m| m.ports), true, ct, &a_inv.body) {
                Ok((body, m)) => {
                    a_media = m;
                    body
                }
                Err(e) => {
                    // The offer must come through the gateway, or nothing is heard.
                    info!(error = %e, "offer cannot be anchored");
                    self.release_media(media);
                    self.reply(now, &a_key, e.status_or_500());
                    return;
                }
            };
            b_inv.set_body(ct, body);
        }

        let b_key = match self.ep.send_request(now, b_inv, b_dest, b_transport) {
            Ok(k) => k,
            Err(e) => {
                warn!(error = %e, "could not place B leg");
                self.release_media(media);
                self.reply(now, &a_key, StatusCode::SERVER_INTERNAL_ERROR);
                return;
            }
        };
        let media_ports = media.as_ref().map(|m| m.ports);
        let b_invite = self
            .ep
            .client_request(&b_key)
            .cloned()
            .unwrap_or_else(|| Request::new(Method::Invite, ""));
        let id = CallId(self.next_call);
        self.next_call += 1;
        info!(call = id.0, trunk = %trunk_name, "call started");
        self.by_a_invite.insert(a_key.clone(), id);
        self.by_a_dialog
            .insert((a_call_id.clone(), a_remote_tag.clone()), id);
        self.by_b_call_id.insert(b_call_id.clone(), id);
        self.by_client
            .insert(b_key.clone(), (id, ClientRole::BInvite));
        let b_key_open = b_key.clone();
        self.calls.insert(
            id,
            Call {
                id,
                state: CallState::Proceeding,
                trunk: self.config.trunks[trunk_idx].clone(),
                a_invite: a_inv,
                a_key,
                a_source: source,
                a_transport: transport,
                a_call_id: a_call_id.clone(),
                a_remote_tag,
                a_local_tag,
                a_local_cseq: 0,
                a_final_sent: false,
                b_invite,
                b_key,
                b_call_id,
                b_remote_tag: None,
                b_remote_target: None,
                b_route_set: Vec::new(),
                b_local_cseq: 1,
                b_ack: None,
                rel: Rel100 {
                    a_supported: a_100rel,
                    ..Rel100::default()
                },
                a_remote_target: None,
                relays: HashMap::new(),
                reinvite: None,
                media,
                open: HashSet::from([b_key_open]),
                ended_reported: false,
                ringing_reported: false,
                final_headers: Vec::new(),
            },
        );
        self.count_call(now, id, &trunk_name);
        self.events.push_back(CallEvent::Started {
            call: id,
            trunk: trunk_name,
            call_id: a_call_id,
            parties,
            media: media_ports,
        });
        if let Some(media) = a_media {
            self.events.push_back(CallEvent::Media {
                call: id,
                from_a: true,
                media,
            });
        }
    }

    /// Which call an in-dialog request belongs to, and whether it came from
    /// the A side.
    fn dialog_of(&self, req: &Request) -> Option<(CallId, bool)> {
        let call_id = req.call_id().ok()?;
        if let Some(id) = self.by_b_call_id.get(call_id) {
            return Some((*id, false));
        }
        let ftag = req.from_tag()?;
        self.by_a_dialog
            .get(&(call_id.to_owned(), ftag))
            .map(|id| (*id, true))
    }

    fn on_in_dialog(&mut self, now: Instant, key: ServerKey, req: Request, _source: SocketAddr) {
        let Some((id, from_a)) = self.dialog_of(&req) else {
            // §12.2.2: no such dialog.
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        if req.method == Method::Prack {
            self.on_prack(now, key, &req, id, from_a);
            return;
        }
        if matches!(req.method, Method::Invite | Method::Update | Method::Info) {
            self.on_relay_request(now, key, req, id, from_a);
            return;
        }
        if req.method != Method::Bye {
            // NOTIFY, REFER, MESSAGE, ... are not relayed.
            self.reply(now, &key, StatusCode::NOT_IMPLEMENTED);
            return;
        }
        self.reply(now, &key, StatusCode::OK);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.state == CallState::Ending {
            return;
        }
        info!(call = id.0, from_a, "BYE");
        // A 2xx held back for a PRACK has not reached the customer: the A
        // dialog is still early.
        let answered = call.state == CallState::Answered && call.rel.a_deferred_2xx.is_none();
        // A 2xx held back for a PRACK leaves an answered B leg behind an early A dialog.
        let deferred = call.state == CallState::Answered && !answered;
        let cause = match (from_a, answered) {
            (_, true) => EndCause::Hangup,
            (true, false) => EndCause::CallerCancel,
            (false, false) => EndCause::Rejected {
                status: StatusCode::TEMPORARILY_UNAVAILABLE.code(),
                reason: reason_of(&req),
            },
        };
        match (from_a, answered, deferred) {
            (true, true, _) => self.send_b_bye(now, id),
            // BYE on the early A dialog: 487 for the INVITE (§15.1.2), and the answered B
            // leg is ACKed and hung up.
            (true, false, true) => {
                self.fail_a_invite(now, id, StatusCode::REQUEST_TERMINATED);
                self.ack_and_bye_b(now, id);
            }
            // BYE on an early dialog: like a CANCEL.
            (true, false, false) => self.cancel_b(now, id, StatusCode::REQUEST_TERMINATED),
            (false, true, _) => self.send_a_bye(now, id),
            (false, false, _) => self.fail_a_invite(now, id, StatusCode::TEMPORARILY_UNAVAILABLE),
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.state = CallState::Ending;
        }
        self.report_end(id, 200, cause);
        self.maybe_remove(id);
    }

    /// Answers the customer's still-pending INVITE with a final `status`.
    fn fail_a_invite(&mut self, now: Instant, id: CallId, status: StatusCode) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        let resp = call.a_invite.response(status, Some(&call.a_local_tag));
        let a_key = call.a_key.clone();
        self.send_a_final(now, id, &a_key, resp);
    }

    /// A PRACK in the A or B dialog (RFC 3262 §3).
    fn on_prack(&mut self, now: Instant, key: ServerKey, req: &Request, id: CallId, from_a: bool) {
        let rack = req.header("RAck").and_then(parse_rack);
        let Some(call) = self.calls.get_mut(&id) else {
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        };
        let inv_seq = call.a_invite.cseq().map(|c| c.seq).ok();
        let matches = from_a
            && match (&call.rel.a_unacked, rack) {
                (Some(u), Some((rseq, cseq, method))) => {
                    u.rseq == rseq && Some(cseq) == inv_seq && method == Method::Invite
                }
                _ => false,
            };
        if !matches {
            // §3: a PRACK matching no unacknowledged reliable provisional.
            debug!(call = id.0, from_a, "PRACK matches nothing: 481");
            self.reply(now, &key, StatusCode::CALL_DOES_NOT_EXIST);
            return;
        }
        call.rel.a_unacked = None;
        debug!(call = id.0, "customer PRACKed");
        self.reply(now, &key, StatusCode::OK);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(next) = call.rel.a_queue.pop_front() {
            self.send_a_reliable(now, id, next);
        } else if let Some(ok) = call.rel.a_deferred_2xx.take() {
            let a_key = call.a_key.clone();
            call.a_final_sent = true;
            if let Err(e) = self.ep.respond(now, &a_key, ok) {
                debug!(error = %e, "relaying held 2xx failed");
            }
            info!(call = id.0, "answered");
            self.events.push_back(CallEvent::Answered { call: id });
        }
    }

    /// Send `resp` (a relayed 18x) reliably to the customer, or queue it
    /// behind the one waiting for its PRACK.
    fn send_a_reliable(&mut self, now: Instant, id: CallId, mut resp: Response) {
        let t1 = self.config.endpoint.timers.t1;
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.rel.a_unacked.is_some() {
            if call.rel.a_queue.len() >= MAX_QUEUED_PROVISIONALS {
                call.rel.a_queue.pop_front();
            }
            call.rel.a_queue.push_back(resp);
            return;
        }
        call.rel.a_rseq += 1;
        let rseq = call.rel.a_rseq;
        resp.headers.remove("Require");
        resp.headers.remove("RSeq");
        resp.headers.push("Require", "100rel");
        resp.headers.push("RSeq", rseq.to_string());
        let a_key = call.a_key.clone();
        call.rel.a_unacked = Some(Unacked {
            response: resp.clone(),
            rseq,
            next: now + t1,
            interval: t1,
            give_up: now + t1 * 64,
        });
        self.rel_timers.push(Reverse((now + t1, id)));
        if let Err(e) = self.ep.respond(now, &a_key, resp) {
            debug!(error = %e, "reliable provisional to A failed");
        }
    }

    /// PRACK the carrier's reliable provisional `resp` in the early B dialog.
    fn send_b_prack(&mut self, now: Instant, id: CallId, resp: &Response, rseq: u32) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.b_ack.is_none() {
            call.set_b_dialog_route(resp);
        }
        let inv_seq = call.b_invite_seq();
        let mut prack = self.b_in_dialog(id, Method::Prack, None);
        prack
            .headers
            .push("RAck", format!("{rseq} {inv_seq} INVITE"));
        self.send_b_request(now, id, prack, ClientRole::BPrack);
    }

    /// ACK the carrier's 2xx (if not done yet) and BYE the B leg.
    fn ack_and_bye_b(&mut self, now: Instant, id: CallId) {
        if self.calls.get(&id).is_some_and(|c| c.b_ack.is_none()) {
            let ack = self.b_ack_request(id);
            self.send_b_ack(now, id, ack);
        }
        self.send_b_bye(now, id);
    }

    /// The earliest reliable-provisional retransmission, dropping stale
    /// heap entries.
    fn rel_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.rel_timers.peek().copied() {
            let current = self
                .calls
                .get(&id)
                .and_then(|c| c.rel.a_unacked.as_ref())
                .map(|u| u.next);
            if current == Some(at) {
                return Some(at);
            }
            self.rel_timers.pop();
        }
        None
    }

    /// Retransmit reliable provisionals that are due; give up after 64·T1.
    fn rel_timeouts(&mut self, now: Instant) {
        while let Some(at) = self.rel_deadline() {
            if at > now {
                break;
            }
            let Some(Reverse((_, id))) = self.rel_timers.pop() else {
                break;
            };
            let Some(call) = self.calls.get_mut(&id) else {
                continue;
            };
            let Some(u) = call.rel.a_unacked.as_mut() else {
                continue;
            };
            if now >= u.give_up {
                info!(call = id.0, "no PRACK from the customer: 504");
                self.prack_timeout(now, id);
                continue;
            }
            u.interval *= 2;
            u.next = (now + u.interval).min(u.give_up);
            let (next, resp, a_key) = (u.next, u.response.clone(), call.a_key.clone());
            self.rel_timers.push(Reverse((next, id)));
            if let Err(e) = self.ep.respond(now, &a_key, resp) {
                debug!(error = %e, "reliable provisional retransmission failed");
            }
        }
    }

    /// §3: a reliable provisional was never PRACKed: reject the INVITE with
    /// a 5xx and end the B leg.
    fn prack_timeout(&mut self, now: Instant, id: CallId) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let status = StatusCode::new(504).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
        let resp = call.a_invite.response(status, Some(&call.a_local_tag));
        let a_key = call.a_key.clone();
        let state = call.state;
        self.send_a_final(now, id, &a_key, resp);
        match state {
            CallState::Proceeding => {
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = CallState::Cancelling;
                    let b_key = call.b_key.clone();
                    match self.ep.cancel(now, &b_key) {
                        Ok(k) => {
                            call.open.insert(k.clone());
                            self.by_client.insert(k, (id, ClientRole::BCancel));
                        }
                        Err(e) => debug!(error = %e, "CANCEL not sent"),
                    }
                }
            }
            CallState::Answered => {
                self.ack_and_bye_b(now, id);
                if let Some(call) = self.calls.get_mut(&id) {
                    call.state = CallState::Ending;
                }
            }
            CallState::Cancelling | CallState::Ending => {}
        }
        self.report_end(id, status.code(), EndCause::Other);
        self.maybe_remove(id);
    }

    fn on_cancel(&mut self, now: Instant, cancel_key: ServerKey, invite: ServerKey) {
        // §9.2: the CANCEL itself is answered 200 when it matched.
        self.reply(now, &cancel_key, StatusCode::OK);
        let Some(id) = self.by_a_invite.get(&invite).copied() else {
            // A relayed re-INVITE is cancelled on the other leg; otherwise it
            // matched an INVITE we already rejected: nothing to do.
            self.cancel_reinvite(now, &invite);
            return;
        };
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::Proceeding || call.a_final_sent {
            return;
        }
        info!(call = id.0, "customer cancelled");
        self.cancel_b(now, id, StatusCode::REQUEST_TERMINATED);
        self.report_end(id, 487, EndCause::CallerCancel);
    }

    /// CANCEL the B leg, answer `status` (487 for the customer's own CANCEL)
    /// on the A leg.
    fn cancel_b(&mut self, now: Instant, id: CallId, status: StatusCode) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        call.state = CallState::Cancelling;
        let b_key = call.b_key.clone();
        let a_key = call.a_key.clone();
        let a_tag = call.a_local_tag.clone();
        let a_inv = call.a_invite.clone();
        match self.ep.cancel(now, &b_key) {
            Ok(k) => {
                call.open.insert(k.clone());
                self.by_client.insert(k, (id, ClientRole::BCancel));
            }
            Err(e) => debug!(error = %e, "CANCEL not sent (B leg already final)"),
        }
        self.send_a_final(now, id, &a_key, a_inv.response(status, Some(&a_tag)));
    }

    fn send_a_final(&mut self, now: Instant, id: CallId, a_key: &ServerKey, mut resp: Response) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if call.a_final_sent {
            return;
        }
        if !resp.status.is_success() {
            for (name, value) in &call.final_headers {
                resp.headers.set(name.as_str(), value.as_str());
            }
        }
        call.a_final_sent = true;
        call.rel.a_unacked = None;
        call.rel.a_queue.clear();
        call.rel.a_deferred_2xx = None;
        if let Err(e) = self.ep.respond(now, a_key, resp) {
            debug!(error = %e, "final response to A failed");
        }
    }

    fn on_ack(&mut self, now: Instant, ack: Request) {
        let Some((id, from_a)) = self.dialog_of(&ack) else {
            return;
        };
        if self.on_reinvite_ack(now, id, from_a, &ack) || !from_a {
            return;
        }
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::Answered || call.b_ack.is_some() {
            return;
        }
        // End-to-end ACK: the customer's ACK triggers ours, with its body.
        let mut b_ack = self.b_ack_request(id);
        self.copy_body(id, true, &ack, &mut b_ack);
        self.send_b_ack(now, id, b_ack);
    }

    fn send_b_ack(&mut self, now: Instant, id: CallId, ack: Request) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let trunk = &call.trunk;
        let (dest, transport) = (trunk.target, trunk.transport);
        call.b_ack = Some(ack.clone());
        if let Err(e) = self.ep.send_ack(now, ack, dest, transport) {
            warn!(error = %e, "B-leg ACK failed");
        }
    }

    fn on_response(&mut self, now: Instant, key: ClientKey, resp: Response) {
        let Some((id, role)) = self.by_client.get(&key).copied() else {
            return;
        };
        let status = resp.status;
        if status.is_final() {
            self.client_done(id, &key);
        }
        if role == ClientRole::Relay {
            self.on_relay_response(now, id, &key, resp);
            self.maybe_remove(id);
            return;
        }
        if role != ClientRole::BInvite {
            self.maybe_remove(id);
            return;
        }
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        if let Some(tag) = resp.to_tag() {
            call.b_remote_tag = Some(tag);
        }
        if status.is_provisional() {
            if status == StatusCode::TRYING {
                return;
            }
            if call.b_ack.is_none() && resp.to_tag().is_some() {
                // §12.1.2 for the early dialog (UPDATE, PRACK, INFO): target
                // and route set from the 18x.
                call.set_b_dialog_route(&resp);
            }
            if is_reliable_provisional(&resp) {
                let Some(rseq) = resp
                    .header("RSeq")
                    .and_then(|v| v.trim().parse::<u32>().ok())
                else {
                    debug!(
                        call = id.0,
                        "reliable provisional without a valid RSeq dropped"
                    );
                    return;
                };
                // RFC 3262 §4: retransmissions (and out-of-order ones) are
                // discarded, each new RSeq is PRACKed.
                if call.rel.b_rseq.is_some_and(|last| rseq <= last) {
                    return;
                }
                call.rel.b_rseq = Some(rseq);
                self.send_b_prack(now, id, &resp, rseq);
            }
            let Some(call) = self.calls.get(&id) else {
                return;
            };
            if call.state != CallState::Proceeding {
                return;
            }
            let mut a_resp = relay_response(call, &resp, &self.config.endpoint.via_sent_by);
            self.copy_body(id, false, &resp, &mut a_resp);
            let Some(call) = self.calls.get_mut(&id) else {
                return;
            };
            if !call.ringing_reported {
                call.ringing_reported = true;
                self.events.push_back(CallEvent::Ringing { call: id });
            }
            self.note_early_media(id, &resp);
            let Some(call) = self.calls.get(&id) else {
                return;
            };
            if call.rel.a_supported {
                self.send_a_reliable(now, id, a_resp);
                return;
            }
            let a_key = call.a_key.clone();
            if let Err(e) = self.ep.respond(now, &a_key, a_resp) {
                debug!(error = %e, "relaying provisional failed");
            }
            return;
        }
        if status.is_success() {
            call.set_b_dialog_route(&resp);
            match call.state {
                CallState::Proceeding => {
                    call.state = CallState::Answered;
                    let mut a_resp = relay_response(call, &resp, &self.config.endpoint.via_sent_by);
                    self.copy_body(id, false, &resp, &mut a_resp);
                    let Some(call) = self.calls.get_mut(&id) else {
                        return;
                    };
                    if call.rel.a_unacked.is_some() {
                        // RFC 3262 §3: not before the customer's PRACK.
                        debug!(call = id.0, "2xx held until the customer's PRACK");
                        call.rel.a_queue.clear();
                        call.rel.a_deferred_2xx = Some(a_resp);
                        self.maybe_remove(id);
                        return;
                    }
                    let a_key = call.a_key.clone();
                    call.a_final_sent = true;
                    if let Err(e) = self.ep.respond(now, &a_key, a_resp) {
                        debug!(error = %e, "relaying 2xx failed");
                    }
                    info!(call = id.0, "answered");
                    self.events.push_back(CallEvent::Answered { call: id });
                }
                CallState::Answered | CallState::Ending => {
                    // A 2xx retransmission: re-send our ACK if we sent one.
                    if let Some(ack) = call.b_ack.clone() {
                        self.send_b_ack(now, id, ack);
                    }
                }
                CallState::Cancelling => {
                    // The 200 crossed our CANCEL: ACK it and hang up.
                    if call.b_ack.is_none() {
                        info!(call = id.0, "200 crossed CANCEL: ACK + BYE");
                        let ack = self.b_ack_request(id);
                        self.send_b_ack(now, id, ack);
                        self.send_b_bye(now, id);
                        if let Some(call) = self.calls.get_mut(&id) {
                            call.state = CallState::Ending;
                        }
                    } else if let Some(ack) = call.b_ack.clone() {
                        self.send_b_ack(now, id, ack);
                    }
                }
            }
            self.maybe_remove(id);
            return;
        }
        // 300-699: ACKed by the transaction; relay the status.
        if call.state == CallState::Proceeding {
            let mut a_resp = relay_response(call, &resp, &self.config.endpoint.via_sent_by);
            let a_key = call.a_key.clone();
            self.copy_body(id, false, &resp, &mut a_resp);
            self.send_a_final(now, id, &a_key, a_resp);
            let reason = reason_of(&resp);
            self.report_end(
                id,
                status.code(),
                EndCause::Rejected {
                    status: status.code(),
                    reason,
                },
            );
        }
        if let Some(call) = self.calls.get_mut(&id) {
            call.state = CallState::Ending;
        }
        self.maybe_remove(id);
    }

    fn on_stray(&mut self, now: Instant, resp: Response) {
        let Ok(call_id) = resp.call_id() else { return };
        let Some(id) = self.by_b_call_id.get(call_id).copied() else {
            // A 2xx from the customer to a re-INVITE of ours (we are the
            // UAS of the A dialog: its To tag is the customer's).
            let a = resp
                .to_tag()
                .and_then(|t| self.by_a_dialog.get(&(call_id.to_owned(), t)).copied());
            if let Some(id) = a {
                self.on_stray_reinvite_2xx(now, id, true, &resp);
            }
            return;
        };
        if self.on_stray_reinvite_2xx(now, id, false, &resp) {
            return;
        }
        if let Some(ack) = self.calls.get(&id).and_then(|c| c.b_ack.clone()) {
            self.send_b_ack(now, id, ack);
        }
    }

    fn on_failure(&mut self, now: Instant, key: TransactionKey, timer: Option<Timer>) {
        match key {
            TransactionKey::Client(key) => {
                let Some((id, role)) = self.by_client.get(&key).copied() else {
                    return;
                };
                self.client_done(id, &key);
                if role == ClientRole::Relay {
                    self.on_relay_failure(now, id, &key, timer.is_some());
                }
                if role == ClientRole::BInvite {
                    if let Some(call) = self.calls.get_mut(&id) {
                        if call.state == CallState::Proceeding {
                            // Timer B (or a transport failure) on the B leg.
                            let status = if timer.is_some() {
                                StatusCode::REQUEST_TIMEOUT
                            } else {
                                StatusCode::SERVICE_UNAVAILABLE
                            };
                            info!(call = id.0, ?timer, "B leg failed: {}", status.code());
                            call.state = CallState::Ending;
                            let resp = call.a_invite.response(status, Some(&call.a_local_tag));
                            let a_key = call.a_key.clone();
                            self.send_a_final(now, id, &a_key, resp);
                            let cause = if timer.is_some() {
                                EndCause::Timeout
                            } else {
                                EndCause::TransportFailure
                            };
                            self.report_end(id, status.code(), cause);
                        } else if call.state == CallState::Cancelling {
                            // No final response after our CANCEL (§9.1).
                            call.state = CallState::Ending;
                        }
                    }
                }
                self.maybe_remove(id);
            }
            TransactionKey::Server(key) => {
                // Timer L: the customer never ACKed our 2xx (§13.3.1.4): BYE
                // both legs. Timer H: no ACK for an error: nothing to do.
                if timer != Some(Timer::L) || self.reinvite_ack_timeout(now, &key) {
                    return;
                }
                let Some(id) = self.by_a_invite.get(&key).copied() else {
                    return;
                };
                let Some(call) = self.calls.get_mut(&id) else {
                    return;
                };
                if call.state != CallState::Answered {
                    return;
                }
                info!(call = id.0, "no ACK from customer: BYE both legs");
                call.state = CallState::Ending;
                if call.b_ack.is_none() {
                    let ack = self.b_ack_request(id);
                    self.send_b_ack(now, id, ack);
                }
                self.send_b_bye(now, id);
                self.send_a_bye(now, id);
                self.report_end(id, 200, EndCause::Hangup);
                self.maybe_remove(id);
            }
        }
    }

    /// A client transaction of the call reached its outcome. Its key stays
    /// mapped (a 2xx may be retransmitted) until the call is removed.
    fn client_done(&mut self, id: CallId, key: &ClientKey) {
        if let Some(call) = self.calls.get_mut(&id) {
            call.open.remove(key);
        }
    }

    /// The ACK for the B leg's 2xx (§13.2.2.4: the INVITE's CSeq number).
    fn b_ack_request(&mut self, id: CallId) -> Request {
        let seq = self.calls.get(&id).map(Call::b_invite_seq);
        self.b_in_dialog(id, Method::Ack, seq)
    }

    /// A request inside the B dialog (ACK reuses the INVITE's CSeq).
    fn b_in_dialog(&mut self, id: CallId, method: Method, seq: Option<u32>) -> Request {
        let Some(call) = self.calls.get_mut(&id) else {
            return Request::new(method, "");
        };
        let seq = seq.unwrap_or_else(|| {
            call.b_local_cseq += 1;
            call.b_local_cseq
        });
        let target = call
            .b_remote_target
            .clone()
            .unwrap_or_else(|| call.b_invite.uri.clone());
        let mut to = call
            .b_invite
            .to_header()
            .unwrap_or_else(|_| NameAddr::new(target.clone()));
        if let Some(tag) = &call.b_remote_tag {
            to.set_tag(tag.clone());
        }
        let mut req = Request::new(method.clone(), target)
            .with_header("From", call.b_invite.header("From").unwrap_or_default())
            .with_header("To", to.to_string())
            .with_header("Call-ID", call.b_call_id.clone())
            .with_header("CSeq", format!("{seq} {method}"));
        for r in &call.b_route_set {
            req.headers.push("Route", r.clone());
        }
        req
    }

    fn send_b_bye(&mut self, now: Instant, id: CallId) {
        let bye = self.b_in_dialog(id, Method::Bye, None);
        self.send_b_request(now, id, bye, ClientRole::BBye);
    }

    /// Sends an in-dialog request on the B leg (to the trunk's target) and files its client
    /// transaction under the call with `role`.
    fn send_b_request(&mut self, now: Instant, id: CallId, req: Request, role: ClientRole) {
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let method = req.method.clone();
        let trunk = &call.trunk;
        match self
            .ep
            .send_request(now, req, trunk.target, trunk.transport)
        {
            Ok(k) => {
                call.open.insert(k.clone());
                self.by_client.insert(k, (id, role));
            }
            Err(e) => warn!(error = %e, ?method, "B-leg request failed"),
        }
    }

    /// A request inside the A dialog, where we are the UAS: our From is
    /// its To (with our tag), the target the customer's Contact, the route
    /// set its Record-Route in order (§12.1.1). ACK reuses `seq`.
    fn a_in_dialog(&mut self, id: CallId, method: Method, seq: Option<u32>) -> Request {
        let Some(call) = self.calls.get_mut(&id) else {
            return Request::new(method, "");
        };
        let seq = seq.unwrap_or_else(|| {
            call.a_local_cseq += 1;
            call.a_local_cseq
        });
        let a = &call.a_invite;
        let target = call.a_remote_target.clone().unwrap_or_else(|| {
            a.header("Contact")
                .and_then(|c| NameAddr::parse(c, "Contact").ok())
                .map(|c| c.uri)
                .unwrap_or_else(|| a.uri.clone())
        });
        let mut from = a
            .to_header()
            .unwrap_or_else(|_| NameAddr::new(a.uri.clone()));
        from.set_tag(call.a_local_tag.clone());
        let mut req = Request::new(method.clone(), target)
            .with_header("From", from.to_string())
            .with_header("To", a.header("From").unwrap_or_default())
            .with_header("Call-ID", call.a_call_id.clone())
            .with_header("CSeq", format!("{seq} {method}"));
        for rr in a.headers.elements("Record-Route") {
            req.headers.push("Route", rr);
        }
        req
    }

    fn send_a_bye(&mut self, now: Instant, id: CallId) {
        let bye = self.a_in_dialog(id, Method::Bye, None);
        let Some(call) = self.calls.get_mut(&id) else {
            return;
        };
        let (dest, transport) = (call.a_source, call.a_transport);
        match self.ep.send_request(now, bye, dest, transport) {
            Ok(k) => {
                call.open.insert(k.clone());
                self.by_client.insert(k, (id, ClientRole::ABye));
            }
            Err(e) => warn!(error = %e, "A-leg BYE failed"),
        }
    }

    /// Where requests on one leg go: the customer's source or the trunk.
    fn leg_destination(&self, call: &Call, to_a: bool) -> (SocketAddr, Transport) {
        if to_a {
            (call.a_source, call.a_transport)
        } else {
            let trunk = &call.trunk;
            (trunk.target, trunk.transport)
        }
    }

    /// Our Contact on one leg.
    fn gw_contact(&self, call: &Call, to_a: bool) -> String {
        let (_, transport) = self.leg_destination(call, to_a);
        contact_for(&self.config.endpoint.via_sent_by, transport)
    }

    fn report_end(&mut self, id: CallId, status: u16, cause: EndCause) {
        if let Some(call) = self.calls.get_mut(&id) {
            if !call.ended_reported {
                call.ended_reported = true;
                let trunk = call.trunk.name.clone();
                self.uncount_call(&trunk);
                self.events.push_back(CallEvent::Ended {
                    call: id,
                    status,
                    cause,
                });
            }
        }
    }

    /// Forget a call once it is over and none of its transactions runs.
    fn maybe_remove(&mut self, id: CallId) {
        let Some(call) = self.calls.get(&id) else {
            return;
        };
        if call.state != CallState::Ending || !call.open.is_empty() {
            return;
        }
        debug!(call = id.0, "call removed");
        if let Some(mut call) = self.calls.remove(&id) {
            self.release_media(call.media.take());
            self.by_a_invite.remove(&call.a_key);
            self.by_a_dialog
                .remove(&(call.a_call_id.clone(), call.a_remote_tag.clone()));
            self.by_b_call_id.remove(&call.b_call_id);
            self.by_client.retain(|_, (c, _)| *c != call.id);
            if !call.ended_reported {
                self.uncount_call(&call.trunk.name);
                self.events.push_back(CallEvent::Ended {
                    call: id,
                    status: 200,
                    cause: EndCause::Hangup,
                });
            }
        }
    }
}

impl Call {
    /// Remote target and route set of the B dialog from a response that
    /// creates it (§12.1.2: the Record-Route reversed).
    fn set_b_dialog_route(&mut self, resp: &Response) {
        if let Some(Ok(c)) = resp
            .header("Contact")
            .map(|c| NameAddr::parse(c, "Contact"))
        {
            self.b_remote_target = Some(c.uri);
        }
        let mut rr: Vec<String> = resp
            .headers
            .elements("Record-Route")
            .into_iter()
            .map(str::to_owned)
            .collect();
        rr.reverse();
        self.b_route_set = rr;
    }

    fn b_invite_seq(&self) -> u32 {
        self.b_invite.cseq().map(|c| c.seq).unwrap_or(1)
    }
}

impl Error {
    /// The response status of this error, 500 if it has none.
    fn status_or_500(&self) -> StatusCode {
        self.response_status()
            .unwrap_or(StatusCode::SERVER_INTERNAL_ERROR)
    }
}

/// The `Reason` header values of a message (RFC 3326), joined with ", ".
fn reason_of(msg: &impl media::HasBody) -> Option<String> {
    let values = msg.header_values("Reason");
    (!values.is_empty()).then(|| values.join(", "))
}

/// Whether a provisional response asks for PRACK (RFC 3262 §4).
fn is_reliable_provisional(resp: &Response) -> bool {
    resp.headers
        .elements("Require")
        .iter()
        .any(|o| o.eq_ignore_ascii_case("100rel"))
}

/// `RAck: rseq cseq method` (RFC 3262 §7.2).
fn parse_rack(v: &str) -> Option<(u32, u32, Method)> {
    let mut it = v.split_whitespace();
    let rseq = it.next()?.parse().ok()?;
    let cseq = it.next()?.parse().ok()?;
    let method = it.next()?.parse().ok()?;
    if it.next().is_some() {
        return None;
    }
    Some((rseq, cseq, method))
}

/// `<sip:gw@local>` with the transport parameter of `transport`.
fn contact_for(local: &str, transport: Transport) -> String {
    let transport_param = match transport {
        Transport::Udp => "",
        Transport::Tcp => ";transport=tcp",
        Transport::Tls => ";transport=tls",
    };
    format!("<sip:gw@{local}{transport_param}>")
}

/// A response from the B leg turned into one for the A leg: status and
/// reason copied; our tag and Contact; nothing else of the carrier's (the
/// body is the caller's to copy, see `copy_body`).
fn relay_response(call: &Call, b: &Response, local: &str) -> Response {
    let mut a = call.a_invite.response(b.status, Some(&call.a_local_tag));
    a.reason = b.reason.clone();
    if b.status != StatusCode::TRYING && (b.status.is_success() || b.status.is_provisional()) {
        let transport_param = match call.a_transport {
            Transport::Udp => "",
            Transport::Tcp => ";transport=tcp",
            Transport::Tls => ";transport=tls",
        };
        a.headers
            .push("Contact", format!("<sip:gw@{local}{transport_param}>"));
        // §12.1.1: a response that creates the dialog carries the request's
        // Record-Route, so proxies on the customer's side (a dispatcher in
        // front) stay on the dialog's path.
        for rr in call.a_invite.headers.get_all("Record-Route") {
            a.headers.push("Record-Route", rr);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(!c.contains("2001:db8::1".parse().unwrap()));
        let h: Cidr = "198.51.100.7".parse().unwrap();
        assert!(h.contains("198.51.100.7".parse().unwrap()));
        assert!(!h.contains("198.51.100.8".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains("2001:db8:1::5".parse().unwrap()));
        assert!(!v6.contains("2001:db9::5".parse().unwrap()));
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("nonsense/8".parse::<Cidr>().is_err());
        assert_eq!(c.to_string(), "192.0.2.0/24");
    }

    #[test]
    fn trunk_target_resolution() {
        let t = Trunk::new("c", vec![], "sip:203.0.113.5:5070;transport=tcp").unwrap();
        assert_eq!(t.target, "203.0.113.5:5070".parse().unwrap());
        assert_eq!(t.transport, Transport::Tcp);
        let t = Trunk::new("c", vec![], "sip:203.0.113.5").unwrap();
        assert_eq!(t.target.port(), 5060);
        assert_eq!(t.transport, Transport::Udp);
        assert!(Trunk::new("c", vec![], "sip:carrier.example.com").is_err());
    }
}
