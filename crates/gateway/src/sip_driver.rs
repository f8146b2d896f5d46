//! The I/O driver of the SIP core: tokio UDP and TCP sockets on one listen
//! address feeding the sans-IO [`B2bua`].
//!
//! One task owns the B2BUA and the UDP socket; it wakes on a datagram, on a
//! message framed off a TCP connection, or on the core's next deadline,
//! feeds the core, then sends whatever the core wants sent. Each TCP
//! connection (accepted, or opened to a carrier on first use) has a reader
//! task, which frames messages with [`StreamDecoder`], and a writer task fed
//! by a channel. Connections are known by the peer's address: a response
//! goes back over the connection its request came in on, and requests to a
//! carrier reuse the connection to its address.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;

use tonegate_classify::Library;
use tonegate_rtp::Side;
use tonegate_sip::b2bua::{B2bua, B2buaConfig, CallEvent, CallId, Trunk};
use tonegate_sip::StatusCode;

use crate::calls::Calls;
use crate::config::TrunkConfig;
use crate::media::{self, Control, MediaSettings, Report};
use crate::metrics::Metrics;
use tonegate_sip::framing::StreamDecoder;
use tonegate_sip::transaction::TransactionKey;
use tonegate_sip::{Transmit, Transport};
use tracing::{debug, info, info_span, warn};

/// What can stop the driver.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The UDP or TCP socket could not be bound.
    #[error("cannot bind {transport} {addr}: {source}")]
    Bind {
        /// UDP or TCP.
        transport: Transport,
        /// The address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Accepting TCP connections failed for good.
    #[error("TCP accept on {addr}: {source}")]
    Accept {
        /// The listen address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
}

/// Counters the driver keeps, reported when it stops.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Calls accepted (a B leg was placed).
    pub started: u64,
    /// Calls answered.
    pub answered: u64,
    /// Calls over.
    pub ended: u64,
    /// Messages received (UDP datagrams and framed TCP messages).
    pub received: u64,
    /// Messages sent.
    pub sent: u64,
    /// Sends that failed.
    pub send_errors: u64,
}

/// Bound sockets, ready to [`Driver::run`].
#[derive(Debug)]
pub struct Driver {
    udp: UdpSocket,
    tcp: TcpListener,
    local: SocketAddr,
    connect_timeout: Duration,
    max_message: usize,
}

/// Bind UDP on `listen`, then TCP on the same address (the port UDP got,
/// when `listen` has port 0: retried a few times if TCP finds it taken).
pub async fn bind(listen: SocketAddr) -> Result<Driver, DriverError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let udp = UdpSocket::bind(listen)
            .await
            .map_err(|source| DriverError::Bind {
                transport: Transport::Udp,
                addr: listen,
                source,
            })?;
        let local = udp.local_addr().map_err(|source| DriverError::Bind {
            transport: Transport::Udp,
            addr: listen,
            source,
        })?;
        match TcpListener::bind(local).await {
            Ok(tcp) => {
                return Ok(Driver {
                    udp,
                    tcp,
                    local,
                    connect_timeout: Duration::from_secs(3),
                    max_message: tonegate_sip::framing::DEFAULT_MAX_MESSAGE,
                })
            }
            Err(e) if listen.port() == 0 && attempts < 20 => {
                debug!(%local, error = %e, "TCP port taken, trying another");
            }
            Err(source) => {
                return Err(DriverError::Bind {
                    transport: Transport::Tcp,
                    addr: local,
                    source,
                })
            }
        }
    }
}

/// What the driver runs with.
#[derive(Debug)]
pub struct Setup {
    /// The B2BUA's configuration.
    pub config: B2buaConfig,
    /// Media settings, when media is anchored.
    pub media: Option<Arc<MediaSettings>>,
    /// The call table that makes the events.
    pub records: Calls,
    /// The metrics.
    pub metrics: Metrics,
    /// Configuration reloads (SIGHUP).
    pub reloads: mpsc::UnboundedReceiver<Reload>,
    /// `/readyz`'s flag, turned false when draining starts.
    pub ready: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// How long calls in progress get when draining.
    pub drain_timeout: Duration,
    /// Seed of tags, branches and Call-IDs.
    pub seed: u64,
}

