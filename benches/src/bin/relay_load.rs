//! `relay_load`: the relay load bench (generator + sink in one process).
//!
//! N concurrent bidirectional G.711 calls (PCMU, 20 ms packets, 50 packets/s each way) through
//! a media relay, every call starting with early media (a library announcement) from the
//! carrier side. It reports loss, one-way latency p50/p99 through the relay, the relay's CPU
//! and its own. Both ends of every call live here, on one address (default 127.0.0.1):
//!
//! * `--mode tonegate`: SIP over UDP. The customer UAC sends INVITE to tonegate (`--sip`);
//!   tonegate's B leg reaches this tool's carrier UAS (`--carrier-sip-port`, tonegate's trunk
//!   target), which answers 183 with SDP, sends early media for `--early-ms`, answers 200,
//!   and then both ends send media until the customer's BYE.
//! * `--mode rtpengine`: the same media through rtpengine, driven over its NG control protocol
//!   (`offer`, `answer`, `delete`) instead of SIP.
//! * `--mode direct`: no relay; the two ends send to each other. The floor of the tool's own
//!   latency and CPU.
//!
//! Load shape (`--concurrent N`, `--rate R`): calls last `N / R` seconds, so that R new calls
//! per second keep N calls up. The first N calls are started faster (`--ramp-rate`) with end
//! times spread at R per second, so steady state is reached in `N / ramp-rate` seconds. The
//! measurement window (`--measure-s`) opens once the ramp's early media is over.
//!
//! Timing: per runtime worker, one sender task holds a shard of the calls and ticks every
//! `--tick-ms`; each tick sends the next packet of the streams in one phase slot (stream id
//! modulo 20 ms / tick), so the packets of N calls are spread over the 20 ms instead of leaving
//! in one burst. Each packet's send instant is kept per stream in a ring indexed by sequence
//! number; the receiving end looks it up with the packet's kernel arrival time
//! (`SO_TIMESTAMPNS`), so the tool's own scheduling delays do not count, and records the
//! one-way latency in a histogram (1 µs buckets below 1 ms, 10 µs below 100 ms, 1 ms below
//! 5 s). A packet counts for loss when it was sent inside the window; it is received when it
//! arrived within `--grace-ms` of its sending.
//!
//! CPU: the relay's (`--relay-pid`) and the tool's from /proc over the window, beside the
//! machine's, the kernel's softirq time and the other processes' (a build beside the bench
//! disturbs the figures, and the summary says so).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, RawFd};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{sleep_until, Instant as TInstant};
use tonegate_classify::Law;

const RELAXED: Ordering = Ordering::Relaxed;

/// G.711 at 8 kHz, 20 ms per packet.
const PAYLOAD: usize = 160;
const RTP_HEADER: usize = 12;
/// Send instants kept per stream: 256 packets = 5.12 s; a packet later than that is lost.
const RING: usize = 256;
/// Shortest answered part of a call when `--concurrent` and `--rate` leave little room.
const MIN_HOLD_S: f64 = 1.0;
/// RFC 3261 T1 and T2.
const T1: Duration = Duration::from_millis(500);
const T2: Duration = Duration::from_secs(4);
/// Pause between stopping a call's media and its BYE (or NG `delete`), so that packets in
/// flight are not lost to the teardown.
const DRAIN: Duration = Duration::from_millis(100);

const UP: usize = 0; // customer -> carrier
const DOWN: usize = 1; // carrier -> customer

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// SIP calls through a running `tonegate run` (B2BUA anchoring the media).
    Tonegate,
    /// Media through rtpengine, set up over its NG protocol.
    Rtpengine,
    /// No relay: the two ends send straight to each other (the tool's own floor).
    Direct,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Tonegate => "tonegate",
            Mode::Rtpengine => "rtpengine",
            Mode::Direct => "direct",
        }
    }
}

/// Relay load bench: concurrent G.711 calls with early media through tonegate or rtpengine.
#[derive(Debug, Parser)]
#[command(name = "relay_load")]
struct Args {
    /// Which relay carries the media.
    #[arg(long, value_enum, required_unless_present = "table")]
    mode: Option<Mode>,
    /// Print the results in FILE (the --json lines of several runs) as a table, and exit.
    #[arg(long, value_name = "FILE")]
    table: Option<PathBuf>,
    /// tonegate's SIP address (mode tonegate).
    #[arg(long, default_value = "127.0.0.1:5070")]
    sip: SocketAddr,
    /// UDP port of this tool's carrier UAS, tonegate's trunk target (mode tonegate).
    #[arg(long, default_value_t = 5080)]
    carrier_sip_port: u16,
    /// rtpengine's NG control address (mode rtpengine).
    #[arg(long, default_value = "127.0.0.1:2223")]
    ng: SocketAddr,
    /// Address of both ends' SIP and RTP sockets.
    #[arg(long, default_value = "127.0.0.1")]
    local_ip: Ipv4Addr,
    /// Calls up at once in steady state (the call length is then N / rate).
    #[arg(long, conflicts_with = "hold_s")]
    concurrent: Option<u32>,
    /// Answered media per call, in seconds (instead of --concurrent: N = rate * (early + hold)).
    #[arg(long)]
    hold_s: Option<f64>,
    /// New calls per second in steady state.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// New calls per second while ramping up to N (end times still spread at --rate).
    #[arg(long, default_value_t = 100.0)]
    ramp_rate: f64,
    /// Early media (carrier to customer, before the 200) per call, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    early_ms: u64,
    /// Early media recording (8 kHz WAV; sent PCMU, looped); default: the library's
    /// 2114-empty-number/cm.wav.
    #[arg(long)]
    early_media: Option<PathBuf>,
    /// Length of the measurement window, in seconds.
    #[arg(long, default_value_t = 20.0)]
    measure_s: f64,
    /// Start at most this many calls in all (default: as many as the window needs).
    #[arg(long)]
    calls: Option<u64>,
    /// Process id of the relay, for its CPU time (/proc/PID/stat).
    #[arg(long)]
    relay_pid: Option<u32>,
    /// Print one JSON line on stdout (the human summary goes to stderr).
    #[arg(long)]
    json: bool,
    /// Worker threads of the tool's runtime, and sender tasks (each sends a shard of the calls).
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Sender timer period in ms (divides 20): streams are spread over 20 / tick phase slots.
    #[arg(long, default_value_t = 2)]
    tick_ms: u64,
    /// A packet sent in the window counts as received when it arrives within this many ms;
    /// later, it counts as lost.
    #[arg(long, default_value_t = 500)]
    grace_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// Load plan

#[derive(Debug)]
struct Plan {
    /// (start, end) of every call in seconds from the run's start; `end` is when its media stops
    /// and the BYE (or NG delete) goes out.
    calls: Vec<(f64, f64)>,
    concurrent: u32,
    rate: f64,
    ramp: f64,
    /// Call length (INVITE to BYE) in steady state.
    duration: f64,
    w0: f64,
    w1: f64,
    notes: Vec<String>,
}

fn plan(a: &Args) -> Result<Plan, String> {
    let early = a.early_ms as f64 / 1000.0;
    if !(a.rate.is_finite() && a.rate > 0.0 && a.measure_s.is_finite() && a.measure_s > 0.0) {
        return Err("--rate and --measure-s must be above 0".into());
    }
    let mut notes = Vec::new();
    let mut rate = a.rate;
    let (n, duration) = match (a.concurrent, a.hold_s) {
        (Some(n), None) => {
            if n == 0 {
                return Err("--concurrent must be above 0".into());
            }
            let mut d = f64::from(n) / rate;
            if d < early + MIN_HOLD_S {
                d = early + MIN_HOLD_S;
                rate = f64::from(n) / d;
                notes.push(format!(
                    "{n} calls of at least {d:.1} s cannot start at {} calls/s: rate lowered to {rate:.1}/s",
                    a.rate
                ));
            }
            (n, d)
        }
        (None, Some(h)) => {
            if !h.is_finite() || h < MIN_HOLD_S {
                return Err(format!("--hold-s must be at least {MIN_HOLD_S}"));
            }
            let d = early + h;
            ((rate * d).round().max(1.0) as u32, d)
        }
        _ => return Err("give --concurrent N or --hold-s SECONDS".into()),
    };
    // Ramp: call k < N starts at k / ramp and ends at ts + k / rate, where ts = N / ramp is when
    // the first steady-state call starts; each ramp call lasts at least N / ramp >= early + 1 s.
    let ramp = a
        .ramp_rate
        .max(rate)
        .min(f64::from(n) / (early + MIN_HOLD_S))
        .max(rate);
    let ts = f64::from(n) / ramp;
    let w0 = ts + early + 0.5;
    let w1 = w0 + a.measure_s;
    let cap = a.calls.unwrap_or(u64::MAX);
    let mut calls = Vec::new();
    for k in 0..n {
        if calls.len() as u64 >= cap {
            break;
        }
        calls.push((f64::from(k) / ramp, ts + f64::from(k) / rate));
    }
    let mut j = 0u64;
    loop {
        let start = ts + j as f64 / rate;
        if start >= w1 || calls.len() as u64 >= cap {
            break;
        }
        calls.push((start, start + duration));
        j += 1;
    }
    if (calls.len() as u64) < u64::from(n) {
        notes.push(format!(
            "--calls {} is below the {n} calls the target concurrency needs",
            calls.len()
        ));
    }
    Ok(Plan {
        calls,
        concurrent: n,
        rate,
        ramp,
        duration,
        w0,
        w1,
        notes,
    })
}

// ---------------------------------------------------------------------------------------------
// Measurement state

/// Send instants of one stream by sequence number: `seq << 48 | early << 47 | ns since start`.
#[derive(Debug)]
struct Ring(Box<[AtomicU64]>);

impl Ring {
    fn new() -> Self {
        Self((0..RING).map(|_| AtomicU64::new(0)).collect())
    }
}

const NS_MASK: u64 = (1 << 47) - 1;
const EARLY_BIT: u64 = 1 << 47;

/// One-way latency histogram: 1 µs buckets below 1 ms, 10 µs buckets below 100 ms, 1 ms
/// buckets below 5 s, one overflow bucket. No allocation per packet.
#[derive(Debug)]
struct Hist(Box<[AtomicU64]>);

const FINE: u64 = 1000;
const MID: u64 = 100_000;
const COARSE_END: u64 = 5_000_000;
const MID_AT: u64 = FINE + (MID - FINE) / 10;
const BUCKETS: usize = (MID_AT + (COARSE_END - MID) / 1000 + 1) as usize;

impl Hist {
    fn new() -> Self {
        Self((0..BUCKETS).map(|_| AtomicU64::new(0)).collect())
    }
    fn record(&self, ns: u64) {
        let us = ns / 1000;
        let i = if us < FINE {
            us
        } else if us < MID {
            FINE + (us - FINE) / 10
        } else if us < COARSE_END {
            MID_AT + (us - MID) / 1000
        } else {
            BUCKETS as u64 - 1
        };
        self.0[i as usize].fetch_add(1, RELAXED);
    }
    fn snapshot(&self) -> Vec<u64> {
        self.0.iter().map(|b| b.load(RELAXED)).collect()
    }
}

/// Middle of bucket `i` in µs (the overflow bucket reads as 5 s).
fn bucket_us(i: usize) -> f64 {
    let i = i as u64;
    if i < FINE {
        i as f64 + 0.5
    } else if i < MID_AT {
        (FINE + (i - FINE) * 10) as f64 + 5.0
    } else if i < BUCKETS as u64 - 1 {
        (MID + (i - MID_AT) * 1000) as f64 + 500.0
    } else {
        COARSE_END as f64
    }
}

fn percentile(counts: &[u64], q: f64) -> Option<f64> {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return None;
    }
    let target = ((q * total as f64).ceil() as u64).max(1);
    let mut acc = 0;
    for (i, c) in counts.iter().enumerate() {
        acc += c;
        if acc >= target {
            return Some(bucket_us(i));
        }
    }
    None
}

