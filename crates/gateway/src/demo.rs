//! `tonegate demo`: the main job end to end on this machine, in one command.
//!
//! It starts the gateway (`tonegate run`, as a child process) with the
//! shipped library and a configuration in a temporary folder, and plays
//! both of its neighbours in-process:
//!
//! - a **carrier** (SIP UAS on UDP) that serves each INVITE by the plan:
//!   183 with SDP, a library announcement or a call-progress tone in early
//!   media (G.711 RTP in 20 ms packets, paced by one 20 ms tick shared by
//!   all calls), then a failure (480, 486, 503); or 180, then 200 and a few
//!   seconds of audio for an answered call;
//! - a **caller** (SIP UAC) that places the calls at a steady rate, each
//!   with a UDP socket of its own that receives (and counts) the relayed
//!   media; it ACKs the finals and hangs up answered calls after 3 s;
//! - a **webhook receiver** (minimal HTTP/1.1) at the trunk's
//!   `callback_url` that collects the gateway's events.
//!
//! The plan (which call gets which announcement, tone or answer) is fixed
//! by `--seed`. The carrier finds a call's script from the called number,
//! which the gateway copies to the carrier leg; nothing else tells the
//! gateway what is played. The expected code comes from the plan and the
//! heard one only from the webhooks: an unanswered call is right when its
//! HangupCauseEvent carries the played code as heard in the early media
//! (the event has a `confidence`). A code from signalling alone (1017 from
//! a 486, 1016 from a 480) counts as "no code"; for ringback, no code
//! heard is right.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead as _, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};
use tonegate_classify::{Code, Law};
use tonegate_sip::message::{uri_user, NameAddr};
use tonegate_sip::rng::Rng;
use tonegate_sip::sdp;
use tonegate_sip::{Method, Request, Response, SipMessage, StatusCode};
use tracing::{debug, warn};

use crate::library;

/// `tonegate demo` options.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Calls to place.
    #[arg(long, default_value_t = 36, value_parser = clap::value_parser!(u32).range(1..=2000))]
    pub calls: u32,
    /// Calls started per second.
    #[arg(long, default_value_t = 4.0)]
    pub rate: f64,
    /// Seed of the plan: which call gets which announcement, tone or answer.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The announcement library (the carrier plays it, the gateway matches against it).
    #[arg(long)]
    pub library: Option<PathBuf>,
    /// One JSON object per line: every event as it arrives, then the summary.
    #[arg(long)]
    pub json: bool,
}

/// 20 ms of 8 kHz audio: one RTP packet.
const FRAME: usize = 160;
/// 8 kHz.
const RATE: usize = 8000;
/// RFC 3261 T1.
const T1: Duration = Duration::from_millis(500);
/// RFC 3261 T2.
const T2: Duration = Duration::from_secs(4);
/// The caller holds an answered call this long before its BYE.
const HOLD: Duration = Duration::from_secs(3);
/// After the last call, events have this long to arrive.
const EVENT_WAIT: Duration = Duration::from_secs(20);
/// A call without a final response this long has failed.
const CALL_LIMIT: Duration = Duration::from_secs(60);

