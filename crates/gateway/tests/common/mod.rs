//! Shared by the end-to-end tests: a gateway on a free port, sipp runs,
//! scratch directories, bounded waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn sipp_flag(self) -> &'static str {
        match self {
            Proto::Udp => "u1",
            Proto::Tcp => "t1",
        }
    }
}

pub fn scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/sipp")
        .join(name)
}

pub fn sipp() -> &'static str {
    let ok = Command::new("sipp")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    assert!(
        ok,
        "sipp is not on PATH: install it (Debian/Ubuntu: apt-get install -y sip-tester); \
         these end-to-end tests cannot run without it"
    );
    "sipp"
}

/// A scratch directory for one test's config and logs.
pub fn scratch(test: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "tonegate-sipp-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A port free on 127.0.0.1 for both UDP and TCP right now.
///
/// The kernel may hand the same ephemeral port to two tests running in
/// parallel (each binds port 0 and lets it go), so a port is given out at
/// most once per test process.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..200 {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_err() {
            continue;
        }
        let mut given = GIVEN.lock().unwrap_or_else(|p| p.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
    panic!("no free port");
}

/// Kills the process when dropped (tests must not leak gateways or sipps).
pub struct Guard(pub Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn wait_bounded(child: &mut Child, limit: Duration) -> Option<ExitStatus> {
    let end = Instant::now() + limit;
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        if Instant::now() > end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct Gateway {
    pub guard: Guard,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// A gateway with one trunk to `carrier_port`; `extra_sip` goes into
/// `[sip]`, `extra` after the trunk (more tables).
pub fn start_gateway(
    dir: &Path,
    carrier_port: u16,
    proto: Proto,
    extra_sip: &str,
    extra: &str,
) -> Gateway {
    let transport = match proto {
        Proto::Udp => "",
        Proto::Tcp => ";transport=tcp",
    };
    let config = format!(
        "[sip]\nlisten = \"127.0.0.1:0\"\n{extra_sip}\n\
         [[trunks]]\nname = \"acme\"\nsources = [\"127.0.0.1/32\"]\n\
         target = \"sip:127.0.0.1:{carrier_port}{transport}\"\n{extra}\n"
    );
    let path = dir.join("tonegate.toml");
    std::fs::write(&path, config).unwrap();
    launch(&path, dir.join("tonegate.log"))
}

/// `tonegate run --config CONFIG`, its log (debug level) in `log`; returns
/// once it listens.
pub fn launch(path: &Path, log: PathBuf) -> Gateway {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(["run", "--config"])
        .arg(path)
        .env("TONEGATE_LOG", "debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start tonegate");
    let stdout = child.stdout.take().unwrap();
    let guard = Guard(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let mut r = BufReader::new(stdout);
        let _ = r.read_line(&mut line);
        let _ = tx.send(line);
        // Keep draining so the gateway never blocks on stdout.
        let _ = std::io::copy(&mut r, &mut std::io::sink());
    });
    let line = rx
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("tonegate did not start; log:\n{}", read(&log)));
    let addr = line
        .trim()
        .strip_prefix("listening ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}; log:\n{}", read(&log)))
        .parse()
        .unwrap();
    Gateway { guard, addr, log }
}

pub fn read(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = std::fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    if s.len() > 20_000 {
        s = format!("...{}", &s[s.len() - 20_000..]);
    }
    s
}

pub fn sipp_cmd(dir: &Path, role: &str, scenario_file: &str, proto: Proto) -> Command {
    let mut c = Command::new(sipp());
    c.arg("-sf")
        .arg(scenario(scenario_file))
        .args(["-i", "127.0.0.1", "-t", proto.sipp_flag(), "-m", "1"])
        .args(["-nostdin", "-timeout", "30s", "-timeout_error"])
        .arg("-trace_err")
        .arg("-error_file")
        .arg(dir.join(format!("{role}_errors.log")))
        .arg("-trace_msg")
        .arg("-message_file")
        .arg(dir.join(format!("{role}_messages.log")))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("{role}_screen.log"))).unwrap())
        .stderr(std::fs::File::create(dir.join(format!("{role}_stderr.log"))).unwrap());
    c
}