#[derive(Debug, Default)]
struct DirStats {
    /// Packets sent inside the window.
    sent: AtomicU64,
    /// Of those, received (once each).
    received: AtomicU64,
}

/// One RTP stream the ticker sends.
#[derive(Debug)]
struct Stream {
    sock: Arc<UdpSocket>,
    dest: Option<SocketAddr>,
    active: bool,
    early: bool,
    first: bool,
    ssrc: u32,
    seq: u16,
    ts: u32,
    pos: usize,
    ring: Arc<Ring>,
    dir: usize,
}

#[derive(Debug, Default)]
struct Streams {
    v: Vec<Option<Stream>>,
    free: Vec<usize>,
}

impl Streams {
    fn add(&mut self, s: Stream) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.v[i] = Some(s);
                i
            }
            None => {
                self.v.push(Some(s));
                self.v.len() - 1
            }
        }
    }
    fn remove(&mut self, i: usize) {
        if self.v[i].take().is_some() {
            self.free.push(i);
        }
    }
}

#[derive(Debug)]
struct Shared {
    base: Instant,
    /// `base` on the realtime clock (ns since the Unix epoch): packet instants are taken on
    /// that clock, the one of the kernel's receive timestamps.
    base_real: u64,
    /// Arrivals timed by the kernel (SO_TIMESTAMPNS) and by the tool after its wake-up.
    kernel_stamps: AtomicU64,
    user_stamps: AtomicU64,
    w0_ns: u64,
    w1_ns: u64,
    hist: Hist,
    dirs: [DirStats; 2],
    early_sent: AtomicU64,
    early_rx: AtomicU64,
    /// Packets whose send record was already consumed or overwritten (duplicates, or later
    /// than the ring).
    stale: AtomicU64,
    /// Datagrams that are not RTP, or RTP with another SSRC than sent.
    foreign: AtomicU64,
    send_errors: AtomicU64,
    /// Packets sent in the window that arrived later than `late_ns` (they count as lost).
    late: AtomicU64,
    late_ns: u64,
    /// Datagrams the kernel dropped at the tool's own full sockets.
    tool_drops: AtomicU64,
    first_send_error: Mutex<Option<String>>,
    sip_failures: AtomicU64,
    failure_reasons: Mutex<BTreeMap<String, u64>>,
    anchored: AtomicU64,
    unanchored: AtomicU64,
    started: AtomicU64,
    answered: AtomicU64,
    completed: AtomicU64,
    in_call: AtomicI64,
    conc_sum: AtomicU64,
    conc_n: AtomicU64,
    /// The streams, in shards of their own lock and sender task (calls by index modulo).
    streams: Vec<Mutex<Streams>>,
    /// PCMU bytes of the early-media recording, with its first packet appended so that any
    /// packet-aligned position can be sliced without wrapping.
    pcmu: Vec<u8>,
    pcmu_len: usize,
    slots: usize,
}

impl Shared {
    /// Nanoseconds since the run's start, never 0.
    fn now_ns(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64 + 1
    }
    /// A packet's instant: realtime ns since `base`, never 0.
    fn pkt_ns(&self) -> u64 {
        unix_ns().saturating_sub(self.base_real) + 1
    }
    fn in_window(&self, ns: u64) -> bool {
        ns >= self.w0_ns && ns < self.w1_ns
    }
    fn at(&self, s: f64) -> TInstant {
        TInstant::from_std(self.base + Duration::from_secs_f64(s.max(0.0)))
    }
    fn fail(&self, reason: impl Into<String>) {
        self.sip_failures.fetch_add(1, RELAXED);
        *self
            .failure_reasons
            .lock()
            .unwrap()
            .entry(reason.into())
            .or_default() += 1;
    }
}

// ---------------------------------------------------------------------------------------------
// RTP: the ticker sends, one task per socket receives

/// Sends the packets of one shard of the streams.
async fn ticker(sh: Arc<Shared>, shard: usize, tick: Duration, mut stop: watch::Receiver<bool>) {
    let mut iv = tokio::time::interval(tick);
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut k = 0usize;
    let mut pkt = [0u8; RTP_HEADER + PAYLOAD];
    loop {
        tokio::select! {
            _ = iv.tick() => {}
            _ = stop.changed() => return,
        }
        let slot = k % sh.slots;
        k += 1;
        {
            let mut st = sh.streams[shard].lock().unwrap();
            let mut id = slot;
            while id < st.v.len() {
                if let Some(s) = st.v[id].as_mut() {
                    if s.active {
                        send_one(&sh, s, &mut pkt);
                    }
                }
                id += sh.slots;
            }
        }
        if slot == 0 && shard == 0 {
            let now = sh.now_ns();
            if sh.in_window(now) {
                let c = sh.in_call.load(RELAXED).max(0) as u64;
                sh.conc_sum.fetch_add(c, RELAXED);
                sh.conc_n.fetch_add(1, RELAXED);
            }
        }
    }
}

fn send_one(sh: &Shared, s: &mut Stream, pkt: &mut [u8; RTP_HEADER + PAYLOAD]) {
    let Some(dest) = s.dest else { return };
    pkt[0] = 0x80;
    pkt[1] = if s.first { 0x80 } else { 0 }; // marker on the first packet, PT 0 (PCMU)
    pkt[2..4].copy_from_slice(&s.seq.to_be_bytes());
    pkt[4..8].copy_from_slice(&s.ts.to_be_bytes());
    pkt[8..12].copy_from_slice(&s.ssrc.to_be_bytes());
    pkt[RTP_HEADER..].copy_from_slice(&sh.pcmu[s.pos..s.pos + PAYLOAD]);
    let now = sh.pkt_ns();
    let slot = &s.ring.0[usize::from(s.seq) % RING];
    let early = if s.early { EARLY_BIT } else { 0 };
    slot.store(
        (u64::from(s.seq) << 48) | early | (now & NS_MASK),
        Ordering::Release,
    );
    // sendto(2) on the socket itself: tokio's try_send_to answers WouldBlock until its I/O
    // driver has seen the new socket writable, which would lose a stream's first packets.
    let to = nix::sys::socket::SockaddrStorage::from(dest);
    let flags = nix::sys::socket::MsgFlags::MSG_DONTWAIT;
    match nix::sys::socket::sendto(s.sock.as_raw_fd(), &pkt[..], &to, flags) {
        Ok(_) => {
            if sh.in_window(now) {
                sh.dirs[s.dir].sent.fetch_add(1, RELAXED);
            }
            if s.early {
                sh.early_sent.fetch_add(1, RELAXED);
            }
        }
        Err(e) => {
            slot.store(0, RELAXED);
            if sh.send_errors.fetch_add(1, RELAXED) == 0 {
                *sh.first_send_error.lock().unwrap() = Some(e.to_string());
            }
        }
    }
    s.first = false;
    s.seq = s.seq.wrapping_add(1);
    s.ts = s.ts.wrapping_add(PAYLOAD as u32);
    s.pos += PAYLOAD;
    if s.pos >= sh.pcmu_len {
        s.pos = 0;
    }
}

/// One datagram, its kernel receive timestamp (realtime ns; SO_TIMESTAMPNS) and the socket's
/// count of datagrams dropped for a full receive buffer (SO_RXQ_OVFL), when the kernel gives
/// them.
fn recv_stamped(
    fd: RawFd,
    buf: &mut [u8],
    cmsg: &mut [u8],
) -> io::Result<(usize, Option<u64>, Option<u32>)> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut iov = [io::IoSliceMut::new(buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(cmsg), MsgFlags::empty())?;
    let (mut stamp, mut ovfl) = (None, None);
    if let Ok(cmsgs) = msg.cmsgs() {
        for c in cmsgs {
            match c {
                ControlMessageOwned::ScmTimestampns(t) => {
                    stamp = Some(t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
                }
                ControlMessageOwned::RxqOvfl(n) => ovfl = Some(n),
                _ => {}
            }
        }
    }
    Ok((msg.bytes, stamp, ovfl))
}

fn cmsg_buffer() -> Vec<u8> {
    nix::cmsg_space!(nix::sys::time::TimeSpec, u32)
}

/// The receiving side of one RTP socket: what the other end of the call sent.
#[derive(Debug)]
struct RxEnd {
    sock: Arc<UdpSocket>,
    /// The sender's send instants.
    ring: Arc<Ring>,
    dir: usize,
    ssrc: u32,
    /// Datagrams the kernel dropped at this socket (its receive buffer was full: the tool did
    /// not read in time).
    overflow: AtomicU64,
}

impl RxEnd {
    fn new(sock: Arc<UdpSocket>, ring: Arc<Ring>, dir: usize, ssrc: u32) -> Self {
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(&*sock, sockopt::ReceiveTimestampns, &true);
        let _ = setsockopt(&*sock, sockopt::RxqOvfl, &1);
        Self {
            sock,
            ring,
            dir,
            ssrc,
            overflow: AtomicU64::new(0),
        }
    }

    /// Accounts one datagram that arrived at `stamp` (kernel time) or now.
    fn on_datagram(&self, sh: &Shared, buf: &[u8], stamp: Option<u64>, ovfl: Option<u32>) {
        let now = match stamp {
            Some(t) => {
                sh.kernel_stamps.fetch_add(1, RELAXED);
                t.saturating_sub(sh.base_real) + 1
            }
            None => {
                sh.user_stamps.fetch_add(1, RELAXED);
                sh.pkt_ns()
            }
        };
        if let Some(o) = ovfl {
            self.overflow.fetch_max(u64::from(o), RELAXED);
        }
        if buf.len() < RTP_HEADER || buf[0] >> 6 != 2 {
            sh.foreign.fetch_add(1, RELAXED);
            return;
        }
        if (72..=76).contains(&(buf[1] & 0x7f)) {
            return; // RTCP
        }
        if u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]) != self.ssrc {
            sh.foreign.fetch_add(1, RELAXED);
            return;
        }
        let seq = u16::from_be_bytes([buf[2], buf[3]]);
        let slot = &self.ring.0[usize::from(seq) % RING];
        let entry = slot.load(Ordering::Acquire);
        if entry == 0
            || (entry >> 48) as u16 != seq
            || slot.compare_exchange(entry, 0, RELAXED, RELAXED).is_err()
        {
            sh.stale.fetch_add(1, RELAXED);
            return;
        }
        let sent = entry & NS_MASK;
        if entry & EARLY_BIT != 0 {
            sh.early_rx.fetch_add(1, RELAXED);
        }
        if sh.in_window(sent) {
            let latency = now.saturating_sub(sent);
            sh.hist.record(latency);
            if latency <= sh.late_ns {
                sh.dirs[self.dir].received.fetch_add(1, RELAXED);
            } else {
                sh.late.fetch_add(1, RELAXED);
            }
        }
    }

    /// Reads what is queued without waiting (before the socket is closed, so that a packet the
    /// kernel received in time is never lost because the tool had not read it yet).
    fn drain(&self, sh: &Shared) {
        let (mut buf, mut cmsg) = ([0u8; 2048], cmsg_buffer());
        while let Ok((n, stamp, ovfl)) = recv_stamped(self.sock.as_raw_fd(), &mut buf, &mut cmsg) {
            self.on_datagram(sh, &buf[..n], stamp, ovfl);
        }
        sh.tool_drops
            .fetch_add(self.overflow.swap(0, RELAXED), RELAXED);
    }
}