/// A configuration reload (SIGHUP): what may change without a restart.
#[derive(Debug)]
pub struct Reload {
    /// The new trunk table.
    pub trunks: Vec<Trunk>,
    /// The trunks' event settings.
    pub trunk_configs: Vec<TrunkConfig>,
    /// The new library, if it loaded.
    pub library: Option<Arc<Library>>,
}

/// What connection tasks tell the core task.
#[derive(Debug)]
enum TcpEvent {
    Message { peer: SocketAddr, data: Bytes },
    Closed { peer: SocketAddr, id: u64 },
    SendFailed { key: Option<TransactionKey> },
}

type Outbound = mpsc::UnboundedSender<(Bytes, Option<TransactionKey>)>;

#[derive(Debug)]
struct Conn {
    id: u64,
    tx: Outbound,
}

impl Driver {
    /// The bound address (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Timeout of outbound TCP connects.
    pub fn set_connect_timeout(&mut self, timeout: Duration) {
        self.connect_timeout = timeout;
    }

    /// Largest TCP message accepted by the stream decoders.
    pub fn set_max_message(&mut self, max: usize) {
        self.max_message = max;
    }

    /// Run until `shutdown` completes, then drain: new INVITEs (and OPTIONS)
    /// get 503, `ready` turns false, calls in progress get `drain_timeout`
    /// to finish (then they are ended), and the driver returns once no call
    /// is left. With `media`, every call's anchored media is relayed (and
    /// its early media heard) by a task of its own.
    pub async fn run(
        self,
        setup: Setup,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<Stats, DriverError> {
        let Setup {
            config,
            media,
            records,
            metrics,
            mut reloads,
            ready,
            drain_timeout,
            seed,
        } = setup;
        let (reports_tx, mut reports_rx) = mpsc::unbounded_channel();
        let mut core = Core {
            media,
            records,
            metrics,
            calls: HashMap::new(),
            reports_tx,
            b2b: B2bua::new(config, seed),
            udp: self.udp,
            conns: HashMap::new(),
            next_conn: 1,
            events_tx: mpsc::unbounded_channel().0,
            stats: Stats::default(),
            connect_timeout: self.connect_timeout,
            max_message: self.max_message,
        };
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        core.events_tx = events_tx;
        let tcp = self.tcp;
        let local = self.local;
        let mut buf = vec![0u8; 65536];
        tokio::pin!(shutdown);
        info!(%local, "SIP listening on UDP and TCP");
        // Draining: (when the calls in progress must be over, whether they were ended).
        let mut drain: Option<(Instant, bool)> = None;
        let mut shutdown_done = false;
        loop {
            if let Some((until, ended_all)) = drain {
                let idle =
                    core.b2b.call_count() == 0 && core.calls.is_empty() && core.records.is_empty();
                if idle {
                    info!("drained: no call left");
                    break;
                }
                let now = Instant::now();
                if now >= until {
                    if ended_all {
                        warn!(
                            calls = core.b2b.call_count(),
                            "drain: calls still not over; stopping"
                        );
                        break;
                    }
                    // The drain timeout: end what is left, give it a moment.
                    let ids = core.b2b.call_ids();
                    warn!(calls = ids.len(), "drain timeout: ending the calls left");
                    for id in ids {
                        core.b2b.hangup(now, id, StatusCode::SERVICE_UNAVAILABLE);
                    }
                    core.flush().await;
                    drain = Some((now + Duration::from_secs(3), true));
                    continue;
                }
            }
            let deadline = [core.b2b.poll_timeout(), drain.map(|d| d.0)]
                .into_iter()
                .flatten()
                .min();
            let sleep = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = &mut shutdown, if !shutdown_done => {
                    shutdown_done = true;
                    info!(calls = core.b2b.active_calls(), timeout_s = drain_timeout.as_secs(), "draining");
                    core.b2b.set_draining(true);
                    core.metrics.set_draining(true);
                    if let Some(ready) = &ready {
                        ready.store(false, std::sync::atomic::Ordering::Relaxed);
                    }
                    drain = Some((Instant::now() + drain_timeout, false));
                }
                r = core.udp.recv_from(&mut buf) => {
                    match r {
                        Ok((n, from)) => {
                            core.receive(from, Transport::Udp, &buf[..n]);
                            // Take what else is queued before flushing.
                            for _ in 0..64 {
                                match core.udp.try_recv_from(&mut buf) {
                                    Ok((n, from)) => core.receive(from, Transport::Udp, &buf[..n]),
                                    Err(_) => break,
                                }
                            }
                        }
                        // e.g. ICMP port unreachable reported on the socket.
                        Err(e) => debug!(error = %e, "UDP receive error"),
                    }
                }
                Some(ev) = events_rx.recv() => core.on_tcp_event(ev),
                Some(r) = reports_rx.recv() => core.on_report(r),
                Some(r) = reloads.recv() => core.reload(r),
                r = tcp.accept() => match r {
                    Ok((stream, peer)) => core.adopt(stream, peer),
                    Err(e) if is_transient_accept_error(&e) => {
                        warn!(error = %e, "TCP accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(source) => return Err(DriverError::Accept { addr: local, source }),
                },
                () = sleep => core.b2b.handle_timeout(Instant::now()),
            }
            core.flush().await;
            core.metrics
                .set_gauges(core.b2b.active_calls(), core.b2b.port_stats());
        }
        let s = core.stats;
        info!(
            started = s.started,
            answered = s.answered,
            ended = s.ended,
            in_progress = core.b2b.call_count(),
            "SIP driver stopped"
        );
        Ok(s)
    }
}

fn is_transient_accept_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
            | io::ErrorKind::WouldBlock
    ) || e.raw_os_error() == Some(24) // EMFILE: wait for descriptors to free up
}

