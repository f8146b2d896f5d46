//! INVITE client transaction (RFC 3261 §17.1.1, as updated by RFC 6026 §8.4).

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{backoff, due, earliest, Action, Timer, TimerConfig};
use crate::message::{Method, Request, Response};

/// States of RFC 3261 Figure 5 plus RFC 6026's Accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientInviteState {
    /// INVITE sent, nothing received.
    Calling,
    /// A provisional response was received.
    Proceeding,
    /// A 300-699 was received and ACKed; absorbing retransmissions.
    Completed,
    /// A 2xx was received (RFC 6026); further 2xx go to the TU.
    Accepted,
    /// Done.
    Terminated,
}

impl ClientInviteState {
    /// RFC name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Calling => "Calling",
            Self::Proceeding => "Proceeding",
            Self::Completed => "Completed",
            Self::Accepted => "Accepted",
            Self::Terminated => "Terminated",
        }
    }
}

/// INVITE client transaction.
#[derive(Debug)]
pub struct ClientInvite {
    state: ClientInviteState,
    request: Request,
    wire: Bytes,
    reliable: bool,
    timers: TimerConfig,
    timer_a: Option<Instant>,
    a_interval: Duration,
    timer_b: Option<Instant>,
    timer_d: Option<Instant>,
    timer_m: Option<Instant>,
    ack: Option<Bytes>,
}

impl ClientInvite {
    /// Start: send the INVITE, arm A (unreliable only) and B (§17.1.1.2).
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
            state: ClientInviteState::Calling,
            request,
            wire,
            reliable,
            timers,
            timer_a: (!reliable).then(|| now + timers.t1),
            a_interval: timers.t1,
            timer_b: Some(now + timers.t1_x64()),
            timer_d: None,
            timer_m: None,
            ack: None,
        }
    }

    /// Current state.
    pub fn state(&self) -> ClientInviteState {
        self.state
    }

    /// The INVITE this transaction sends.
    pub fn request(&self) -> &Request {
        &self.request
    }

    /// When to call [`Self::on_timeout`] next.
    pub fn next_timeout(&self) -> Option<Instant> {
        earliest(&[self.timer_a, self.timer_b, self.timer_d, self.timer_m])
    }

    /// A response matched this transaction (§17.1.3).
    pub fn on_response(&mut self, now: Instant, response: Response, out: &mut Vec<Action>) {
        use ClientInviteState::*;
        let status = response.status;
        match self.state {
            Calling | Proceeding => {
                if status.is_provisional() {
                    // §17.1.1.2: Calling -> Proceeding stops retransmissions.
                    self.state = Proceeding;
                    self.timer_a = None;
                    self.timer_b = None;
                    out.push(Action::Deliver(response));
                } else if status.is_success() {
                    // RFC 6026 §8.4: 2xx -> Accepted, Timer M.
                    self.enter_accepted(now);
                    out.push(Action::Deliver(response));
                } else {
                    // §17.1.1.2: 300-699 -> Completed, ACK, Timer D.
                    self.timer_a = None;
                    self.timer_b = None;
                    let ack = build_ack(&self.request, &response).to_bytes();
                    out.push(Action::Send(ack.clone()));
                    self.ack = Some(ack);
                    self.state = Completed;
                    self.timer_d = Some(now + self.timers.timer_d(self.reliable));
                    out.push(Action::Deliver(response));
                }
            }
            Completed => {
                // §17.1.1.2: retransmitted final -> re-send ACK, not to TU.
                if status.is_final() && !status.is_success() {
                    if let Some(ack) = &self.ack {
                        out.push(Action::Send(ack.clone()));
                    }
                }
            }
            Accepted => {
                // RFC 6026 §8.4: 2xx retransmissions go to the TU (it ACKs).
                if status.is_success() {
                    out.push(Action::Deliver(response));
                }
            }
            Terminated => {}
        }
    }

    fn enter_accepted(&mut self, now: Instant) {
        self.state = ClientInviteState::Accepted;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_m = Some(now + self.timers.t1_x64());
    }

    /// Fire due timers.
    pub fn on_timeout(&mut self, now: Instant, out: &mut Vec<Action>) {
        if due(self.timer_b, now) {
            // §17.1.1.2: Timer B -> Terminated, inform TU of the timeout.
            self.terminate();
            out.push(Action::Timeout(Timer::B));
            return;
        }
        if due(self.timer_a, now) {
            out.push(Action::Send(self.wire.clone()));
            let cap = self.timers.cap_timer_a.then_some(self.timers.t2);
            self.a_interval = backoff(self.a_interval, cap);
            self.timer_a = Some(now + self.a_interval);
        }
        if due(self.timer_d, now) || due(self.timer_m, now) {
            self.terminate();
        }
    }

    /// The transport reported a failure (§17.1.1.2): terminate.
    pub fn on_transport_error(&mut self) {
        self.terminate();
    }

    /// A CANCEL was sent for this INVITE. RFC 3261 §9.1: without a final
    /// response within 64·T1 the transaction is destroyed; we reuse Timer B
    /// for that (it reports a Timer B timeout).
    pub fn cancel_sent(&mut self, now: Instant) {
        if self.can_cancel() {
            let deadline = now + self.timers.t1_x64();
            self.timer_b = Some(self.timer_b.map_or(deadline, |b| b.min(deadline)));
        }
    }

    /// Whether the CANCEL of this INVITE is still meaningful (§9.1).
    pub fn can_cancel(&self) -> bool {
        matches!(
            self.state,
            ClientInviteState::Calling | ClientInviteState::Proceeding
        )
    }

    fn terminate(&mut self) {
        self.state = ClientInviteState::Terminated;
        self.timer_a = None;
        self.timer_b = None;
        self.timer_d = None;
        self.timer_m = None;
    }
}