/// Runs the demo; the exit status is 0 when every call went through SIP as
/// scripted and every event arrived (a wrong code is reported, not a failure).
pub fn main(args: DemoArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tonegate demo: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(args: DemoArgs) -> Result<ExitCode, String> {
    if !(args.rate.is_finite() && args.rate > 0.0 && args.rate <= 200.0) {
        return Err(format!(
            "--rate {} must be above 0 (and at most 200)",
            args.rate
        ));
    }
    let root = args.library.clone().unwrap_or_else(library::default_root);
    let root = root.canonicalize().unwrap_or(root);
    let plan = Plan::new(&root, args.calls as usize, args.seed)?;
    let dir = TempDir::new()?;
    let log = dir.path.join("gateway.log");

    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;

    // Our own sockets first: their ports go into the gateway's configuration.
    let (carrier_sock, caller_sock, hooks) = rt
        .block_on(async {
            let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
            Ok::<_, std::io::Error>((
                UdpSocket::bind(local).await?,
                UdpSocket::bind(local).await?,
                TcpListener::bind(local).await?,
            ))
        })
        .map_err(|e| format!("cannot bind a local socket: {e}"))?;
    let port = |r: std::io::Result<SocketAddr>| r.map(|a| a.port()).unwrap_or(0);
    let carrier_port = port(carrier_sock.local_addr());
    let hook_port = port(hooks.local_addr());
    let http_port = free_tcp_port().ok_or("no free TCP port on 127.0.0.1")?;
    let (rtp_lo, rtp_hi) = free_rtp_range(rtp_width(args.calls, args.rate))
        .ok_or("no free range of RTP ports on 127.0.0.1 between 17000 and 20000")?;

    let config = dir.path.join("tonegate.toml");
    let text = gateway_config(
        &dir.path,
        &root,
        carrier_port,
        hook_port,
        http_port,
        (rtp_lo, rtp_hi),
    );
    std::fs::write(&config, text).map_err(|e| format!("{}: {e}", config.display()))?;

    if !args.json {
        outln!(
            "tonegate demo: {} calls at {}/s (seed {}): {}",
            plan.calls.len(),
            args.rate,
            args.seed,
            plan.describe()
        );
        outln!(
            "starting the gateway (library {}, {} references)...",
            root.display(),
            plan.references
        );
    }
    let gateway = Gateway::start(&config, &log)?;
    if !args.json {
        outln!(
            "gateway {} (RTP {rtp_lo}-{rtp_hi}), carrier 127.0.0.1:{carrier_port}, events to http://127.0.0.1:{hook_port}/events",
            gateway.addr
        );
        outln!();
    }

    let outcome = rt.block_on(drive(
        plan,
        args.rate,
        args.json,
        gateway.addr,
        carrier_sock,
        caller_sock,
        hooks,
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    gateway.stop();

    let ok = outcome.failures == 0;
    if !ok || outcome.interrupted {
        let kept = dir.keep();
        eprintln!(
            "tonegate demo: the gateway's log, configuration and recordings are kept in {}",
            kept.display()
        );
    }
    Ok(if outcome.interrupted {
        ExitCode::from(130)
    } else if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

// ---------------------------------------------------------------------------
// The plan
// ---------------------------------------------------------------------------

/// What the carrier does with a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// A library announcement in early media, then 480.
    Announcement,
    /// Busy tone in early media, then 486.
    BusyTone,
    /// Congestion tone in early media, then 503.
    CongestionTone,
    /// Ringback in early media, then 480 (nobody answered).
    Ringback,
    /// 180, 200, a few seconds of audio; the caller hangs up.
    Answered,
}

impl Kind {
    const ALL: [Kind; 5] = [
        Kind::Announcement,
        Kind::BusyTone,
        Kind::CongestionTone,
        Kind::Ringback,
        Kind::Answered,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Announcement => "announcement",
            Kind::BusyTone => "busy tone",
            Kind::CongestionTone => "congestion tone",
            Kind::Ringback => "ringback",
            Kind::Answered => "answered",
        }
    }

    /// The carrier's final response.
    fn final_status(self) -> u16 {
        match self {
            Kind::Announcement | Kind::Ringback => 480,
            Kind::BusyTone => 486,
            Kind::CongestionTone => 503,
            Kind::Answered => 200,
        }
    }
}

/// One call of the plan.
#[derive(Debug, Clone)]
struct PlannedCall {
    /// 1-based.
    n: usize,
    kind: Kind,
    /// The code the early media says (`None`: no code, or answered).
    expected: Option<u16>,
    /// The library reference played, for announcements.
    reference: Option<String>,
    /// What the carrier plays (early media, or after the answer).
    audio: Arc<[i16]>,
    /// The carrier's codec.
    law: Law,
    /// The caller's Call-ID (the events' `callId`).
    call_id: String,
    /// The called number; its last six digits are `n`.
    called: String,
}

#[derive(Debug)]
struct Plan {
    calls: Vec<PlannedCall>,
    references: usize,
}

impl Plan {
    /// `calls` calls: about 60 % announcements (cycling through the codes
    /// and their carriers' recordings), 20 % tones (busy, congestion,
    /// ringback in turn), 20 % answered, in an order fixed by `seed`.
    fn new(root: &Path, calls: usize, seed: u64) -> Result<Plan, String> {
        let files = library::scan(root).map_err(|e| e.to_string())?;
        // Recordings by code, in code order (the demo plays announcements: speech that
        // carries no code is left out).
        let mut by_code: Vec<(Code, Vec<PathBuf>)> = Vec::new();
        for (code, path) in files.iter().filter_map(|(c, p)| Some((c.as_ref()?, p))) {
            match by_code.iter_mut().find(|(c, _)| c == code) {
                Some((_, v)) => v.push(path.clone()),
                None => by_code.push((*code, vec![path.clone()])),
            }
        }
        by_code.sort_by_key(|(c, _)| c.get());
        if by_code.is_empty() {
            return Err(format!(
                "no announcement recordings under {} (set --library or TONEGATE_LIBRARY)",
                root.display()
            ));
        }

        let mut rng = Rng::new(seed);
        let announcements = (calls as f64 * 0.6).round() as usize;
        let tones = ((calls as f64 * 0.2).round() as usize).min(calls - announcements);
        let mut kinds: Vec<Kind> = Vec::with_capacity(calls);
        let tone_offset = (rng.next_u64() % 3) as usize;
        for i in 0..tones {
            kinds.push(
                [Kind::BusyTone, Kind::CongestionTone, Kind::Ringback][(i + tone_offset) % 3],
            );
        }
        kinds.resize(tones + announcements, Kind::Announcement);
        kinds.resize(calls, Kind::Answered);
        for i in (1..kinds.len()).rev() {
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            kinds.swap(i, j);
        }

        let mut ids = Rng::new(unix_nanos() ^ u64::from(std::process::id()).rotate_left(40));
        let mut audio_cache: HashMap<PathBuf, Arc<[i16]>> = HashMap::new();
        let mut load = |path: &Path| -> Result<Arc<[i16]>, String> {
            if let Some(a) = audio_cache.get(path) {
                return Ok(Arc::clone(a));
            }
            let pcm: Arc<[i16]> = library::read_audio(path).map_err(|e| e.to_string())?.into();
            audio_cache.insert(path.to_path_buf(), Arc::clone(&pcm));
            Ok(pcm)
        };
        let ncodes = by_code.len();
        let first = (rng.next_u64() % ncodes as u64) as usize;
        let mut k = 0usize;
        let mut out = Vec::with_capacity(calls);
        for (i, kind) in kinds.into_iter().enumerate() {
            let n = i + 1;
            let law = if n % 3 == 0 { Law::A } else { Law::Mu };
            let (expected, reference, audio) = match kind {
                Kind::Announcement => {
                    let (code, paths) = &by_code[(first + k) % ncodes];
                    let path = &paths[(k + k / ncodes) % paths.len()];
                    k += 1;
                    let lead_ms = (rng.next_u64() % 6) as usize * 100;
                    let pcm = load(path)?;
                    let name = library::reference_name(root, path);
                    (
                        Some(code.get()),
                        Some(name),
                        announcement_audio(&pcm, lead_ms),
                    )
                }
                Kind::BusyTone => (Some(2101), None, cadence(0.35, 0.35, 6.0)),
                Kind::CongestionTone => (Some(2103), None, cadence(0.7, 0.7, 7.0)),
                Kind::Ringback => (None, None, cadence(1.0, 4.0, 9.0)),
                Kind::Answered => {
                    // The called party talks: 2.5 s of some recording.
                    let (_, paths) = &by_code[(first + n) % ncodes];
                    let pcm = load(&paths[0])?;
                    let end = pcm.len().min(RATE * 5 / 2);
                    (None, None, pcm[..end].to_vec().into())
                }
            };
            out.push(PlannedCall {
                n,
                kind,
                expected,
                reference,
                audio,
                law,
                call_id: format!("{}@tonegate-demo", ids.call_id()),
                called: format!("13800{n:06}"),
            });
        }
        Ok(Plan {
            calls: out,
            references: files.len(),
        })
    }

    fn count(&self, kind: Kind) -> usize {
        self.calls.iter().filter(|c| c.kind == kind).count()
    }

    fn describe(&self) -> String {
        let tones = self.count(Kind::BusyTone)
            + self.count(Kind::CongestionTone)
            + self.count(Kind::Ringback);
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}, {} answered",
            plural(self.count(Kind::Announcement), "announcement"),
            plural(tones, "tone"),
            self.count(Kind::Answered)
        )
    }
}

/// A carrier's announcement: a short silence, the recording, the carrier's
/// gap, and the recording again (as networks loop it) up to about two
/// seconds past the first cycle; 8 to 15 s in all.
fn announcement_audio(reference: &[i16], lead_ms: usize) -> Arc<[i16]> {
    let lead = RATE * lead_ms / 1000;
    let gap = RATE * 8 / 10;
    let total = (lead + reference.len() + gap + 2 * RATE).clamp(8 * RATE, 15 * RATE);
    let mut out = vec![0i16; lead];
    while out.len() < total {
        out.extend_from_slice(reference);
        out.extend(std::iter::repeat(0).take(gap));
    }
    out.truncate(total);
    out.into()
}

/// 450 Hz at about -10 dBm0, `on`/`off` seconds, for `total` seconds
/// (China's call-progress tones).
fn cadence(on: f64, off: f64, total: f64) -> Arc<[i16]> {
    let n = (total * RATE as f64) as usize;
    let period = ((on + off) * RATE as f64) as usize;
    let on_len = (on * RATE as f64) as usize;
    let ramp = RATE / 200; // 5 ms
    (0..n)
        .map(|i| {
            let p = i % period;
            if p >= on_len {
                return 0;
            }
            let edge = p.min(on_len - p).min(ramp) as f64 / ramp as f64;
            let phase = 2.0 * std::f64::consts::PI * 450.0 * i as f64 / RATE as f64;
            (7000.0 * edge * phase.sin()) as i16
        })
        .collect::<Vec<_>>()
        .into()
}

// ---------------------------------------------------------------------------
// Setup: temporary folder, ports, configuration, the gateway process
// ---------------------------------------------------------------------------

/// The demo's own folder: configuration, outbox, recordings, the gateway's log.
#[derive(Debug)]
struct TempDir {
    path: PathBuf,
    keep: bool,
}

impl TempDir {
    fn new() -> Result<TempDir, String> {
        let base = std::env::temp_dir();
        for attempt in 0..20u64 {
            let path = base.join(format!(
                "tonegate-demo-{}-{:x}",
                std::process::id(),
                unix_nanos().wrapping_add(attempt)
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(TempDir { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
            }
        }
        Err(format!("cannot create a folder in {}", base.display()))
    }

    /// Keeps the folder (for its log) instead of removing it.
    fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn free_tcp_port() -> Option<u16> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    l.local_addr().ok().map(|a| a.port())
}

/// Ports the gateway's RTP range needs: each call takes two RTP/RTCP
/// pairs; room for the calls in flight at once (a call lasts up to about
/// 20 s), twice over.
fn rtp_width(calls: u32, rate: f64) -> u16 {
    let in_flight = (calls as f64).min((rate * 20.0).ceil()) as u32;
    let w = (in_flight * 8 + 16).clamp(64, 2400);
    (w + w % 2) as u16
}

/// A range of `width` ports between 17000 and 20000 (below the default
/// RTP range and the ephemeral ports) whose every port is free on
/// 127.0.0.1 now. The first range tried depends on the process id, so two
/// demos at once are unlikely to pick the same one.
fn free_rtp_range(width: u16) -> Option<(u16, u16)> {
    const LOW: u16 = 17000;
    const HIGH: u16 = 20000;
    let starts: Vec<u16> = (LOW..HIGH.saturating_sub(width))
        .step_by(width as usize)
        .collect();
    if starts.is_empty() {
        return None;
    }
    let offset = std::process::id() as usize % starts.len();
    (0..starts.len())
        .map(|i| starts[(i + offset) % starts.len()])
        .find(|&lo| {
            (lo..lo + width).all(|p| std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, p)).is_ok())
        })
        .map(|lo| (lo, lo + width - 1))
}

/// A TOML string literal.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

fn gateway_config(
    dir: &Path,
    library: &Path,
    carrier_port: u16,
    hook_port: u16,
    http_port: u16,
    (rtp_lo, rtp_hi): (u16, u16),
) -> String {
    let path = |p: &Path| toml_str(&p.to_string_lossy());
    format!(
        "# Written by `tonegate demo`.\n\
         [sip]\n\
         listen = \"127.0.0.1:0\"\n\n\
         [[trunks]]\n\
         name = \"demo\"\n\
         sources = [\"127.0.0.1/32\"]\n\
         target = \"sip:127.0.0.1:{carrier_port}\"\n\
         callback_url = \"http://127.0.0.1:{hook_port}/events\"\n\
         retry_interval_s = 1.0\n\
         retries = 5\n\n\
         [rtp]\n\
         ports = \"{rtp_lo}-{rtp_hi}\"\n\
         address = \"127.0.0.1\"\n\n\
         [recordings]\n\
         dir = {recordings}\n\n\
         [classify]\n\
         library = {library}\n\n\
         [http]\n\
         listen = \"127.0.0.1:{http_port}\"\n\n\
         [events]\n\
         outbox = {outbox}\n",
        recordings = path(&dir.join("recordings")),
        library = path(library),
        outbox = path(&dir.join("outbox.redb")),
    )
}

/// The gateway: `tonegate run` as a child process.
#[derive(Debug)]
struct Gateway {
    child: Option<Child>,
    addr: SocketAddr,
}

impl Gateway {
    /// Starts it and waits for its `listening ADDR` line.
    fn start(config: &Path, log: &Path) -> Result<Gateway, String> {
        let exe = std::env::current_exe().map_err(|e| format!("cannot find tonegate: {e}"))?;
        let log_file = std::fs::File::create(log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut child = std::process::Command::new(exe)
            .arg("run")
            .arg("--config")
            .arg(config)
            .env("TONEGATE_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start the gateway: {e}"))?;
        let stdout = child.stdout.take();
        let mut gateway = Gateway {
            child: Some(child),
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
        };
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                let mut r = BufReader::new(stdout);
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                let _ = tx.send(line);
                // Keep reading so the gateway never blocks on its stdout.
                let _ = std::io::copy(&mut r, &mut std::io::sink());
            });
        }
        let failed = |why: &str| {
            format!(
                "the gateway did not start ({why}); its log ({}):\n{}",
                log.display(),
                tail(log)
            )
        };
        // Loading the library takes a few seconds in a debug build.
        let line = rx
            .recv_timeout(Duration::from_secs(60))
            .map_err(|_| failed("no `listening` line within 60 s"))?;
        gateway.addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| failed(&format!("first line {:?}", line.trim())))?;
        Ok(gateway)
    }

    /// SIGTERM, a moment to finish, then SIGKILL.
    fn stop(mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        #[cfg(unix)]
        {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let end = Instant::now() + Duration::from_secs(5);
            while Instant::now() < end {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The last lines of a log.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn unix_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// The run: carrier, caller, webhook receiver, and the report
// ---------------------------------------------------------------------------

/// What the run found.
#[derive(Debug)]
struct Outcome {
    /// Calls that failed at the SIP level or miss an event.
    failures: usize,
    interrupted: bool,
}

/// What reaches the main loop.
#[derive(Debug)]
enum Note {
    /// A webhook body.
    Event(Value),
    /// A call is over on the caller's side.
    CallDone(CallReport),
}

async fn drive(
    plan: Plan,
    rate: f64,
    json: bool,
    gateway: SocketAddr,
    carrier_sock: UdpSocket,
    caller_sock: UdpSocket,
    hooks: TcpListener,
) -> Outcome {
    let calls: Arc<Vec<PlannedCall>> = Arc::new(plan.calls);
    let (notes, mut inbox) = mpsc::unbounded_channel::<Note>();

    tokio::spawn(serve_hooks(hooks, notes.clone()));
    let (streams, pump_rx) = mpsc::unbounded_channel();
    tokio::spawn(pump(pump_rx));
    let carrier = Arc::new(Carrier {
        socket: carrier_sock,
        calls: Arc::clone(&calls),
        pump: streams,
        dialogs: Mutex::new(HashMap::new()),
    });
    tokio::spawn(Arc::clone(&carrier).serve());
    let local = caller_sock
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0));
    let caller = Arc::new(Caller {
        socket: caller_sock,
        local,
        gateway,
        dialogs: Mutex::new(HashMap::new()),
    });
    tokio::spawn(Arc::clone(&caller).serve());

    // Place the calls at the rate.
    let start = tokio::time::Instant::now();
    {
        let calls = Arc::clone(&calls);
        let notes = notes.clone();
        let caller = Arc::clone(&caller);
        tokio::spawn(async move {
            for (i, call) in calls.iter().enumerate() {
                tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                let caller = Arc::clone(&caller);
                let notes = notes.clone();
                let call = call.clone();
                tokio::spawn(async move {
                    let report = caller.place(&call).await;
                    let _ = notes.send(Note::CallDone(report));
                });
            }
        });
    }
    drop(notes);

    let index: HashMap<&str, usize> = calls
        .iter()
        .enumerate()
        .map(|(i, c)| (c.call_id.as_str(), i))
        .collect();
    let mut results: Vec<CallResult> = calls.iter().map(|_| CallResult::default()).collect();
    let mut seen: HashSet<String> = HashSet::new();
    let mut done = 0usize;
    // A hard limit for the whole run, and the wait for events after the last call.
    let hard_end = start
        + Duration::from_secs_f64(calls.len() as f64 / rate)
        + CALL_LIMIT
        + Duration::from_secs(40);
    let mut events_end: Option<tokio::time::Instant> = None;
    let mut interrupted = false;
    let stop = stop_signal();
    tokio::pin!(stop);

    loop {
        if done == calls.len() && results.iter().zip(calls.iter()).all(|(r, c)| r.complete(c)) {
            break;
        }
        let until = events_end.map_or(hard_end, |e| e.min(hard_end));
        let note = tokio::select! {
            n = inbox.recv() => n,
            _ = tokio::time::sleep_until(until) => break,
            _ = &mut stop => {
                interrupted = true;
                break;
            }
        };
        let Some(note) = note else {
            // Nothing can arrive any more.
            break;
        };
        match note {
            Note::CallDone(report) => {
                let i = report.n - 1;
                if let Some(r) = results.get_mut(i) {
                    r.report = Some(report);
                }
                done += 1;
                if done == calls.len() {
                    events_end = Some(tokio::time::Instant::now() + EVENT_WAIT);
                }
            }
            Note::Event(body) => {
                let id = body["eventId"].as_str().unwrap_or("").to_owned();
                if !id.is_empty() && !seen.insert(id) {
                    continue; // a redelivery
                }
                let kind = body["event"].as_str().unwrap_or("");
                let call_id = body["callId"].as_str().unwrap_or("");
                let Some(&i) = index.get(call_id) else {
                    warn!(kind, call_id, "event for a call the demo did not place");
                    continue;
                };
                let call = &calls[i];
                match kind {
                    "HangupCauseEvent" => {
                        results[i].hangup = Some(body);
                        print_event(call, &results[i], json);
                    }
                    "SipDockingCallEnd" => {
                        results[i].end = Some(body);
                        if call.kind == Kind::Answered {
                            print_event(call, &results[i], json);
                        }
                    }
                    other => debug!(kind = other, "other event"),
                }
            }
        }
    }
    print_summary(&calls, &results, json, interrupted, start.elapsed())
}

/// SIGINT (Ctrl-C) or SIGTERM: stop, report what arrived, stop the gateway.
async fn stop_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    ctrl_c.await;
}