async fn rtp_rx(sh: Arc<Shared>, end: Arc<RxEnd>) {
    let fd = end.sock.as_raw_fd();
    let mut buf = [0u8; 2048];
    let mut cmsg = cmsg_buffer();
    loop {
        let r = end
            .sock
            .async_io(tokio::io::Interest::READABLE, || {
                recv_stamped(fd, &mut buf, &mut cmsg)
            })
            .await;
        match r {
            Ok((n, stamp, ovfl)) => end.on_datagram(&sh, &buf[..n], stamp, ovfl),
            Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// A call's two RTP endpoints: `a` is the customer's, `b` the carrier's.
#[derive(Debug)]
struct Media {
    sh: Arc<Shared>,
    a_port: u16,
    b_port: u16,
    a_addr: SocketAddr,
    b_addr: SocketAddr,
    a_id: Option<usize>,
    b_id: Option<usize>,
    shard: usize,
    ends: [Arc<RxEnd>; 2],
    rx: [JoinHandle<()>; 2],
}

#[derive(Debug, Clone, Copy)]
enum Side {
    Customer,
    Carrier,
}

impl Media {
    async fn new(sh: &Arc<Shared>, ip: Ipv4Addr, idx: u64) -> io::Result<Self> {
        let a = Arc::new(UdpSocket::bind((ip, 0)).await?);
        let b = Arc::new(UdpSocket::bind((ip, 0)).await?);
        let (a_addr, b_addr) = (a.local_addr()?, b.local_addr()?);
        let (ra, rb) = (Arc::new(Ring::new()), Arc::new(Ring::new()));
        let ssrc_a = 0x1000_0000u32.wrapping_add((idx as u32).wrapping_mul(2));
        let ssrc_b = ssrc_a.wrapping_add(1);
        let stream = |sock: &Arc<UdpSocket>, ring: &Arc<Ring>, dir, ssrc, pos| Stream {
            sock: sock.clone(),
            dest: None,
            active: false,
            early: false,
            first: true,
            ssrc,
            seq: (idx as u16).wrapping_mul(7919),
            ts: ssrc.wrapping_mul(2_654_435_761),
            pos,
            ring: ring.clone(),
            dir,
        };
        let mid = (sh.pcmu_len / 2) / PAYLOAD * PAYLOAD;
        let shard = idx as usize % sh.streams.len();
        let (a_id, b_id) = {
            let mut st = sh.streams[shard].lock().unwrap();
            (
                st.add(stream(&a, &ra, UP, ssrc_a, mid)),
                st.add(stream(&b, &rb, DOWN, ssrc_b, 0)),
            )
        };
        let ends = [
            Arc::new(RxEnd::new(a, rb, DOWN, ssrc_b)),
            Arc::new(RxEnd::new(b, ra, UP, ssrc_a)),
        ];
        let rx = ends
            .clone()
            .map(|end| tokio::spawn(rtp_rx(sh.clone(), end)));
        Ok(Self {
            sh: sh.clone(),
            a_port: a_addr.port(),
            b_port: b_addr.port(),
            a_addr,
            b_addr,
            a_id: Some(a_id),
            b_id: Some(b_id),
            shard,
            ends,
            rx,
        })
    }

    fn id(&self, side: Side) -> Option<usize> {
        match side {
            Side::Customer => self.a_id,
            Side::Carrier => self.b_id,
        }
    }

    fn start(&self, side: Side, dest: SocketAddr, early: bool) {
        if let Some(id) = self.id(side) {
            if let Some(s) = self.sh.streams[self.shard].lock().unwrap().v[id].as_mut() {
                s.dest = Some(dest);
                s.active = true;
                s.early = early;
            }
        }
    }

    fn end_early(&self) {
        if let Some(id) = self.b_id {
            if let Some(s) = self.sh.streams[self.shard].lock().unwrap().v[id].as_mut() {
                s.early = false;
            }
        }
    }

    fn stop(&mut self) {
        let mut st = self.sh.streams[self.shard].lock().unwrap();
        for id in [self.a_id.take(), self.b_id.take()].into_iter().flatten() {
            st.remove(id);
        }
    }
}

impl Drop for Media {
    fn drop(&mut self) {
        self.stop();
        for h in &self.rx {
            h.abort();
        }
        for end in &self.ends {
            end.drain(&self.sh);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// SDP

fn sdp(ip: Ipv4Addr, port: u16, id: u64) -> String {
    format!(
        "v=0\r\no=relay-load {id} 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n\
         m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n\
         a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"
    )
}

/// The audio stream's address: its `m=audio` port and the `c=` that applies to it.
fn sdp_audio(body: &str) -> Option<SocketAddr> {
    let mut session_c = None;
    let mut media_c = None;
    let mut port = None;
    let mut in_audio = false;
    let mut seen_m = false;
    for line in body.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("m=") {
            if port.is_some() {
                break;
            }
            seen_m = true;
            in_audio = rest.starts_with("audio ");
            if in_audio {
                port = rest.split_whitespace().nth(1)?.parse::<u16>().ok();
            }
        } else if let Some(rest) = line.strip_prefix("c=") {
            let ip = rest
                .split_whitespace()
                .nth(2)?
                .split('/')
                .next()?
                .parse()
                .ok();
            if !seen_m {
                session_c = ip;
            } else if in_audio {
                media_c = ip;
            }
        }
    }
    let ip: std::net::IpAddr = media_c.or(session_c)?;
    Some(SocketAddr::new(ip, port?))
}

// ---------------------------------------------------------------------------------------------
// SIP (UDP, RFC 3261): just what a UAC and a UAS of this flow need

#[derive(Debug, Clone)]
struct Sip {
    first: String,
    /// (lower-case full name, value) in order.
    headers: Vec<(String, String)>,
    body: String,
}

impl Sip {
    fn parse(b: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(b).ok()?;
        let (head, body) = match text.find("\r\n\r\n") {
            Some(i) => (&text[..i], &text[i + 4..]),
            None => match text.find("\n\n") {
                Some(i) => (&text[..i], &text[i + 2..]),
                None => (text, ""),
            },
        };
        let mut lines = head.lines();
        let first = lines.next()?.trim().to_owned();
        let mut headers: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with([' ', '\t']) {
                let (_, v) = headers.last_mut()?;
                v.push(' ');
                v.push_str(line.trim());
                continue;
            }
            let (name, value) = line.split_once(':')?;
            let name = name.trim().to_ascii_lowercase();
            let name = match name.as_str() {
                "i" => "call-id",
                "f" => "from",
                "t" => "to",
                "v" => "via",
                "m" => "contact",
                "l" => "content-length",
                "c" => "content-type",
                "k" => "supported",
                _ => name.as_str(),
            }
            .to_owned();
            headers.push((name, value.trim().to_owned()));
        }
        let mut body = body.to_owned();
        if let Some(len) = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse::<usize>().ok())
        {
            if len <= body.len() && body.is_char_boundary(len) {
                body.truncate(len);
            }
        }
        if !first.starts_with("SIP/2.0 ") && first.split_whitespace().count() != 3 {
            return None;
        }
        Some(Self {
            first,
            headers,
            body,
        })
    }
    fn is_request(&self) -> bool {
        !self.first.starts_with("SIP/2.0 ")
    }
    fn method(&self) -> &str {
        self.first.split_whitespace().next().unwrap_or("")
    }
    fn uri(&self) -> &str {
        self.first.split_whitespace().nth(1).unwrap_or("")
    }
    fn status(&self) -> u16 {
        self.first
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0)
    }
    fn h(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    fn cseq(&self) -> (u32, &str) {
        let v = self.h("cseq").unwrap_or("");
        let mut it = v.split_whitespace();
        let n = it.next().and_then(|n| n.parse().ok()).unwrap_or(0);
        (n, it.next().unwrap_or(""))
    }
    fn top_branch(&self) -> &str {
        let via = self.h("via").unwrap_or("");
        let via = via.split(',').next().unwrap_or("");
        param(via, "branch").unwrap_or("")
    }
}

/// A header parameter outside the `<...>` part (`tag`, `branch`).
fn param<'a>(v: &'a str, name: &str) -> Option<&'a str> {
    let tail = match v.rfind('>') {
        Some(i) => &v[i + 1..],
        None => v,
    };
    tail.split(';').skip(1).find_map(|p| {
        let (k, val) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| val.trim().trim_end_matches(',').trim())
    })
}

