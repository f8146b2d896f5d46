//! Media anchoring: every SDP crossing the B2BUA is rewritten so that both
//! parties send their RTP to the gateway, on ports taken from a pool.
//!
//! Each call holds two port pairs (RTP even, RTCP the odd one above): the
//! A pair faces the customer, the B pair the carrier. An SDP from the
//! customer tells where the customer wants media ([`CallEvent::Media`]
//! with `from_a`) and is sent on with the B pair; an SDP from the carrier
//! the other way round. The I/O layer binds the ports and relays.

use std::collections::{HashSet, VecDeque};
use std::net::IpAddr;
use std::ops::RangeInclusive;

use bytes::Bytes;
use tracing::{debug, warn};

use super::{B2bua, CallEvent, CallId};
use crate::message::{Request, Response};
use crate::sdp::{self, AudioMedia};
use crate::Error;

/// Where anchored media goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaConfig {
    /// Address written into `c=` lines (the gateway's media address).
    pub address: IpAddr,
    /// Port range for RTP (even ports) and RTCP (the odd port above).
    pub ports: RangeInclusive<u16>,
}

/// The two RTP ports of a call (RTCP is each + 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MediaPorts {
    /// Faces the customer (A leg).
    pub a: u16,
    /// Faces the carrier (B leg).
    pub b: u16,
}

/// Free RTP ports. A released port goes to the back of the queue, so a
/// port is reused as late as possible (its late packets die with it).
#[derive(Debug, Clone)]
pub struct PortPool {
    free: VecDeque<u16>,
    capacity: usize,
    /// Ports taken by something else on the host: never handed out again.
    retired: HashSet<u16>,
}

