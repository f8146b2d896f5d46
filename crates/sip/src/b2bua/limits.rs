//! Admission control and call-duration limits: calls per second (a token
//! bucket) and concurrent calls, globally and per trunk; draining (no new
//! calls); a maximum call duration. A call over a limit is answered 503
//! with Retry-After and reported as [`CallEvent::Rejected`].

use std::cmp::Reverse;
use std::time::{Duration, Instant};

use tracing::info;

use super::{B2bua, CallEvent, CallId};
use crate::message::{Request, StatusCode};
use crate::transaction::ServerKey;

/// Caps of the gateway or of one trunk (`None`: unlimited).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Limits {
    /// Calls in progress at once.
    pub max_calls: Option<usize>,
    /// New calls per second (the burst is one second's worth, at least 1).
    pub cps: Option<f64>,
}

/// Why a call was refused before it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectReason {
    /// Over a calls-per-second limit.
    Cps,
    /// Over a concurrent-calls limit.
    Concurrency,
    /// No RTP ports left.
    Ports,
    /// The gateway is draining (shutting down).
    Draining,
}

impl RejectReason {
    /// A short name (metrics label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cps => "cps",
            Self::Concurrency => "concurrency",
            Self::Ports => "ports",
            Self::Draining => "draining",
        }
    }

    /// Seconds the customer is asked to wait (Retry-After).
    fn retry_after(self) -> u32 {
        match self {
            Self::Cps => 1,
            Self::Concurrency | Self::Ports => 5,
            Self::Draining => 30,
        }
    }
}

/// A token bucket refilled at `rate` per second up to `burst`.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub(super) fn new(rate: f64) -> Self {
        let burst = rate.max(1.0);
        Self {
            rate,
            burst,
            tokens: burst,
            last: None,
        }
    }

    /// Takes a token if there is one.
    pub(super) fn take(&mut self, now: Instant) -> bool {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        }
        self.last = Some(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl B2bua {
    /// Draining: new INVITEs (and OPTIONS probes, so that a dispatcher in
    /// front stops choosing this instance) get 503; calls in progress go on.
    pub fn set_draining(&mut self, draining: bool) {
        self.draining = draining;
    }

    /// Whether new calls are refused.
    pub fn draining(&self) -> bool {
        self.draining
    }

    /// Calls not over yet (the ones a limit counts).
    pub fn active_calls(&self) -> usize {
        self.active
    }

    /// The calls the gateway still holds (over or not), e.g. to end them
    /// at the end of a drain.
    pub fn call_ids(&self) -> Vec<CallId> {
        self.calls.keys().copied().collect()
    }

    /// Whether a new call on trunk `idx` may start now.
    pub(super) fn admit(&mut self, now: Instant, idx: usize) -> Result<(), RejectReason> {
        if self.draining {
            return Err(RejectReason::Draining);
        }
        let trunk = &self.config.trunks[idx];
        let global = self.config.limits;
        let local = trunk.limits;
        let on_trunk = self.active_by_trunk.get(&trunk.name).copied().unwrap_or(0);
        if global.max_calls.is_some_and(|m| self.active >= m)
            || local.max_calls.is_some_and(|m| on_trunk >= m)
        {
            return Err(RejectReason::Concurrency);
        }
        // Both buckets are asked only when both would admit: a call refused
        // by the trunk does not spend a global token.
        let name = trunk.name.clone();
        let trunk_ok = match local.cps {
            Some(rate) => self
                .trunk_buckets
                .entry(name)
                .or_insert_with(|| TokenBucket::new(rate))
                .take(now),
            None => true,
        };
        if !trunk_ok {
            return Err(RejectReason::Cps);
        }
        let global_ok = match (global.cps, self.global_bucket.as_mut()) {
            (Some(_), Some(b)) => b.take(now),
            _ => true,
        };
        if !global_ok {
            return Err(RejectReason::Cps);
        }
        Ok(())
    }

    /// Answers 503 with Retry-After and reports the refusal (`refused`
    /// is the [`CallEvent::Rejected`] to report).
    pub(super) fn reject(
        &mut self,
        now: Instant,
        key: &ServerKey,
        invite: &Request,
        refused: CallEvent,
    ) {
        let CallEvent::Rejected { trunk, reason, .. } = &refused else {
            return;
        };
        info!(%trunk, reason = reason.as_str(), "call refused: 503");
        let mut resp = invite.response(StatusCode::SERVICE_UNAVAILABLE, None);
        resp.headers
            .push("Retry-After", reason.retry_after().to_string());
        self.respond(now, key, resp);
        self.events.push_back(refused);
    }

    /// Counts a started call; arms its duration limit.
    pub(super) fn count_call(&mut self, now: Instant, id: CallId, trunk: &str) {
        self.active += 1;
        *self.active_by_trunk.entry(trunk.to_owned()).or_insert(0) += 1;
        if let Some(d) = self.config.max_call_duration {
            self.deadlines.push(Reverse((now + d, id)));
        }
    }

    /// A call is over (reported once).
    pub(super) fn uncount_call(&mut self, trunk: &str) {
        self.active = self.active.saturating_sub(1);
        if let Some(n) = self.active_by_trunk.get_mut(trunk) {
            *n = n.saturating_sub(1);
        }
    }

    /// The next duration limit of a call still up.
    pub(super) fn duration_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((at, id))) = self.deadlines.peek().copied() {
            if self.calls.get(&id).is_some_and(|c| !c.ended_reported) {
                return Some(at);
            }
            self.deadlines.pop();
        }
        None
    }

    /// Calls over the maximum duration are ended (BYE both ways, or
    /// CANCEL and 408 while ringing).
    pub(super) fn duration_timeouts(&mut self, now: Instant) {
        while let Some(at) = self.duration_deadline() {
            if at > now {
                break;
            }
            if let Some(Reverse((_, id))) = self.deadlines.pop() {
                info!(call = id.0, "maximum call duration reached");
                self.hangup(now, id, StatusCode::REQUEST_TIMEOUT);
            }
        }
    }
}

/// A maximum duration, from the configuration (0 or absent: none).
pub fn max_duration(seconds: u64) -> Option<Duration> {
    (seconds > 0).then(|| Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_refills_at_its_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(2.0);
        assert!(b.take(t0));
        assert!(b.take(t0));
        assert!(!b.take(t0), "burst of 2 spent");
        assert!(!b.take(t0 + Duration::from_millis(400)));
        assert!(b.take(t0 + Duration::from_millis(600)), "0.5 s refills one");
        let mut slow = TokenBucket::new(0.5);
        assert!(slow.take(t0));
        assert!(!slow.take(t0 + Duration::from_secs(1)));
        assert!(slow.take(t0 + Duration::from_secs(2)));
    }
}