/// The comma-separated values of a header (commas inside `<...>` or quotes do not split).
fn split_values(v: &str) -> Vec<&str> {
    let (mut out, mut start, mut angle, mut quote) = (Vec::new(), 0, false, false);
    for (i, c) in v.char_indices() {
        match c {
            '"' => quote = !quote,
            '<' if !quote => angle = true,
            '>' if !quote => angle = false,
            ',' if !quote && !angle => {
                out.push(v[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(v[start..].trim());
    out.retain(|x| !x.is_empty());
    out
}

/// The URI of a name-addr (`"x" <sip:..>;tag=..`) or addr-spec.
fn uri_of(v: &str) -> &str {
    match (v.find('<'), v.find('>')) {
        (Some(a), Some(b)) if a < b => &v[a + 1..b],
        _ => v.split(';').next().unwrap_or(v).trim(),
    }
}

fn uri_user(uri: &str) -> Option<&str> {
    let rest = uri
        .strip_prefix("sip:")
        .or_else(|| uri.strip_prefix("sips:"))?;
    let (user, _) = rest.split_once('@')?;
    Some(user.split(';').next().unwrap_or(user))
}

/// host:port of a `sip:` URI with an IP host (port 5060 by default).
fn uri_addr(uri: &str) -> Option<SocketAddr> {
    let rest = uri.strip_prefix("sip:")?;
    let hostport = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let hostport = hostport.split([';', '?']).next()?;
    if let Ok(a) = hostport.parse::<SocketAddr>() {
        return Some(a);
    }
    let ip: std::net::IpAddr = hostport.trim_matches(['[', ']']).parse().ok()?;
    Some(SocketAddr::new(ip, 5060))
}

/// A response to `req`, copying Via, From, To (with `to_tag` added when it has none), Call-ID
/// and CSeq (RFC 3261 §8.2.6.2).
fn response(
    req: &Sip,
    code: u16,
    reason: &str,
    to_tag: Option<&str>,
    contact: Option<SocketAddr>,
    body: Option<&str>,
) -> String {
    let mut m = format!("SIP/2.0 {code} {reason}\r\n");
    for via in req.all("via") {
        m.push_str(&format!("Via: {via}\r\n"));
    }
    for name in ["from", "to", "call-id", "cseq"] {
        let v = req.h(name).unwrap_or("");
        let label = match name {
            "from" => "From",
            "to" => "To",
            "call-id" => "Call-ID",
            _ => "CSeq",
        };
        match (name, to_tag) {
            ("to", Some(tag)) if param(v, "tag").is_none() => {
                m.push_str(&format!("To: {v};tag={tag}\r\n"))
            }
            _ => m.push_str(&format!("{label}: {v}\r\n")),
        }
    }
    if let Some(c) = contact {
        m.push_str(&format!("Contact: <sip:carrier@{c}>\r\n"));
    }
    match body {
        Some(b) => m.push_str(&format!(
            "Content-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        )),
        None => m.push_str("Content-Length: 0\r\n\r\n"),
    }
    m
}

fn unix_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn token() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    static SEED: OnceLock<u64> = OnceLock::new();
    let seed = *SEED.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()) << 32
    });
    // splitmix64
    let mut z = seed.wrapping_add(N.fetch_add(1, RELAXED).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    format!("{:016x}", z ^ (z >> 31))
}

#[derive(Debug)]
enum Ev {
    /// A message on the customer (UAC) socket.
    Uac(Sip),
    /// A message on the carrier (UAS) socket, and where it came from.
    Uas(Sip, SocketAddr),
}

#[derive(Debug)]
struct Ctx {
    sh: Arc<Shared>,
    mode: Mode,
    ip: Ipv4Addr,
    sip: SocketAddr,
    uac: Option<Arc<UdpSocket>>,
    uas: Option<Arc<UdpSocket>>,
    calls: Mutex<HashMap<u64, mpsc::UnboundedSender<Ev>>>,
    ng: Option<Arc<Ng>>,
    early: Duration,
    run: String,
}

impl Ctx {
    fn uac_addr(&self) -> SocketAddr {
        self.uac.as_ref().and_then(|s| s.local_addr().ok()).unwrap()
    }
    fn uas_addr(&self) -> SocketAddr {
        self.uas.as_ref().and_then(|s| s.local_addr().ok()).unwrap()
    }
    fn call_id(&self, idx: u64) -> String {
        format!("lb{idx}-{}@{}", self.run, self.ip)
    }
    async fn send_uac(&self, m: &str, to: SocketAddr) {
        if let Some(s) = &self.uac {
            let _ = s.send_to(m.as_bytes(), to).await;
        }
    }
    async fn send_uas(&self, m: &str, to: SocketAddr) {
        if let Some(s) = &self.uas {
            let _ = s.send_to(m.as_bytes(), to).await;
        }
    }
}

/// Reads the customer socket and hands each message to its call (by our Call-ID).
async fn uac_reader(ctx: Arc<Ctx>) {
    let sock = ctx.uac.clone().unwrap();
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some(m) = Sip::parse(&buf[..n]) else {
            continue;
        };
        let idx = m
            .h("call-id")
            .and_then(|c| c.strip_prefix("lb"))
            .and_then(|c| c.split('-').next())
            .and_then(|c| c.parse::<u64>().ok());
        let tx = idx.and_then(|i| ctx.calls.lock().unwrap().get(&i).cloned());
        match tx {
            Some(tx) => {
                let _ = tx.send(Ev::Uac(m));
            }
            None if m.is_request() && m.method() != "ACK" => {
                let r = response(&m, 481, "Call/Transaction Does Not Exist", None, None, None);
                let _ = sock.send_to(r.as_bytes(), src).await;
            }
            None => {}
        }
    }
}

/// Reads the carrier socket: a new INVITE names its call in the Request-URI user
/// (`load-IDX`, copied by the B2BUA); later messages follow the B leg's Call-ID.
async fn uas_reader(ctx: Arc<Ctx>) {
    let sock = ctx.uas.clone().unwrap();
    let mut buf = vec![0u8; 65535];
    let mut legs: HashMap<String, u64> = HashMap::new();
    loop {
        let Ok((n, src)) = sock.recv_from(&mut buf).await else {
            continue;
        };
        let Some(m) = Sip::parse(&buf[..n]) else {
            continue;
        };
        if !m.is_request() {
            continue; // the UAS sends no requests
        }
        let cid = m.h("call-id").unwrap_or("").to_owned();
        let idx = legs.get(&cid).copied().or_else(|| {
            if m.method() != "INVITE" {
                return None;
            }
            let user = uri_user(m.uri()).or_else(|| m.h("to").and_then(|t| uri_user(uri_of(t))))?;
            let i = user.strip_prefix("load-")?.parse().ok()?;
            legs.insert(cid.clone(), i);
            Some(i)
        });
        let tx = idx.and_then(|i| ctx.calls.lock().unwrap().get(&i).cloned());
        let reply = match tx {
            Some(tx) => {
                let _ = tx.send(Ev::Uas(m, src));
                continue;
            }
            None => match m.method() {
                "ACK" => continue,
                "OPTIONS" => response(&m, 200, "OK", Some(&token()), None, None),
                "INVITE" if idx.is_none() => {
                    response(&m, 404, "Not Found", Some(&token()), None, None)
                }
                _ => response(&m, 481, "Call/Transaction Does Not Exist", None, None, None),
            },
        };
        let _ = sock.send_to(reply.as_bytes(), src).await;
    }
}

/// A retransmission timer: next instant and interval.
#[derive(Debug, Clone, Copy)]
struct Retx {
    at: TInstant,
    every: Duration,
    until: TInstant,
}

impl Retx {
    fn new(now: TInstant, first: Duration, life: Duration) -> Self {
        Self {
            at: now + first,
            every: first,
            until: now + life,
        }
    }
    fn bump(&mut self, now: TInstant, cap: Duration) {
        self.every = (self.every * 2).min(cap);
        self.at = now + self.every;
    }
}

fn earliest(ts: &[Option<TInstant>]) -> TInstant {
    ts.iter()
        .flatten()
        .copied()
        .min()
        .unwrap_or_else(|| TInstant::now() + Duration::from_secs(3600))
}

#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Phase {
    Setup,
    Confirmed,
    Draining,
    Bye,
    Done,
}

/// The two media sockets of call `idx`; a failure is counted.
async fn open_media(ctx: &Ctx, idx: u64) -> Option<Media> {
    match Media::new(&ctx.sh, ctx.ip, idx).await {
        Ok(m) => Some(m),
        Err(e) => {
            ctx.sh.fail(format!("bind rtp: {e}"));
            None
        }
    }
}

/// One call through tonegate: the customer UAC and the carrier UAS, driven by events from both
/// SIP sockets and by timers.
async fn call_tonegate(
    ctx: Arc<Ctx>,
    idx: u64,
    mut end_at: TInstant,
    mut stop: watch::Receiver<bool>,
) {
    let sh = ctx.sh.clone();
    let Some(mut media) = open_media(&ctx, idx).await else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel();
    ctx.calls.lock().unwrap().insert(idx, tx);
    let uac_addr = ctx.uac_addr();
    let uas_addr = ctx.uas_addr();
    let call_id = ctx.call_id(idx);
    let from = format!("<sip:caller-{idx}@{}>;tag={}", ctx.ip, token());
    let ruri = format!("sip:load-{idx}@{}", ctx.sip);
    let inv_branch = format!("z9hG4bK{}", token());
    let offer = sdp(ctx.ip, media.a_port, idx);
    let invite = format!(
        "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch={inv_branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: {from}\r\nTo: <{ruri}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 INVITE\r\nContact: <sip:caller-{idx}@{uac_addr}>\r\n\
         Allow: INVITE, ACK, BYE, CANCEL, OPTIONS\r\nContent-Type: application/sdp\r\n\
         Content-Length: {}\r\n\r\n{offer}",
        offer.len()
    );
    sh.in_call.fetch_add(1, RELAXED);
    let mut in_call = true;
    ctx.send_uac(&invite, ctx.sip).await;
    let start = TInstant::now();

    let mut phase = Phase::Setup;
    let setup_deadline = start + ctx.early + Duration::from_secs(10);
    let mut inv_retx = Some(Retx::new(start, T1, 64 * T1));
    // customer side
    let mut gw_a: Option<SocketAddr> = None;
    let mut ack: Option<(String, SocketAddr)> = None;
    // To, remote target URI, where to send, Route header lines
    let mut dialog: Option<(String, String, SocketAddr, String)> = None;
    let mut bye: Option<(String, SocketAddr)> = None;
    let mut bye_retx: Option<Retx> = None;
    let mut drain_until: Option<TInstant> = None;
    let mut bye_done = false;
    // carrier side
    let mut b_invite: Option<(Sip, SocketAddr)> = None;
    let b_tag = token();
    let mut b_last: Option<String> = None;
    let mut answer_at: Option<TInstant> = None;
    let mut ok_retx: Option<Retx> = None;
    let mut b_bye_seen = false;
    let mut anchor_checked = false;
    let mut linger: Option<TInstant> = None;
    let mut stopping = false;

    loop {
        let next = earliest(&[
            (phase == Phase::Setup).then_some(setup_deadline),
            inv_retx.map(|r| r.at),
            answer_at,
            ok_retx.map(|r| r.at),
            (phase == Phase::Confirmed).then_some(end_at),
            drain_until,
            bye_retx.map(|r| r.at.min(r.until)),
            linger,
        ]);
        tokio::select! {
            ev = rx.recv() => match ev {
                None => break,
                Some(Ev::Uac(m)) if !m.is_request() => {
                    let code = m.status();
                    let (_, method) = m.cseq();
                    if method == "INVITE" {
                        inv_retx = None;
                        if gw_a.is_none() && (code == 183 || code == 200) {
                            if let Some(a) = sdp_audio(&m.body) {
                                gw_a = Some(a);
                                check_anchor(&sh, a, media.b_port, &mut anchor_checked);
                            }
                        }
                        if (200..300).contains(&code) {
                            if let Some((a, dest)) = &ack {
                                ctx.send_uac(a, *dest).await; // 2xx retransmitted: ACK again
                            } else if phase == Phase::Setup {
                                let to = m.h("to").unwrap_or("").to_owned();
                                let target = m.h("contact").map(|c| uri_of(c).to_owned()).unwrap_or_else(|| ruri.clone());
                                // route set: the Record-Route in reverse (RFC 3261 §12.1.2), loose
                                // routing: the requests go to the first route
                                let route: Vec<&str> = m.all("record-route").flat_map(split_values).collect();
                                let routes: String = route.iter().rev().map(|r| format!("Route: {r}\r\n")).collect();
                                let dest = route.last().and_then(|r| uri_addr(uri_of(r)))
                                    .or_else(|| uri_addr(&target)).unwrap_or(ctx.sip);
                                let a = format!(
                                    "ACK {target} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch=z9hG4bK{};rport\r\n\
                                     {routes}Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                                     CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n", token());
                                ctx.send_uac(&a, dest).await;
                                ack = Some((a, dest));
                                dialog = Some((to, target, dest, routes));
                                match gw_a {
                                    Some(gw) => {
                                        media.start(Side::Customer, gw, false);
                                        sh.answered.fetch_add(1, RELAXED);
                                        phase = Phase::Confirmed;
                                    }
                                    None => {
                                        sh.fail("200 without SDP");
                                        phase = Phase::Confirmed;
                                        end_at = TInstant::now();
                                    }
                                }
                            }
                        } else if code >= 300 {
                            // ACK for a non-2xx final: same branch, hop by hop (RFC 3261 §17.1.1.3)
                            let to = m.h("to").unwrap_or("");
                            let a = format!(
                                "ACK {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch={inv_branch};rport\r\n\
                                 Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                                 CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n");
                            ctx.send_uac(&a, ctx.sip).await;
                            if phase == Phase::Setup {
                                sh.fail(format!("INVITE answered {code}"));
                                media.stop();
                                phase = Phase::Done;
                                linger = Some(TInstant::now() + Duration::from_millis(500));
                            }
                        }
                    } else if method == "BYE" && code >= 200 && !bye_done {
                        bye_done = true;
                        bye_retx = None;
                        if code >= 300 {
                            sh.fail(format!("BYE answered {code}"));
                        }
                    }
                }
                Some(Ev::Uac(m)) => {
                    // a request from tonegate in the customer's dialog
                    match m.method() {
                        "ACK" => {}
                        "BYE" => {
                            let r = response(&m, 200, "OK", None, None, None);
                            ctx.send_uac(&r, ctx.sip).await;
                            if matches!(phase, Phase::Setup | Phase::Confirmed) {
                                sh.fail("BYE from the relay");
                                media.stop();
                                phase = Phase::Done;
                                bye_done = true;
                                linger = Some(TInstant::now() + Duration::from_millis(500));
                            }
                        }
                        _ => {
                            let r = response(&m, 501, "Not Implemented", None, None, None);
                            ctx.send_uac(&r, ctx.sip).await;
                        }
                    }
                }
                Some(Ev::Uas(m, src)) => match m.method() {
                    "INVITE" => match &b_invite {
                        None => {
                            let Some(gw_b) = sdp_audio(&m.body) else {
                                let r = response(&m, 488, "Not Acceptable Here", Some(&b_tag), None, None);
                                ctx.send_uas(&r, src).await;
                                continue;
                            };
                            check_anchor(&sh, gw_b, media.a_port, &mut anchor_checked);
                            let answer = sdp(ctx.ip, media.b_port, idx);
                            let r = response(&m, 183, "Session Progress", Some(&b_tag), Some(uas_addr), Some(&answer));
                            ctx.send_uas(&r, src).await;
                            media.start(Side::Carrier, gw_b, true);
                            b_last = Some(r);
                            answer_at = Some(TInstant::now() + ctx.early);
                            b_invite = Some((m, src));
                        }
                        Some((first, _)) if first.top_branch() == m.top_branch() => {
                            if let Some(r) = &b_last {
                                ctx.send_uas(r, src).await; // retransmission: same answer
                            }
                        }
                        Some(_) => {
                            let r = response(&m, 488, "Not Acceptable Here", None, None, None);
                            ctx.send_uas(&r, src).await; // a re-INVITE: not in this bench
                        }
                    },
                    "ACK" => ok_retx = None,
                    "BYE" => {
                        let r = response(&m, 200, "OK", None, None, None);
                        ctx.send_uas(&r, src).await;
                        if !b_bye_seen {
                            b_bye_seen = true;
                            if !matches!(phase, Phase::Draining | Phase::Bye | Phase::Done) {
                                sh.fail("carrier got BYE before the customer hung up");
                                media.stop();
                                phase = Phase::Done;
                                bye_done = true;
                                linger = Some(TInstant::now() + Duration::from_millis(500));
                            }
                        }
                    }
                    "CANCEL" => {
                        let r = response(&m, 200, "OK", None, None, None);
                        ctx.send_uas(&r, src).await;
                        if let Some((inv, isrc)) = &b_invite {
                            if answer_at.is_some() {
                                let r = response(inv, 487, "Request Terminated", Some(&b_tag), None, None);
                                ctx.send_uas(&r, *isrc).await;
                                answer_at = None;
                                b_last = Some(r);
                            }
                        }
                    }
                    _ => {
                        let r = response(&m, 501, "Not Implemented", None, None, None);
                        ctx.send_uas(&r, src).await;
                    }
                },
            },
            _ = sleep_until(next) => {}
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    // hang up now, spread over a second or more so the teardown is no burst
                    let spread = Duration::from_millis((idx % 1000) * 2);
                    end_at = end_at.min(TInstant::now() + spread);
                }
            }
        }

        let now = TInstant::now();
        if let Some(r) = inv_retx.as_mut() {
            if now >= r.until {
                inv_retx = None;
            } else if now >= r.at {
                ctx.send_uac(&invite, ctx.sip).await;
                r.bump(now, Duration::from_secs(3600)); // Timer A doubles without a cap
            }
        }
        if let Some(t) = answer_at {
            if now >= t {
                answer_at = None;
                if let Some((inv, src)) = &b_invite {
                    let answer = sdp(ctx.ip, media.b_port, idx);
                    let r = response(inv, 200, "OK", Some(&b_tag), Some(uas_addr), Some(&answer));
                    ctx.send_uas(&r, *src).await;
                    media.end_early();
                    b_last = Some(r);
                    ok_retx = Some(Retx::new(now, T1, 64 * T1));
                }
            }
        }
        if let Some(r) = ok_retx.as_mut() {
            if now >= r.until {
                ok_retx = None;
                sh.fail("no ACK for the carrier's 200");
            } else if now >= r.at {
                if let (Some(m), Some((_, src))) = (&b_last, &b_invite) {
                    ctx.send_uas(m, *src).await;
                }
                r.bump(now, T2);
            }
        }
        if phase == Phase::Setup && now >= setup_deadline {
            sh.fail(if b_invite.is_none() {
                "no INVITE reached the carrier"
            } else {
                "no 200 reached the customer"
            });
            media.stop();
            phase = Phase::Done;
            linger = Some(now + Duration::from_millis(500));
        }
        if phase == Phase::Confirmed && now >= end_at {
            media.stop();
            if in_call {
                sh.in_call.fetch_sub(1, RELAXED);
                in_call = false;
            }
            phase = Phase::Draining;
            drain_until = Some(now + DRAIN);
        }
        if phase == Phase::Draining && drain_until.is_some_and(|t| now >= t) {
            drain_until = None;
            if let Some((to, target, dest, routes)) = &dialog {
                let m = format!(
                    "BYE {target} SIP/2.0\r\nVia: SIP/2.0/UDP {uac_addr};branch=z9hG4bK{};rport\r\n\
                     {routes}Max-Forwards: 70\r\nFrom: {from}\r\nTo: {to}\r\nCall-ID: {call_id}\r\n\
                     CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n",
                    token()
                );
                ctx.send_uac(&m, *dest).await;
                bye = Some((m, *dest));
                bye_retx = Some(Retx::new(now, T1, Duration::from_secs(8)));
            }
            phase = Phase::Bye;
        }
        if let Some(r) = bye_retx.as_mut() {
            if now >= r.until {
                bye_retx = None;
                bye_done = true;
                sh.fail("BYE not answered");
            } else if now >= r.at {
                if let Some((m, dest)) = &bye {
                    ctx.send_uac(m, *dest).await;
                }
                r.bump(now, T2);
            }
        }
        if phase == Phase::Bye && bye_done {
            if b_bye_seen || linger.is_some_and(|t| now >= t) {
                if !b_bye_seen {
                    sh.fail("BYE did not reach the carrier");
                }
                sh.completed.fetch_add(1, RELAXED);
                phase = Phase::Done;
                linger = Some(now + Duration::from_millis(300));
            } else if linger.is_none() {
                linger = Some(now + Duration::from_secs(2));
            }
        }
        if phase == Phase::Done && linger.is_some_and(|t| now >= t) {
            break;
        }
    }
    if in_call {
        sh.in_call.fetch_sub(1, RELAXED);
    }
    if ok_retx.is_some() {
        sh.fail("no ACK for the carrier's 200");
    }
    ctx.calls.lock().unwrap().remove(&idx);
}