/// Everything known about one call.
#[derive(Debug, Default)]
struct CallResult {
    report: Option<CallReport>,
    hangup: Option<Value>,
    end: Option<Value>,
}

impl CallResult {
    /// Every event this call should give arrived.
    fn complete(&self, call: &PlannedCall) -> bool {
        self.end.is_some() && (call.kind == Kind::Answered || self.hangup.is_some())
    }
}

/// How a call's early media was judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// The code played was heard (or, for ringback and answered calls, no
    /// code was).
    Right,
    /// The media gave no code (signalling may have).
    NoCode,
    /// The media gave another code.
    Wrong,
    /// The event did not arrive.
    Missing,
}

impl Verdict {
    fn as_str(self) -> &'static str {
        match self {
            Verdict::Right => "right",
            Verdict::NoCode => "no code",
            Verdict::Wrong => "wrong",
            Verdict::Missing => "missing",
        }
    }
}

/// The code the early media gave, from a HangupCauseEvent: `hangupGcode`
/// when the classifier decided it (the event then has a `confidence`).
fn media_code(ev: &Value) -> Option<u16> {
    if ev["confidence"].is_null() {
        return None;
    }
    ev["hangupGcode"].as_u64().map(|c| c as u16)
}

fn judge(call: &PlannedCall, r: &CallResult) -> Verdict {
    if call.kind == Kind::Answered {
        return match (&r.hangup, &r.end) {
            (Some(_), _) => Verdict::Wrong,
            (None, None) => Verdict::Missing,
            (None, Some(end)) if end["hangupGcode"].as_u64() == Some(0) => Verdict::Right,
            (None, Some(_)) => Verdict::Wrong,
        };
    }
    let Some(ev) = &r.hangup else {
        return Verdict::Missing;
    };
    match (call.expected, media_code(ev)) {
        (Some(e), Some(h)) if e == h => Verdict::Right,
        (Some(_), None) => Verdict::NoCode,
        (None, None) => Verdict::Right,
        _ => Verdict::Wrong,
    }
}

