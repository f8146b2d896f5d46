//! The transaction layer: a sans-IO SIP endpoint.
//!
//! [`Endpoint`] owns every client and server transaction. The I/O layer
//! feeds it received messages ([`Endpoint::handle_datagram`]) and timer
//! wake-ups ([`Endpoint::handle_timeout`]) and drains [`Transmit`]s,
//! [`Event`]s and the next deadline. The transaction user (TU, e.g. the
//! B2BUA) reacts to events and calls [`Endpoint::send_request`],
//! [`Endpoint::respond`], [`Endpoint::cancel`] and [`Endpoint::send_ack`].
//!
//! Routing of responses: a server transaction sends every response to the
//! address and transport its request came from (symmetric response routing,
//! as RFC 3581 `rport` asks; on streams that is the same connection).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, trace};

use crate::framing::DEFAULT_MAX_MESSAGE;
use crate::message::{self, Method, Request, Response, SipMessage, StatusCode, Via};
use crate::rng::Rng;
use crate::transaction::{
    Action, ClientInvite, ClientKey, ClientNonInvite, ServerInvite, ServerInviteState, ServerKey,
    ServerNonInvite, Timer, TimerConfig, TransactionKey, Transport,
};
use crate::Error;

/// Endpoint configuration.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// T1, T2, T4.
    pub timers: TimerConfig,
    /// `sent-by` (host or host:port) of the Via we add to our requests.
    pub via_sent_by: String,
    /// Larger received messages are dropped.
    pub max_message_size: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            timers: TimerConfig::default(),
            via_sent_by: "127.0.0.1:5060".to_owned(),
            max_message_size: DEFAULT_MAX_MESSAGE,
        }
    }
}

/// Bytes to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where to.
    pub destination: SocketAddr,
    /// Over what.
    pub transport: Transport,
    /// The message.
    pub payload: Bytes,
    /// The transaction that sent it, if any: report a send failure with
    /// [`Endpoint::handle_transport_error`].
    pub transaction: Option<TransactionKey>,
}

/// What the transaction user must hear about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A new request created server transaction `key`; answer it with
    /// [`Endpoint::respond`]. (INVITEs were already answered with 100.)
    Request {
        /// Server transaction.
        key: ServerKey,
        /// The request (top Via stamped with `received`/`rport`).
        request: Request,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: Transport,
    },
    /// A CANCEL matched INVITE server transaction `invite` (RFC 3261 §9.2):
    /// answer the CANCEL on `key` (200) and, if the INVITE has no final
    /// response yet, answer it with 487.
    Cancel {
        /// The CANCEL's own server transaction.
        key: ServerKey,
        /// The INVITE server transaction it targets.
        invite: ServerKey,
        /// The CANCEL.
        request: Request,
        /// Where it came from.
        source: SocketAddr,
    },
    /// An ACK that no transaction absorbed: the ACK for a 2xx (RFC 3261
    /// §13.3.1.4; a matching Accepted transaction stops retransmitting).
    Ack {
        /// The ACK.
        request: Request,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: Transport,
    },
    /// A response for client transaction `key`.
    Response {
        /// Client transaction.
        key: ClientKey,
        /// The response.
        response: Response,
    },
    /// A 2xx to an INVITE that matches no transaction any more (a
    /// retransmission after Timer M): the TU should re-send its ACK
    /// (RFC 3261 §13.2.2.4).
    StrayResponse {
        /// The response.
        response: Response,
        /// Where it came from.
        source: SocketAddr,
        /// Over what.
        transport: Transport,
    },
    /// A transaction timed out: B or F (no final response: treat as 408),
    /// H (no ACK for our non-2xx), L (no ACK for our 2xx: send BYE).
    Timeout {
        /// The transaction.
        key: TransactionKey,
        /// Which timer.
        timer: Timer,
    },
    /// The transport failed for this transaction, which is terminated.
    TransportError {
        /// The transaction.
        key: TransactionKey,
    },
}

