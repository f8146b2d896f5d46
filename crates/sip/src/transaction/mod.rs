//! RFC 3261 §17 transactions, with the RFC 6026 Accepted states.
//!
//! Each state machine is sans-IO: it is started with a message and `now`,
//! told about later messages and timer expiries, and appends [`Action`]s
//! (what to send to its peer, what to hand to the transaction user) to an
//! output vector. [`next_timeout`](ClientInvite::next_timeout) says when it
//! wants to be woken next.
//!
//! Timers (RFC 3261 §17 Table 4 and RFC 6026 §8.4; "reliable" means TCP or
//! TLS):
//!
//! | Timer | Value                  | Used in                                  |
//! |-------|------------------------|------------------------------------------|
//! | A     | T1, doubling (≤ T2 \*) | client INVITE: request retransmit, UDP   |
//! | B     | 64·T1                  | client INVITE: transaction timeout       |
//! | D     | 32 s UDP / 0 reliable  | client INVITE: wait for response retrans.|
//! | E     | T1, doubling ≤ T2      | client non-INVITE: retransmit, UDP       |
//! | F     | 64·T1                  | client non-INVITE: transaction timeout   |
//! | G     | T1, doubling ≤ T2      | server INVITE: response retransmit, UDP  |
//! | H     | 64·T1                  | server INVITE: wait for ACK              |
//! | I     | T4 UDP / 0 reliable    | server INVITE: wait for ACK retransmits  |
//! | J     | 64·T1 UDP / 0 reliable | server non-INVITE: wait for request ret. |
//! | K     | T4 UDP / 0 reliable    | client non-INVITE: wait for response ret.|
//! | L     | 64·T1                  | server INVITE Accepted (RFC 6026)        |
//! | M     | 64·T1                  | client INVITE Accepted (RFC 6026)        |
//!
//! \* RFC 3261 §17.1.1.2 doubles Timer A without bound; like most carrier
//! stacks we cap it at T2 by default ([`TimerConfig::cap_timer_a`]), giving
//! retransmissions at 0.5, 1.5, 3.5, 7.5, 11.5, ... s.

use std::fmt;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::message::{Method, Request, Response};

mod client_invite;
mod client_non_invite;
mod server_invite;
mod server_non_invite;

pub use client_invite::{ClientInvite, ClientInviteState};
pub use client_non_invite::{ClientNonInvite, ClientNonInviteState};
pub use server_invite::{ServerInvite, ServerInviteState};
pub use server_non_invite::{ServerNonInvite, ServerNonInviteState};

/// Transport protocol of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP: unreliable, the transaction layer retransmits.
    Udp,
    /// TCP: reliable, no retransmissions, zero wait timers.
    Tcp,
    /// TLS over TCP: reliable.
    Tls,
}

impl Transport {
    /// Whether the transport is reliable (RFC 3261 §17: no retransmissions).
    pub fn is_reliable(self) -> bool {
        !matches!(self, Self::Udp)
    }

    /// The Via transport token.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Udp => "UDP",
            Self::Tcp => "TCP",
            Self::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// T1, T2, T4 (RFC 3261 §17.1.1.1 and Table 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerConfig {
    /// RTT estimate, default 500 ms.
    pub t1: Duration,
    /// Maximum retransmit interval for non-INVITE requests and INVITE
    /// responses, default 4 s.
    pub t2: Duration,
    /// Maximum time a message remains in the network, default 5 s.
    pub t4: Duration,
    /// Cap Timer A at T2 (default true; see the module docs).
    pub cap_timer_a: bool,
}

impl Default for TimerConfig {
    fn default() -> Self {
        Self {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            cap_timer_a: true,
        }
    }
}

impl TimerConfig {
    /// 64·T1: Timers B, F, H, J (UDP), L, M.
    pub fn t1_x64(&self) -> Duration {
        self.t1 * 64
    }

    /// Timer D: at least 32 s on UDP, zero on reliable transports.
    pub fn timer_d(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            Duration::from_secs(32).max(self.t1_x64())
        }
    }

    /// Timers I and K: T4 on UDP, zero on reliable transports.
    pub fn t4_or_zero(&self, reliable: bool) -> Duration {
        if reliable {
            Duration::ZERO
        } else {
            self.t4
        }
    }
}