fn code_text(code: Option<u16>) -> String {
    match code {
        Some(c) => match Code::new(c) {
            Some(k) => format!("{c} {}", k.name()),
            None => c.to_string(),
        },
        None => "no code".to_owned(),
    }
}

fn print_event(call: &PlannedCall, r: &CallResult, json: bool) {
    let verdict = judge(call, r);
    if call.kind == Kind::Answered {
        let Some(end) = &r.end else { return };
        if json {
            outln!(
                "{}",
                json!({
                    "type": "event",
                    "event": "SipDockingCallEnd",
                    "call": call.n,
                    "callId": call.call_id,
                    "scenario": call.kind.name(),
                    "hangupGcode": end["hangupGcode"],
                    "hangupGname": end["hangupGname"],
                    "duration": end["duration"],
                    "result": verdict.as_str(),
                })
            );
        } else {
            outln!(
                "#{:<3} {}  call end {} {} after {} ms",
                call.n,
                pad(&format!("{:<7} {}", verdict.as_str(), call.kind.name()), 52),
                end["hangupGcode"],
                end["hangupGname"].as_str().unwrap_or(""),
                end["duration"],
            );
        }
        return;
    }
    let Some(ev) = &r.hangup else { return };
    let heard = media_code(ev);
    let decided = ev["decidedAtMs"].as_u64();
    if json {
        outln!(
            "{}",
            json!({
                "type": "event",
                "event": "HangupCauseEvent",
                "call": call.n,
                "callId": call.call_id,
                "scenario": call.kind.name(),
                "reference": call.reference,
                "expected": call.expected,
                "heard": heard,
                "hangupGcode": ev["hangupGcode"],
                "hangupGname": ev["hangupGname"],
                "mediaLabel": ev["mediaLabel"],
                "decidedAtMs": decided,
                "sipStatus": ev["sipStatus"],
                "result": verdict.as_str(),
            })
        );
        return;
    }
    let what = match &call.reference {
        Some(r) => format!("{} {}", call.kind.name(), r),
        None => call.kind.name().to_owned(),
    };
    let heard_text = match heard {
        Some(_) => code_text(heard),
        None => format!(
            "no code ({} {} from SIP {})",
            ev["hangupGcode"],
            ev["hangupGname"].as_str().unwrap_or(""),
            ev["sipStatus"]
        ),
    };
    let label = ev["mediaLabel"].as_str().unwrap_or("-");
    let at = decided.map(|ms| format!(" at {ms} ms")).unwrap_or_default();
    outln!(
        "#{:<3} {}  expected {}  heard {}  [{label}{at}]",
        call.n,
        pad(&format!("{:<7} {what}", verdict.as_str()), 52),
        pad(&code_text(call.expected), 20),
        heard_text,
    );
}

/// `s` padded with spaces to `width` terminal columns (CJK characters take two).
fn pad(s: &str, width: usize) -> String {
    let cols: usize = s.chars().map(|c| if c >= '\u{1100}' { 2 } else { 1 }).sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(cols)))
}

