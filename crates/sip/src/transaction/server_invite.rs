//! INVITE server transaction (RFC 3261 §17.2.1, as updated by RFC 6026 §8.5-8.7).
//!
//! The transaction also carries the UAS core's 2xx retransmission
//! (RFC 3261 §13.3.1.4): in Accepted, on unreliable transports, the last
//! 2xx is re-sent at T1, 2·T1, ... capped at T2 until the TU reports the
//! ACK ([`ServerInvite::ack_received`]); without an ACK by Timer L the TU
//! gets a Timer L timeout (it should then send BYE).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{backoff, due, earliest, Action, Timer, TimerConfig};
use crate::message::{Method, Request, Response, StatusCode};
use crate::Error;

/// States of RFC 3261 Figure 7 plus RFC 6026's Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerInviteState {
    /// INVITE received, 100 sent, no final response yet.
    Proceeding,
    /// 300-699 sent, waiting for the ACK.
    Completed,
    /// ACK received, absorbing ACK retransmissions.
    Confirmed,
    /// 2xx sent (RFC 6026).
    Accepted,
    /// Done.
    Terminated,
}

impl ServerInviteState {
    /// RFC name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Confirmed => "Confirmed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// INVITE server transaction.
#[derive(Debug)]
pub struct ServerInvite {
    state: ServerInviteState,
    request: Request,
    reliable: bool,
    timers: TimerConfig,
    last_response: Option<Bytes>,
    last_status: Option<StatusCode>,
    timer_g: Option<Instant>,
    g_interval: Duration,
    timer_h: Option<Instant>,
    timer_i: Option<Instant>,
    timer_l: Option<Instant>,
    acked: bool,
}

impl ServerInvite {
    /// Start: the INVITE arrived; send 100 Trying at once (§17.2.1: the
    /// transaction must answer within 200 ms unless the TU will; we always
    /// do, so a retransmission never finds it silent).
    pub fn start(
        _now: Instant,
        request: Request,
        reliable: bool,
        timers: TimerConfig,
        out: &mut Vec<Action>,
    ) -> Self {
        let trying = request.response(StatusCode::TRYING, None).to_bytes();
        out.push(Action::Send(trying.clone()));
        Self {
            state: ServerInviteState::Proceeding,
            request,
            reliable,
            timers,
            last_response: Some(trying),
            last_status: Some(StatusCode::TRYING),
            timer_g: None,
            g_interval: timers.t1,
            timer_h: None,
            timer_i: None,
            timer_l: None,
            acked: false,
        }
    }

    /// Current state.
    pub fn state(&self) -> ServerInviteState {
        self.state
    }

    /// The INVITE.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// Status of the last response sent.
    pub fn last_status(&self) -> Option<StatusCode> {
        self.last_status
    }

    /// When to call [`Self::on_timeout`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_g, self.timer_h, self.timer_i, self.timer_l])
    }

    /// A request matched this transaction: an INVITE retransmission or an
    /// ACK with the INVITE's branch.
    pub fn on_request(&mut self, now: Instant, request: Request, out: &mut Vec<Action>) {
        use ServerInviteState::*;
        let is_ack = request.method == Method::Ack;
        match (self.state, is_ack) {
            // §17.2.1: a retransmitted INVITE gets the last provisional /
            // final response again.
            (Proceeding | Completed, false) => {
                if let Some(r) = &self.last_response {
                    out.push(Action::Send(r.clone()));
                }
            }
            // §17.2.1: ACK in Completed -> Confirmed, Timer I; G and H stop.
            (Completed, true) => {
                self.state = Confirmed;
                self.timer_g = None;
                self.timer_h = None;
                self.timer_i = Some(now + self.timers.t4_or_zero(self.reliable));
            }
            // RFC 6026 §8.7: an ACK matching in Accepted goes to the TU.
            (Accepted, true) => {
                self.ack_received();
                out.push(Action::AckForTu(request));
            }
            // RFC 6026 §8.7: INVITE retransmissions in Accepted are absorbed
            // (the TU's 2xx retransmissions cover them).
            (Accepted, false) => {}
            (Confirmed, _) | (Terminated, _) | (Proceeding, true) => {}
        }
    }

