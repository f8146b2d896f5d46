//! Non-INVITE client transaction (RFC 3261 §17.1.2).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{backoff, due, earliest, Action, Timer, TimerConfig};
use crate::message::{Request, Response};

/// States of RFC 3261 Figure 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientNonInviteState {
    /// Request sent, nothing received.
    Trying,
    /// A provisional response was received.
    Proceeding,
    /// A final response was received; absorbing retransmissions.
    Completed,
    /// Done.
    Terminated,
}

impl ClientNonInviteState {
    /// RFC name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Trying => "Trying",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Terminated => "Terminated",
        }
    }
}

/// Non-INVITE client transaction.
#[derive(Debug)]
pub struct ClientNonInvite {
    state: ClientNonInviteState,
    request: Request,
    wire: Bytes,
    reliable: bool,
    timers: TimerConfig,
    timer_e: Option<Instant>,
    e_interval: Duration,
    timer_f: Option<Instant>,
    timer_k: Option<Instant>,
}

impl ClientNonInvite {
    /// Start: send the request, arm E (unreliable only) and F (§17.1.2.2).
    pub fn start(
        now: Instant,
        request: Request,
        reliable: bool,
        timers: TimerConfig,
        out: &mut Vec<Action>,
    ) -> Self {
        let wire = request.to_bytes();
        out.push(Action::Send(wire.clone()));
        Self {
            state: ClientNonInviteState::Trying,
            request,
            wire,
            reliable,
            timers,
            timer_e: (!reliable).then(|| now + timers.t1),
            e_interval: timers.t1,
            timer_f: Some(now + timers.t1_x64()),
            timer_k: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> ClientNonInviteState {
        self.state
    }

    /// The request this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// When to call [`Self::on_timeout`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_e, self.timer_f, self.timer_k])
    }

    /// A response matched this transaction.
    pub fn on_response(&mut self, now: Instant, response: Response, out: &mut Vec<Action>) {
        use ClientNonInviteState::*;
        match self.state {
            Trying | Proceeding => {
                if response.status.is_provisional() {
                    self.state = Proceeding;
                } else {
                    // §17.1.2.2: final -> Completed, Timer K (T4 / 0).
                    self.state = Completed;
                    self.timer_e = None;
                    self.timer_f = None;
                    self.timer_k = Some(now + self.timers.t4_or_zero(self.reliable));
                }
                out.push(Action::Deliver(response));
            }
            // §17.1.2.2: Completed absorbs response retransmissions.
            Completed | Terminated => {}
        }
    }

    /// Fire due timers.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        if due(self.timer_f, now) {
            // §17.1.2.2: Timer F -> Terminated, inform TU.
            self.terminate();
            out.push(Action::Timeout(Timer::F));
            return;
        }
        if due(self.timer_e, now) {
            out.push(Action::Send(self.wire.clone()));
            // Trying: double up to T2; Proceeding: always T2 (§17.1.2.2).
            self.e_interval = match self.state {
                ClientNonInviteState::Proceeding => self.timers.t2,
                _ => backoff(self.e_interval, Some(self.timers.t2)),
            };
            self.timer_e = Some(now + self.e_interval);
        }
        if due(self.timer_k, now) {
            self.terminate();
        }
    }

    /// The transport reported a failure: terminate.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ClientNonInviteState::Terminated;
        self.timer_e = None;
        self.timer_f = None;
        self.timer_k = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Method, StatusCode};

    fn bye() -> Request {
        Request::new(Method::Bye, "sip:bob@b.example")
            .with_header("Via", "SIP/2.0/UDP gw;branch=z9hG4bKnict")
            .with_header("From", "<sip:a@a>;tag=1")
            .with_header("To", "<sip:b@b>;tag=2")
            .with_header("Call-ID", "c")
            .with_header("CSeq", "2 BYE")
    }

    fn fire_all(tx: &mut ClientNonInvite, t0: Instant) -> (Vec<u128>, Vec<Action>) {
        let mut times = Vec::new();
        let mut all = Vec::new();
        while let Some(at) = tx.next_timeout() {
            let mut out = Vec::new();
            tx.on_timeout(at, &mut out);
            if out.iter().any(|a| matches!(a, Action::Send(_))) {
                times.push((at - t0).as_millis());
            }
            all.extend(out);
        }
        (times, all)
    }

    #[test]
    fn timer_e_doubles_to_t2_and_f_times_out() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientNonInvite::start(t0, bye(), false, TimerConfig::default(), &mut out);
        let (times, all) = fire_all(&mut tx, t0);
        assert_eq!(
            times,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(all.last(), Some(&Action::Timeout(Timer::F)));
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn proceeding_retransmits_every_t2() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientNonInvite::start(t0, bye(), false, TimerConfig::default(), &mut out);
        tx.on_timeout(t0 + Duration::from_millis(500), &mut out);
        tx.on_response(
            t0 + Duration::from_millis(600),
            bye().response(StatusCode::TRYING, None),
            &mut out,
        );
        assert_eq!(tx.state(), ClientNonInviteState::Proceeding);
        let (times, _) = fire_all(&mut tx, t0);
        // The E armed in Trying (at 1.5 s) fires, then every T2.
        assert_eq!(times[..3], [1500, 5500, 9500]);
    }

    #[test]
    fn final_then_timer_k_absorbs_retransmissions() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientNonInvite::start(t0, bye(), false, TimerConfig::default(), &mut out);
        out.clear();
        let ok = bye().response(StatusCode::OK, None);
        tx.on_response(t0, ok.clone(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(tx.state(), ClientNonInviteState::Completed);
        out.clear();
        tx.on_response(t0 + Duration::from_secs(1), ok, &mut out);
        assert!(out.is_empty(), "retransmission absorbed");
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_secs(5)),
            "K = T4"
        );
        tx.on_timeout(t0 + Duration::from_secs(5), &mut out);
        assert_eq!(tx.state(), ClientNonInviteState::Terminated);
    }

    #[test]
    fn reliable_transport_k_is_zero_and_no_e() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientNonInvite::start(t0, bye(), true, TimerConfig::default(), &mut out);
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_response(t0, bye().response(StatusCode::OK, None), &mut out);
        assert_eq!(tx.next_timeout(), Some(t0));
    }
}
