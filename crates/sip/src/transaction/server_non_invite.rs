//! Non-INVITE server transaction (RFC 3261 §17.2.2).

use std::time::Instant;

use bytes::Bytes;

use super::{due, Action, TimerConfig};
use crate::message::{Request, Response};
use crate::Error;

/// States of RFC 3261 Figure 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerNonInviteState {
    /// Request received, nothing sent.
    Trying,
    /// A provisional response was sent.
    Proceeding,
    /// A final response was sent; absorbing request retransmissions.
    Completed,
    /// Done.
    Terminated,
}

impl ServerNonInviteState {
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

/// Non-INVITE server transaction.
#[derive(Debug)]
pub struct ServerNonInvite {
    state: ServerNonInviteState,
    request: Request,
    reliable: bool,
    timers: TimerConfig,
    last_response: Option<Bytes>,
    timer_j: Option<Instant>,
}

impl ServerNonInvite {
    /// Start in Trying; nothing is sent until the TU responds.
    pub fn start(_now: Instant, request: Request, reliable: bool, timers: TimerConfig) -> Self {
        Self {
            state: ServerNonInviteState::Trying,
            request,
            reliable,
            timers,
            last_response: None,
            timer_j: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> ServerNonInviteState {
        self.state
    }

    /// The request.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// When to call [`Self::on_timeout`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.timer_j
    }

    /// A retransmission of the request arrived.
    pub fn on_request(&mut self, _now: Instant, out: &mut Vec<Action>) {
        match self.state {
            // §17.2.2: Trying absorbs retransmissions silently.
            ServerNonInviteState::Trying | ServerNonInviteState::Terminated => {}
            // §17.2.2: Proceeding / Completed re-send the last response.
            ServerNonInviteState::Proceeding | ServerNonInviteState::Completed => {
                if let Some(r) = &self.last_response {
                    out.push(Action::Send(r.clone()));
                }
            }
        }
    }

    /// The TU sends a response through this transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        match self.state {
            ServerNonInviteState::Trying | ServerNonInviteState::Proceeding => {
                let wire = response.to_bytes();
                out.push(Action::Send(wire.clone()));
                self.last_response = Some(wire);
                if response.status.is_final() {
                    // §17.2.2: final -> Completed, Timer J (64·T1 / 0).
                    self.state = ServerNonInviteState::Completed;
                    let j = if self.reliable {
                        std::time::Duration::ZERO
                    } else {
                        self.timers.t1_x64()
                    };
                    self.timer_j = Some(now + j);
                } else {
                    self.state = ServerNonInviteState::Proceeding;
                }
                Ok(())
            }
            state => Err(Error::InvalidState {
                state: state.name(),
            }),
        }
    }

    /// Fire due timers.
    pub fn on_timeout(&mut self, now: Instant, _out: &mut Vec<Action>) {
        if due(self.timer_j, now) {
            self.terminate();
        }
    }

    /// The transport reported a failure: terminate.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ServerNonInviteState::Terminated;
        self.timer_j = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Method, StatusCode};
    use std::time::Duration;

    fn options() -> Request {
        Request::new(Method::Options, "sip:gw")
            .with_header("Via", "SIP/2.0/UDP ua;branch=z9hG4bKsn")
            .with_header("From", "<sip:a@a>;tag=1")
            .with_header("To", "<sip:gw>")
            .with_header("Call-ID", "c")
            .with_header("CSeq", "1 OPTIONS")
    }

    #[test]
    fn trying_is_silent_completed_resends_then_timer_j() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerNonInvite::start(t0, options(), false, TimerConfig::default());
        tx.on_request(t0, &mut out);
        assert!(out.is_empty());
        tx.send_response(t0, options().response(StatusCode::OK, Some("t")), &mut out)
            .unwrap();
        assert_eq!(out.len(), 1);
        tx.on_request(t0 + Duration::from_secs(1), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0], out[1]);
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "J = 64*T1"
        );
        tx.on_timeout(t0 + Duration::from_secs(31), &mut out);
        assert_eq!(tx.state(), ServerNonInviteState::Completed);
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), ServerNonInviteState::Terminated);
        assert!(tx
            .send_response(t0, options().response(StatusCode::OK, None), &mut out)
            .is_err());
    }

    #[test]
    fn timer_j_zero_on_tcp_and_provisional_resent() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerNonInvite::start(t0, options(), true, TimerConfig::default());
        tx.send_response(t0, options().response(StatusCode::TRYING, None), &mut out)
            .unwrap();
        assert_eq!(tx.state(), ServerNonInviteState::Proceeding);
        tx.on_request(t0, &mut out);
        assert_eq!(out.len(), 2);
        tx.send_response(t0, options().response(StatusCode::OK, Some("t")), &mut out)
            .unwrap();
        assert_eq!(tx.next_timeout(), Some(t0));
    }
}