/// What went wrong at the SIP (or media relay) level, if anything.
fn sip_problem(call: &PlannedCall, r: &CallResult) -> Option<String> {
    let Some(rep) = &r.report else {
        return Some("the call did not finish".to_owned());
    };
    if let Some(p) = &rep.problem {
        return Some(p.clone());
    }
    let expected = call.kind.final_status();
    match rep.status {
        None => return Some("no final response".to_owned()),
        Some(s) if s != expected => {
            return Some(format!("final response {s}, the carrier sent {expected}"))
        }
        _ => {}
    }
    if call.kind == Kind::Answered {
        if rep.bye_status != Some(200) {
            return Some(format!(
                "BYE answered {}",
                rep.bye_status
                    .map_or("nothing".to_owned(), |s| s.to_string())
            ));
        }
        if rep.packets == 0 {
            return Some("no media reached the caller after the answer".to_owned());
        }
    } else {
        if !rep.early_sdp {
            return Some("no 183 with SDP reached the caller".to_owned());
        }
        if rep.packets == 0 {
            return Some("no early media reached the caller".to_owned());
        }
    }
    None
}

#[derive(Debug, Default, Clone, Copy)]
struct Row {
    calls: usize,
    right: usize,
    no_code: usize,
    wrong: usize,
    missing: usize,
    failed: usize,
}

impl Row {
    fn add(&mut self, v: Verdict, failed: bool) {
        self.calls += 1;
        match v {
            Verdict::Right => self.right += 1,
            Verdict::NoCode => self.no_code += 1,
            Verdict::Wrong => self.wrong += 1,
            Verdict::Missing => self.missing += 1,
        }
        if failed {
            self.failed += 1;
        }
    }

    fn json(&self, scenario: &str) -> Value {
        json!({
            "scenario": scenario,
            "calls": self.calls,
            "right": self.right,
            "noCode": self.no_code,
            "wrong": self.wrong,
            "missing": self.missing,
            "sipFailed": self.failed,
        })
    }
}

fn percent(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 * 1000.0 / b as f64).round() / 10.0
    }
}

fn print_summary(
    calls: &[PlannedCall],
    results: &[CallResult],
    json: bool,
    interrupted: bool,
    elapsed: Duration,
) -> Outcome {
    let mut rows: Vec<(Kind, Row)> = Kind::ALL.iter().map(|k| (*k, Row::default())).collect();
    let mut total = Row::default();
    let mut problems: Vec<(usize, String)> = Vec::new();
    let mut details = Vec::new();
    for (call, r) in calls.iter().zip(results) {
        let v = judge(call, r);
        let problem = sip_problem(call, r);
        let failed = problem.is_some();
        if let Some(p) = &problem {
            problems.push((call.n, p.clone()));
        }
        if v == Verdict::Missing {
            let which = if call.kind == Kind::Answered || r.hangup.is_some() {
                "SipDockingCallEnd"
            } else {
                "HangupCauseEvent"
            };
            problems.push((call.n, format!("no {which} arrived")));
        } else if call.kind != Kind::Answered && r.end.is_none() {
            problems.push((call.n, "no SipDockingCallEnd arrived".to_owned()));
        }
        if let Some((_, row)) = rows.iter_mut().find(|(k, _)| *k == call.kind) {
            row.add(v, failed);
        }
        total.add(v, failed);
        details.push(json!({
            "call": call.n,
            "scenario": call.kind.name(),
            "reference": call.reference,
            "expected": call.expected,
            "heard": r.hangup.as_ref().and_then(media_code),
            "finalStatus": r.report.as_ref().and_then(|p| p.status),
            "mediaPackets": r.report.as_ref().map_or(0, |p| p.packets),
            "result": v.as_str(),
            "problem": problem,
        }));
    }
    problems.sort_by_key(|(n, _)| *n);
    // A call counts once however many things went wrong with it.
    let failed_calls: HashSet<usize> = problems.iter().map(|(n, _)| *n).collect();
    let ann = rows
        .iter()
        .find(|(k, _)| *k == Kind::Announcement)
        .map(|(_, r)| *r)
        .unwrap_or_default();

    if json {
        outln!(
            "{}",
            json!({
                "type": "summary",
                "calls": calls.len(),
                "rows": rows.iter().filter(|(_, r)| r.calls > 0).map(|(k, r)| r.json(k.name())).collect::<Vec<_>>(),
                "total": total.json("all"),
                "accuracy": percent(total.right, total.calls) / 100.0,
                "failedCalls": failed_calls.len(),
                "problems": problems.iter().map(|(n, p)| json!({"call": n, "problem": p})).collect::<Vec<_>>(),
                "interrupted": interrupted,
                "elapsedMs": elapsed.as_millis() as u64,
                "details": details,
            })
        );
    } else {
        let mut out = String::new();
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{:<16} {:>5} {:>6} {:>8} {:>6} {:>8} {:>11}",
            "scenario", "calls", "right", "no code", "wrong", "missing", "sip failed"
        );
        let line = |out: &mut String, name: &str, r: &Row| {
            let _ = writeln!(
                out,
                "{:<16} {:>5} {:>6} {:>8} {:>6} {:>8} {:>11}",
                name, r.calls, r.right, r.no_code, r.wrong, r.missing, r.failed
            );
        };
        for (k, r) in rows.iter().filter(|(_, r)| r.calls > 0) {
            line(&mut out, k.name(), r);
        }
        line(&mut out, "all", &total);
        let _ = writeln!(
            out,
            "\n{} calls in {:.1} s; accuracy: {} of {} calls right ({}%); announcements {} of {} ({}%)",
            total.calls,
            elapsed.as_secs_f64(),
            total.right,
            total.calls,
            percent(total.right, total.calls),
            ann.right,
            ann.calls,
            percent(ann.right, ann.calls)
        );
        let _ = writeln!(
            out,
            "right: the code played was heard in the early media (ringback: no code; answered: call end 0 and no HangupCauseEvent)"
        );
        if problems.is_empty() {
            let _ = writeln!(
                out,
                "every call went through SIP as scripted and every event arrived"
            );
        } else {
            let _ = writeln!(out, "\nproblems ({} calls):", failed_calls.len());
            for (n, p) in &problems {
                let _ = writeln!(out, "  #{n}: {p}");
            }
        }
        if interrupted {
            let _ = writeln!(out, "interrupted");
        }
        out!("{out}");
    }
    Outcome {
        failures: failed_calls.len(),
        interrupted,
    }
}

// ---------------------------------------------------------------------------
// Webhook receiver
// ---------------------------------------------------------------------------