/// Records whether the relay put its own address in the SDP (anchoring) or passed the other
/// end's through.
fn check_anchor(sh: &Shared, addr: SocketAddr, other_end_port: u16, done: &mut bool) {
    if *done {
        return;
    }
    *done = true;
    if addr.port() == other_end_port {
        sh.unanchored.fetch_add(1, RELAXED);
    } else {
        sh.anchored.fetch_add(1, RELAXED);
    }
}

// ---------------------------------------------------------------------------------------------
// rtpengine's NG protocol: `<cookie> <bencoded dictionary>` over UDP.
//
// Bencode by hand: the NG messages use strings, integers, lists and dictionaries only, an
// encoder and decoder are a few dozen lines, and no dependency is worth that.

#[derive(Debug, Clone, PartialEq)]
enum B {
    Int(i64),
    Str(Vec<u8>),
    List(Vec<B>),
    Dict(Vec<(Vec<u8>, B)>),
}

impl B {
    fn s(v: impl AsRef<[u8]>) -> Self {
        B::Str(v.as_ref().to_vec())
    }
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            B::Int(i) => out.extend_from_slice(format!("i{i}e").as_bytes()),
            B::Str(s) => {
                out.extend_from_slice(format!("{}:", s.len()).as_bytes());
                out.extend_from_slice(s);
            }
            B::List(l) => {
                out.push(b'l');
                l.iter().for_each(|x| x.encode(out));
                out.push(b'e');
            }
            B::Dict(d) => {
                let mut d: Vec<_> = d.iter().collect();
                d.sort_by(|a, b| a.0.cmp(&b.0)); // keys sorted, as bencode requires
                out.push(b'd');
                for (k, v) in d {
                    B::Str(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
    /// One value from the front of `b`, and the bytes it took.
    fn decode(b: &[u8]) -> Option<(B, usize)> {
        match *b.first()? {
            b'i' => {
                let end = b.iter().position(|&c| c == b'e')?;
                let i = std::str::from_utf8(&b[1..end]).ok()?.parse().ok()?;
                Some((B::Int(i), end + 1))
            }
            b'l' | b'd' => {
                let dict = b[0] == b'd';
                let (mut at, mut list, mut pairs) = (1, Vec::new(), Vec::new());
                while *b.get(at)? != b'e' {
                    let (v, n) = B::decode(&b[at..])?;
                    at += n;
                    if dict {
                        let B::Str(k) = v else { return None };
                        let (v, n) = B::decode(&b[at..])?;
                        at += n;
                        pairs.push((k, v));
                    } else {
                        list.push(v);
                    }
                }
                Some((if dict { B::Dict(pairs) } else { B::List(list) }, at + 1))
            }
            b'0'..=b'9' => {
                let colon = b.iter().position(|&c| c == b':')?;
                let len: usize = std::str::from_utf8(&b[..colon]).ok()?.parse().ok()?;
                let s = b.get(colon + 1..colon + 1 + len)?;
                Some((B::Str(s.to_vec()), colon + 1 + len))
            }
            _ => None,
        }
    }
    fn get(&self, key: &str) -> Option<&B> {
        match self {
            B::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }
    fn str(&self) -> Option<String> {
        match self {
            B::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
            _ => None,
        }
    }
}

#[derive(Debug)]
struct Ng {
    sock: UdpSocket,
    dest: SocketAddr,
    pending: Mutex<HashMap<String, oneshot::Sender<B>>>,
    n: AtomicU64,
    run: String,
}

impl Ng {
    async fn reader(self: Arc<Self>) {
        let mut buf = vec![0u8; 65535];
        loop {
            let Ok(n) = self.sock.recv(&mut buf).await else {
                continue;
            };
            let msg = &buf[..n];
            let Some(sp) = msg.iter().position(|&c| c == b' ') else {
                continue;
            };
            let cookie = String::from_utf8_lossy(&msg[..sp]).into_owned();
            let Some((v, _)) = B::decode(&msg[sp + 1..]) else {
                continue;
            };
            if let Some(tx) = self.pending.lock().unwrap().remove(&cookie) {
                let _ = tx.send(v);
            }
        }
    }

    /// Sends a command and waits for its reply (resent with the same cookie, which rtpengine
    /// answers from its cache, every second up to 4 times).
    /// An `offer` or `answer` carrying `sdp`: the audio address of the SDP
    /// rtpengine returns.
    async fn sdp_call(
        &self,
        command: &str,
        call_id: &str,
        from_tag: &str,
        to_tag: Option<&str>,
        sdp: String,
    ) -> Result<SocketAddr, String> {
        let mut pairs = vec![
            ("command", B::s(command)),
            ("call-id", B::s(call_id)),
            ("from-tag", B::s(from_tag)),
        ];
        if let Some(t) = to_tag {
            pairs.push(("to-tag", B::s(t)));
        }
        pairs.push(("sdp", B::s(sdp)));
        let reply = self.call(pairs).await?;
        reply
            .get("sdp")
            .and_then(B::str)
            .and_then(|s| sdp_audio(&s))
            .ok_or_else(|| "reply without SDP audio".to_owned())
    }

    async fn call(&self, pairs: Vec<(&str, B)>) -> Result<B, String> {
        let cookie = format!("{}_{}", self.run, self.n.fetch_add(1, RELAXED));
        let dict = B::Dict(
            pairs
                .into_iter()
                .map(|(k, v)| (k.as_bytes().to_vec(), v))
                .collect(),
        );
        let mut msg = format!("{cookie} ").into_bytes();
        dict.encode(&mut msg);
        let (tx, mut rx) = oneshot::channel();
        self.pending.lock().unwrap().insert(cookie.clone(), tx);
        for _ in 0..4 {
            self.sock
                .send_to(&msg, self.dest)
                .await
                .map_err(|e| e.to_string())?;
            if let Ok(r) = tokio::time::timeout(Duration::from_secs(1), &mut rx).await {
                let r = r.map_err(|_| "reply lost".to_owned())?;
                return match r.get("result").and_then(B::str).as_deref() {
                    Some("ok") | Some("pong") => Ok(r),
                    other => Err(format!(
                        "{}: {}",
                        other.unwrap_or("no result"),
                        r.get("error-reason").and_then(B::str).unwrap_or_default()
                    )),
                };
            }
        }
        self.pending.lock().unwrap().remove(&cookie);
        Err("no reply".into())
    }
}

/// One call through rtpengine (NG offer/answer/delete) or straight between the ends.
async fn call_media_only(
    ctx: Arc<Ctx>,
    idx: u64,
    mut end_at: TInstant,
    mut stop: watch::Receiver<bool>,
) {
    let sh = ctx.sh.clone();
    let Some(mut media) = open_media(&ctx, idx).await else {
        return;
    };
    sh.in_call.fetch_add(1, RELAXED);
    let call_id = ctx.call_id(idx);
    let (from_tag, to_tag) = (token(), token());
    // where the carrier sends (the relay's carrier-facing port) and where the customer sends
    let (to_b, to_a) = match &ctx.ng {
        Some(ng) => {
            let offer = ng
                .sdp_call(
                    "offer",
                    &call_id,
                    &from_tag,
                    None,
                    sdp(ctx.ip, media.a_port, idx),
                )
                .await;
            let rb = match offer {
                Ok(a) => a,
                Err(e) => return fail_media(&sh, format!("offer: {e}")),
            };
            let answer = ng
                .sdp_call(
                    "answer",
                    &call_id,
                    &from_tag,
                    Some(&to_tag),
                    sdp(ctx.ip, media.b_port, idx),
                )
                .await;
            let ra = match answer {
                Ok(a) => a,
                Err(e) => return fail_media(&sh, format!("answer: {e}")),
            };
            let mut done = false;
            check_anchor(&sh, rb, media.a_port, &mut done);
            (rb, ra)
        }
        None => (media.a_addr, media.b_addr),
    };
    media.start(Side::Carrier, to_b, true);
    let answer_at = TInstant::now() + ctx.early;
    let mut answered = false;
    let mut stopping = false;
    loop {
        let next = if answered {
            end_at
        } else {
            answer_at.min(end_at)
        };
        tokio::select! {
            _ = sleep_until(next) => {}
            r = stop.changed(), if !stopping => {
                stopping = true;
                if r.is_ok() {
                    end_at = end_at.min(TInstant::now() + Duration::from_millis((idx % 1000) * 2));
                }
            }
        }
        let now = TInstant::now();
        if !answered && now >= answer_at {
            answered = true;
            media.end_early();
            media.start(Side::Customer, to_a, false);
            sh.answered.fetch_add(1, RELAXED);
        }
        if now >= end_at {
            break;
        }
    }
    media.stop();
    sh.in_call.fetch_sub(1, RELAXED);
    tokio::time::sleep(DRAIN).await;
    if let Some(ng) = &ctx.ng {
        if let Err(e) = ng
            .call(vec![
                ("command", B::s("delete")),
                ("call-id", B::s(&call_id)),
                ("from-tag", B::s(&from_tag)),
            ])
            .await
        {
            sh.fail(format!("delete: {e}"));
        }
    }
    sh.completed.fetch_add(1, RELAXED);
    drop(media);
}

fn fail_media(sh: &Shared, reason: impl Into<String>) {
    sh.fail(reason);
    sh.in_call.fetch_sub(1, RELAXED);
}

// ---------------------------------------------------------------------------------------------
// CPU from /proc

/// utime + stime of a process (all its threads, live and exited), in seconds. The fields are
/// in clock ticks of USER_HZ, which is 100 on Linux.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// Time the threads of a process spent runnable but waiting for a CPU, in seconds (second
/// field of /proc/PID/task/*/schedstat; threads that ended are not counted).
fn runq_wait_seconds(pid: &str) -> Option<f64> {
    let mut ns = 0u64;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            ns += s
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
        }
    }
    Some(ns as f64 / 1e9)
}

/// CPU time of the whole machine from /proc/stat, in seconds: (user + nice + system, irq +
/// softirq, steal).
fn machine_seconds() -> Option<[f64; 3]> {
    let s = std::fs::read_to_string("/proc/stat").ok()?;
    let f: Vec<u64> = s
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let t = |i: usize| f.get(i).copied().unwrap_or(0) as f64 / 100.0;
    Some([t(0) + t(1) + t(2), t(5) + t(6), t(7)])
}

/// The kernel's softirq threads (`ksoftirqd/N`): under load they carry the loopback traffic of
/// both the relay and the tool, so they are not counted as other processes.
fn ksoftirqd_pids() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            name.bytes().all(|b| b.is_ascii_digit()).then_some(())?;
            let comm = std::fs::read_to_string(e.path().join("comm")).ok()?;
            comm.starts_with("ksoftirqd").then_some(name)
        })
        .collect()
}

