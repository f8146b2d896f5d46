//! What the gateway remembers of each call until its events are made: who
//! called whom, when it rang, was answered and ended, why it ended
//! (signalling) and what the early media showed (the media task's
//! outcome). When both the SIP side and the media side are done, the
//! hangup decision is made ([`crate::hangup::decide`]) and the trunk's
//! events (HangupCauseEvent for an unanswered call, SipDockingCallEnd for
//! every call) go to the durable delivery.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tonegate_classify::Decision;
use tonegate_sip::b2bua::{CallId, EndCause, Parties};
use tracing::{debug, info, warn};

use crate::config::{EventKind, TrunkConfig};
use crate::delivery::DeliverySubmitter;
use crate::hangup::{self, Ending, Heard, Verdict};
use crate::media::MediaOutcome;
use crate::metrics::Metrics;
use crate::outbox::Envelope;

/// How recordings are published (`recordUrl`).
#[derive(Debug, Clone)]
pub struct RecordLinks {
    /// Base URL of the HTTP listener.
    pub base: String,
    /// Token key.
    pub secret: Vec<u8>,
}

/// What the driver should do to the SIP side after the media said a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnHeard {
    /// Headers for the customer's final failure response.
    pub headers: Vec<(String, String)>,
    /// Release the call now with this status (early release).
    pub release: Option<u16>,
}

#[derive(Debug)]
struct Record {
    call_id: String,
    trunk: String,
    parties: Parties,
    started: SystemTime,
    ringing: Option<SystemTime>,
    answered: Option<SystemTime>,
    ended: Option<(SystemTime, u16, EndCause)>,
    /// A media task runs; its outcome is still to come.
    media_pending: bool,
    outcome: Option<MediaOutcome>,
    /// The decision reported live while ringing.
    live: Option<Decision>,
    /// The gateway released the call on this heard code.
    released_on: Option<u16>,
    /// Refused by a limit before it started.
    limited: bool,
}

/// The calls in progress and where their events go.
#[derive(Debug)]
pub struct Calls {
    records: HashMap<CallId, Record>,
    trunks: HashMap<String, TrunkConfig>,
    delivery: Option<DeliverySubmitter>,
    links: Option<RecordLinks>,
    tz: jiff::tz::TimeZone,
    metrics: Metrics,
}

impl Calls {
    /// A table for `trunks`; without `delivery` no event leaves the gateway.
    pub fn new(
        trunks: &[TrunkConfig],
        delivery: Option<DeliverySubmitter>,
        links: Option<RecordLinks>,
        tz: jiff::tz::TimeZone,
        metrics: Metrics,
    ) -> Self {
        Self {
            records: HashMap::new(),
            trunks: trunks.iter().map(|t| (t.name.clone(), t.clone())).collect(),
            delivery,
            links,
            tz,
            metrics,
        }
    }

    /// No call waits for its events.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// A call refused by a limit (503 before any B leg): its events say 1900.
    pub fn rejected(&mut self, call_id: String, trunk: String, parties: Parties) {
        let now = SystemTime::now();
        self.report(Record {
            call_id,
            trunk,
            parties,
            started: now,
            ringing: None,
            answered: None,
            ended: Some((now, 503, EndCause::Gateway)),
            media_pending: false,
            outcome: None,
            live: None,
            released_on: None,
            limited: true,
        });
    }

    /// New trunk settings (a reload); calls in progress use them at their end.
    pub fn set_trunks(&mut self, trunks: &[TrunkConfig]) {
        self.trunks = trunks.iter().map(|t| (t.name.clone(), t.clone())).collect();
    }

    /// A call started; `media` when a media task hears it.
    pub fn started(
        &mut self,
        call: CallId,
        call_id: String,
        trunk: String,
        parties: Parties,
        media: bool,
    ) {
        self.records.insert(
            call,
            Record {
                call_id,
                trunk,
                parties,
                started: SystemTime::now(),
                ringing: None,
                answered: None,
                ended: None,
                media_pending: media,
                outcome: None,
                live: None,
                released_on: None,
                limited: false,
            },
        );
    }

    /// The first 18x was relayed.
    pub fn ringing(&mut self, call: CallId) {
        if let Some(r) = self.records.get_mut(&call) {
            r.ringing.get_or_insert_with(SystemTime::now);
        }
    }

    /// The answer was relayed.
    pub fn answered(&mut self, call: CallId) {
        if let Some(r) = self.records.get_mut(&call) {
            r.answered.get_or_insert_with(SystemTime::now);
        }
    }

    /// The classifier committed while the call rings: the headers the
    /// customer's final failure response gets, and whether the trunk
    /// releases the call on this code.
    pub fn heard(&mut self, call: CallId, d: Decision) -> Option<OnHeard> {
        let r = self.records.get_mut(&call)?;
        r.live = Some(d);
        let code = d.code?.get();
        if r.answered.is_some() || r.ended.is_some() {
            return None;
        }
        let mut headers = vec![("X-Hangup-Gcode".to_owned(), code.to_string())];
        let trunk = self.trunks.get(&r.trunk);
        let release = trunk.filter(|t| t.releases_on(code)).map(|t| {
            let status = t.early_release_status(code);
            let cause = q850_for_heard(code);
            let text = d.code.map(|c| c.english()).unwrap_or_default();
            headers.push((
                "Reason".to_owned(),
                format!("Q.850;cause={cause};text=\"{text}\""),
            ));
            r.released_on = Some(code);
            status
        });
        Some(OnHeard { headers, release })
    }