async fn serve_hooks(listener: TcpListener, notes: mpsc::UnboundedSender<Note>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let notes = notes.clone();
                tokio::spawn(async move {
                    if let Err(e) = serve_connection(stream, notes).await {
                        debug!(error = %e, "webhook connection");
                    }
                });
            }
            Err(e) => {
                warn!(error = %e, "webhook receiver: accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// HTTP/1.1 requests on one connection (keep-alive), each answered 200
/// (400 when the body is not JSON).
async fn serve_connection(
    mut stream: TcpStream,
    notes: mpsc::UnboundedSender<Note>,
) -> std::io::Result<()> {
    const LIMIT: usize = 1 << 20;
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        let head_end = loop {
            if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            if buf.len() > LIMIT {
                return Ok(());
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let header = |name: &str| {
            head.lines().skip(1).find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.trim()
                    .eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_owned())
            })
        };
        let len: usize = header("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let close = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        if len > LIMIT {
            return Ok(());
        }
        let end = head_end + 4 + len;
        while buf.len() < end {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let status = match serde_json::from_slice::<Value>(&buf[head_end + 4..end]) {
            Ok(v) => {
                let _ = notes.send(Note::Event(v));
                "200 OK"
            }
            Err(_) => "400 Bad Request",
        };
        buf.drain(..end);
        stream
            .write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n").as_bytes())
            .await?;
        if close {
            return Ok(());
        }
    }
}

// ---------------------------------------------------------------------------
// RTP: one 20 ms tick for every stream
// ---------------------------------------------------------------------------

/// One call's outgoing audio.
#[derive(Debug)]
struct Stream {
    socket: Arc<UdpSocket>,
    to: SocketAddr,
    /// G.711 bytes, a multiple of 160.
    payload: Arc<[u8]>,
    pos: usize,
    pt: u8,
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// Set by the call to stop early.
    stop: Arc<AtomicBool>,
    /// Told when the audio has all been sent.
    done: Option<oneshot::Sender<()>>,
}

impl Stream {
    fn new(
        socket: Arc<UdpSocket>,
        to: SocketAddr,
        audio: &[i16],
        law: Law,
        rng: &mut Rng,
    ) -> (Stream, Arc<AtomicBool>, oneshot::Receiver<()>) {
        let mut payload: Vec<u8> = audio.iter().map(|&s| law.encode(s)).collect();
        let silence = law.encode(0);
        payload.resize(audio.len().div_ceil(FRAME) * FRAME, silence);
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = oneshot::channel();
        let r = rng.next_u64();
        let stream = Stream {
            socket,
            to,
            payload: payload.into(),
            pos: 0,
            pt: pt_of(law),
            seq: r as u16,
            ts: (r >> 16) as u32,
            ssrc: (r >> 32) as u32,
            stop: Arc::clone(&stop),
            done: Some(tx),
        };
        (stream, stop, rx)
    }

    /// Sends the next packet; false when the stream is over.
    fn step(&mut self) -> bool {
        if self.stop.load(Ordering::Relaxed) {
            return false;
        }
        if self.pos >= self.payload.len() {
            if let Some(done) = self.done.take() {
                let _ = done.send(());
            }
            return false;
        }
        let mut packet = Vec::with_capacity(12 + FRAME);
        let marker = if self.pos == 0 { 0x80 } else { 0 };
        packet.push(0x80); // version 2
        packet.push(marker | self.pt);
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(&self.ts.to_be_bytes());
        packet.extend_from_slice(&self.ssrc.to_be_bytes());
        packet.extend_from_slice(&self.payload[self.pos..self.pos + FRAME]);
        if let Err(e) = self.socket.try_send_to(&packet, self.to) {
            debug!(error = %e, to = %self.to, "RTP not sent");
        }
        self.pos += FRAME;
        self.seq = self.seq.wrapping_add(1);
        self.ts = self.ts.wrapping_add(FRAME as u32);
        true
    }
}

fn pt_of(law: Law) -> u8 {
    match law {
        Law::Mu => 0,
        Law::A => 8,
    }
}

/// Sends one packet of every stream every 20 ms (catching up after a late tick).
async fn pump(mut new: mpsc::UnboundedReceiver<Stream>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut streams: Vec<Stream> = Vec::new();
    loop {
        tick.tick().await;
        loop {
            match new.try_recv() {
                Ok(s) => streams.push(s),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    if streams.is_empty() {
                        return;
                    }
                    break;
                }
            }
        }
        streams.retain_mut(Stream::step);
    }
}

fn fresh_rng(salt: &str) -> Rng {
    let h = salt.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    Rng::new(h ^ unix_nanos())
}

fn sdp_body(origin: &str, port: u16, pts: &[u8]) -> String {
    let mut m = format!("m=audio {port} RTP/AVP");
    let mut maps = String::new();
    for pt in pts {
        let _ = write!(m, " {pt}");
        let name = match pt {
            0 => "PCMU/8000",
            8 => "PCMA/8000",
            _ => "telephone-event/8000",
        };
        let _ = write!(maps, "a=rtpmap:{pt} {name}\r\n");
    }
    format!(
        "v=0\r\no={origin} 1 1 IN IP4 127.0.0.1\r\ns=tonegate demo\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n{m}\r\n{maps}a=ptime:20\r\na=sendrecv\r\n"
    )
}

async fn bind_rtp() -> std::io::Result<(Arc<UdpSocket>, u16)> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = s.local_addr()?.port();
    Ok((Arc::new(s), port))
}

// ---------------------------------------------------------------------------
// The carrier (UAS)
// ---------------------------------------------------------------------------

type Inbox<T> = mpsc::UnboundedReceiver<T>;

#[derive(Debug)]
struct Carrier {
    socket: UdpSocket,
    calls: Arc<Vec<PlannedCall>>,
    pump: mpsc::UnboundedSender<Stream>,
    /// Call-ID → the task serving it.
    dialogs: Mutex<HashMap<String, mpsc::UnboundedSender<(Request, SocketAddr)>>>,
}

/// How a final response ended.
#[derive(Debug, PartialEq, Eq)]
enum FinalEnd {
    Acked,
    Bye,
    TimedOut,
}

impl Carrier {
    async fn serve(self: Arc<Self>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (msg, from) = recv_sip(&self.socket, &mut buf, "carrier").await;
            let SipMessage::Request(req) = msg else {
                continue;
            };
            let Ok(call_id) = req.call_id().map(str::to_owned) else {
                continue;
            };
            let task = self.lock().get(&call_id).cloned();
            match task {
                Some(tx) => {
                    if let Err(mpsc::error::SendError((req, from))) = tx.send((req, from)) {
                        self.stray(&req, from).await;
                    }
                }
                None if req.method == Method::Invite => {
                    let (tx, rx) = mpsc::unbounded_channel();
                    self.lock().insert(call_id.clone(), tx);
                    let me = Arc::clone(&self);
                    tokio::spawn(async move {
                        me.call(req, from, rx).await;
                        // Late retransmissions find no task and get 481.
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        me.lock().remove(&call_id);
                    });
                }
                None => self.stray(&req, from).await,
            }
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<(Request, SocketAddr)>>>
    {
        self.dialogs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A request outside any call: ACKs are dropped, OPTIONS answered, the rest 481.
    async fn stray(&self, req: &Request, from: SocketAddr) {
        let status = match req.method {
            Method::Ack => return,
            Method::Options => StatusCode::OK,
            _ => StatusCode::CALL_DOES_NOT_EXIST,
        };
        self.send(&req.response(status, None), from).await;
    }

    async fn send(&self, resp: &Response, to: SocketAddr) {
        if let Err(e) = self.socket.send_to(&resp.to_bytes(), to).await {
            warn!(error = %e, %to, "carrier: send failed");
        }
    }

    /// One call: the plan's script.
    async fn call(&self, invite: Request, from: SocketAddr, mut rx: Inbox<(Request, SocketAddr)>) {
        let mut rng = fresh_rng(invite.call_id().unwrap_or(""));
        let tag = rng.tag();
        let contact = self
            .socket
            .local_addr()
            .map(|a| format!("<sip:carrier@{a}>"))
            .unwrap_or_else(|_| "<sip:carrier@127.0.0.1>".to_owned());
        let respond = |status: u16| {
            let status = StatusCode::new(status).unwrap_or(StatusCode::SERVER_INTERNAL_ERROR);
            invite
                .response(status, Some(&tag))
                .with_header("Contact", contact.clone())
        };
        self.send(&invite.response(StatusCode::TRYING, None), from)
            .await;

        // The script, from the called number's last six digits.
        let planned = uri_user(&invite.uri)
            .and_then(|u| u.get(u.len().saturating_sub(6)..)?.parse::<usize>().ok())
            .and_then(|n| self.calls.get(n.wrapping_sub(1)))
            .filter(|c| invite.uri.contains(&c.called));
        let Some(call) = planned else {
            warn!(uri = %invite.uri, "carrier: no such call in the plan");
            self.final_until_ack(&respond(404), from, &mut rx).await;
            return;
        };
        let dest = sdp::parse_audio(&invite.body).ok().and_then(|m| m.rtp);
        let Some(dest) = dest else {
            warn!(call = call.n, "carrier: INVITE without usable SDP");
            self.final_until_ack(&respond(488), from, &mut rx).await;
            return;
        };
        let (rtp, rtp_port) = match bind_rtp().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "carrier: cannot bind RTP");
                self.final_until_ack(&respond(500), from, &mut rx).await;
                return;
            }
        };
        let sdp = sdp_body("carrier", rtp_port, &[pt_of(call.law)]);