/// CPU figures read at both ends of the window.
#[derive(Debug, Clone, Copy)]
struct CpuSample {
    at: Instant,
    relay: Option<f64>,
    relay_wait: Option<f64>,
    tool: Option<f64>,
    tool_wait: Option<f64>,
    /// [processes, irq + softirq, steal] of the machine.
    machine: Option<[f64; 3]>,
    ksoftirqd: f64,
}

impl CpuSample {
    fn take(relay_pid: Option<&str>, ksoftirqd: &[String]) -> Self {
        Self {
            at: Instant::now(),
            relay: relay_pid.and_then(cpu_seconds),
            relay_wait: relay_pid.and_then(runq_wait_seconds),
            tool: cpu_seconds("self"),
            tool_wait: runq_wait_seconds("self"),
            machine: machine_seconds(),
            ksoftirqd: ksoftirqd.iter().filter_map(|p| cpu_seconds(p)).sum(),
        }
    }
}

/// % of one core between two readings.
fn pct(a: Option<f64>, b: Option<f64>, wall: f64) -> Option<f64> {
    Some(100.0 * (b? - a?) / wall)
}

fn nofile_limit() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

// ---------------------------------------------------------------------------------------------

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(path) = &args.table {
        return print_table(path);
    }
    let plan = match plan(&args) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("relay_load: {e}");
            return ExitCode::from(2);
        }
    };
    if args.tick_ms == 0 || 20 % args.tick_ms != 0 {
        eprintln!("relay_load: --tick-ms must divide 20");
        return ExitCode::from(2);
    }
    // Two sockets per call up, plus the calls still draining or lingering.
    let need = u64::from(plan.concurrent) * 2 + (plan.rate * 4.0) as u64 * 2 + 64;
    if let Some(limit) = nofile_limit() {
        if limit < need {
            eprintln!(
                "relay_load: {} concurrent calls need about {need} open files, the limit is {limit} \
                 (raise it with `ulimit -n`)",
                plan.concurrent
            );
            return ExitCode::from(2);
        }
    }
    let wav = args
        .early_media
        .clone()
        .unwrap_or_else(|| tonegate_benches::testdata().join("library/2114-empty-number/cm.wav"));
    let samples = tonegate_benches::read_audio(&wav);
    let mut pcmu: Vec<u8> = samples.iter().map(|&s| Law::Mu.encode(s)).collect();
    pcmu.truncate(pcmu.len() / PAYLOAD * PAYLOAD);
    if pcmu.is_empty() {
        eprintln!("relay_load: {}: shorter than one packet", wav.display());
        return ExitCode::from(2);
    }
    let pcmu_len = pcmu.len();
    let head: Vec<u8> = pcmu[..PAYLOAD].to_vec();
    pcmu.extend_from_slice(&head);

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relay_load: runtime: {e}");
            return ExitCode::from(2);
        }
    };
    // time to set up before call 0
    let (base, base_real) = (Instant::now(), unix_ns());
    let (base, base_real) = (base + Duration::from_millis(300), base_real + 300_000_000);
    let sh = Arc::new(Shared {
        base,
        base_real,
        kernel_stamps: AtomicU64::new(0),
        user_stamps: AtomicU64::new(0),
        w0_ns: (plan.w0 * 1e9) as u64,
        w1_ns: (plan.w1 * 1e9) as u64,
        hist: Hist::new(),
        dirs: Default::default(),
        early_sent: AtomicU64::new(0),
        early_rx: AtomicU64::new(0),
        stale: AtomicU64::new(0),
        foreign: AtomicU64::new(0),
        send_errors: AtomicU64::new(0),
        late: AtomicU64::new(0),
        late_ns: args.grace_ms * 1_000_000,
        tool_drops: AtomicU64::new(0),
        first_send_error: Mutex::new(None),
        sip_failures: AtomicU64::new(0),
        failure_reasons: Mutex::new(BTreeMap::new()),
        anchored: AtomicU64::new(0),
        unanchored: AtomicU64::new(0),
        started: AtomicU64::new(0),
        answered: AtomicU64::new(0),
        completed: AtomicU64::new(0),
        in_call: AtomicI64::new(0),
        conc_sum: AtomicU64::new(0),
        conc_n: AtomicU64::new(0),
        streams: (0..args.threads.max(1))
            .map(|_| Mutex::new(Streams::default()))
            .collect(),
        pcmu,
        pcmu_len,
        slots: (20 / args.tick_ms) as usize,
    });
    let code = rt.block_on(run(&args, &plan, sh));
    rt.shutdown_timeout(Duration::from_millis(100));
    code
}

