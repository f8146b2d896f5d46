//! The gateway's TOML configuration (`tonegate run --config FILE`).
//!
//! Every key, with its default, is in `deploy/tonegate.toml` (a test parses
//! it); the main ones:
//!
//! ```toml
//! [sip]
//! listen = "127.0.0.1:5060"          # UDP and TCP, same address; port 0 picks a free port
//! # advertise = "198.51.100.7:5060"  # Via sent-by / Contact host; default: the bound address
//! # t1_ms = 500                      # RFC 3261 T1 (Timer B = 64*T1 gives 408 to the caller)
//! # t2_ms = 4000                     # RFC 3261 T2
//! # t4_ms = 5000                     # RFC 3261 T4
//! # max_message_size = 65535        # larger datagrams / stream messages are dropped
//! # copy_headers = ["X-User-Data"]   # copied from the customer's INVITE to the carrier's
//! # user_data_header = "X-User-Data" # its value is the events' userData
//! # tcp_connect_timeout_ms = 3000    # outbound TCP connects to carriers
//!
//! [[trunks]]
//! name = "acme"
//! sources = ["127.0.0.1/32"]         # who may send calls on this trunk
//! target = "sip:127.0.0.1:5080"      # the carrier gateway (";transport=tcp" for TCP)
//!
//! [rtp]                              # without this table media is not anchored:
//!                                    # SDP passes untouched and nothing is heard
//! ports = "20000-29999"              # RTP even, RTCP odd; each call takes two pairs
//! address = "127.0.0.1"              # advertised in SDP c= lines
//! # bind = "127.0.0.1"               # local address of the RTP sockets; default: address
//! # strict_latching = false          # true: drop packets from other sources than the party's
//! # timeout_s = 60                   # answered call without RTP this long: BYE both ways (0: never)
//! # jitter_ms = 60                   # early-media jitter buffer
//!
//! [recordings]
//! dir = "/var/lib/tonegate/recordings"  # early media of every call, <Call-ID>.wav
//! # whole_call = false               # also the rest of the call (carrier side, and
//!                                    # the customer's side in <Call-ID>.caller.wav)
//!
//! [classify]
//! # library = "/var/lib/tonegate/library"  # default: the library shipped in testdata
//! ```
//!
//! Every table rejects unknown keys, with an error naming the key.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tonegate_sip::b2bua::{max_duration, B2buaConfig, Cidr, Limits, MediaConfig, Trunk};
use tonegate_sip::{EndpointConfig, TimerConfig};

/// What can be wrong with a configuration file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Not valid TOML, a missing or unknown key, or a value of the wrong type.
    #[error("config {path}: {source}")]
    Parse {
        /// The file (empty when parsed from a string).
        path: PathBuf,
        /// What toml/serde said (names the key and the line).
        #[source]
        source: toml::de::Error,
    },
    /// A trunk source is not an address or CIDR network.
    #[error("trunk {trunk:?}: source {value:?} is not an IP address or CIDR network")]
    InvalidSource {
        /// Trunk name.
        trunk: String,
        /// The rejected value.
        value: String,
    },
    /// A trunk target is not a `sip:` URI with an IP host.
    #[error(
        "trunk {trunk:?}: target {target:?} is not a sip: URI with an IP address host: {source}"
    )]
    InvalidTarget {
        /// Trunk name.
        trunk: String,
        /// The rejected value.
        target: String,
        /// Why.
        #[source]
        source: tonegate_sip::Error,
    },
    /// Two trunks share a name.
    #[error("trunk name {name:?} is used twice")]
    DuplicateTrunk {
        /// The name.
        name: String,
    },
    /// A trunk has no sources, so it could never carry a call.
    #[error("trunk {trunk:?} has no sources")]
    NoSources {
        /// Trunk name.
        trunk: String,
    },
    /// `sip.listen` is a wildcard address and `sip.advertise` is missing.
    #[error("sip.listen is {listen}: set sip.advertise to the address peers should use")]
    AdvertiseRequired {
        /// The wildcard listen address.
        listen: SocketAddr,
    },
    /// `rtp.ports` is not `LOW-HIGH` with 1024 <= LOW and room for a call.
    #[error("rtp.ports {value:?} must be \"LOW-HIGH\" with LOW >= 1024 and room for at least two port pairs")]
    InvalidPorts {
        /// The rejected value.
        value: String,
    },
    /// A trunk's webhook settings are unusable.
    #[error("trunk {trunk:?}: {reason}")]
    InvalidCallback {
        /// Trunk name.
        trunk: String,
        /// What is wrong.
        reason: String,
    },
    /// `events.time_zone` is not a known IANA time zone.
    #[error("events.time_zone {value:?} is not an IANA time zone name")]
    InvalidTimeZone {
        /// The rejected value.
        value: String,
    },
    /// `rtp.jitter_ms` out of range.
    #[error("rtp.jitter_ms must be between 20 and 1000")]
    InvalidJitter,
    /// A timer is zero or T2 < T1.
    #[error("sip timers: {reason}")]
    InvalidTimers {
        /// What is wrong.
        reason: &'static str,
    },
}