        if call.kind == Kind::Answered {
            let ringing = respond(180);
            self.send(&ringing, from).await;
            // Rings for a second (a CANCEL ends it).
            let ring_end = tokio::time::Instant::now() + Duration::from_secs(1);
            loop {
                match tokio::time::timeout_at(ring_end, rx.recv()).await {
                    Err(_) => break,
                    Ok(None) => return,
                    Ok(Some((req, f))) => {
                        if self.in_call(&req, f, from, &ringing).await {
                            self.final_until_ack(&respond(487), from, &mut rx).await;
                            return;
                        }
                    }
                }
            }
            let mut ok = respond(200);
            ok.set_body(Some("application/sdp"), sdp.into_bytes());
            let end = self.final_until_ack(&ok, from, &mut rx).await;
            let (stream, stop, _done) = Stream::new(rtp, dest, &call.audio, call.law, &mut rng);
            let _ = self.pump.send(stream);
            if end != FinalEnd::Bye {
                // Talk until the caller's BYE.
                let limit = tokio::time::Instant::now() + Duration::from_secs(30);
                loop {
                    match tokio::time::timeout_at(limit, rx.recv()).await {
                        Err(_) | Ok(None) => {
                            warn!(call = call.n, "carrier: no BYE");
                            break;
                        }
                        Ok(Some((req, f))) => match req.method {
                            Method::Bye => {
                                self.send(&req.response(StatusCode::OK, None), f).await;
                                break;
                            }
                            // A retransmitted INVITE: the 200 again.
                            Method::Invite => self.send(&ok, from).await,
                            Method::Ack => {}
                            _ => {
                                self.send(&req.response(StatusCode::NOT_IMPLEMENTED, None), f)
                                    .await
                            }
                        },
                    }
                }
            }
            stop.store(true, Ordering::Relaxed);
            return;
        }

        // Early media, then the failure.
        let mut progress = respond(183);
        progress.set_body(Some("application/sdp"), sdp.into_bytes());
        self.send(&progress, from).await;
        let (stream, stop, mut done) = Stream::new(rtp, dest, &call.audio, call.law, &mut rng);
        let _ = self.pump.send(stream);
        let mut status = call.kind.final_status();
        loop {
            tokio::select! {
                _ = &mut done => break,
                m = rx.recv() => {
                    let Some((req, f)) = m else { break };
                    if self.in_call(&req, f, from, &progress).await {
                        status = 487;
                        break;
                    }
                }
            }
        }
        stop.store(true, Ordering::Relaxed);
        let end = self.final_until_ack(&respond(status), from, &mut rx).await;
        if end != FinalEnd::Acked {
            warn!(
                call = call.n,
                status,
                ?end,
                "carrier: final response not ACKed"
            );
        }
    }

    /// A request while the INVITE is pending: a retransmitted INVITE gets
    /// `last` again; a CANCEL gets 200 (the caller of this then answers the
    /// INVITE 487). True when the call was cancelled.
    async fn in_call(
        &self,
        req: &Request,
        f: SocketAddr,
        from: SocketAddr,
        last: &Response,
    ) -> bool {
        match req.method {
            Method::Invite => {
                self.send(last, from).await;
                false
            }
            Method::Cancel => {
                self.send(&req.response(StatusCode::OK, None), f).await;
                debug!(call_id = req.call_id().unwrap_or(""), "carrier: CANCEL");
                true
            }
            Method::Ack => false,
            _ => {
                self.send(&req.response(StatusCode::CALL_DOES_NOT_EXIST, None), f)
                    .await;
                false
            }
        }
    }

    /// Sends a final response until its ACK (RFC 3261 Timer G, at most
    /// 32 s); a retransmitted INVITE gets it again.
    async fn final_until_ack(
        &self,
        resp: &Response,
        to: SocketAddr,
        rx: &mut Inbox<(Request, SocketAddr)>,
    ) -> FinalEnd {
        self.send(resp, to).await;
        let give_up = tokio::time::Instant::now() + 64 * T1;
        let mut wait = T1;
        loop {
            let next = (tokio::time::Instant::now() + wait).min(give_up);
            match tokio::time::timeout_at(next, rx.recv()).await {
                Err(_) => {
                    if tokio::time::Instant::now() >= give_up {
                        return FinalEnd::TimedOut;
                    }
                    self.send(resp, to).await;
                    wait = (wait * 2).min(T2);
                }
                Ok(None) => return FinalEnd::TimedOut,
                Ok(Some((req, f))) => match req.method {
                    Method::Ack => return FinalEnd::Acked,
                    Method::Invite => self.send(resp, to).await,
                    Method::Bye => {
                        self.send(&req.response(StatusCode::OK, None), f).await;
                        return FinalEnd::Bye;
                    }
                    Method::Cancel => {
                        // Too late: the INVITE has its final response.
                        self.send(&req.response(StatusCode::OK, None), f).await;
                    }
                    _ => {
                        self.send(&req.response(StatusCode::CALL_DOES_NOT_EXIST, None), f)
                            .await
                    }
                },
            }
        }
    }
}

// ---------------------------------------------------------------------------
// The caller (UAC)
// ---------------------------------------------------------------------------

#[derive(Debug)]
struct Caller {
    socket: UdpSocket,
    local: SocketAddr,
    gateway: SocketAddr,
    /// Call-ID → the task of the call.
    dialogs: Mutex<HashMap<String, mpsc::UnboundedSender<Response>>>,
}

/// How a call went on the caller's side.
#[derive(Debug, Clone)]
struct CallReport {
    n: usize,
    /// The final response to the INVITE.
    status: Option<u16>,
    /// A 18x with SDP arrived.
    early_sdp: bool,
    /// RTP packets that reached the caller's media socket.
    packets: u64,
    /// The response to our BYE (answered calls).
    bye_status: Option<u16>,
    /// Something went wrong that the report cannot show otherwise.
    problem: Option<String>,
}