/// ACK for a non-2xx final response (RFC 3261 §17.1.1.3): same
/// Request-URI, Call-ID, From, CSeq number and single top Via (so the same
/// branch) as the INVITE, To from the response, the INVITE's Route set.
pub fn build_ack(invite: &Request, response: &Response) -> Request {
    let mut ack = Request::new(Method::Ack, invite.uri.clone());
    if let Some(via) = invite.headers.elements("Via").first() {
        ack.headers.push("Via", *via);
    }
    ack.headers.push("Max-Forwards", "70");
    if let Some(v) = invite.header("From") {
        ack.headers.push("From", v);
    }
    if let Some(v) = response.header("To").or(invite.header("To")) {
        ack.headers.push("To", v);
    }
    if let Ok(v) = invite.call_id() {
        ack.headers.push("Call-ID", v);
    }
    let seq = invite.cseq().map(|c| c.seq).unwrap_or_default();
    ack.headers.push("CSeq", format!("{seq} ACK"));
    for route in invite.headers.get_all("Route") {
        ack.headers.push("Route", route);
    }
    ack
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{parse, SipMessage, StatusCode};

    fn invite() -> Request {
        match parse(
            b"INVITE sip:bob@b.example SIP/2.0\r\nVia: SIP/2.0/UDP gw.example;branch=z9hG4bKci1;rport\r\nMax-Forwards: 70\r\nRoute: <sip:p1.example;lr>\r\nFrom: <sip:alice@a.example>;tag=fa\r\nTo: <sip:bob@b.example>\r\nCall-ID: ci-1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
        )
        .unwrap()
        {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => unreachable!(),
        }
    }

    fn sends(out: &[Action]) -> usize {
        out.iter().filter(|a| matches!(a, Action::Send(_))).count()
    }

    fn resp(status: u16) -> Response {
        invite().response(StatusCode::new(status).unwrap(), Some("tb"))
    }

    #[test]
    fn timer_a_doubles_to_t2_then_timer_b_times_out() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        assert_eq!(sends(&out), 1);
        let mut fire_times = Vec::new();
        loop {
            let at = tx.next_timeout().expect("armed");
            out.clear();
            tx.on_timeout(at, &mut out);
            if out.contains(&Action::Timeout(Timer::B)) {
                assert_eq!(at - t0, Duration::from_secs(32), "Timer B = 64*T1");
                break;
            }
            assert_eq!(sends(&out), 1);
            fire_times.push((at - t0).as_millis());
        }
        assert_eq!(
            fire_times,
            vec![500, 1500, 3500, 7500, 11500, 15500, 19500, 23500, 27500, 31500]
        );
        assert_eq!(tx.state(), ClientInviteState::Terminated);
        assert_eq!(tx.next_timeout(), None);
    }

    #[test]
    fn uncapped_timer_a_follows_rfc3261_letter() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let cfg = TimerConfig {
            cap_timer_a: false,
            ..TimerConfig::default()
        };
        let mut tx = ClientInvite::start(t0, invite(), false, cfg, &mut out);
        let mut fire_times = Vec::new();
        while let Some(at) = tx.next_timeout() {
            out.clear();
            tx.on_timeout(at, &mut out);
            if sends(&out) == 1 {
                fire_times.push((at - t0).as_millis());
            }
        }
        assert_eq!(fire_times, vec![500, 1500, 3500, 7500, 15500, 31500]);
    }

    #[test]
    fn no_retransmissions_on_reliable_transport() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), true, TimerConfig::default(), &mut out);
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        out.clear();
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(out, vec![Action::Timeout(Timer::B)]);
    }

    #[test]
    fn provisional_stops_retransmissions_and_timer_b() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        out.clear();
        tx.on_response(t0 + Duration::from_millis(100), resp(180), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Proceeding);
        assert!(matches!(&out[..], [Action::Deliver(r)] if r.status.code() == 180));
        assert_eq!(tx.next_timeout(), None, "no timer in Proceeding");
    }

    #[test]
    fn non_2xx_is_acked_with_same_branch_and_timer_d() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        out.clear();
        tx.on_response(t0, resp(486), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Completed);
        let Action::Send(ack) = &out[0] else {
            panic!("ACK first")
        };
        let SipMessage::Request(ack) = parse(ack).unwrap() else {
            panic!()
        };
        assert_eq!(ack.method, Method::Ack);
        assert_eq!(ack.uri, "sip:bob@b.example");
        assert_eq!(ack.top_branch().unwrap(), "z9hG4bKci1");
        assert_eq!(ack.cseq().unwrap().seq, 7);
        assert_eq!(ack.cseq().unwrap().method, Method::Ack);
        assert_eq!(ack.to_tag().as_deref(), Some("tb"));
        assert_eq!(ack.header("Route"), Some("<sip:p1.example;lr>"));
        assert!(matches!(&out[1], Action::Deliver(r) if r.status.code() == 486));
        // Retransmitted 486: ACK again, TU not bothered.
        out.clear();
        tx.on_response(t0 + Duration::from_secs(1), resp(486), &mut out);
        assert_eq!(sends(&out), 1);
        assert_eq!(out.len(), 1);
        // Timer D: 32 s on UDP.
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        out.clear();
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert!(out.is_empty());
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn cancelled_invite_without_final_is_destroyed_after_64_t1() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), true, TimerConfig::default(), &mut out);
        tx.on_response(t0, resp(180), &mut out);
        assert_eq!(tx.next_timeout(), None);
        let t = t0 + Duration::from_secs(10);
        tx.cancel_sent(t);
        assert_eq!(tx.next_timeout(), Some(t + Duration::from_secs(32)));
        out.clear();
        tx.on_timeout(t + Duration::from_secs(32), &mut out);
        assert_eq!(out, vec![Action::Timeout(Timer::B)]);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn timer_d_is_zero_on_tcp() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), true, TimerConfig::default(), &mut out);
        tx.on_response(t0, resp(503), &mut out);
        assert_eq!(tx.next_timeout(), Some(t0));
        tx.on_timeout(t0, &mut out);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }

    #[test]
    fn accepted_passes_2xx_retransmissions_until_timer_m() {
        let t0 = Instant::now();
        let mut out = Vec::new();
        let mut tx = ClientInvite::start(t0, invite(), false, TimerConfig::default(), &mut out);
        out.clear();
        tx.on_response(t0, resp(200), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Accepted);
        assert_eq!(sends(&out), 0, "the TU ACKs a 2xx, not the transaction");
        tx.on_response(t0 + Duration::from_secs(1), resp(200), &mut out);
        assert_eq!(
            out.iter()
                .filter(|a| matches!(a, Action::Deliver(_)))
                .count(),
            2
        );
        assert_eq!(tx.next_timeout(), Some(t0 + Duration::from_secs(32)));
        tx.on_timeout(t0 + Duration::from_secs(32), &mut out);
        assert_eq!(tx.state(), ClientInviteState::Terminated);
    }
}