struct Core {
    /// Media settings, when media is anchored.
    media: Option<Arc<MediaSettings>>,
    /// Each call's media task.
    calls: HashMap<CallId, mpsc::UnboundedSender<Control>>,
    /// What each call's events will say.
    records: Calls,
    metrics: Metrics,
    reports_tx: mpsc::UnboundedSender<Report>,
    b2b: B2bua,
    udp: UdpSocket,
    conns: HashMap<SocketAddr, Conn>,
    next_conn: u64,
    events_tx: mpsc::UnboundedSender<TcpEvent>,
    stats: Stats,
    connect_timeout: Duration,
    max_message: usize,
}

impl Core {
    /// Feed one message to the core, inside a span naming its Call-ID.
    fn receive(&mut self, from: SocketAddr, transport: Transport, data: &[u8]) {
        self.stats.received += 1;
        self.metrics.sip_message(true, data);
        let span = info_span!("sip", call_id = tracing::field::Empty);
        if !span.is_disabled() {
            if let Some(cid) = call_id_of(data) {
                span.record("call_id", cid);
            }
        }
        let _guard = span.enter();
        self.b2b
            .handle_datagram(Instant::now(), from, transport, data);
    }

    fn on_tcp_event(&mut self, ev: TcpEvent) {
        match ev {
            TcpEvent::Message { peer, data } => self.receive(peer, Transport::Tcp, &data),
            TcpEvent::Closed { peer, id } => {
                if self.conns.get(&peer).is_some_and(|c| c.id == id) {
                    debug!(%peer, "TCP connection closed");
                    self.conns.remove(&peer);
                }
            }
            TcpEvent::SendFailed { key } => self.send_failed(key),
        }
    }

    fn send_failed(&mut self, key: Option<TransactionKey>) {
        self.stats.send_errors += 1;
        if let Some(key) = key {
            self.b2b.handle_transport_error(Instant::now(), &key);
        }
    }

    /// Send every pending transmit (including what a failed send makes
    /// the core send) and drain the call events.
    async fn flush(&mut self) {
        loop {
            let mut any = false;
            while let Some(t) = self.b2b.poll_transmit() {
                any = true;
                self.transmit(t).await;
            }
            // An event may make the core send (a call released).
            while let Some(ev) = self.b2b.poll_event() {
                any = true;
                self.on_call_event(ev);
            }
            if !any {
                break;
            }
        }
    }