async fn run(args: &Args, plan: &Plan, sh: Arc<Shared>) -> ExitCode {
    let mode = args.mode.expect("clap requires --mode without --table");
    let run = token()[..8].to_owned();
    let mut ctx = Ctx {
        sh: sh.clone(),
        mode,
        ip: args.local_ip,
        sip: args.sip,
        uac: None,
        uas: None,
        calls: Mutex::new(HashMap::new()),
        ng: None,
        early: Duration::from_millis(args.early_ms),
        run: run.clone(),
    };
    match mode {
        Mode::Tonegate => {
            let uac = UdpSocket::bind((args.local_ip, 0)).await;
            let uas = UdpSocket::bind((args.local_ip, args.carrier_sip_port)).await;
            match (uac, uas) {
                (Ok(a), Ok(b)) => {
                    ctx.uac = Some(Arc::new(a));
                    ctx.uas = Some(Arc::new(b));
                }
                (Err(e), _) | (_, Err(e)) => {
                    eprintln!(
                        "relay_load: cannot bind the SIP sockets ({}:{}): {e}",
                        args.local_ip, args.carrier_sip_port
                    );
                    return ExitCode::from(2);
                }
            }
            if let Err(e) = sip_ping(&ctx).await {
                eprintln!("relay_load: tonegate at {}: {e}", args.sip);
                return ExitCode::from(2);
            }
        }
        Mode::Rtpengine => {
            let sock = match UdpSocket::bind((args.local_ip, 0)).await {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("relay_load: NG socket: {e}");
                    return ExitCode::from(2);
                }
            };
            let ng = Arc::new(Ng {
                sock,
                dest: args.ng,
                pending: Mutex::new(HashMap::new()),
                n: AtomicU64::new(0),
                run: run.clone(),
            });
            tokio::spawn(ng.clone().reader());
            if let Err(e) = ng.call(vec![("command", B::s("ping"))]).await {
                eprintln!("relay_load: rtpengine NG at {}: ping: {e}", args.ng);
                return ExitCode::from(2);
            }
            ctx.ng = Some(ng);
        }
        Mode::Direct => {}
    }
    let ctx = Arc::new(ctx);
    if ctx.mode == Mode::Tonegate {
        tokio::spawn(uac_reader(ctx.clone()));
        tokio::spawn(uas_reader(ctx.clone()));
    }

    for n in &plan.notes {
        eprintln!("relay_load: note: {n}");
    }
    eprintln!(
        "relay_load: {} via {}: {} calls up, {:.1} new calls/s ({:.0}/s ramp), calls of {:.1} s \
         ({} ms early media), window {:.1}-{:.1} s, {} calls in all",
        mode.name(),
        match mode {
            Mode::Tonegate => args.sip.to_string(),
            Mode::Rtpengine => args.ng.to_string(),
            Mode::Direct => "-".into(),
        },
        plan.concurrent,
        plan.rate,
        plan.ramp,
        plan.duration,
        args.early_ms,
        plan.w0,
        plan.w1,
        plan.calls.len()
    );

    let (stop_tx, stop_rx) = watch::channel(false);
    let tickers: Vec<_> = (0..sh.streams.len())
        .map(|shard| {
            tokio::spawn(ticker(
                sh.clone(),
                shard,
                Duration::from_millis(args.tick_ms),
                stop_rx.clone(),
            ))
        })
        .collect();
    let gen = {
        let (ctx, sh, calls, stop) = (ctx.clone(), sh.clone(), plan.calls.clone(), stop_rx.clone());
        tokio::spawn(async move {
            let mut handles = Vec::with_capacity(calls.len());
            for (i, (start, end)) in calls.into_iter().enumerate() {
                sleep_until(sh.at(start)).await;
                if *stop.borrow() {
                    break;
                }
                sh.started.fetch_add(1, RELAXED);
                let (ctx, stop, end) = (ctx.clone(), stop.clone(), sh.at(end));
                handles.push(match ctx.mode {
                    Mode::Tonegate => tokio::spawn(call_tonegate(ctx, i as u64, end, stop)),
                    _ => tokio::spawn(call_media_only(ctx, i as u64, end, stop)),
                });
            }
            handles
        })
    };

    let relay_pid = args.relay_pid.map(|p| p.to_string());
    let ksoftirqd = ksoftirqd_pids();
    sleep_until(sh.at(plan.w0)).await;
    let c0 = CpuSample::take(relay_pid.as_deref(), &ksoftirqd);
    eprintln!(
        "relay_load: window opens: {} calls up, {} answered, {} signalling failures",
        sh.in_call.load(RELAXED),
        sh.answered.load(RELAXED),
        sh.sip_failures.load(RELAXED)
    );
    sleep_until(sh.at(plan.w1)).await;
    let c1 = CpuSample::take(relay_pid.as_deref(), &ksoftirqd);
    // Packets in flight, and a second for the tool to read what the kernel has queued (packets
    // count by their kernel arrival time, not by when they are read).
    tokio::time::sleep(Duration::from_millis(args.grace_ms + 1000)).await;
    let sent = [0, 1].map(|d| sh.dirs[d].sent.load(RELAXED));
    let received = [0, 1].map(|d| sh.dirs[d].received.load(RELAXED));
    let hist = sh.hist.snapshot();
    let failures_in_window = sh.sip_failures.load(RELAXED);
    let early_rx = sh.early_rx.load(RELAXED);
    let early_sent = sh.early_sent.load(RELAXED);

    // Hang up everything and wait for the teardown (its failures count too).
    let _ = stop_tx.send(true);
    let handles = gen.await.unwrap_or_default();
    let teardown = async {
        for h in handles {
            let _ = h.await;
        }
    };
    if tokio::time::timeout(Duration::from_secs(20), teardown)
        .await
        .is_err()
    {
        sh.fail("teardown did not finish in 20 s");
    }
    tickers.iter().for_each(JoinHandle::abort);

    // ----- report
    let wall = (c1.at - c0.at).as_secs_f64();
    let total_sent: u64 = sent.iter().sum();
    let total_rx: u64 = received.iter().sum();
    let loss = |s: u64, r: u64| {
        if s == 0 {
            f64::NAN
        } else {
            100.0 * (1.0 - r as f64 / s as f64)
        }
    };
    let loss_pct = loss(total_sent, total_rx);
    let p50 = percentile(&hist, 0.50);
    let p99 = percentile(&hist, 0.99);
    let p999 = percentile(&hist, 0.999);
    let max = hist.iter().rposition(|&c| c > 0).map(bucket_us);
    let conc = {
        let n = sh.conc_n.load(RELAXED);
        if n == 0 {
            0.0
        } else {
            sh.conc_sum.load(RELAXED) as f64 / n as f64
        }
    };
    let relay_cpu = pct(c0.relay, c1.relay, wall);
    let tool_cpu = pct(c0.tool, c1.tool, wall);
    let relay_wait = pct(c0.relay_wait, c1.relay_wait, wall);
    let tool_wait = pct(c0.tool_wait, c1.tool_wait, wall);
    let m = |i: usize| pct(c0.machine.map(|m| m[i]), c1.machine.map(|m| m[i]), wall);
    let (procs, irq, steal) = (m(0), m(1), m(2));
    let softirqd = pct(Some(c0.ksoftirqd), Some(c1.ksoftirqd), wall);
    let machine = (|| Some(procs? + irq? + steal?))();
    let others = procs.map(|p| {
        (p - relay_cpu.unwrap_or(0.0) - tool_cpu.unwrap_or(0.0) - softirqd.unwrap_or(0.0)).max(0.0)
    });
    let per_call = relay_cpu.filter(|_| conc > 0.0).map(|c| c / conc);
    let pps = total_rx as f64 / wall;
    // The load meant: per call, early media one way at 50/s, then both ways.
    let early_s = args.early_ms as f64 / 1000.0;
    let nominal_pps = plan.rate * (50.0 * early_s + 100.0 * (plan.duration - early_s));
    let offered_pct = 100.0 * total_sent as f64 / wall / nominal_pps;
    let us_per_packet = relay_cpu
        .filter(|_| total_rx > 0)
        .map(|c| c / 100.0 * wall * 1e6 / total_rx as f64);
    let failures = sh.sip_failures.load(RELAXED);
    let anchored = sh.anchored.load(RELAXED);
    let unanchored = sh.unanchored.load(RELAXED);

    let f1 = |v: Option<f64>, unit: &str| v.map_or("n/a".to_owned(), |v| format!("{v:.1}{unit}"));
    let mut out = String::new();
    use std::fmt::Write as _;
    let _ = writeln!(
        out,
        "relay {}: {:.0} calls up on average (target {}), {:.1} new calls/s, window {:.1} s",
        mode.name(),
        conc,
        plan.concurrent,
        plan.rate,
        wall
    );
    let _ = writeln!(
        out,
        "  packets: sent {total_sent}, received {total_rx}, loss {loss_pct:.4} % \
         (customer->carrier {:.4} %, carrier->customer {:.4} %), {pps:.0} packets/s relayed",
        loss(sent[UP], received[UP]),
        loss(sent[DOWN], received[DOWN])
    );
    if offered_pct < 98.0 {
        let _ = writeln!(
            out,
            "  WARNING: the tool sent only {offered_pct:.1} % of the {nominal_pps:.0} packets/s meant \
             (its senders fell behind: CPU starved?); these are not the figures of {} calls",
            plan.concurrent
        );
    }
    let _ = writeln!(
        out,
        "  one-way latency: p50 {} p99 {} p99.9 {} max {}",
        f1(p50, " µs"),
        f1(p99, " µs"),
        f1(p999, " µs"),
        f1(max, " µs")
    );
    let _ = writeln!(
        out,
        "  relay CPU: {} of one core, {} per call ({} CPU per call-second), {} per packet; tool CPU {}",
        f1(relay_cpu, " %"),
        per_call.map_or("n/a".into(), |v| format!("{v:.4} %")),
        per_call.map_or("n/a".into(), |v| format!("{:.0} µs", v * 1e4)),
        us_per_packet.map_or("n/a".into(), |v| format!("{v:.2} µs")),
        f1(tool_cpu, " %")
    );
    let _ = writeln!(
        out,
        "  machine: {} busy ({} cores): kernel irq/softirq {} + ksoftirqd {}, steal {}, other processes {}; \
         waiting for a CPU: relay {}, tool {}",
        f1(machine, " %"),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        f1(irq, " %"),
        f1(softirqd, " %"),
        f1(steal, " %"),
        f1(others, " %"),
        f1(relay_wait, " %"),
        f1(tool_wait, " %")
    );
    if others.is_some_and(|o| o > 10.0) {
        let _ = writeln!(
            out,
            "  WARNING: other processes used {} of a core during the window: the figures are disturbed",
            f1(others, " %")
        );
    }
    let _ = writeln!(
        out,
        "  calls: started {}, answered {}, completed {}; signalling failures {failures} \
         ({failures_in_window} by the window's end); early media packets received {early_rx} of {early_sent}",
        sh.started.load(RELAXED),
        sh.answered.load(RELAXED),
        sh.completed.load(RELAXED),
    );
    let (late, tool_drops) = (sh.late.load(RELAXED), sh.tool_drops.load(RELAXED));
    if late > 0 {
        let _ = writeln!(
            out,
            "  {late} packets of the window arrived more than {} ms late (counted as lost)",
            args.grace_ms
        );
    }
    if tool_drops > 0 {
        let _ = writeln!(
            out,
            "  WARNING: the kernel dropped {tool_drops} packets at the tool's own full sockets \
             (counted as lost, but the tool's fault: it was starved of CPU)"
        );
    }
    let (stale, foreign, send_errors) = (
        sh.stale.load(RELAXED),
        sh.foreign.load(RELAXED),
        sh.send_errors.load(RELAXED),
    );
    let (kernel, user) = (sh.kernel_stamps.load(RELAXED), sh.user_stamps.load(RELAXED));
    if user > 0 {
        let _ = writeln!(
            out,
            "  {user} of {} arrivals timed after the tool's wake-up (no kernel timestamp)",
            user + kernel
        );
    }
    if stale + foreign + send_errors > 0 {
        let _ = writeln!(
            out,
            "  duplicate or late packets {stale}, foreign packets {foreign}, send errors {send_errors}{}",
            sh.first_send_error
                .lock()
                .unwrap()
                .as_deref()
                .map_or(String::new(), |e| format!(" (first: {e})"))
        );
    }
    for (reason, n) in sh.failure_reasons.lock().unwrap().iter() {
        let _ = writeln!(out, "  failure: {reason}: {n}");
    }
    if mode != Mode::Direct && unanchored > 0 {
        let _ = writeln!(
            out,
            "  WARNING: {unanchored} of {} calls not anchored: the relay passed the other end's \
             SDP through, media went straight between the ends",
            unanchored + anchored
        );
    }
    if args.json {
        eprint!("{out}");
        let num = |v: Option<f64>| v.filter(|v| v.is_finite());
        let j = serde_json::json!({
            "relay": mode.name(),
            "calls_concurrent": plan.concurrent,
            "calls_concurrent_measured": (conc * 10.0).round() / 10.0,
            "rate": plan.rate,
            "window_s": wall,
            "sent": total_sent,
            "received": total_rx,
            "loss_pct": num(Some(loss_pct)),
            "loss_up_pct": num(Some(loss(sent[UP], received[UP]))),
            "loss_down_pct": num(Some(loss(sent[DOWN], received[DOWN]))),
            "packets_per_s": pps,
            "offered_pct": (offered_pct * 10.0).round() / 10.0,
            "latency_p50_us": p50,
            "latency_p99_us": p99,
            "latency_p999_us": p999,
            "latency_max_us": max,
            "relay_cpu_pct": relay_cpu,
            "relay_cpu_per_call_pct": per_call,
            "relay_cpu_us_per_packet": us_per_packet,
            "tool_cpu_pct": tool_cpu,
            "machine_busy_pct": machine,
            "others_cpu_pct": others,
            "relay_runq_wait_pct": relay_wait,
            "tool_runq_wait_pct": tool_wait,
            "early_media_packets": early_rx,
            "early_media_sent": early_sent,
            "late_packets": late,
            "tool_socket_drops": tool_drops,
            "calls_started": sh.started.load(RELAXED),
            "calls_answered": sh.answered.load(RELAXED),
            "sip_failures": failures,
            "anchored": mode == Mode::Direct || (unanchored == 0 && anchored > 0),
        });
        println!("{j}");
    } else {
        print!("{out}");
    }
    if sh.answered.load(RELAXED) == 0 || total_sent == 0 {
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}

