//! One side of a call: the gateway's port pair facing one party.
//!
//! Symmetric RTP (RFC 4961, and what rtpengine calls latching): a party
//! behind NAT sends from an address that is not the one in its SDP, so the
//! side learns the real source from the party's packets and sends there.
//! Until the first packet it sends to the SDP address. In strict mode only
//! the SDP address's host may be learned and a latched side drops packets
//! from any other source; otherwise a new source that sends valid packets
//! takes over (a NAT rebinding, a changed source port).

use std::net::SocketAddr;

/// Counters of one side (packets received on its port).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SideStats {
    /// Packets received (RTP and RTCP, valid or not).
    pub packets: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Packets forwarded to the other side.
    pub forwarded: u64,
    /// Dropped: from a source other than the latched one (strict mode).
    pub dropped_foreign: u64,
    /// Dropped: not an RTP packet.
    pub dropped_malformed: u64,
    /// Dropped: the other side has no address yet.
    pub dropped_no_destination: u64,
    /// Times the side latched onto a new source.
    pub latches: u64,
    /// RTP packets seen with a new SSRC (the first one counts too).
    pub ssrc_changes: u64,
    /// Sequence discontinuities (a jump of more than 100 either way).
    pub seq_jumps: u64,
    /// Packets missing by sequence number (gaps inside one SSRC).
    pub lost: u64,
}

/// Per-component (RTP or RTCP) addressing.
#[derive(Debug, Default, Clone, Copy)]
struct Peer {
    /// From the SDP.
    signalled: Option<SocketAddr>,
    /// Learned from received packets.
    latched: Option<SocketAddr>,
}

impl Peer {
    fn destination(&self) -> Option<SocketAddr> {
        self.latched.or(self.signalled)
    }
}

/// One side of a call.
#[derive(Debug, Clone)]
pub struct Session {
    port: u16,
    strict: bool,
    rtp: Peer,
    rtcp: Peer,
    ssrc: Option<u32>,
    last_seq: u16,
    stats: SideStats,
}

/// How a packet's source relates to the side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admit {
    Accept,
    Foreign,
}

impl Session {
    /// A side on the gateway's RTP `port` (RTCP on `port + 1`).
    pub fn new(port: u16, strict: bool) -> Self {
        Self {
            port,
            strict,
            rtp: Peer::default(),
            rtcp: Peer::default(),
            ssrc: None,
            last_seq: 0,
            stats: SideStats::default(),
        }
    }

    /// The gateway's RTP port of this side.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the party's SDP said (`None`: on hold or rejected). A changed
    /// address (a re-INVITE moved the media) drops what was latched.
    pub fn set_signalled(&mut self, rtp: Option<SocketAddr>, rtcp: Option<SocketAddr>) {
        if self.rtp.signalled != rtp {
            self.rtp.latched = None;
        }
        if self.rtcp.signalled != rtcp {
            self.rtcp.latched = None;
        }
        self.rtp.signalled = rtp;
        self.rtcp.signalled = rtcp;
    }

    /// Where RTP for this party goes.
    pub fn rtp_destination(&self) -> Option<SocketAddr> {
        self.rtp.destination()
    }

    /// Where RTCP for this party goes.
    pub fn rtcp_destination(&self) -> Option<SocketAddr> {
        self.rtcp.destination()
    }

    /// Counters.
    pub fn stats(&self) -> &SideStats {
        &self.stats
    }

    pub(crate) fn count(&mut self, len: usize) {
        self.stats.packets += 1;
        self.stats.bytes += len as u64;
    }

    pub(crate) fn stats_mut(&mut self) -> &mut SideStats {
        &mut self.stats
    }

    /// Decides on a valid packet's source and latches onto it.
    pub(crate) fn admit(&mut self, rtcp: bool, from: SocketAddr) -> Admit {
        let strict = self.strict;
        let peer = if rtcp { &mut self.rtcp } else { &mut self.rtp };
        if peer.latched == Some(from) {
            return Admit::Accept;
        }
        if strict {
            let allowed = match (peer.latched, peer.signalled) {
                (Some(_), _) => false,
                (None, Some(sig)) => sig.ip() == from.ip(),
                // Nothing signalled yet: the first source is taken.
                (None, None) => true,
            };
            if !allowed {
                self.stats.dropped_foreign += 1;
                return Admit::Foreign;
            }
        }
        peer.latched = Some(from);
        self.stats.latches += 1;
        Admit::Accept
    }

    /// Tracks SSRC and sequence numbers of an RTP packet from the party.
    pub(crate) fn track(&mut self, ssrc: u32, seq: u16) {
        if self.ssrc != Some(ssrc) {
            self.ssrc = Some(ssrc);
            self.stats.ssrc_changes += 1;
        } else {
            let delta = seq.wrapping_sub(self.last_seq) as i16;
            if !(-100..=100).contains(&delta) {
                self.stats.seq_jumps += 1;
            } else if delta > 1 {
                self.stats.lost += (delta - 1) as u64;
            } else if delta <= 0 {
                // Late or duplicate: keep the highest sequence number.
                return;
            }
        }
        self.last_seq = seq;
    }
}