    fn on_call_event(&mut self, ev: CallEvent) {
        match ev {
            CallEvent::Started {
                call,
                call_id,
                trunk,
                parties,
                media: ports,
            } => {
                self.stats.started += 1;
                let settings = self.media.clone();
                let spawned = match (ports, settings) {
                    (Some(ports), Some(settings)) => {
                        match media::spawn(call, &call_id, ports, settings, self.reports_tx.clone())
                        {
                            Ok(tx) => {
                                self.calls.insert(call, tx);
                                true
                            }
                            Err((port, e)) => {
                                warn!(port, error = %e, "cannot bind the call's RTP port (retired from the pool): 503");
                                self.b2b.retire_port(port);
                                self.b2b.hangup(
                                    Instant::now(),
                                    call,
                                    StatusCode::SERVICE_UNAVAILABLE,
                                );
                                false
                            }
                        }
                    }
                    _ => false,
                };
                self.records.started(call, call_id, trunk, parties, spawned);
            }
            CallEvent::Media {
                call,
                from_a,
                media,
            } => {
                let side = if from_a { Side::A } else { Side::B };
                self.control(call, Control::Signalled(side, media));
            }
            CallEvent::EarlyMedia { call } => self.control(call, Control::EarlyMedia),
            CallEvent::Ringing { call } => self.records.ringing(call),
            CallEvent::Rejected {
                trunk,
                call_id,
                parties,
                reason,
            } => {
                self.metrics.rejected(reason.as_str());
                self.records.rejected(call_id, trunk, parties);
            }
            CallEvent::Answered { call } => {
                self.stats.answered += 1;
                self.records.answered(call);
                self.control(call, Control::Answered);
            }
            CallEvent::Ended {
                call,
                status,
                cause,
            } => {
                self.stats.ended += 1;
                self.control(call, Control::Stop);
                self.calls.remove(&call);
                self.records.ended(call, status, cause);
            }
        }
    }

    fn reload(&mut self, r: Reload) {
        info!(
            trunks = r.trunks.len(),
            library = r.library.is_some(),
            "configuration reloaded"
        );
        self.b2b.set_trunks(r.trunks);
        self.records.set_trunks(&r.trunk_configs);
        if let (Some(lib), Some(media)) = (r.library, self.media.as_ref()) {
            media.set_library(lib);
        }
    }

    fn control(&mut self, call: CallId, c: Control) {
        if let Some(tx) = self.calls.get(&call) {
            let _ = tx.send(c);
        }
    }

    fn on_report(&mut self, r: Report) {
        match r {
            Report::Timeout(call) => {
                self.b2b
                    .hangup(Instant::now(), call, StatusCode::REQUEST_TIMEOUT);
            }
            Report::Decision(call, d) => {
                debug!(call = call.0, label = %d.label, "decision reported");
                if let Some(on) = self.records.heard(call, d) {
                    self.b2b.set_final_headers(call, on.headers);
                    if let Some(status) = on.release.and_then(StatusCode::new) {
                        info!(call = call.0, status = status.code(), "early release");
                        if let Some(code) = d.code {
                            self.metrics.early_release(code.get());
                        }
                        self.b2b.hangup(Instant::now(), call, status);
                    }
                }
            }
            Report::Done(call, outcome) => {
                let d = outcome.decision;
                info!(
                    call = call.0,
                    code = d.and_then(|d| d.code).map(|c| c.get()),
                    label = d
                        .map(|d| d.label.as_str())
                        .unwrap_or(if outcome.unsupported_codec {
                            "unsupported_codec"
                        } else {
                            "none"
                        }),
                    decided_at_ms = d.and_then(|d| d.at_ms()),
                    early_ms = outcome.early_ms,
                    recording = outcome.recording.as_ref().map(|p| p.display().to_string()),
                    "call media ended"
                );
                self.records.media_done(call, *outcome);
            }
        }
    }