/// Transaction timers by their RFC names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Timer {
    /// INVITE request retransmit.
    A,
    /// INVITE transaction timeout.
    B,
    /// Wait for INVITE response retransmits.
    D,
    /// Non-INVITE request retransmit.
    E,
    /// Non-INVITE transaction timeout.
    F,
    /// INVITE response retransmit.
    G,
    /// Wait for ACK.
    H,
    /// Wait for ACK retransmits.
    I,
    /// Wait for non-INVITE request retransmits.
    J,
    /// Wait for non-INVITE response retransmits.
    K,
    /// Server INVITE Accepted (RFC 6026).
    L,
    /// Client INVITE Accepted (RFC 6026).
    M,
}

/// Key of a client transaction (RFC 3261 §17.1.3): the branch we put in
/// the top Via and the CSeq method (so a CANCEL with the INVITE's branch is
/// a different transaction).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientKey {
    /// Top Via branch.
    pub branch: String,
    /// CSeq method.
    pub method: Method,
}

/// Key of a server transaction (RFC 3261 §17.2.3): top Via branch,
/// sent-by, and method, with ACK folded into INVITE.
///
/// For requests without the RFC 3261 magic cookie the branch field holds a
/// synthetic RFC 2543 key built from Call-ID, From tag, CSeq number and the
/// top Via.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerKey {
    /// Top Via branch (or the RFC 2543 synthetic key).
    pub branch: String,
    /// Top Via sent-by, lower-cased.
    pub sent_by: String,
    /// Request method (INVITE for ACK).
    pub method: Method,
}

impl ServerKey {
    /// The key a request belongs to.
    pub fn for_request(req: &Request) -> Result<Self, crate::Error> {
        let via = req.top_via()?;
        let method = match req.method {
            Method::Ack => Method::Invite,
            ref m => m.clone(),
        };
        let branch = if via.is_rfc3261() {
            via.branch().unwrap_or_default().to_owned()
        } else {
            // RFC 3261 §17.2.3, backwards compatibility with RFC 2543.
            format!(
                "rfc2543;{};{};{};{}",
                req.call_id()?,
                req.from_tag().unwrap_or_default(),
                req.cseq()?.seq,
                via
            )
        };
        Ok(Self {
            branch,
            sent_by: via.sent_by(),
            method,
        })
    }

    /// The key of the INVITE transaction a CANCEL with this key targets
    /// (RFC 3261 §9.2).
    pub fn invite_of_cancel(&self) -> Self {
        Self {
            branch: self.branch.clone(),
            sent_by: self.sent_by.clone(),
            method: Method::Invite,
        }
    }
}

/// A client or server transaction key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TransactionKey {
    /// Client transaction.
    Client(ClientKey),
    /// Server transaction.
    Server(ServerKey),
}

/// What a state machine asks its owner to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send these bytes to the transaction's peer.
    Send(Bytes),
    /// Client transactions: pass this response to the TU.
    Deliver(Response),
    /// A timer expired in a way the TU must hear about (B, F, H, or L
    /// without an ACK for a 2xx).
    Timeout(Timer),
    /// Server INVITE in Accepted: an ACK for the 2xx matched this
    /// transaction (RFC 6026 §8.7: passed to the TU).
    AckForTu(Request),
}

/// Double `interval`, capped at `cap`.
pub(crate) fn backoff(interval: Duration, cap: Option<Duration>) -> Duration {
    let next = interval * 2;
    match cap {
        Some(c) => next.min(c),
        None => next,
    }
}

/// The earliest of a set of optional deadlines.
pub(crate) fn earliest(deadlines: &[Option<Instant>]) -> Option<Instant> {
    deadlines.iter().flatten().min().copied()
}

/// Whether `deadline` is set and due at `now`.
pub(crate) fn due(deadline: Option<Instant>, now: Instant) -> bool {
    deadline.is_some_and(|d| d <= now)
}