impl ConfigError {
    /// The key the error is about, as a dotted path.
    pub fn key(&self) -> Option<&'static str> {
        Some(match self {
            Self::InvalidSource { .. } | Self::NoSources { .. } => "trunks.sources",
            Self::InvalidTarget { .. } => "trunks.target",
            Self::DuplicateTrunk { .. } => "trunks.name",
            Self::AdvertiseRequired { .. } => "sip.advertise",
            Self::InvalidTimers { .. } => "sip.t1_ms",
            Self::InvalidPorts { .. } => "rtp.ports",
            Self::InvalidJitter => "rtp.jitter_ms",
            Self::InvalidCallback { .. } => "trunks",
            Self::InvalidTimeZone { .. } => "events.time_zone",
            Self::Read { .. } | Self::Parse { .. } => return None,
        })
    }

    /// The 1-based line of `text` the error points at, when it can be told.
    pub fn line(&self, text: &str) -> Option<usize> {
        let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
        if let Self::Parse { source, .. } = self {
            return source.span().map(|s| line_of(s.start));
        }
        // The value as written, else the key's name.
        let needle = match self {
            Self::InvalidSource { value, .. } => format!("\"{value}\""),
            Self::InvalidTarget { target, .. } => format!("\"{target}\""),
            Self::DuplicateTrunk { name } => format!("\"{name}\""),
            Self::InvalidPorts { value } => format!("\"{value}\""),
            Self::InvalidTimeZone { value } => format!("\"{value}\""),
            Self::InvalidCallback { reason, .. } => reason
                .split_whitespace()
                .next()
                .unwrap_or("callback_url")
                .to_owned(),
            _ => self.key()?.rsplit('.').next()?.to_owned(),
        };
        let mut found = None;
        for (i, l) in text.lines().enumerate() {
            let code = l.split('#').next().unwrap_or("");
            if code.contains(&needle) {
                found = Some(i + 1);
                // The last occurrence for a duplicate name, else the first.
                if !matches!(self, Self::DuplicateTrunk { .. }) {
                    break;
                }
            }
        }
        found
    }
}

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The `[sip]` table.
    pub sip: SipConfig,
    /// The `[[trunks]]` tables, searched in order.
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    /// `[rtp]`: media anchoring; absent, SDP is relayed untouched.
    #[serde(default)]
    pub rtp: Option<RtpConfig>,
    /// `[recordings]`; absent, nothing is recorded.
    #[serde(default)]
    pub recordings: Option<RecordingsConfig>,
    /// `[classify]`.
    #[serde(default)]
    pub classify: ClassifyConfig,
    /// `[http]`; absent, no HTTP listener (and no `recordUrl`).
    #[serde(default)]
    pub http: Option<HttpConfig>,
    /// `[events]`.
    #[serde(default)]
    pub events: EventsConfig,
    /// `[limits]`.
    #[serde(default)]
    pub limits: LimitsConfig,
}