    /// The SIP side is over.
    pub fn ended(&mut self, call: CallId, status: u16, cause: EndCause) {
        if let Some(r) = self.records.get_mut(&call) {
            r.ended = Some((SystemTime::now(), status, cause));
        }
        self.maybe_report(call);
    }

    /// The media task is over.
    pub fn media_done(&mut self, call: CallId, outcome: MediaOutcome) {
        if let Some(r) = self.records.get_mut(&call) {
            r.media_pending = false;
            r.outcome = Some(outcome);
        }
        self.maybe_report(call);
    }

    fn maybe_report(&mut self, call: CallId) {
        let ready = self
            .records
            .get(&call)
            .is_some_and(|r| r.ended.is_some() && !r.media_pending);
        if !ready {
            return;
        }
        if let Some(r) = self.records.remove(&call) {
            self.report(r);
        }
    }

    /// Metrics and events of a finished call.
    fn report(&mut self, r: Record) {
        let (verdict, heard) = decision(&r);
        let outcome = if r.answered.is_some() {
            "answered"
        } else if r.limited {
            "limited"
        } else if r.released_on.is_some() {
            "early_released"
        } else if matches!(r.ended, Some((_, _, EndCause::CallerCancel))) {
            "cancelled"
        } else {
            "failed"
        };
        self.metrics.call(&r.trunk, outcome);
        if let Some(o) = &r.outcome {
            self.metrics.rtp(&o.a);
            self.metrics.rtp(&o.b);
        }
        if let Some(label) = heard.label.as_deref() {
            let decided = r.outcome.as_ref().and_then(|o| o.decision).or(r.live);
            let at = decided.filter(|d| d.code.is_some()).and_then(|d| d.at_ms());
            self.metrics
                .classified(heard.code, label, at.map(|ms| ms as f64 / 1000.0));
        }
        info!(
            call_id = %r.call_id,
            trunk = %r.trunk,
            code = verdict.code,
            source = ?verdict.source,
            label = heard.label.as_deref().unwrap_or(""),
            "call ended"
        );
        debug!(caller = %r.parties.caller, called = %r.parties.called, "call parties");
        let Some(trunk) = self.trunks.get(&r.trunk) else {
            return;
        };
        let (Some(url), Some(delivery)) = (trunk.callback_url.as_ref(), self.delivery.as_ref())
        else {
            return;
        };
        let record_url = self.record_url(&r);
        let mut events = Vec::new();
        if r.answered.is_none() && trunk.events.contains(&EventKind::HangupCauseEvent) {
            events.push((
                "HangupCauseEvent",
                self.hangup_cause_event(&r, &verdict, &heard, &record_url),
            ));
        }
        if trunk.events.contains(&EventKind::SipDockingCallEnd) {
            events.push((
                "SipDockingCallEnd",
                self.call_end_event(&r, &verdict, &record_url),
            ));
        }
        for (kind, mut body) in events {
            let id = event_id(kind, &r);
            body["eventId"] = json!(id);
            let now = now_ms();
            let mut env = Envelope::new(id, kind, url.clone(), body.to_string(), now);
            env.secret = trunk.callback_secret.clone();
            env.timeout_ms = trunk.callback_timeout_ms;
            env.retry_interval_ms = (trunk.retry_interval_s * 1000.0).round().max(1.0) as u64;
            env.max_retries = trunk.retries;
            if let Err(e) = delivery.submit(env) {
                warn!(error = %e, kind, call_id = %r.call_id, "event not queued");
            }
        }
    }

    fn record_url(&self, r: &Record) -> Option<String> {
        let links = self.links.as_ref()?;
        r.outcome.as_ref()?.recording.as_ref()?;
        Some(crate::http::record_url(
            &links.base,
            &r.call_id,
            &links.secret,
        ))
    }

    fn hangup_cause_event(
        &self,
        r: &Record,
        v: &Verdict,
        heard: &Heard,
        record_url: &Option<String>,
    ) -> Value {
        let d = r.outcome.as_ref().and_then(|o| o.decision).or(r.live);
        json!({
            "event": "HangupCauseEvent",
            "callId": r.call_id,
            "caller": r.parties.caller,
            "called": r.parties.called,
            "callTime": unix_ms(r.started),
            "ringingTime": r.ringing.map_or(0, unix_ms),
            "hangupTime": r.ended.as_ref().map_or(0, |e| unix_ms(e.0)),
            "hangupGcode": v.code,
            "hangupGname": v.name,
            "userData": r.parties.user_data.clone().unwrap_or_default(),
            "mediaLabel": heard.label,
            "confidence": d.filter(|d| d.code.is_some()).map(|d| (d.confidence * 1000.0).round() / 1000.0),
            "decidedAtMs": d.and_then(|d| d.code.and(d.at_ms())),
            "sipStatus": v.sip_status.or(r.ended.as_ref().map(|e| e.1)),
            "q850Cause": v.q850,
            "recordUrl": record_url,
        })
    }