    /// The TU sends a response through this transaction.
    pub fn send_response(
        &mut self,
        now: Instant,
        response: Response,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        use ServerInviteState::*;
        let status = response.status;
        match self.state {
            Proceeding => {
                let wire = response.to_bytes();
                out.push(Action::Send(wire.clone()));
                self.last_response = Some(wire);
                self.last_status = Some(status);
                if status.is_success() {
                    // RFC 6026 §8.5: 2xx -> Accepted, Timer L.
                    self.state = Accepted;
                    self.timer_l = Some(now + self.timers.t1_x64());
                    if !self.reliable {
                        self.g_interval = self.timers.t1;
                        self.timer_g = Some(now + self.g_interval);
                    }
                } else if status.is_final() {
                    // §17.2.1: 300-699 -> Completed, Timers G (unreliable), H.
                    self.state = Completed;
                    if !self.reliable {
                        self.g_interval = self.timers.t1;
                        self.timer_g = Some(now + self.g_interval);
                    }
                    self.timer_h = Some(now + self.timers.t1_x64());
                }
                Ok(())
            }
            // RFC 6026 §8.6: the TU may retransmit the 2xx in Accepted.
            Accepted if status.is_success() => {
                let wire = response.to_bytes();
                out.push(Action::Send(wire.clone()));
                self.last_response = Some(wire);
                Ok(())
            }
            state => Err(Error::InvalidState {
                state: state.name(),
            }),
        }
    }

    /// The TU saw the ACK for the 2xx: stop retransmitting it.
    pub fn ack_received(&mut self) {
        if self.state == ServerInviteState::Accepted {
            self.acked = true;
            self.timer_g = None;
        }
    }

    /// Whether the 2xx has been ACKed.
    pub fn is_acked(&self) -> bool {
        self.acked
    }