#[derive(Debug)]
enum ClientTx {
    Invite(ClientInvite),
    NonInvite(ClientNonInvite),
}

#[derive(Debug)]
struct ClientEntry {
    tx: ClientTx,
    destination: SocketAddr,
    transport: Transport,
}

impl ClientEntry {
    fn next_timeout(&self) -> Option<Instant> {
        match &self.tx {
            ClientTx::Invite(t) => t.next_timeout(),
            ClientTx::NonInvite(t) => t.next_timeout(),
        }
    }

    fn is_terminated(&self) -> bool {
        match &self.tx {
            ClientTx::Invite(t) => t.state() == crate::transaction::ClientInviteState::Terminated,
            ClientTx::NonInvite(t) => {
                t.state() == crate::transaction::ClientNonInviteState::Terminated
            }
        }
    }
}

#[derive(Debug)]
enum ServerTx {
    Invite(ServerInvite),
    NonInvite(ServerNonInvite),
}

#[derive(Debug)]
struct ServerEntry {
    tx: ServerTx,
    source: SocketAddr,
    transport: Transport,
    /// To tag added to responses that lack one.
    local_tag: Option<String>,
    /// (Call-ID, CSeq number, From tag) when registered for 2xx ACK matching.
    dialog_ack: Option<(String, u32, String)>,
}

impl ServerEntry {
    fn next_timeout(&self) -> Option<Instant> {
        match &self.tx {
            ServerTx::Invite(t) => t.next_timeout(),
            ServerTx::NonInvite(t) => t.next_timeout(),
        }
    }

    fn is_terminated(&self) -> bool {
        match &self.tx {
            ServerTx::Invite(t) => t.state() == ServerInviteState::Terminated,
            ServerTx::NonInvite(t) => {
                t.state() == crate::transaction::ServerNonInviteState::Terminated
            }
        }
    }

    fn request(&self) -> &Request {
        match &self.tx {
            ServerTx::Invite(t) => t.request(),
            ServerTx::NonInvite(t) => t.request(),
        }
    }
}

/// The sans-IO transaction layer.
#[derive(Debug)]
pub struct Endpoint {
    config: EndpointConfig,
    rng: Rng,
    clients: HashMap<ClientKey, ClientEntry>,
    servers: HashMap<ServerKey, ServerEntry>,
    /// Accepted INVITE server transactions by (Call-ID, CSeq, From tag), to
    /// recognise the end-to-end ACK for their 2xx.
    accepted: HashMap<(String, u32, String), ServerKey>,
    deadlines: BinaryHeap<Reverse<(Instant, TransactionKey)>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<Event>,
}