/// `[limits]`: the gateway's caps (trunks have `max_calls` and `cps` too).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsConfig {
    /// Concurrent calls (0: unlimited).
    #[serde(default)]
    pub max_calls: usize,
    /// New calls per second (0: unlimited).
    #[serde(default)]
    pub cps: f64,
    /// Calls are ended after this many seconds (0: never).
    #[serde(default)]
    pub max_call_duration_s: u64,
    /// On SIGTERM, calls in progress get this long to finish (then they are
    /// ended); no new call is taken meanwhile.
    #[serde(default = "default_drain_timeout")]
    pub drain_timeout_s: u64,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_calls: 0,
            cps: 0.0,
            max_call_duration_s: 0,
            drain_timeout_s: default_drain_timeout(),
        }
    }
}

fn default_drain_timeout() -> u64 {
    30
}

/// `max_calls`/`cps` pairs as the B2BUA's limits (0 means none).
fn limits(max_calls: usize, cps: f64) -> Limits {
    Limits {
        max_calls: (max_calls > 0).then_some(max_calls),
        cps: (cps > 0.0).then_some(cps),
    }
}

/// `[rtp]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtpConfig {
    /// `"LOW-HIGH"`: RTP on even ports, RTCP on the odd one above.
    #[serde(default = "default_rtp_ports")]
    pub ports: String,
    /// Address written into SDP.
    pub address: IpAddr,
    /// Local address of the RTP sockets (default: `address`).
    #[serde(default)]
    pub bind: Option<IpAddr>,
    /// Drop packets from sources other than the party's.
    #[serde(default)]
    pub strict_latching: bool,
    /// Seconds without RTP after which an answered call is released (0: never).
    #[serde(default = "default_rtp_timeout")]
    pub timeout_s: u64,
    /// Jitter buffer of the early-media tap, ms (20..=1000).
    #[serde(default = "default_jitter_ms")]
    pub jitter_ms: u32,
}

/// `[recordings]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordingsConfig {
    /// Directory of the recordings (created if missing).
    pub dir: PathBuf,
    /// Record the whole call, not only the early media.
    #[serde(default)]
    pub whole_call: bool,
    /// Recordings older than this many days are deleted (0: kept forever).
    #[serde(default = "default_retention")]
    pub retention_days: u64,
}

fn default_retention() -> u64 {
    30
}

/// `[classify]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassifyConfig {
    /// The announcement library (default: the one shipped in testdata).
    #[serde(default)]
    pub library: Option<PathBuf>,
}

fn default_rtp_ports() -> String {
    "20000-29999".to_owned()
}
fn default_rtp_timeout() -> u64 {
    60
}
fn default_jitter_ms() -> u32 {
    60
}

impl TrunkConfig {
    fn check_callback(&self) -> Result<(), ConfigError> {
        let bad = |reason: String| ConfigError::InvalidCallback {
            trunk: self.name.clone(),
            reason,
        };
        if let Some(url) = &self.callback_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(bad(format!("callback_url {url:?} is not an http(s) URL")));
            }
        }
        if !(self.retry_interval_s > 0.0 && self.retry_interval_s.is_finite()) {
            return Err(bad("retry_interval_s must be above 0".to_owned()));
        }
        if !(self.cps >= 0.0 && self.cps.is_finite()) {
            return Err(bad("cps must be 0 (unlimited) or above".to_owned()));
        }
        if self.callback_timeout_ms == 0 {
            return Err(bad("callback_timeout_ms must be above 0".to_owned()));
        }
        for (code, status) in &self.early_release_status {
            if code.parse::<u16>().is_err() || !(300..=699).contains(status) {
                return Err(bad(format!(
                    "early_release_status {code:?} = {status}: keys are codes, values SIP statuses 300-699"
                )));
            }
        }
        Ok(())
    }

    /// The SIP status of an early release on `code` (default 480).
    pub fn early_release_status(&self, code: u16) -> u16 {
        self.early_release_status
            .get(&code.to_string())
            .copied()
            .unwrap_or(480)
    }

    /// Whether the early media's `code` releases the call.
    pub fn releases_on(&self, code: u16) -> bool {
        self.early_release
            && self
                .early_release_codes
                .as_ref()
                .map_or(true, |codes| codes.contains(&code))
    }
}

