//! Prometheus metrics (`/metrics`), all named `tonegate_*`, with bounded
//! label sets: SIP methods outside the known list count as `other`,
//! response classes are `1xx`..`6xx`, trunks are the configured ones,
//! codes are the platform's table. The cores keep plain counters; this is
//! the only module that knows Prometheus.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};
use tonegate_rtp::SideStats;

use crate::delivery::DeliveryStats;

/// Methods counted by name; anything else is `other`.
const METHODS: [&str; 10] = [
    "INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "PRACK", "UPDATE", "INFO", "REGISTER", "NOTIFY",
];

/// Every metric of the gateway.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    sip_requests: IntCounterVec,
    sip_responses: IntCounterVec,
    calls_active: IntGauge,
    calls: IntCounterVec,
    classifications: IntCounterVec,
    decision_latency: Histogram,
    rtp_packets: IntCounterVec,
    rtp_bytes: IntCounter,
    rtp_lost: IntCounter,
    ports_in_use: IntGauge,
    ports_free: IntGauge,
    webhooks: IntCounterVec,
    outbox_depth: IntGauge,
    limit_rejections: IntCounterVec,
    early_releases: IntCounterVec,
    draining: IntGauge,
    delivery: Option<Arc<DeliveryStats>>,
}

fn counter_vec(r: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

fn gauge(r: &Registry, name: &str, help: &str) -> IntGauge {
    let g = IntGauge::new(name, help).expect("valid metric");
    r.register(Box::new(g.clone())).expect("unique metric");
    g
}

fn counter(r: &Registry, name: &str, help: &str) -> IntCounter {
    let c = IntCounter::new(name, help).expect("valid metric");
    r.register(Box::new(c.clone())).expect("unique metric");
    c
}

impl Metrics {
    /// A fresh registry with every metric at zero; webhook figures are read
    /// from `delivery` when rendered.
    pub fn new(delivery: Option<Arc<DeliveryStats>>) -> Self {
        let r = Registry::new();
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "tonegate_decision_latency_seconds",
                "Early media heard before the classifier committed to a code",
            )
            .buckets(vec![
                0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5, 10.0, 15.0, 30.0,
            ]),
        )
        .expect("valid metric");
        r.register(Box::new(latency.clone()))
            .expect("unique metric");
        Self {
            sip_requests: counter_vec(
                &r,
                "tonegate_sip_requests_total",
                "SIP requests received, by method",
                &["method"],
            ),
            sip_responses: counter_vec(
                &r,
                "tonegate_sip_responses_total",
                "SIP responses received (in) and sent (out), by class",
                &["direction", "class"],
            ),
            calls_active: gauge(&r, "tonegate_calls_active", "Calls in progress"),
            calls: counter_vec(
                &r,
                "tonegate_calls_total",
                "Calls over, by trunk and outcome",
                &["trunk", "outcome"],
            ),
            classifications: counter_vec(
                &r,
                "tonegate_classifications_total",
                "What the early media of each call was heard as",
                &["code", "label"],
            ),
            decision_latency: latency,
            rtp_packets: counter_vec(
                &r,
                "tonegate_rtp_packets_total",
                "RTP and RTCP packets, by result",
                &["result"],
            ),
            rtp_bytes: counter(
                &r,
                "tonegate_rtp_bytes_total",
                "RTP and RTCP bytes received",
            ),
            rtp_lost: counter(
                &r,
                "tonegate_rtp_lost_packets_total",
                "RTP packets missing by sequence number",
            ),
            ports_in_use: gauge(&r, "tonegate_rtp_ports_in_use", "RTP port pairs in use"),
            ports_free: gauge(&r, "tonegate_rtp_ports_free", "RTP port pairs free"),
            webhooks: counter_vec(
                &r,
                "tonegate_webhook_deliveries_total",
                "Webhook attempts, by result",
                &["result"],
            ),
            outbox_depth: gauge(
                &r,
                "tonegate_webhook_outbox_depth",
                "Events waiting for delivery",
            ),
            limit_rejections: counter_vec(
                &r,
                "tonegate_limit_rejections_total",
                "INVITEs refused by a limit, by reason",
                &["reason"],
            ),
            early_releases: counter_vec(
                &r,
                "tonegate_early_releases_total",
                "Calls released on a heard code",
                &["code"],
            ),
            draining: gauge(&r, "tonegate_draining", "1 while draining"),
            registry: r,
            delivery,
        }
    }

    /// A SIP message received (`incoming`) or sent: requests by method,
    /// responses by class. Only the start line is read.
    pub fn sip_message(&self, incoming: bool, data: &[u8]) {
        let line = data
            .split(|&b| b == b'\r' || b == b'\n')
            .next()
            .unwrap_or_default();
        let line = std::str::from_utf8(line).unwrap_or_default();
        if let Some(rest) = line.strip_prefix("SIP/2.0 ") {
            let class = match rest.as_bytes().first() {
                Some(b'1') => "1xx",
                Some(b'2') => "2xx",
                Some(b'3') => "3xx",
                Some(b'4') => "4xx",
                Some(b'5') => "5xx",
                Some(b'6') => "6xx",
                _ => return,
            };
            let dir = if incoming { "in" } else { "out" };
            self.sip_responses.with_label_values(&[dir, class]).inc();
        } else if incoming {
            let method = line.split(' ').next().unwrap_or_default();
            let method = METHODS
                .iter()
                .find(|m| **m == method)
                .copied()
                .unwrap_or("other");
            self.sip_requests.with_label_values(&[method]).inc();
        }
    }

    /// Calls in progress, port pairs in use and free.
    pub fn set_gauges(&self, active: usize, ports: Option<(usize, usize)>) {
        self.calls_active.set(active as i64);
        if let Some((free, total)) = ports {
            self.ports_free.set(free as i64);
            self.ports_in_use.set(total.saturating_sub(free) as i64);
        }
    }

    /// A call is over.
    pub fn call(&self, trunk: &str, outcome: &str) {
        self.calls.with_label_values(&[trunk, outcome]).inc();
    }

    /// What a call's early media was heard as; `decided_s` for a committed code.
    pub fn classified(&self, code: Option<u16>, label: &str, decided_s: Option<f64>) {
        let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        self.classifications
            .with_label_values(&[code.as_str(), label])
            .inc();
        if let Some(s) = decided_s {
            self.decision_latency.observe(s);
        }
    }

    /// One side's RTP counters at the end of a call.
    pub fn rtp(&self, s: &SideStats) {
        self.rtp_packets
            .with_label_values(&["received"])
            .inc_by(s.packets);
        self.rtp_packets
            .with_label_values(&["forwarded"])
            .inc_by(s.forwarded);
        let dropped = s.dropped_foreign + s.dropped_malformed + s.dropped_no_destination;
        self.rtp_packets
            .with_label_values(&["dropped"])
            .inc_by(dropped);
        self.rtp_bytes.inc_by(s.bytes);
        self.rtp_lost.inc_by(s.lost);
    }

    /// An INVITE refused by a limit.
    pub fn rejected(&self, reason: &str) {
        self.limit_rejections.with_label_values(&[reason]).inc();
    }

    /// A call released on a heard code.
    pub fn early_release(&self, code: u16) {
        self.early_releases
            .with_label_values(&[code.to_string().as_str()])
            .inc();
    }

    /// Draining or not.
    pub fn set_draining(&self, on: bool) {
        self.draining.set(i64::from(on));
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        if let Some(d) = &self.delivery {
            // Counters mirror the delivery task's atomics.
            for (label, value) in [
                ("delivered", d.delivered.load(Ordering::Relaxed)),
                ("failed", d.failed_attempts.load(Ordering::Relaxed)),
                ("given_up", d.given_up.load(Ordering::Relaxed)),
            ] {
                let c = self.webhooks.with_label_values(&[label]);
                let now = c.get();
                if value > now {
                    c.inc_by(value - now);
                }
            }
            self.outbox_depth
                .set(d.pending.load(Ordering::Relaxed) as i64);
        }
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        String::from_utf8(out).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_labels_and_values() {
        let m = Metrics::new(None);
        m.sip_message(true, b"INVITE sip:x@y SIP/2.0\r\nVia: ...");
        m.sip_message(true, b"FOO sip:x@y SIP/2.0\r\n");
        m.sip_message(false, b"SIP/2.0 503 Service Unavailable\r\n");
        m.sip_message(true, b"SIP/2.0 180 Ringing\r\n");
        m.call("acme", "answered");
        m.classified(Some(2114), "announcement", Some(2.5));
        m.classified(None, "ringback", None);
        m.rejected("cps");
        m.early_release(2114);
        m.set_gauges(3, Some((10, 50)));
        let text = m.render();
        for line in [
            "tonegate_sip_requests_total{method=\"INVITE\"} 1",
            "tonegate_sip_requests_total{method=\"other\"} 1",
            "tonegate_sip_responses_total{class=\"5xx\",direction=\"out\"} 1",
            "tonegate_sip_responses_total{class=\"1xx\",direction=\"in\"} 1",
            "tonegate_calls_total{outcome=\"answered\",trunk=\"acme\"} 1",
            "tonegate_classifications_total{code=\"2114\",label=\"announcement\"} 1",
            "tonegate_classifications_total{code=\"none\",label=\"ringback\"} 1",
            "tonegate_decision_latency_seconds_count 1",
            "tonegate_limit_rejections_total{reason=\"cps\"} 1",
            "tonegate_early_releases_total{code=\"2114\"} 1",
            "tonegate_calls_active 3",
            "tonegate_rtp_ports_in_use 40",
            "tonegate_rtp_ports_free 10",
        ] {
            assert!(text.contains(line), "{line} missing from\n{text}");
        }
    }
}