    /// Fire due timers.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        use ServerInviteState::*;
        if due(self.timer_h, now) {
            // §17.2.1: Timer H -> Terminated; the TU hears of the failure.
            self.terminate();
            out.push(Action::Timeout(Timer::H));
            return;
        }
        if due(self.timer_l, now) {
            // RFC 6026 §8.7: Timer L -> Terminated. Without an ACK for the
            // 2xx the TU must hear it (§13.3.1.4: it should send BYE).
            let acked = self.acked;
            self.terminate();
            if !acked {
                out.push(Action::Timeout(Timer::L));
            }
            return;
        }
        if due(self.timer_g, now) {
            // §17.2.1 (Completed) and §13.3.1.4 (Accepted): retransmit,
            // doubling up to T2.
            if let Some(r) = &self.last_response {
                out.push(Action::Send(r.clone()));
            }
            self.g_interval = backoff(self.g_interval, Some(self.timers.t2));
            self.timer_g = Some(now + self.g_interval);
        }
        if self.state == Confirmed && due(self.timer_i, now) {
            self.terminate();
        }
    }

    /// The transport reported a failure: terminate.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    fn terminate(&mut self) {
        self.state = ServerInviteState::Terminated;
        self.timer_g = None;
        self.timer_h = None;
        self.timer_i = None;
        self.timer_l = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, SipMessage};

    fn invite() -> Request {
        Request::new(Method::Invite, "sip:bob@b.example")
            .with_header("Via", "SIP/2.0/UDP ua.example;branch=z9hG4bKsi")
            .with_header("From", "<sip:a@a>;tag=1")
            .with_header("To", "<sip:b@b>")
            .with_header("Call-ID", "c")
            .with_header("CSeq", "1 INVITE")
    }

    fn ack() -> Request {
        let mut a = invite();
        a.method = Method::Ack;
        a.set_header("CSeq", "1 ACK");
        a
    }

    fn status_of(a: &Action) -> Option<u16> {
        match a {
            Action::Send(b) => match parse(b).ok()? {
                SipMessage::Response(r) => Some(r.status.code()),
                SipMessage::Request(_) => None,
            },
            _ => None,
        }
    }

    #[test]
    fn sends_100_and_absorbs_retransmissions() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        assert_eq!(
            out.iter().filter_map(status_of).collect::<Vec<_>>(),
            vec![100]
        );
        out.clear();
        tx.on_request(t0, invite(), &mut out);
        assert_eq!(
            out.iter().filter_map(status_of).collect::<Vec<_>>(),
            vec![100]
        );
        tx.send_response(
            t0,
            invite().response(StatusCode::RINGING, Some("x")),
            &mut out,
        )
        .unwrap();
        out.clear();
        tx.on_request(t0, invite(), &mut out);
        assert_eq!(
            out.iter().filter_map(status_of).collect::<Vec<_>>(),
            vec![180]
        );
        assert_eq!(tx.next_timeout(), None);
    }

    #[test]
    fn timer_g_then_h_without_ack() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        tx.send_response(
            t0,
            invite().response(StatusCode::BUSY_HERE, Some("x")),
            &mut out,
        )
        .unwrap();
        assert_eq!(tx.state(), ServerInviteState::Completed);
        let mut times = Vec::new();
        let mut last = Vec::new();
        while let Some(at) = tx.next_timeout() {
            last.clear();
            tx.on_timeout(at, &mut last);
            if last.iter().filter_map(status_of).any(|s| s == 486) {
                times.push((at - t0).as_millis());
            }
        }
        assert_eq!(
            times,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(last, vec![Action::Timeout(Timer::H)]);
        assert_eq!(tx.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn ack_confirms_then_timer_i() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        tx.send_response(
            t0,
            invite().response(StatusCode::BUSY_HERE, Some("x")),
            &mut out,
        )
        .unwrap();
        out.clear();
        let t = t0 + Duration::from_millis(700);
        tx.on_request(t, ack(), &mut out);
        assert!(out.is_empty(), "ACK for non-2xx is absorbed");
        assert_eq!(tx.state(), ServerInviteState::Confirmed);
        assert_eq!(
            tx.next_timeout(),
            Some(t + Duration::from_secs(5)),
            "I = T4"
        );
        tx.on_request(t, ack(), &mut out);
        tx.on_timeout(t + Duration::from_secs(5), &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.state(), ServerInviteState::Terminated);
    }

    #[test]
    fn tcp_no_g_and_i_is_zero() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), true, TimerConfig::default(), &mut out);
        tx.send_response(
            t0,
            invite().response(StatusCode::BUSY_HERE, Some("x")),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "only H"
        );
        tx.on_request(t0, ack(), &mut out);
        assert_eq!(tx.next_timeout(), Some(t0));
    }

    #[test]
    fn accepted_retransmits_2xx_until_ack_then_l() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        tx.send_response(t0, invite().response(StatusCode::OK, Some("x")), &mut out)
            .unwrap();
        assert_eq!(tx.state(), ServerInviteState::Accepted);
        out.clear();
        tx.on_timeout(t0 + Duration::from_millis(500), &mut out);
        assert_eq!(
            out.iter().filter_map(status_of).collect::<Vec<_>>(),
            vec![200]
        );
        // INVITE retransmission absorbed in Accepted.
        out.clear();
        tx.on_request(t0, invite(), &mut out);
        assert!(out.is_empty());
        tx.ack_received();
        assert_eq!(
            tx.next_timeout(),
            Some(t0 + Duration::from_secs(32)),
            "only L"
        );
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert!(out.is_empty(), "ACKed: no timeout report");
        assert_eq!(tx.state(), ServerInviteState::Terminated);
        // Responding after termination is refused.
        let err = tx
            .send_response(t0, invite().response(StatusCode::OK, Some("x")), &mut out)
            .unwrap_err();
        assert_eq!(
            err,
            Error::InvalidState {
                state: "Terminated"
            }
        );
    }

    #[test]
    fn accepted_without_ack_reports_timer_l() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ServerInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        tx.send_response(t0, invite().response(StatusCode::OK, Some("x")), &mut out)
            .unwrap();
        let mut all = Vec::new();
        while let Some(at) = tx.next_timeout() {
            tx.on_timeout(at, &mut all);
        }
        assert_eq!(all.last(), Some(&Action::Timeout(Timer::L)));
        assert_eq!(all.iter().filter_map(status_of).count(), 10);
    }
}