impl Caller {
    async fn serve(self: Arc<Self>) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let (msg, from) = recv_sip(&self.socket, &mut buf, "caller").await;
            match msg {
                SipMessage::Response(resp) => {
                    let Ok(call_id) = resp.call_id() else {
                        continue;
                    };
                    let task = self.lock().get(call_id).cloned();
                    if let Some(tx) = task {
                        let _ = tx.send(resp);
                    }
                }
                SipMessage::Request(req) => {
                    // The gateway's own requests (a BYE of the far end, OPTIONS).
                    if req.method != Method::Ack {
                        self.send(&req.response(StatusCode::OK, None).to_bytes(), from)
                            .await;
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, mpsc::UnboundedSender<Response>>> {
        self.dialogs.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn send(&self, bytes: &[u8], to: SocketAddr) {
        if let Err(e) = self.socket.send_to(bytes, to).await {
            warn!(error = %e, %to, "caller: send failed");
        }
    }

    /// Places one call and follows it to its end.
    async fn place(&self, call: &PlannedCall) -> CallReport {
        let mut report = CallReport {
            n: call.n,
            status: None,
            early_sdp: false,
            packets: 0,
            bye_status: None,
            problem: None,
        };
        let (media, media_port) = match bind_rtp().await {
            Ok(x) => x,
            Err(e) => {
                report.problem = Some(format!("cannot bind a media socket: {e}"));
                return report;
            }
        };
        let packets = Arc::new(AtomicU64::new(0));
        let counter = {
            let packets = Arc::clone(&packets);
            tokio::spawn(async move {
                let mut buf = [0u8; 2048];
                while media.recv(&mut buf).await.is_ok() {
                    packets.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let (tx, mut rx) = mpsc::unbounded_channel();
        self.lock().insert(call.call_id.clone(), tx);
        self.dialog(call, media_port, &mut rx, &mut report).await;
        self.lock().remove(&call.call_id);
        // A little longer for the last packets in flight.
        tokio::time::sleep(Duration::from_millis(100)).await;
        report.packets = packets.load(Ordering::Relaxed);
        counter.abort();
        report
    }

    async fn dialog(
        &self,
        call: &PlannedCall,
        media_port: u16,
        rx: &mut Inbox<Response>,
        report: &mut CallReport,
    ) {
        let mut rng = fresh_rng(&call.call_id);
        let gw = self.gateway;
        let local = self.local;
        let from = format!(
            "\"tonegate demo\" <sip:+8610{:08}@{}>;tag={}",
            call.n,
            local.ip(),
            rng.tag()
        );
        let ruri = format!("sip:{}@{gw}", call.called);
        let branch = rng.branch();
        let invite = Request::new(Method::Invite, ruri.clone())
            .with_header("Via", format!("SIP/2.0/UDP {local};branch={branch};rport"))
            .with_header("Max-Forwards", "70")
            .with_header("From", from.clone())
            .with_header("To", format!("<sip:{}@{gw}>", call.called))
            .with_header("Call-ID", call.call_id.clone())
            .with_header("CSeq", "1 INVITE")
            .with_header("Contact", format!("<sip:caller@{local}>"))
            .with_header("User-Agent", "tonegate-demo")
            .with_body(
                "application/sdp",
                sdp_body("caller", media_port, &[0, 8, 101]).into_bytes(),
            )
            .to_bytes();
        self.send(&invite, gw).await;

        // Responses until the final one; the INVITE is retransmitted (Timer A) until any.
        let deadline = tokio::time::Instant::now() + CALL_LIMIT;
        let mut heard_any = false;
        let mut wait = T1;
        let mut next_retx = tokio::time::Instant::now() + wait;
        let final_resp = loop {
            let wake = if heard_any {
                deadline
            } else {
                next_retx.min(deadline)
            };
            match tokio::time::timeout_at(wake, rx.recv()).await {
                Ok(Some(resp)) => {
                    if cseq_method(&resp) != Some(Method::Invite) {
                        continue;
                    }
                    heard_any = true;
                    if resp.status.is_provisional() {
                        if !resp.body.is_empty() {
                            report.early_sdp = true;
                        }
                        continue;
                    }
                    break Some(resp);
                }
                Ok(None) => break None,
                Err(_) => {
                    if tokio::time::Instant::now() >= deadline {
                        break None;
                    }
                    if !heard_any {
                        self.send(&invite, gw).await;
                        wait = (wait * 2).min(T2);
                        next_retx = tokio::time::Instant::now() + wait;
                    }
                }
            }
        };
        let Some(resp) = final_resp else {
            report.problem = Some(if heard_any {
                "no final response".to_owned()
            } else {
                "no response to the INVITE".to_owned()
            });
            return;
        };
        report.status = Some(resp.status.code());
        let to = resp.header("To").unwrap_or("").to_owned();
        // The ACK or BYE of this call (no Contact, no body).
        let request = |method: Method, uri: String, branch: &str, cseq: &str| {
            Request::new(method, uri)
                .with_header("Via", format!("SIP/2.0/UDP {local};branch={branch};rport"))
                .with_header("Max-Forwards", "70")
                .with_header("From", from.clone())
                .with_header("To", to.clone())
                .with_header("Call-ID", call.call_id.clone())
                .with_header("CSeq", cseq)
                .to_bytes()
        };

        if !resp.status.is_success() {
            // ACK for a failure: same branch, hop by hop.
            self.send(&request(Method::Ack, ruri, &branch, "1 ACK"), gw)
                .await;
            return;
        }

        // Answered: ACK to the Contact, hold, BYE.
        let target = resp
            .header("Contact")
            .and_then(|c| NameAddr::parse(c, "Contact").ok())
            .map(|c| c.uri)
            .unwrap_or(ruri);
        let ack = request(Method::Ack, target.clone(), &rng.branch(), "1 ACK");
        self.send(&ack, gw).await;
        let hang_up = tokio::time::Instant::now() + HOLD;
        loop {
            match tokio::time::timeout_at(hang_up, rx.recv()).await {
                Err(_) | Ok(None) => break,
                // A retransmitted 200: our ACK was lost.
                Ok(Some(r)) if r.status.is_success() && cseq_method(&r) == Some(Method::Invite) => {
                    self.send(&ack, gw).await;
                }
                Ok(Some(_)) => {}
            }
        }
        let bye = request(Method::Bye, target, &rng.branch(), "2 BYE");
        self.send(&bye, gw).await;
        let give_up = tokio::time::Instant::now() + 64 * T1;
        let mut wait = T1;
        loop {
            let next = (tokio::time::Instant::now() + wait).min(give_up);
            match tokio::time::timeout_at(next, rx.recv()).await {
                Ok(Some(r)) => {
                    if cseq_method(&r) == Some(Method::Bye) && r.status.is_final() {
                        report.bye_status = Some(r.status.code());
                        return;
                    }
                    if r.status.is_success() && cseq_method(&r) == Some(Method::Invite) {
                        self.send(&ack, gw).await;
                    }
                }
                Ok(None) => return,
                Err(_) => {
                    if tokio::time::Instant::now() >= give_up {
                        return;
                    }
                    self.send(&bye, gw).await;
                    wait = (wait * 2).min(T2);
                }
            }
        }
    }
}

/// The method of a response's CSeq.
fn cseq_method(r: &Response) -> Option<Method> {
    r.cseq().ok().map(|c| c.method)
}

/// The next SIP message on `socket` (receive errors and unparsable
/// datagrams are logged and skipped).
async fn recv_sip(socket: &UdpSocket, buf: &mut [u8], who: &str) -> (SipMessage, SocketAddr) {
    loop {
        let (n, from) = match socket.recv_from(buf).await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "{who}: receive failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        match SipMessage::parse(&buf[..n]) {
            Ok(m) => return (m, from),
            Err(e) => warn!(error = %e, "{who}: unparsable message"),
        }
    }
}