impl Endpoint {
    /// A new endpoint; `seed` drives every branch, tag and Call-ID it makes.
    pub fn new(config: EndpointConfig, seed: u64) -> Self {
        Self {
            config,
            rng: Rng::new(seed),
            clients: HashMap::new(),
            servers: HashMap::new(),
            accepted: HashMap::new(),
            deadlines: BinaryHeap::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// A fresh Via branch.
    pub fn new_branch(&mut self) -> String {
        self.rng.branch()
    }

    /// A fresh From/To tag.
    pub fn new_tag(&mut self) -> String {
        self.rng.tag()
    }

    /// A fresh Call-ID.
    pub fn new_call_id(&mut self) -> String {
        self.rng.call_id()
    }

    /// Number of live client and server transactions.
    pub fn transaction_count(&self) -> (usize, usize) {
        (self.clients.len(), self.servers.len())
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// Next event for the TU.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Self::handle_timeout`] must be called next.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, key))) = self.deadlines.peek() {
            if self.current_deadline(key) == Some(*at) {
                return Some(*at);
            }
            self.deadlines.pop();
        }
        None
    }

    fn current_deadline(&self, key: &TransactionKey) -> Option<Instant> {
        match key {
            TransactionKey::Client(k) => self.clients.get(k)?.next_timeout(),
            TransactionKey::Server(k) => self.servers.get(k)?.next_timeout(),
        }
    }

    /// Fire every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((at, _))) = self.deadlines.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((at, key))) = self.deadlines.pop() else {
                break;
            };
            if self.current_deadline(&key) != Some(at) {
                continue; // stale entry
            }
            let mut out = Vec::new();
            match &key {
                TransactionKey::Client(k) => {
                    if let Some(e) = self.clients.get_mut(k) {
                        match &mut e.tx {
                            ClientTx::Invite(t) => t.on_timeout(now, &mut out),
                            ClientTx::NonInvite(t) => t.on_timeout(now, &mut out),
                        }
                    }
                }
                TransactionKey::Server(k) => {
                    if let Some(e) = self.servers.get_mut(k) {
                        match &mut e.tx {
                            ServerTx::Invite(t) => t.on_timeout(now, &mut out),
                            ServerTx::NonInvite(t) => t.on_timeout(now, &mut out),
                        }
                    }
                }
            }
            self.apply(&key, out);
            self.after_activity(&key);
        }
    }

    /// A message arrived: one UDP datagram, or one message framed off a
    /// stream by [`crate::framing::StreamDecoder`].
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        data: &[u8],
    ) {
        if data.len() > self.config.max_message_size {
            debug!(%from, len = data.len(), "dropping oversized message");
            return;
        }
        if data.iter().all(|b| *b == b'\r' || *b == b'\n') {
            trace!(%from, "keep-alive");
            return;
        }
        match message::parse(data) {
            Ok(SipMessage::Request(r)) => self.on_request(now, from, transport, r),
            Ok(SipMessage::Response(r)) => self.on_response(now, from, transport, r),
            Err(err) => {
                let tag = self.rng.tag();
                match message::reject(data, &err, &tag) {
                    Some(resp) => {
                        debug!(%from, error = %err, status = resp.status.code(), "rejecting malformed request");
                        self.transmits.push_back(Transmit {
                            destination: from,
                            transport,
                            payload: resp.to_bytes(),
                            transaction: None,
                        });
                    }
                    None => debug!(%from, error = %err, "dropping unparsable message"),
                }
            }
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        mut req: Request,
    ) {
        stamp_received(&mut req, from);
        let key = match ServerKey::for_request(&req) {
            Ok(k) => k,
            Err(e) => {
                debug!(%from, error = %e, "request without a usable transaction key");
                return;
            }
        };
        let tkey = TransactionKey::Server(key.clone());
        if req.method == Method::Ack {
            let mut out = Vec::new();
            match self.servers.get_mut(&key) {
                Some(ServerEntry {
                    tx: ServerTx::Invite(t),
                    ..
                }) => {
                    // §17.2.3: the ACK for a non-2xx matches the INVITE
                    // server transaction.
                    t.on_request(now, req, &mut out);
                }
                _ => {
                    // §13.3.1.4: the ACK for a 2xx is its own transaction-less
                    // request; it stops the 2xx retransmissions.
                    if let (Ok(call_id), Ok(cseq), Some(ftag)) =
                        (req.call_id(), req.cseq(), req.from_tag())
                    {
                        let dk = (call_id.to_owned(), cseq.seq, ftag);
                        if let Some(sk) = self.accepted.get(&dk).cloned() {
                            if let Some(ServerEntry {
                                tx: ServerTx::Invite(t),
                                ..
                            }) = self.servers.get_mut(&sk)
                            {
                                t.ack_received();
                            }
                            self.after_activity(&TransactionKey::Server(sk));
                        }
                    }
                    self.events.push_back(Event::Ack {
                        request: req,
                        source: from,
                        transport,
                    });
                    return;
                }
            }
            self.apply(&tkey, out);
            self.after_activity(&tkey);
            return;
        }

        if let Some(entry) = self.servers.get_mut(&key) {
            // A retransmission: the transaction re-sends its last response.
            trace!(branch = %key.branch, method = %key.method, "request retransmission");
            let mut out = Vec::new();
            match &mut entry.tx {
                ServerTx::Invite(t) => t.on_request(now, req, &mut out),
                ServerTx::NonInvite(t) => t.on_request(now, &mut out),
            }
            self.apply(&tkey, out);
            self.after_activity(&tkey);
            return;
        }

        let reliable = transport.is_reliable();
        let timers = self.config.timers;
        let mut out = Vec::new();
        let tx = if req.method == Method::Invite {
            ServerTx::Invite(ServerInvite::start(
                now,
                req.clone(),
                reliable,
                timers,
                &mut out,
            ))
        } else {
            ServerTx::NonInvite(ServerNonInvite::start(now, req.clone(), reliable, timers))
        };
        debug!(method = %req.method, branch = %key.branch, %from, "new server transaction");
        self.servers.insert(
            key.clone(),
            ServerEntry {
                tx,
                source: from,
                transport,
                local_tag: None,
                dialog_ack: None,
            },
        );
        self.apply(&tkey, out);

        if req.method == Method::Cancel {
            let invite = key.invite_of_cancel();
            if self.servers.contains_key(&invite) {
                self.events.push_back(Event::Cancel {
                    key,
                    invite,
                    request: req,
                    source: from,
                });
            } else {
                // §9.2: no matching transaction -> 481.
                debug!(branch = %key.branch, "CANCEL matches no INVITE: 481");
                let resp = req.response(StatusCode::CALL_DOES_NOT_EXIST, Some(&self.rng.tag()));
                if let Err(e) = self.respond(now, &key, resp) {
                    debug!(error = %e, "could not answer CANCEL");
                }
            }
        } else {
            self.events.push_back(Event::Request {
                key: key.clone(),
                request: req,
                source: from,
                transport,
            });
        }
        self.after_activity(&tkey);
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddr,
        transport: Transport,
        resp: Response,
    ) {
        let (Ok(branch), Ok(cseq)) = (resp.top_branch(), resp.cseq()) else {
            debug!(%from, "response without branch or CSeq dropped");
            return;
        };
        // §17.1.3: branch of the top Via and the CSeq method.
        let key = ClientKey {
            branch,
            method: cseq.method.clone(),
        };
        let tkey = TransactionKey::Client(key.clone());
        let mut out = Vec::new();
        match self.clients.get_mut(&key) {
            Some(e) => match &mut e.tx {
                ClientTx::Invite(t) => t.on_response(now, resp, &mut out),
                ClientTx::NonInvite(t) => t.on_response(now, resp, &mut out),
            },
            None => {
                if cseq.method == Method::Invite && resp.status.is_success() {
                    debug!(%from, "2xx retransmission without transaction: to TU");
                    self.events.push_back(Event::StrayResponse {
                        response: resp,
                        source: from,
                        transport,
                    });
                } else {
                    // §18.1.2: stray responses are discarded.
                    trace!(%from, status = resp.status.code(), "stray response dropped");
                }
                return;
            }
        }
        self.apply(&tkey, out);
        self.after_activity(&tkey);
    }

    /// Send a request in a new client transaction; returns its key.
    ///
    /// Unless the top Via already carries an RFC 3261 branch (as a CANCEL
    /// must), a Via with a fresh branch and `rport` is added on top.
    /// Max-Forwards defaults to 70. From, To, Call-ID and a CSeq matching
    /// the method are required.
    pub fn send_request(
        &mut self,
        now: Instant,
        mut request: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<ClientKey, Error> {
        if request.method == Method::Ack {
            return Err(Error::InvalidArgument {
                reason: "ACK has no transaction: use send_ack",
            });
        }
        check_request(&request)?;
        let branch = match request.top_via() {
            Ok(v) if v.is_rfc3261() => v.branch().unwrap_or_default().to_owned(),
            _ => {
                let branch = self.rng.branch();
                request.headers.push_front(
                    "Via",
                    format!(
                        "SIP/2.0/{} {};branch={branch};rport",
                        transport, self.config.via_sent_by
                    ),
                );
                branch
            }
        };
        if !request.headers.contains("Max-Forwards") {
            request.headers.push("Max-Forwards", "70");
        }
        let key = ClientKey {
            branch,
            method: request.method.clone(),
        };
        if self.clients.contains_key(&key) {
            return Err(Error::InvalidArgument {
                reason: "a client transaction with this branch and method exists",
            });
        }
        let reliable = transport.is_reliable();
        let timers = self.config.timers;
        let mut out = Vec::new();
        let tx = if request.method == Method::Invite {
            ClientTx::Invite(ClientInvite::start(
                now, request, reliable, timers, &mut out,
            ))
        } else {
            ClientTx::NonInvite(ClientNonInvite::start(
                now, request, reliable, timers, &mut out,
            ))
        };
        debug!(method = %key.method, branch = %key.branch, %destination, "new client transaction");
        self.clients.insert(
            key.clone(),
            ClientEntry {
                tx,
                destination,
                transport,
            },
        );
        let tkey = TransactionKey::Client(key.clone());
        self.apply(&tkey, out);
        self.after_activity(&tkey);
        Ok(key)
    }

    /// CANCEL the INVITE client transaction `invite` (RFC 3261 §9.1): a
    /// CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq number,
    /// Route set and top Via (same branch), in its own transaction.
    pub fn cancel(&mut self, now: Instant, invite: &ClientKey) -> Result<ClientKey, Error> {
        let entry = self.clients.get(invite).ok_or(Error::UnknownTransaction)?;
        let ClientTx::Invite(tx) = &entry.tx else {
            return Err(Error::InvalidArgument {
                reason: "only an INVITE can be cancelled",
            });
        };
        if !tx.can_cancel() {
            return Err(Error::InvalidState {
                state: tx.state().name(),
            });
        }
        let inv = tx.request();
        let mut cancel = Request::new(Method::Cancel, inv.uri.clone());
        if let Some(via) = inv.headers.elements("Via").first() {
            cancel.headers.push("Via", *via);
        }
        cancel.headers.push("Max-Forwards", "70");
        for name in ["From", "To", "Call-ID"] {
            if let Some(v) = inv.header(name) {
                cancel.headers.push(name, v);
            }
        }
        cancel
            .headers
            .push("CSeq", format!("{} CANCEL", inv.cseq()?.seq));
        for r in inv.headers.get_all("Route") {
            cancel.headers.push("Route", r);
        }
        let (destination, transport) = (entry.destination, entry.transport);
        let key = self.send_request(now, cancel, destination, transport)?;
        if let Some(ClientEntry {
            tx: ClientTx::Invite(tx),
            ..
        }) = self.clients.get_mut(invite)
        {
            tx.cancel_sent(now);
        }
        self.after_activity(&TransactionKey::Client(invite.clone()));
        Ok(key)
    }

    /// Send an ACK for a 2xx (RFC 3261 §13.2.2.4) outside any transaction.
    /// A Via with a fresh branch is added unless one is present.
    pub fn send_ack(
        &mut self,
        _now: Instant,
        mut ack: Request,
        destination: SocketAddr,
        transport: Transport,
    ) -> Result<(), Error> {
        if ack.method != Method::Ack {
            return Err(Error::InvalidArgument {
                reason: "send_ack sends ACKs only",
            });
        }
        check_request(&ack)?;
        if ack.top_via().is_err() {
            let branch = self.rng.branch();
            ack.headers.push_front(
                "Via",
                format!(
                    "SIP/2.0/{} {};branch={branch};rport",
                    transport, self.config.via_sent_by
                ),
            );
        }
        if !ack.headers.contains("Max-Forwards") {
            ack.headers.push("Max-Forwards", "70");
        }
        self.transmits.push_back(Transmit {
            destination,
            transport,
            payload: ack.to_bytes(),
            transaction: None,
        });
        Ok(())
    }

    /// The request of server transaction `key`.
    pub fn server_request(&self, key: &ServerKey) -> Option<&Request> {
        self.servers.get(key).map(ServerEntry::request)
    }

    /// The request of client transaction `key`.
    pub fn client_request(&self, key: &ClientKey) -> Option<&Request> {
        self.clients.get(key).map(|e| match &e.tx {
            ClientTx::Invite(t) => t.request(),
            ClientTx::NonInvite(t) => t.request(),
        })
    }

    /// The To tag this endpoint uses on server transaction `key` (generated
    /// on first use).
    pub fn local_tag(&mut self, key: &ServerKey) -> Option<String> {
        let rng = &mut self.rng;
        let entry = self.servers.get_mut(key)?;
        Some(entry.local_tag.get_or_insert_with(|| rng.tag()).clone())
    }

    /// Respond on server transaction `key` with just a status code: the
    /// response is built from the request (RFC 3261 §8.2.6).
    pub fn reply(
        &mut self,
        now: Instant,
        key: &ServerKey,
        status: StatusCode,
    ) -> Result<(), Error> {
        let req = self.server_request(key).ok_or(Error::UnknownTransaction)?;
        let resp = req.response(status, None);
        self.respond(now, key, resp)
    }

    /// Send `response` through server transaction `key`. A response above
    /// 100 without a To tag gets the transaction's local tag.
    pub fn respond(
        &mut self,
        now: Instant,
        key: &ServerKey,
        mut response: Response,
    ) -> Result<(), Error> {
        if !self.servers.contains_key(key) {
            return Err(Error::UnknownTransaction);
        }
        if response.status != StatusCode::TRYING {
            if let Ok(mut to) = response.to_header() {
                if to.tag().is_none() {
                    let tag = self.local_tag(key).unwrap_or_default();
                    to.set_tag(tag);
                    response.headers.set("To", to.to_string());
                }
            }
        }
        let entry = self.servers.get_mut(key).ok_or(Error::UnknownTransaction)?;
        let mut out = Vec::new();
        let success = response.status.is_success();
        match &mut entry.tx {
            ServerTx::Invite(t) => {
                t.send_response(now, response, &mut out)?;
                if success && t.state() == ServerInviteState::Accepted && entry.dialog_ack.is_none()
                {
                    let req = t.request();
                    if let (Ok(c), Ok(s), Some(f)) = (req.call_id(), req.cseq(), req.from_tag()) {
                        let dk = (c.to_owned(), s.seq, f);
                        self.accepted.insert(dk.clone(), key.clone());
                        entry.dialog_ack = Some(dk);
                    }
                }
            }
            ServerTx::NonInvite(t) => t.send_response(now, response, &mut out)?,
        }
        let tkey = TransactionKey::Server(key.clone());
        self.apply(&tkey, out);
        self.after_activity(&tkey);
        Ok(())
    }

    /// Sending for transaction `key` failed (RFC 3261 §17.1.1.2, §17.2.4):
    /// it is terminated and the TU told.
    pub fn handle_transport_error(&mut self, _now: Instant, key: &TransactionKey) {
        let found = match key {
            TransactionKey::Client(k) => self.clients.get_mut(k).map(|e| match &mut e.tx {
                ClientTx::Invite(t) => t.on_transport_error(),
                ClientTx::NonInvite(t) => t.on_transport_error(),
            }),
            TransactionKey::Server(k) => self.servers.get_mut(k).map(|e| match &mut e.tx {
                ServerTx::Invite(t) => t.on_transport_error(),
                ServerTx::NonInvite(t) => t.on_transport_error(),
            }),
        };
        if found.is_some() {
            debug!(?key, "transport error");
            self.events
                .push_back(Event::TransportError { key: key.clone() });
            self.after_activity(key);
        }
    }

    /// Turn state-machine actions into transmits and events.
    fn apply(&mut self, key: &TransactionKey, actions: Vec<Action>) {
        if actions.is_empty() {
            return;
        }
        let (destination, transport) = match key {
            TransactionKey::Client(k) => match self.clients.get(k) {
                Some(e) => (e.destination, e.transport),
                None => return,
            },
            TransactionKey::Server(k) => match self.servers.get(k) {
                Some(e) => (e.source, e.transport),
                None => return,
            },
        };
        for a in actions {
            match a {
                Action::Send(payload) => self.transmits.push_back(Transmit {
                    destination,
                    transport,
                    payload,
                    transaction: Some(key.clone()),
                }),
                Action::Deliver(response) => {
                    if let TransactionKey::Client(k) = key {
                        self.events.push_back(Event::Response {
                            key: k.clone(),
                            response,
                        });
                    }
                }
                Action::Timeout(timer) => {
                    debug!(?key, ?timer, "transaction timeout");
                    self.events.push_back(Event::Timeout {
                        key: key.clone(),
                        timer,
                    });
                }
                Action::AckForTu(request) => self.events.push_back(Event::Ack {
                    request,
                    source: destination,
                    transport,
                }),
            }
        }
    }

    /// Re-arm the transaction's deadline or drop it once terminated.
    fn after_activity(&mut self, key: &TransactionKey) {
        match key {
            TransactionKey::Client(k) => {
                let Some(e) = self.clients.get(k) else { return };
                if e.is_terminated() {
                    trace!(branch = %k.branch, "client transaction terminated");
                    self.clients.remove(k);
                } else if let Some(at) = e.next_timeout() {
                    self.deadlines.push(Reverse((at, key.clone())));
                }
            }
            TransactionKey::Server(k) => {
                let Some(e) = self.servers.get(k) else { return };
                if e.is_terminated() {
                    trace!(branch = %k.branch, "server transaction terminated");
                    if let Some(dk) = &e.dialog_ack {
                        self.accepted.remove(dk);
                    }
                    self.servers.remove(k);
                } else if let Some(at) = e.next_timeout() {
                    self.deadlines.push(Reverse((at, key.clone())));
                }
            }
        }
    }
}

/// The headers every request we send needs (RFC 3261 §8.1.1).
fn check_request(r: &Request) -> Result<(), Error> {
    r.from_header()?;
    r.to_header()?;
    r.call_id()?;
    let cseq = r.cseq()?;
    if cseq.method != r.method {
        return Err(Error::CSeqMethodMismatch {
            method: r.method.to_string(),
            cseq: cseq.method.to_string(),
        });
    }
    Ok(())
}

/// RFC 3261 §18.2.1 and RFC 3581 §4: record the source in the top Via.
fn stamp_received(req: &mut Request, from: SocketAddr) {
    let Ok(mut via) = req.top_via() else { return };
    let ip = from.ip().to_string();
    let host = via.host.trim_start_matches('[').trim_end_matches(']');
    let mut changed = false;
    if host != ip {
        via.set_param("received", Some(ip));
        changed = true;
    }
    if via.has_param("rport") && via.param("rport").is_none() {
        via.set_param("rport", Some(from.port().to_string()));
        changed = true;
    }
    if changed {
        replace_top_via(req, &via);
    }
}

fn replace_top_via(req: &mut Request, via: &Via) {
    let first = req.headers.remove_first_element("Via");
    if first.is_some() {
        req.headers.push_front("Via", via.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamp_received_adds_received_and_rport() {
        let mut r = Request::new(Method::Options, "sip:x")
            .with_header(
                "Via",
                "SIP/2.0/UDP ua.example;branch=z9hG4bK1;rport, SIP/2.0/UDP p;branch=z9hG4bK0",
            )
            .with_header("From", "<sip:a@a>;tag=1")
            .with_header("To", "<sip:x>")
            .with_header("Call-ID", "c")
            .with_header("CSeq", "1 OPTIONS");
        stamp_received(&mut r, "192.0.2.7:40000".parse().unwrap());
        let v = r.top_via().unwrap();
        assert_eq!(v.param("received"), Some("192.0.2.7"));
        assert_eq!(v.param("rport"), Some("40000"));
        assert_eq!(v.branch(), Some("z9hG4bK1"));
        assert_eq!(r.headers.elements("Via").len(), 2);
        assert_eq!(
            r.headers.elements("Via")[1],
            "SIP/2.0/UDP p;branch=z9hG4bK0"
        );
    }
}