impl PortPool {
    /// Every even port of `range` whose odd neighbour is in it too.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let (lo, hi) = (*range.start(), *range.end());
        let first = lo + (lo & 1);
        let free: VecDeque<u16> = (first..hi).step_by(2).collect();
        let capacity = free.len();
        Self {
            free,
            capacity,
            retired: HashSet::new(),
        }
    }

    /// An RTP port (its RTCP port is + 1), or `None` when exhausted.
    pub fn allocate(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// A pair back; ports outside the pool are ignored.
    pub fn release(&mut self, port: u16) {
        if self.free.len() < self.capacity && !self.retired.contains(&port) {
            self.free.push_back(port);
        }
    }

    /// A pair the host would not bind (another program holds it): it is
    /// not handed out again.
    pub fn retire(&mut self, port: u16) {
        let pair = port & !1;
        self.retired.insert(pair);
        self.free.retain(|&p| p != pair);
    }

    /// Free RTP ports (pairs).
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// All RTP ports (pairs).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

/// Per-call anchoring state.
#[derive(Debug)]
pub(super) struct CallMedia {
    pub(super) ports: MediaPorts,
    /// The carrier sent SDP in a provisional response (early media).
    pub(super) early_reported: bool,
}

/// A message with a body (requests and responses alike).
pub(super) trait HasBody {
    fn header_values(&self, name: &str) -> Vec<String>;
    fn body(&self) -> &Bytes;
    fn content_type(&self) -> Option<&str>;
    fn put_body(&mut self, content_type: Option<&str>, body: Bytes);
}

macro_rules! has_body {
    ($t:ty) => {
        impl HasBody for $t {
            fn header_values(&self, name: &str) -> Vec<String> {
                self.headers
                    .get_all(name)
                    .into_iter()
                    .map(str::to_owned)
                    .collect()
            }
            fn body(&self) -> &Bytes {
                &self.body
            }
            fn content_type(&self) -> Option<&str> {
                self.header("Content-Type")
            }
            fn put_body(&mut self, content_type: Option<&str>, body: Bytes) {
                self.set_body(content_type, body);
            }
        }
    };
}
has_body!(Request);
has_body!(Response);

impl B2bua {
    /// Two port pairs for a new call; `Ok(None)` without anchoring, `Err`
    /// when the pool is exhausted.
    pub(super) fn allocate_media(&mut self) -> Result<Option<CallMedia>, ()> {
        let Some(pool) = self.ports.as_mut() else {
            return Ok(None);
        };
        let Some(a) = pool.allocate() else {
            return Err(());
        };
        let Some(b) = pool.allocate() else {
            pool.release(a);
            return Err(());
        };
        Ok(Some(CallMedia {
            ports: MediaPorts { a, b },
            early_reported: false,
        }))
    }

    pub(super) fn release_media(&mut self, media: Option<CallMedia>) {
        if let (Some(pool), Some(m)) = (self.ports.as_mut(), media) {
            pool.release(m.ports.a);
            pool.release(m.ports.b);
        }
    }

    /// A port the I/O layer could not bind: its pair is not used again.
    pub fn retire_port(&mut self, port: u16) {
        if let Some(pool) = self.ports.as_mut() {
            pool.retire(port);
        }
    }

    /// Free and total RTP port pairs, if media is anchored.
    pub fn port_stats(&self) -> Option<(usize, usize)> {
        self.ports.as_ref().map(|p| (p.free(), p.capacity()))
    }

    /// Copies the body of `src` (received on the A leg if `from_a`) onto
    /// `dst` (to be sent on the other leg). An SDP is anchored: where its
    /// sender wants media is reported ([`CallEvent::Media`]) and the copy
    /// names the gateway's port facing the receiver.
    pub(super) fn copy_body(
        &mut self,
        id: CallId,
        from_a: bool,
        src: &impl HasBody,
        dst: &mut impl HasBody,
    ) {
        if src.body().is_empty() {
            return;
        }
        let ports = self
            .calls
            .get(&id)
            .and_then(|c| c.media.as_ref())
            .map(|m| m.ports);
        let body = match self.anchored(ports, from_a, src.content_type(), src.body()) {
            Ok((body, Some(media))) => {
                debug!(call = id.0, from_a, rtp = ?media.rtp, "SDP anchored");
                self.events.push_back(CallEvent::Media {
                    call: id,
                    from_a,
                    media,
                });
                body
            }
            Ok((body, None)) => body,
            Err(e) => {
                // Not ours to judge in the middle of a call: the far end
                // answers it. The body goes on as it is (its media then
                // bypasses the gateway).
                warn!(call = id.0, from_a, error = %e, "SDP not anchored");
                src.body().clone()
            }
        };
        dst.put_body(src.content_type(), body);
    }

    /// The body to send on, and the sender's audio if it was an SDP that
    /// was anchored on `ports` (the body is untouched without anchoring or
    /// when it is not SDP).
    pub(super) fn anchored(
        &self,
        ports: Option<MediaPorts>,
        from_a: bool,
        content_type: Option<&str>,
        body: &Bytes,
    ) -> Result<(Bytes, Option<AudioMedia>), Error> {
        let (Some(address), Some(ports)) = (self.config.media.as_ref().map(|m| m.address), ports)
        else {
            return Ok((body.clone(), None));
        };
        if !sdp::is_sdp(content_type) {
            return Ok((body.clone(), None));
        }
        let port = if from_a { ports.b } else { ports.a };
        let media = sdp::parse_audio(body)?;
        let rewritten = sdp::rewrite(body, address, port)?;
        Ok((Bytes::from(rewritten), Some(media)))
    }

    /// The carrier's provisional with SDP: early media starts (reported
    /// once per call).
    pub(super) fn note_early_media(&mut self, id: CallId, resp: &Response) {
        if resp.body.is_empty() || !sdp::is_sdp(resp.header("Content-Type")) {
            return;
        }
        if let Some(m) = self.calls.get_mut(&id).and_then(|c| c.media.as_mut()) {
            if !m.early_reported {
                m.early_reported = true;
                self.events.push_back(CallEvent::EarlyMedia { call: id });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_hands_out_even_ports_and_reuses_late() {
        let mut p = PortPool::new(20001..=20009);
        assert_eq!(p.capacity(), 4); // 20002, 20004, 20006, 20008
        let got: Vec<u16> = (0..4).map(|_| p.allocate().unwrap()).collect();
        assert_eq!(got, [20002, 20004, 20006, 20008]);
        assert_eq!(p.allocate(), None);
        p.release(20004);
        p.release(20002);
        assert_eq!(p.allocate(), Some(20004));
        assert_eq!(p.free(), 1);
        p.retire(20005);
        p.release(20004);
        assert_eq!(p.free(), 1, "a retired pair does not come back");
        assert_eq!(p.allocate(), Some(20002));
        let mut tiny = PortPool::new(30000..=30000);
        assert_eq!(tiny.capacity(), 0);
        assert_eq!(tiny.allocate(), None);
    }
}