    async fn transmit(&mut self, t: Transmit) {
        self.stats.sent += 1;
        self.metrics.sip_message(false, &t.payload);
        match t.transport {
            Transport::Udp => {
                let r = match self.udp.try_send_to(&t.payload, t.destination) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        self.udp.send_to(&t.payload, t.destination).await
                    }
                    r => r,
                };
                if let Err(e) = r {
                    debug!(destination = %t.destination, error = %e, "UDP send failed");
                    self.send_failed(t.transaction);
                }
            }
            Transport::Tcp => {
                let conn = match self.conns.get(&t.destination) {
                    Some(c) => c,
                    None => {
                        let c = self.connect(t.destination);
                        self.conns.entry(t.destination).or_insert(c)
                    }
                };
                if let Err(mpsc::error::SendError((_, key))) =
                    conn.tx.send((t.payload, t.transaction))
                {
                    self.conns.remove(&t.destination);
                    self.send_failed(key);
                }
            }
            Transport::Tls => {
                debug!(destination = %t.destination, "TLS is not supported");
                self.send_failed(t.transaction);
            }
        }
    }

    /// An accepted connection.
    fn adopt(&mut self, stream: TcpStream, peer: SocketAddr) {
        debug!(%peer, "TCP connection accepted");
        let _ = stream.set_nodelay(true);
        let (tx, rx) = mpsc::unbounded_channel();
        let id = self.next_conn;
        self.next_conn += 1;
        tokio::spawn(connection(
            stream,
            peer,
            id,
            rx,
            self.events_tx.clone(),
            self.max_message,
        ));
        self.conns.insert(peer, Conn { id, tx });
    }

    /// A connection to `peer`, opened in the background; what is sent
    /// before it is up waits in its channel.
    fn connect(&mut self, peer: SocketAddr) -> Conn {
        debug!(%peer, "opening TCP connection");
        let (tx, mut rx) = mpsc::unbounded_channel::<(Bytes, Option<TransactionKey>)>();
        let id = self.next_conn;
        self.next_conn += 1;
        let events = self.events_tx.clone();
        let timeout = self.connect_timeout;
        let max_message = self.max_message;
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, TcpStream::connect(peer)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    connection(stream, peer, id, rx, events, max_message).await;
                }
                r => {
                    let error = match r {
                        Ok(Err(e)) => e.to_string(),
                        _ => "timed out".to_owned(),
                    };
                    debug!(%peer, %error, "TCP connect failed");
                    let _ = events.send(TcpEvent::Closed { peer, id });
                    rx.close();
                    while let Some((_, key)) = rx.recv().await {
                        let _ = events.send(TcpEvent::SendFailed { key });
                    }
                }
            }
        });
        Conn { id, tx }
    }
}

/// Run one connection: a writer fed by `rx` and a reader framing messages.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    id: u64,
    mut rx: mpsc::UnboundedReceiver<(Bytes, Option<TransactionKey>)>,
    events: mpsc::UnboundedSender<TcpEvent>,
    max_message: usize,
) {
    let (mut r, mut w) = stream.into_split();
    let wevents = events.clone();
    let writer = tokio::spawn(async move {
        while let Some((data, key)) = rx.recv().await {
            if let Err(e) = w.write_all(&data).await {
                debug!(%peer, error = %e, "TCP write failed");
                let _ = wevents.send(TcpEvent::SendFailed { key });
                rx.close();
                while let Some((_, key)) = rx.recv().await {
                    let _ = wevents.send(TcpEvent::SendFailed { key });
                }
                break;
            }
        }
        let _ = w.shutdown().await;
    });
    let mut decoder = StreamDecoder::new(max_message);
    let mut buf = vec![0u8; 16 * 1024];
    'read: loop {
        match r.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                decoder.feed(&buf[..n]);
                loop {
                    match decoder.next_message() {
                        Ok(Some(data)) => {
                            if events.send(TcpEvent::Message { peer, data }).is_err() {
                                break 'read;
                            }
                        }
                        Ok(None) => break,
                        Err(e) => {
                            debug!(%peer, error = %e, "TCP framing error: closing");
                            break 'read;
                        }
                    }
                }
            }
            Err(e) => {
                debug!(%peer, error = %e, "TCP read failed");
                break;
            }
        }
    }
    // The core drops its sender on Closed, which ends the writer.
    let _ = events.send(TcpEvent::Closed { peer, id });
    let _ = writer.await;
}

/// The Call-ID header value of a raw message, for the log span.
fn call_id_of(data: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(data.get(..data.len().min(4096))?)
        .or_else(|e| std::str::from_utf8(&data[..e.valid_up_to()]))
        .ok()?;
    for line in text.split("\r\n").skip(1) {
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name.eq_ignore_ascii_case("Call-ID") || name.eq_ignore_ascii_case("i") {
            return Some(value.trim());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_id_extraction() {
        let m = b"INVITE sip:x SIP/2.0\r\nVia: a\r\ni: abc@h \r\n\r\nCall-ID: no";
        assert_eq!(call_id_of(m), Some("abc@h"));
        let m = b"SIP/2.0 200 OK\r\nCALL-ID:  z\r\n\r\n";
        assert_eq!(call_id_of(m), Some("z"));
        assert_eq!(call_id_of(b"garbage"), None);
        assert_eq!(call_id_of(b"X\r\n\r\nCall-ID: body"), None);
    }
}