    fn call_end_event(&self, r: &Record, v: &Verdict, record_url: &Option<String>) -> Value {
        let hangup = r.ended.as_ref().map(|e| e.0);
        let duration = match (r.answered, hangup) {
            (Some(a), Some(h)) => h.duration_since(a).map_or(0, |d| d.as_millis() as u64),
            _ => 0,
        };
        let time = |t: Option<SystemTime>| t.map(|t| self.local_time(t)).unwrap_or_default();
        json!({
            "event": "SipDockingCallEnd",
            "callId": r.call_id,
            "caller": r.parties.caller,
            "displayCaller": r.parties.display_caller,
            "called": r.parties.called,
            "callTime": time(Some(r.started)),
            "startTime": time(Some(r.started)),
            "ringingTime": time(r.ringing),
            "answerTime": time(r.answered),
            "hangupTime": time(hangup),
            "duration": duration,
            "hangupGcode": v.code,
            "hangupGname": v.name,
            "recordUrl": record_url,
        })
    }

    /// `yyyy-MM-dd HH:mm:ss` in the configured time zone.
    fn local_time(&self, t: SystemTime) -> String {
        match jiff::Timestamp::try_from(t) {
            Ok(ts) => ts
                .to_zoned(self.tz.clone())
                .strftime("%Y-%m-%d %H:%M:%S")
                .to_string(),
            Err(_) => String::new(),
        }
    }
}

/// The decision for a finished call, and what the media showed.
fn decision(r: &Record) -> (Verdict, Heard) {
    let decided = r.outcome.as_ref().and_then(|o| o.decision).or(r.live);
    let label = match (&r.outcome, decided) {
        (Some(o), None) if o.unsupported_codec => Some("unsupported_codec".to_owned()),
        (_, Some(d)) => Some(d.label.as_str().to_owned()),
        _ => None,
    };
    let heard = Heard {
        code: decided.and_then(|d| d.code).map(|c| c.get()),
        label,
    };
    let ending = match (&r.answered, &r.ended) {
        (Some(_), _) => Ending::Answered,
        (None, Some((_, status, cause))) => match cause {
            _ if r.limited => Ending::Limit,
            _ if r.released_on.is_some() => Ending::EarlyRelease {
                code: r.released_on.unwrap_or_default(),
            },
            EndCause::Rejected { status, reason } => Ending::CarrierFinal {
                status: *status,
                reason: reason.clone(),
            },
            EndCause::CallerCancel => Ending::CallerCancel,
            EndCause::Timeout => Ending::Timeout,
            EndCause::TransportFailure => Ending::TransportFailure,
            // The gateway could not bind the call's ports: 503 = a limit.
            EndCause::Gateway if *status == 503 => Ending::Limit,
            _ => Ending::CarrierFinal {
                status: *status,
                reason: None,
            },
        },
        (None, None) => Ending::TransportFailure,
    };
    (hangup::decide(&ending, &heard), heard)
}

/// The Q.850 cause (ITU-T Q.850 table 1) an early release on a heard code
/// puts in its `Reason` header: the cause a network would signal for what
/// its announcement says.
const HEARD_Q850: &[(u16, u16)] = &[
    (2101, 17), // busy: user busy
    (2102, 19), // no answer: no answer from user (user alerted)
    (2103, 34), // network busy: no circuit/channel available
    (2104, 27), // line fault: destination out of order
    (2105, 20), // out of service area: subscriber absent
    (2106, 21), // service paused: call rejected
    (2107, 21), // suspended: call rejected
    (2108, 20), // temporarily unreachable: subscriber absent
    (2109, 20), // powered off: subscriber absent
    (2110, 21), // suspended, number kept: call rejected
    (2111, 21), // calls restricted: call rejected
    (2112, 17), // call waiting: user busy
    (2113, 16), // call forwarded: normal clearing
    (2114, 1),  // empty number: unallocated number
    (2115, 28), // wrong number: invalid number format
    (2116, 28), // invalid number: invalid number format
    (2117, 28), // dial 0 first: invalid number format
    (2118, 28), // do not dial 0: invalid number format
];

fn q850_for_heard(code: u16) -> u16 {
    HEARD_Q850
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(31, |(_, q)| *q) // 31: normal, unspecified
}

/// A stable id per call and event kind (the same on every attempt).
fn event_id(kind: &str, r: &Record) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(r.call_id.as_bytes());
    h.update([0]);
    let ns = r
        .started
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    h.update(ns.to_be_bytes());
    let d = h.finalize();
    let x = hex::encode(&d[..16]);
    // UUID layout, for receivers that store it as one.
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}