impl RtpConfig {
    /// The port range, checked.
    pub fn port_range(&self) -> Result<RangeInclusive<u16>, ConfigError> {
        let bad = || ConfigError::InvalidPorts {
            value: self.ports.clone(),
        };
        let (lo, hi) = self.ports.split_once('-').ok_or_else(bad)?;
        let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
        let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
        // Room for at least one call: two RTP/RTCP pairs.
        if lo < 1024 || hi < lo || (hi - lo) < 4 {
            return Err(bad());
        }
        Ok(lo..=hi)
    }
}

/// `[sip]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SipConfig {
    /// UDP and TCP listen address.
    pub listen: SocketAddr,
    /// host[:port] put in our Via and Contact; default: the bound address.
    #[serde(default)]
    pub advertise: Option<String>,
    /// T1 in milliseconds (default 500).
    #[serde(default = "default_t1")]
    pub t1_ms: u64,
    /// T2 in milliseconds (default 4000).
    #[serde(default = "default_t2")]
    pub t2_ms: u64,
    /// T4 in milliseconds (default 5000).
    #[serde(default = "default_t4")]
    pub t4_ms: u64,
    /// Largest accepted message in bytes (default 65535).
    #[serde(default = "default_max_message")]
    pub max_message_size: usize,
    /// Headers copied from the customer's INVITE (default `["X-User-Data"]`).
    #[serde(default = "default_copy_headers")]
    pub copy_headers: Vec<String>,
    /// The customer's header whose value is the events' `userData`.
    #[serde(default = "default_user_data_header")]
    pub user_data_header: String,
    /// Timeout of outbound TCP connects in milliseconds (default 3000).
    #[serde(default = "default_connect_timeout")]
    pub tcp_connect_timeout_ms: u64,
}

/// One `[[trunks]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    /// Name for logs.
    pub name: String,
    /// Networks allowed to send calls on this trunk (`10.0.0.0/8`, `192.0.2.7`).
    pub sources: Vec<String>,
    /// The carrier: `sip:IP[:port][;transport=tcp]`.
    pub target: String,
    /// Where this trunk's events are POSTed (none: no events).
    #[serde(default)]
    pub callback_url: Option<String>,
    /// Which events to send (default both).
    #[serde(default = "default_events")]
    pub events: Vec<EventKind>,
    /// Shared secret: bodies are signed (`X-Tonegate-Signature: sha256=<hex>`).
    #[serde(default)]
    pub callback_secret: Option<String>,
    /// Timeout of one delivery attempt, ms (default 5000).
    #[serde(default = "default_callback_timeout")]
    pub callback_timeout_ms: u64,
    /// Delay between delivery attempts, seconds (default 300).
    #[serde(default = "default_retry_interval")]
    pub retry_interval_s: f64,
    /// Retries after the first attempt (default 3).
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Release the call as soon as the early media says a code of
    /// `early_release_codes` (default off).
    #[serde(default)]
    pub early_release: bool,
    /// Codes that release early (default: every code the classifier hears).
    #[serde(default)]
    pub early_release_codes: Option<Vec<u16>>,
    /// SIP status answered to the customer on an early release, by code
    /// (keys are codes as strings: `"2114" = 404`); default 480.
    #[serde(default)]
    pub early_release_status: HashMap<String, u16>,
    /// Concurrent calls on this trunk (0: unlimited).
    #[serde(default)]
    pub max_calls: usize,
    /// New calls per second on this trunk (0: unlimited).
    #[serde(default)]
    pub cps: f64,
}

/// A webhook event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum EventKind {
    /// One per unanswered call, with the hangup code.
    HangupCauseEvent,
    /// One per call, answered or not.
    SipDockingCallEnd,
}

/// `[http]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Listen address of recordings, metrics and health checks.
    pub listen: SocketAddr,
    /// Base of `recordUrl` (default `http://<listen>`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Key of the recording URL tokens (default: a random one per start,
    /// so URLs do not survive a restart).
    #[serde(default)]
    pub secret: Option<String>,
}