/// The side-by-side table of the JSON lines in `path`, and for each relay the most calls it
/// carried with a loss below 0.1 % and no signalling failure.
fn print_table(path: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("relay_load: {}: {e}", path.display());
            return ExitCode::from(2);
        }
    };
    let rows: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l.trim()).ok())
        .collect();
    let f = |r: &serde_json::Value, k: &str, prec: usize| match r.get(k).and_then(|v| v.as_f64()) {
        Some(v) => format!("{v:.prec$}"),
        None => "-".to_owned(),
    };
    let mut order: Vec<u64> = rows
        .iter()
        .filter_map(|r| r["calls_concurrent"].as_u64())
        .collect();
    order.sort_unstable();
    order.dedup();
    println!(
        "{:>6} {:<10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>5} {:>8}",
        "calls",
        "relay",
        "loss %",
        "p50 µs",
        "p99 µs",
        "p99.9 µs",
        "CPU %",
        "CPU/call",
        "µs/pkt",
        "pkt/s",
        "offered",
        "early pkts",
        "classified",
        "fail",
        "others %"
    );
    let mut best: BTreeMap<String, u64> = BTreeMap::new();
    for n in &order {
        for r in rows
            .iter()
            .filter(|r| r["calls_concurrent"].as_u64() == Some(*n))
        {
            let relay = r["relay"].as_str().unwrap_or("?").to_owned();
            let mut name = relay.clone();
            if r["anchored"] == serde_json::Value::Bool(false) {
                name.push('!');
            }
            println!(
                "{:>6} {:<10} {:>9} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8} {:>8} {:>8} {:>11} {:>10} {:>5} {:>8}",
                n,
                name,
                f(r, "loss_pct", 4),
                f(r, "latency_p50_us", 0),
                f(r, "latency_p99_us", 0),
                f(r, "latency_p999_us", 0),
                f(r, "relay_cpu_pct", 1),
                f(r, "relay_cpu_per_call_pct", 4),
                f(r, "relay_cpu_us_per_packet", 1),
                f(r, "packets_per_s", 0),
                f(r, "offered_pct", 1),
                f(r, "early_media_packets", 0),
                f(r, "classified", 0),
                f(r, "sip_failures", 0),
                f(r, "others_cpu_pct", 0),
            );
            let ok = r["loss_pct"].as_f64().is_some_and(|l| l < 0.1)
                && r["sip_failures"].as_u64() == Some(0)
                && r["anchored"] != serde_json::Value::Bool(false)
                && r["offered_pct"].as_f64().is_some_and(|o| o >= 98.0);
            let e = best.entry(relay).or_insert(0);
            if ok {
                *e = (*e).max(*n);
            }
        }
    }
    println!(
        "(CPU %: the relay's, of one core; CPU/call: that divided by the calls up; µs/pkt: relay CPU \
         per packet relayed; offered: % of the meant packets the tool sent; others %: CPU of other processes \
         during the window, of one core (above 10 the run was disturbed); ! = media not anchored)"
    );
    for (relay, n) in best {
        if n == 0 {
            println!("{relay}: no run below 0.1 % loss (full load offered, no signalling failure)");
        } else {
            println!("{relay}: most calls below 0.1 % loss (full load offered, no signalling failure): {n}");
        }
    }
    ExitCode::SUCCESS
}

/// OPTIONS to tonegate (it answers 200 itself): is it there before the load starts?
async fn sip_ping(ctx: &Ctx) -> Result<(), String> {
    let sock = ctx.uac.as_ref().unwrap();
    let me = sock.local_addr().map_err(|e| e.to_string())?;
    let call_id = format!("ping-{}@{}", token(), ctx.ip);
    let m = format!(
        "OPTIONS sip:{} SIP/2.0\r\nVia: SIP/2.0/UDP {me};branch=z9hG4bK{};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:bench@{}>;tag={}\r\nTo: <sip:{}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        ctx.sip,
        token(),
        ctx.ip,
        token(),
        ctx.sip
    );
    let mut buf = vec![0u8; 65535];
    for _ in 0..4 {
        sock.send_to(m.as_bytes(), ctx.sip)
            .await
            .map_err(|e| e.to_string())?;
        let deadline = TInstant::now() + T1;
        while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, sock.recv_from(&mut buf)).await
        {
            if let Some(r) = Sip::parse(&buf[..n]) {
                if r.h("call-id") == Some(call_id.as_str()) && !r.is_request() {
                    return if r.status() >= 200 {
                        Ok(())
                    } else {
                        continue;
                    };
                }
            }
        }
    }
    Err("no answer to OPTIONS".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bencode_round_trip() {
        let v = B::Dict(vec![
            (b"sdp".to_vec(), B::s("v=0\r\n")),
            (b"command".to_vec(), B::s("offer")),
            (b"flags".to_vec(), B::List(vec![B::s("a"), B::Int(-3)])),
        ]);
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(
            out,
            b"d7:command5:offer5:flagsl1:ai-3ee3:sdp5:v=0\r\ne".to_vec()
        );
        let (d, n) = B::decode(&out).unwrap();
        assert_eq!(n, out.len());
        assert_eq!(d.get("command"), Some(&B::s("offer")));
        assert_eq!(d.get("flags"), Some(&B::List(vec![B::s("a"), B::Int(-3)])));
    }

    #[test]
    fn sdp_address() {
        let s = sdp("127.0.0.1".parse().unwrap(), 4000, 1);
        assert_eq!(sdp_audio(&s), Some("127.0.0.1:4000".parse().unwrap()));
        let media_c =
            "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 5000 RTP/AVP 0\r\nc=IN IP4 127.0.0.2\r\n";
        assert_eq!(sdp_audio(media_c), Some("127.0.0.2:5000".parse().unwrap()));
    }

    #[test]
    fn sip_parse_and_respond() {
        let raw = "INVITE sip:load-42@127.0.0.1:5080 SIP/2.0\r\nv: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKx;rport\r\n\
                   Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKy\r\nf: <sip:a@h>;tag=1\r\nTo: <sip:load-42@h>\r\n\
                   i: abc\r\nCSeq: 7 INVITE\r\nl: 3\r\n\r\nxyzEXTRA";
        let m = Sip::parse(raw.as_bytes()).unwrap();
        assert!(m.is_request());
        assert_eq!(m.method(), "INVITE");
        assert_eq!(uri_user(m.uri()), Some("load-42"));
        assert_eq!(m.body, "xyz");
        assert_eq!(m.cseq(), (7, "INVITE"));
        assert_eq!(m.top_branch(), "z9hG4bKx");
        let r = response(&m, 180, "Ringing", Some("t9"), None, None);
        let p = Sip::parse(r.as_bytes()).unwrap();
        assert_eq!(p.status(), 180);
        assert_eq!(p.all("via").count(), 2);
        assert_eq!(p.h("to").and_then(|t| param(t, "tag")), Some("t9"));
        assert_eq!(p.h("from").and_then(|t| param(t, "tag")), Some("1"));
        assert_eq!(
            uri_addr("sip:x@127.0.0.1:5070;transport=udp"),
            Some("127.0.0.1:5070".parse().unwrap())
        );
        assert_eq!(
            uri_addr("sip:127.0.0.1"),
            Some("127.0.0.1:5060".parse().unwrap())
        );
        assert_eq!(
            split_values("<sip:a@h;lr>, \"x, y\" <sip:b,c@h>;p=1 ,<sip:c>"),
            vec!["<sip:a@h;lr>", "\"x, y\" <sip:b,c@h>;p=1", "<sip:c>"]
        );
    }

    #[test]
    fn histogram_percentiles() {
        let h = Hist::new();
        for us in 1..=100u64 {
            h.record(us * 1000);
        }
        h.record(5_000_000);
        let s = h.snapshot();
        assert_eq!(percentile(&s, 0.5), Some(51.5)); // the 51st of 101
        assert_eq!(percentile(&s, 1.0), Some(5005.0));
        h.record(250_300_000);
        h.record(9_000_000_000);
        let s = h.snapshot();
        assert_eq!(s.iter().sum::<u64>(), 103);
        assert_eq!(
            bucket_us(s.iter().rposition(|&c| c > 0).unwrap()),
            5_000_000.0
        );
        assert_eq!(percentile(&s, 102.0 / 103.0), Some(250_500.0));
    }

    #[test]
    fn plan_keeps_concurrency() {
        let a = Args::parse_from(["relay_load", "--mode", "direct", "--concurrent", "200"]);
        let p = plan(&a).unwrap();
        assert_eq!(p.concurrent, 200);
        let t = (p.w0 + p.w1) / 2.0;
        let up = p.calls.iter().filter(|(s, e)| *s <= t && t < *e).count();
        assert!((199..=201).contains(&up), "{up}");
        assert!(p
            .calls
            .iter()
            .all(|(s, e)| e - s >= 3.0 + MIN_HOLD_S - 1e-9));
    }
}
