//! The media of one call: two [`Session`]s and the per-packet verdict.
//!
//! A packet received on side A's port comes from the customer and goes out
//! of side B's port to the carrier, and the other way round. RTCP goes from
//! RTCP port to RTCP port; with `a=rtcp-mux` (RFC 5761) it shares the RTP
//! port and is told apart by its packet type. Any payload type passes
//! (telephone-event included), and so do SSRC changes and sequence jumps:
//! the relay only counts them.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rtp_rs::RtpReader;

use crate::session::{Admit, Session};

/// Which leg's side of the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Faces the customer.
    A,
    /// Faces the carrier.
    B,
}

impl Side {
    /// The side packets from this one are sent out of.
    pub fn other(self) -> Self {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// Which socket of a side a packet came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// The RTP port (RTCP too with rtcp-mux).
    Rtp,
    /// The RTCP port (RTP port + 1).
    Rtcp,
}

/// Why a packet was not forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Not RTP (or RTCP) at all.
    Malformed,
    /// Strict latching: from a source other than the party's.
    ForeignSource,
    /// The other party has not said where its media goes (no SDP yet, or
    /// on hold).
    NoDestination,
}

/// What to do with one received packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the packet unchanged out of `side`'s `component` socket to `to`.
    Forward {
        /// Out of this side's socket.
        side: Side,
        /// Which of its sockets.
        component: Component,
        /// Destination.
        to: SocketAddr,
    },
    /// Drop it.
    Drop(DropReason),
}

/// What the relay reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelayEvent {
    /// An answered call carried no RTP in either direction for the
    /// configured time: it should be released.
    Timeout,
}

/// Relay settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Strict source checking (see [`Session`]).
    pub strict: bool,
    /// No RTP for this long on an answered call → [`RelayEvent::Timeout`].
    pub timeout: Option<Duration>,
}

/// Fields of a valid RTP packet the caller may want (the early-media tap).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtpInfo<'a> {
    /// Payload type.
    pub pt: u8,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub timestamp: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload (padding removed).
    pub payload: &'a [u8],
}

/// The media of one call.
#[derive(Debug, Clone)]
pub struct MediaRelay {
    a: Session,
    b: Session,
    config: RelayConfig,
    answered: bool,
    last_rtp: Instant,
    timed_out: bool,
}

impl MediaRelay {
    /// A call's relay on the gateway's RTP ports `a_port` (customer side)
    /// and `b_port` (carrier side).
    pub fn new(now: Instant, a_port: u16, b_port: u16, config: RelayConfig) -> Self {
        Self {
            a: Session::new(a_port, config.strict),
            b: Session::new(b_port, config.strict),
            config,
            answered: false,
            last_rtp: now,
            timed_out: false,
        }
    }

    /// One side.
    pub fn session(&self, side: Side) -> &Session {
        match side {
            Side::A => &self.a,
            Side::B => &self.b,
        }
    }

    /// One side, to set what its party signalled.
    pub fn session_mut(&mut self, side: Side) -> &mut Session {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// The call was answered: the no-RTP timeout runs from now.
    pub fn set_answered(&mut self, now: Instant) {
        if !self.answered {
            self.answered = true;
            self.last_rtp = now;
        }
    }

    /// A datagram received on `side`'s `component` socket from `from`.
    /// Valid RTP is also returned (for the tap) with the verdict.
    pub fn handle_packet<'a>(
        &mut self,
        now: Instant,
        side: Side,
        component: Component,
        from: SocketAddr,
        data: &'a [u8],
    ) -> (Verdict, Option<RtpInfo<'a>>) {
        let this = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        this.count(data.len());
        // RFC 5761 §4: on a muxed port, packet types 192-223 are RTCP.
        let is_rtcp =
            component == Component::Rtcp || (data.len() >= 2 && (192..=223).contains(&data[1]));
        let mut info = None;
        if is_rtcp {
            // RTCP: version 2 and at least a header.
            if data.len() < 8 || data[0] >> 6 != 2 {
                this.stats_mut().dropped_malformed += 1;
                return (Verdict::Drop(DropReason::Malformed), None);
            }
        } else {
            match RtpReader::new(data) {
                Ok(r) => {
                    info = Some(RtpInfo {
                        pt: r.payload_type(),
                        seq: r.sequence_number().into(),
                        timestamp: r.timestamp(),
                        ssrc: r.ssrc(),
                        payload: r.payload(),
                    });
                }
                Err(_) => {
                    this.stats_mut().dropped_malformed += 1;
                    return (Verdict::Drop(DropReason::Malformed), None);
                }
            }
        }
        if this.admit(component == Component::Rtcp, from) == Admit::Foreign {
            return (Verdict::Drop(DropReason::ForeignSource), None);
        }
        if let Some(i) = &info {
            this.track(i.ssrc, i.seq);
            self.last_rtp = now;
        }
        let out_side = side.other();
        let out = match out_side {
            Side::A => &self.a,
            Side::B => &self.b,
        };
        let (out_component, to) = if is_rtcp {
            // Out of the RTCP socket unless the receiving party muxes (its
            // RTCP destination is then its RTP address).
            let to = out.rtcp_destination();
            let muxed = to.is_some() && to == out.rtp_destination();
            (
                if muxed {
                    Component::Rtp
                } else {
                    Component::Rtcp
                },
                to,
            )
        } else {
            (Component::Rtp, out.rtp_destination())
        };
        let this = match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        };
        match to {
            Some(to) => {
                this.stats_mut().forwarded += 1;
                (
                    Verdict::Forward {
                        side: out_side,
                        component: out_component,
                        to,
                    },
                    info,
                )
            }
            None => {
                this.stats_mut().dropped_no_destination += 1;
                (Verdict::Drop(DropReason::NoDestination), info)
            }
        }
    }

    /// When [`Self::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.answered && !self.timed_out, self.config.timeout) {
            (true, Some(t)) => Some(self.last_rtp + t),
            _ => None,
        }
    }

    /// Checks the no-RTP timeout; reports it once.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<RelayEvent> {
        let deadline = self.poll_timeout()?;
        if now >= deadline {
            self.timed_out = true;
            return Some(RelayEvent::Timeout);
        }
        None
    }
}