/// `[events]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsConfig {
    /// The durable outbox file (redb), created if missing.
    #[serde(default = "default_outbox")]
    pub outbox: PathBuf,
    /// Time zone of the `yyyy-MM-dd HH:mm:ss` times of SipDockingCallEnd.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    /// Deliveries in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
}

impl Default for EventsConfig {
    fn default() -> Self {
        Self {
            outbox: default_outbox(),
            time_zone: default_time_zone(),
            concurrency: default_concurrency(),
        }
    }
}

fn default_events() -> Vec<EventKind> {
    vec![EventKind::HangupCauseEvent, EventKind::SipDockingCallEnd]
}
fn default_callback_timeout() -> u64 {
    5000
}
fn default_retry_interval() -> f64 {
    300.0
}
fn default_retries() -> u32 {
    3
}
fn default_outbox() -> PathBuf {
    PathBuf::from("tonegate-outbox.redb")
}
fn default_time_zone() -> String {
    "Asia/Shanghai".to_owned()
}
fn default_concurrency() -> usize {
    16
}

fn default_t1() -> u64 {
    500
}
fn default_t2() -> u64 {
    4000
}
fn default_t4() -> u64 {
    5000
}
fn default_max_message() -> usize {
    65535
}
fn default_copy_headers() -> Vec<String> {
    vec!["X-User-Data".to_owned()]
}
fn default_user_data_header() -> String {
    "X-User-Data".to_owned()
}
fn default_connect_timeout() -> u64 {
    3000
}