/// One request a [`Hook`] received.
#[derive(Debug, Clone)]
pub struct Hooked {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Hooked {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// A webhook receiver on 127.0.0.1: HTTP/1.1, one request per connection,
/// answers each with the status `status` gives for the request's number
/// (0-based), records every request.
pub struct Hook {
    pub port: u16,
    pub got: std::sync::Arc<std::sync::Mutex<Vec<Hooked>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Hook {
    pub fn start(port: u16, status: impl Fn(usize) -> u16 + Send + 'static) -> Hook {
        use std::io::Write as _;
        // Port 0: any free port (see `port`).
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind hook");
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (got2, stop2) = (got.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop2.load(Ordering::Relaxed) {
                let Ok((stream, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                };
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(5)))
                    .unwrap();
                let mut r = BufReader::new(stream);
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.trim_end().split_once(':') {
                        headers.push((k.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let len: usize = headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0);
                let mut body = vec![0u8; len];
                if r.read_exact(&mut body).is_err() {
                    continue;
                }
                let code = status(n);
                n += 1;
                got2.lock().unwrap().push(Hooked {
                    headers,
                    body: String::from_utf8_lossy(&body).into_owned(),
                });
                let mut s = r.into_inner();
                let _ = write!(
                    s,
                    "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            }
        });
        Hook { port, got, stop }
    }

    pub fn requests(&self) -> Vec<Hooked> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded) until `pred` holds for the requests received.
    pub fn wait_for(&self, limit: Duration, pred: impl Fn(&[Hooked]) -> bool) -> Vec<Hooked> {
        let end = Instant::now() + limit;
        loop {
            let got = self.requests();
            if pred(&got) || Instant::now() > end {
                return got;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Hook {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Waits (bounded) until `file` contains `needle` at least `n` times.
pub fn wait_log(file: &Path, needle: &str, n: usize, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    loop {
        if read_all(file).matches(needle).count() >= n {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The whole file (`read` keeps only its tail).
pub fn read_all(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The first port of `n` consecutive UDP ports (the first even) free on
/// 127.0.0.1 right now, between 10000 and 19999 (below the default RTP
/// range and the ephemeral ports), for a gateway's `[rtp] ports`.
pub fn free_rtp_range(n: u16) -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id() as u16 % 200;
    for _ in 0..400 {
        let k = NEXT.fetch_add(1, Ordering::Relaxed) as u16;
        let base = 10_000 + ((seed + k * 7) % 200) * 50;
        let held: Vec<UdpSocket> = (base..base + n)
            .map_while(|p| UdpSocket::bind(("127.0.0.1", p)).ok())
            .collect();
        if held.len() == n as usize {
            return base;
        }
    }
    panic!("no {n} free consecutive UDP ports between 10000 and 19999");
}

/// `"BASE-LAST"` of a free range of `n` ports.
pub fn rtp_ports(n: u16) -> (u16, String) {
    let base = free_rtp_range(n);
    (base, format!("{base}-{}", base + n - 1))
}

/// A sipp carrier (UAS) running `scenario` on `port`, with its media on a
/// free port and `extra` arguments; started before the caller.
pub fn start_carrier(dir: &Path, scenario: &str, port: u16, extra: &[&str]) -> Guard {
    let mut cmd = sipp_cmd(dir, "uas", scenario, Proto::Udp);
    cmd.args(["-p", &port.to_string(), "-mp", &free_port().to_string()])
        .args(extra);
    let guard = Guard(cmd.spawn().expect("start sipp UAS"));
    // Let the carrier bind before the first INVITE reaches it.
    std::thread::sleep(Duration::from_millis(300));
    guard
}

/// A sipp caller (UAC) named `role` running `scenario` against the gateway
/// at `gw`, with `extra` arguments.
pub fn start_caller(
    dir: &Path,
    role: &str,
    scenario: &str,
    gw: SocketAddr,
    extra: &[&str],
) -> Guard {
    let mut cmd = sipp_cmd(dir, role, scenario, Proto::Udp);
    cmd.arg(gw.to_string())
        .args(["-s", "4930123456", "-p", &free_port().to_string()])
        .args(extra);
    Guard(cmd.spawn().expect("start sipp UAC"))
}