impl Config {
    /// Read and check a file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text).map_err(|e| match e {
            ConfigError::Parse { source, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                source,
            },
            other => other,
        })
    }

    /// Parse and check TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let config: Self = toml::from_str(text).map_err(|source| ConfigError::Parse {
            path: PathBuf::new(),
            source,
        })?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let s = &self.sip;
        if s.t1_ms == 0 || s.t2_ms == 0 || s.t4_ms == 0 {
            return Err(ConfigError::InvalidTimers {
                reason: "t1_ms, t2_ms and t4_ms must be above 0",
            });
        }
        if s.t2_ms < s.t1_ms {
            return Err(ConfigError::InvalidTimers {
                reason: "t2_ms must not be below t1_ms",
            });
        }
        if s.listen.ip().is_unspecified() && s.advertise.is_none() {
            return Err(ConfigError::AdvertiseRequired { listen: s.listen });
        }
        let mut names = std::collections::HashSet::new();
        for t in &self.trunks {
            if !names.insert(t.name.as_str()) {
                return Err(ConfigError::DuplicateTrunk {
                    name: t.name.clone(),
                });
            }
        }
        if jiff::tz::TimeZone::get(&self.events.time_zone).is_err() {
            return Err(ConfigError::InvalidTimeZone {
                value: self.events.time_zone.clone(),
            });
        }
        for t in &self.trunks {
            t.check_callback()?;
        }
        if let Some(rtp) = &self.rtp {
            rtp.port_range()?;
            if !(20..=1000).contains(&rtp.jitter_ms) {
                return Err(ConfigError::InvalidJitter);
            }
        }
        self.trunks().map(|_| ())
    }

    /// The trunk table for the B2BUA.
    pub fn trunks(&self) -> Result<Vec<Trunk>, ConfigError> {
        self.trunks
            .iter()
            .map(|t| {
                if t.sources.is_empty() {
                    return Err(ConfigError::NoSources {
                        trunk: t.name.clone(),
                    });
                }
                let sources = t
                    .sources
                    .iter()
                    .map(|v| {
                        v.parse::<Cidr>().map_err(|_| ConfigError::InvalidSource {
                            trunk: t.name.clone(),
                            value: v.clone(),
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut trunk =
                    Trunk::new(t.name.clone(), sources, t.target.clone()).map_err(|source| {
                        ConfigError::InvalidTarget {
                            trunk: t.name.clone(),
                            target: t.target.clone(),
                            source,
                        }
                    })?;
                trunk.limits = limits(t.max_calls, t.cps);
                Ok(trunk)
            })
            .collect()
    }

    /// The B2BUA configuration, given the address actually bound (which
    /// differs from `sip.listen` when its port is 0).
    pub fn b2bua(&self, bound: SocketAddr) -> Result<B2buaConfig, ConfigError> {
        let s = &self.sip;
        Ok(B2buaConfig {
            endpoint: EndpointConfig {
                timers: TimerConfig {
                    t1: Duration::from_millis(s.t1_ms),
                    t2: Duration::from_millis(s.t2_ms),
                    t4: Duration::from_millis(s.t4_ms),
                    ..TimerConfig::default()
                },
                via_sent_by: s.advertise.clone().unwrap_or_else(|| bound.to_string()),
                max_message_size: s.max_message_size,
            },
            trunks: self.trunks()?,
            copy_headers: s.copy_headers.clone(),
            user_data_header: s.user_data_header.clone(),
            limits: limits(self.limits.max_calls, self.limits.cps),
            max_call_duration: max_duration(self.limits.max_call_duration_s),
            media: match &self.rtp {
                Some(r) => Some(MediaConfig {
                    address: r.address,
                    ports: r.port_range()?,
                }),
                None => None,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
[sip]
listen = "127.0.0.1:5060"
[[trunks]]
name = "acme"
sources = ["127.0.0.1/32"]
target = "sip:127.0.0.1:5080"
"#;

    #[test]
    fn minimal_config_with_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.sip.listen, "127.0.0.1:5060".parse().unwrap());
        assert_eq!(c.sip.t1_ms, 500);
        assert_eq!(c.sip.copy_headers, vec!["X-User-Data"]);
        let b = c.b2bua("127.0.0.1:5060".parse().unwrap()).unwrap();
        assert_eq!(b.endpoint.via_sent_by, "127.0.0.1:5060");
        assert_eq!(b.trunks.len(), 1);
        assert_eq!(b.trunks[0].target, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(b.endpoint.timers.t1, Duration::from_millis(500));
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (text, key) in [
            (
                MINIMAL.replace("[sip]\n", "[sip]\nlistne = \"x\"\n"),
                "listne",
            ),
            (
                MINIMAL.replace("name = \"acme\"", "name = \"acme\"\nsource = []"),
                "source",
            ),
            (format!("{MINIMAL}\n[media]\nports = 1\n"), "media"),
            (
                format!("{MINIMAL}\n[rtp]\naddress = \"127.0.0.1\"\nport = \"1-2\"\n"),
                "port",
            ),
        ] {
            let err = Config::parse(&text).unwrap_err().to_string();
            assert!(err.contains(&format!("unknown field `{key}`")), "{err}");
        }
    }

    #[test]
    fn bad_values_are_explained() {
        let e = Config::parse(&MINIMAL.replace("127.0.0.1/32", "127.0.0.1/40")).unwrap_err();
        assert!(matches!(e, ConfigError::InvalidSource { .. }), "{e}");
        let e = Config::parse(&MINIMAL.replace("sip:127.0.0.1:5080", "sip:carrier.example"))
            .unwrap_err();
        assert!(matches!(e, ConfigError::InvalidTarget { .. }), "{e}");
        let e = Config::parse(&MINIMAL.replace("127.0.0.1:5060", "0.0.0.0:5060")).unwrap_err();
        assert!(matches!(e, ConfigError::AdvertiseRequired { .. }), "{e}");
        let e = Config::parse(&MINIMAL.replace("[sip]\n", "[sip]\nt1_ms = 0\n")).unwrap_err();
        assert!(matches!(e, ConfigError::InvalidTimers { .. }), "{e}");
        let e = Config::parse(&MINIMAL.replace("\"127.0.0.1:5060\"", "5060")).unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
        let twice = format!(
            "{MINIMAL}{}",
            &MINIMAL[MINIMAL.find("[[trunks]]").unwrap()..]
        );
        let e = Config::parse(&twice).unwrap_err();
        assert!(matches!(e, ConfigError::DuplicateTrunk { .. }), "{e}");
        let e = Config::parse("[sip]\n").unwrap_err();
        assert!(e.to_string().contains("listen"), "{e}");
    }

    #[test]
    fn the_documented_config_parses_with_its_defaults() {
        let text = include_str!("../../../deploy/tonegate.toml");
        let c = Config::parse(text).unwrap();
        let d = Config::parse(MINIMAL).unwrap();
        // The file states the defaults: parsed, it equals a minimal config's.
        assert_eq!(c.sip.t1_ms, d.sip.t1_ms);
        assert_eq!(c.sip.copy_headers, d.sip.copy_headers);
        assert_eq!(c.sip.user_data_header, d.sip.user_data_header);
        assert_eq!(c.trunks[0].events, d.trunks[0].events);
        assert_eq!(c.trunks[0].retries, d.trunks[0].retries);
        assert_eq!(c.trunks[0].retry_interval_s, d.trunks[0].retry_interval_s);
        assert_eq!(
            c.trunks[0].callback_timeout_ms,
            d.trunks[0].callback_timeout_ms
        );
        assert_eq!(c.limits.drain_timeout_s, d.limits.drain_timeout_s);
        assert_eq!(c.events.time_zone, d.events.time_zone);
        assert_eq!(c.events.concurrency, d.events.concurrency);
        let rtp = c.rtp.unwrap();
        assert_eq!((rtp.timeout_s, rtp.jitter_ms), (60, 60));
        assert_eq!(rtp.ports, default_rtp_ports());
        assert_eq!(c.recordings.unwrap().retention_days, default_retention());
    }

    #[test]
    fn rtp_recordings_and_library() {
        let c = Config::parse(MINIMAL).unwrap();
        assert!(c.rtp.is_none() && c.recordings.is_none());
        assert!(c
            .b2bua("127.0.0.1:5060".parse().unwrap())
            .unwrap()
            .media
            .is_none());
        let text = format!(
            "{MINIMAL}[rtp]\naddress = \"192.0.2.1\"\n[recordings]\ndir = \"/tmp/r\"\n\
             [classify]\nlibrary = \"lib\"\n"
        );
        let c = Config::parse(&text).unwrap();
        let rtp = c.rtp.as_ref().unwrap();
        assert_eq!(
            (rtp.timeout_s, rtp.jitter_ms, rtp.strict_latching),
            (60, 60, false)
        );
        let media = c
            .b2bua("127.0.0.1:5060".parse().unwrap())
            .unwrap()
            .media
            .unwrap();
        assert_eq!(media.ports, 20000..=29999);
        assert_eq!(media.address, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!(c.classify.library.as_deref(), Some(Path::new("lib")));
        for ports in ["20000", "30000-20000", "80-90", "20000-20002", "a-b"] {
            let t = format!("{MINIMAL}[rtp]\naddress = \"192.0.2.1\"\nports = \"{ports}\"\n");
            let e = Config::parse(&t).unwrap_err();
            assert!(
                matches!(e, ConfigError::InvalidPorts { .. }),
                "{ports}: {e}"
            );
        }
        let t = format!("{MINIMAL}[rtp]\naddress = \"192.0.2.1\"\njitter_ms = 5\n");
        assert!(matches!(Config::parse(&t), Err(ConfigError::InvalidJitter)));
    }

    #[test]
    fn advertise_and_tcp_target() {
        let text = MINIMAL
            .replace(
                "[sip]\n",
                "[sip]\nadvertise = \"gw.example:5060\"\nt1_ms = 50\n",
            )
            .replace("sip:127.0.0.1:5080", "sip:127.0.0.1:5080;transport=tcp");
        let c = Config::parse(&text).unwrap();
        let b = c.b2bua("127.0.0.1:40000".parse().unwrap()).unwrap();
        assert_eq!(b.endpoint.via_sent_by, "gw.example:5060");
        assert_eq!(b.trunks[0].transport, tonegate_sip::Transport::Tcp);
        assert_eq!(b.endpoint.timers.t1, Duration::from_millis(50));
    }
}
