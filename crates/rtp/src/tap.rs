//! The early-media tap: the carrier's G.711 RTP, reordered and gap-filled,
//! cut into 20 ms frames.
//!
//! Packets are placed on a sample timeline by their RTP timestamp, so
//! reordering, duplicates, loss and any packetisation (10, 20, 30 ms) come
//! out right. A frame is released once the stream has run `depth` samples
//! past its end (a small jitter buffer); what never arrived is the codec's
//! silence. A packet from before the released point is too late and
//! dropped. A new SSRC, or a timestamp jump beyond the buffer (a new
//! source, a long pause), continues the timeline where it stands.
//! Everything lives in one ring allocated up front; the consumer polls
//! after every push.

/// Samples per frame handed out: 20 ms at 8 kHz.
pub const FRAME_SAMPLES: usize = 160;

/// The G.711 laws the tap knows (one byte per sample, 8 kHz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// μ-law, static payload type 0.
    Pcmu,
    /// A-law, static payload type 8.
    Pcma,
}

impl Codec {
    /// The codec of an rtpmap encoding name, if G.711 at 8 kHz.
    pub fn from_name(name: &str, rate: u32) -> Option<Self> {
        match (name.to_ascii_uppercase().as_str(), rate) {
            ("PCMU", 8000) => Some(Self::Pcmu),
            ("PCMA", 8000) => Some(Self::Pcma),
            _ => None,
        }
    }

    /// The byte that decodes to silence.
    pub fn silence(self) -> u8 {
        match self {
            Self::Pcmu => 0xFF,
            Self::Pcma => 0xD5,
        }
    }
}

/// Tap counters.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TapStats {
    /// Packets placed on the timeline.
    pub packets: u64,
    /// Packets that came after their time was released.
    pub late: u64,
    /// Timeline restarts (new SSRC or timestamp jump).
    pub resyncs: u64,
    /// Frames handed out.
    pub frames: u64,
    /// Frames discarded because they were not polled in time.
    pub overruns: u64,
}

/// The tap of one call.
#[derive(Debug, Clone)]
pub struct Tap {
    codec: Codec,
    ring: Vec<u8>,
    depth: u64,
    /// Timeline position (samples) of RTP timestamp `base_ts`.
    base_pos: u64,
    base_ts: u32,
    ssrc: Option<u32>,
    /// Next sample to release.
    out: u64,
    /// One past the last sample written.
    end: u64,
    /// First sample written, until the first frame is released (the
    /// timeline starts `depth` in, so packets that overtook the first one
    /// still have room before it).
    first: Option<u64>,
    started: bool,
    stats: TapStats,
}

impl Tap {
    /// A tap with a jitter buffer of `depth_frames` frames (60 ms at 3).
    pub fn new(codec: Codec, depth_frames: usize) -> Self {
        let depth = (depth_frames.max(1) * FRAME_SAMPLES) as u64;
        // Room for the buffer, one frame being released, and a late jump.
        let cap = (depth as usize + FRAME_SAMPLES) * 4;
        Self {
            codec,
            ring: vec![codec.silence(); cap],
            depth,
            base_pos: 0,
            base_ts: 0,
            ssrc: None,
            out: 0,
            end: 0,
            first: None,
            started: false,
            stats: TapStats::default(),
        }
    }

    /// The codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Counters.
    pub fn stats(&self) -> &TapStats {
        &self.stats
    }

    /// One RTP packet of the tapped stream (payload already without
    /// header and padding).
    pub fn push(&mut self, ssrc: u32, timestamp: u32, payload: &[u8]) {
        let cap = self.ring.len() as u64;
        if payload.is_empty() || payload.len() as u64 > cap / 2 {
            return;
        }
        if self.ssrc != Some(ssrc) {
            self.resync(ssrc, timestamp);
        }
        let mut rel = timestamp.wrapping_sub(self.base_ts) as i32 as i64;
        let mut pos = self.base_pos as i64 + rel;
        let len = payload.len() as i64;
        // Far ahead of what can be held, or far behind: a new timeline.
        if pos + len > (self.out + cap - FRAME_SAMPLES as u64) as i64
            || pos + len < self.out as i64 - cap as i64
        {
            self.resync(ssrc, timestamp);
            rel = 0;
            pos = self.base_pos as i64 + rel;
        }
        if pos < self.out as i64 {
            self.stats.late += 1;
            return;
        }
        let pos = pos as u64;
        // The consumer fell behind (it should poll after every push): the
        // oldest frames make room rather than be overwritten in place.
        while pos + payload.len() as u64 > self.out + cap {
            let mut skipped = [0u8; FRAME_SAMPLES];
            self.take(&mut skipped);
            self.stats.frames -= 1;
            self.stats.overruns += 1;
        }
        // The ring holds `cap` samples; a payload wraps at most once.
        let at = (pos % cap) as usize;
        let first = payload.len().min(self.ring.len() - at);
        self.ring[at..at + first].copy_from_slice(&payload[..first]);
        self.ring[..payload.len() - first].copy_from_slice(&payload[first..]);
        self.end = self.end.max(pos + payload.len() as u64);
        if !self.started {
            self.first = Some(self.first.map_or(pos, |f| f.min(pos)));
        }
        self.stats.packets += 1;
    }

    fn resync(&mut self, ssrc: u32, timestamp: u32) {
        if self.ssrc.is_some() {
            self.stats.resyncs += 1;
        }
        self.ssrc = Some(ssrc);
        self.base_ts = timestamp;
        // Continue right after what was written (or released).
        self.base_pos = if self.first.is_none() && !self.started {
            self.depth
        } else {
            self.end.max(self.out)
        };
    }

    /// The next frame, if the jitter buffer has run past it: copied into
    /// `frame` (G.711 bytes of [`Self::codec`]).
    pub fn poll_frame(&mut self, frame: &mut [u8; FRAME_SAMPLES]) -> bool {
        if self.end < self.next_out() + FRAME_SAMPLES as u64 + self.depth {
            return false;
        }
        self.take(frame);
        true
    }

    /// At the end of the stream: the remaining frames, the last one padded
    /// with silence.
    pub fn flush(&mut self, frame: &mut [u8; FRAME_SAMPLES]) -> bool {
        if self.next_out() >= self.end {
            return false;
        }
        self.take(frame);
        true
    }

    /// The next sample to release.
    fn next_out(&self) -> u64 {
        if self.started {
            self.out
        } else {
            self.first.unwrap_or(self.out)
        }
    }

    fn take(&mut self, frame: &mut [u8; FRAME_SAMPLES]) {
        if !self.started {
            self.started = true;
            self.out = self.first.unwrap_or(self.out);
        }
        let cap = self.ring.len() as u64;
        let silence = self.codec.silence();
        let at = (self.out % cap) as usize;
        let first = FRAME_SAMPLES.min(self.ring.len() - at);
        frame[..first].copy_from_slice(&self.ring[at..at + first]);
        frame[first..].copy_from_slice(&self.ring[..FRAME_SAMPLES - first]);
        self.ring[at..at + first].fill(silence);
        self.ring[..FRAME_SAMPLES - first].fill(silence);
        self.out += FRAME_SAMPLES as u64;
        self.stats.frames += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(t: &mut Tap, flush: bool) -> Vec<u8> {
        let mut out = Vec::new();
        let mut f = [0u8; FRAME_SAMPLES];
        while t.poll_frame(&mut f) {
            out.extend_from_slice(&f);
        }
        while flush && t.flush(&mut f) {
            out.extend_from_slice(&f);
        }
        out
    }

    /// Packet `i` of a 20 ms stream: every byte is `i` (never silence).
    fn pkt(i: u32) -> (u32, [u8; 160]) {
        (1000 + i * 160, [i as u8 + 1; 160])
    }

    #[test]
    fn in_order_stream_comes_out_whole_after_the_jitter_depth() {
        let mut t = Tap::new(Codec::Pcmu, 3);
        let mut f = [0u8; FRAME_SAMPLES];
        for i in 0..3 {
            let (ts, p) = pkt(i);
            t.push(7, ts, &p);
            assert!(!t.poll_frame(&mut f), "held for the jitter depth");
        }
        let (ts, p) = pkt(3);
        t.push(7, ts, &p);
        assert!(t.poll_frame(&mut f));
        assert_eq!(f, [1; 160]);
        let rest = drain(&mut t, true);
        assert_eq!(rest.len(), 3 * 160);
        assert_eq!(rest[0], 2);
        assert_eq!(rest[479], 4);
    }

    #[test]
    fn reordered_and_lost_packets() {
        let mut t = Tap::new(Codec::Pcma, 3);
        for i in [0, 2, 1, 4, 5, 6, 7] {
            let (ts, p) = pkt(i);
            t.push(7, ts, &p);
        }
        let out = drain(&mut t, true);
        let firsts: Vec<u8> = out.chunks(160).map(|c| c[0]).collect();
        // Packet 3 is lost: PCMA silence in its place.
        assert_eq!(firsts, [1, 2, 3, 0xD5, 5, 6, 7, 8]);
        // A late packet (its time is released) is dropped, not inserted.
        let (ts, p) = pkt(3);
        t.push(7, ts, &p);
        assert_eq!(t.stats().late, 1);
    }

    #[test]
    fn ten_ms_packets_and_duplicates() {
        let mut t = Tap::new(Codec::Pcmu, 2);
        for i in 0..8u32 {
            let p = [i as u8 + 1; 80];
            t.push(1, 500 + i * 80, &p);
            t.push(1, 500 + i * 80, &p);
        }
        let out = drain(&mut t, true);
        assert_eq!(out.len(), 640);
        assert_eq!(out[79], 1);
        assert_eq!(out[80], 2);
    }

    #[test]
    fn new_ssrc_and_timestamp_jump_continue_the_timeline() {
        let mut t = Tap::new(Codec::Pcmu, 3);
        for i in 0..4 {
            let (ts, p) = pkt(i);
            t.push(7, ts, &p);
        }
        // Another source with an unrelated timestamp.
        t.push(9, 3_000_000_000, &[50; 160]);
        // A jump of an hour on it.
        t.push(9, 3_000_000_000u32.wrapping_add(8000 * 3600), &[60; 160]);
        let out = drain(&mut t, true);
        let firsts: Vec<u8> = out.chunks(160).map(|c| c[0]).collect();
        assert_eq!(firsts, [1, 2, 3, 4, 50, 60]);
        assert_eq!(t.stats().resyncs, 2);
    }

    #[test]
    fn a_consumer_that_does_not_poll_loses_the_oldest_frames() {
        let mut t = Tap::new(Codec::Pcmu, 3);
        for i in 0..40 {
            let (ts, p) = pkt(i);
            t.push(7, ts, &p);
        }
        let out = drain(&mut t, true);
        let firsts: Vec<u8> = out.chunks(160).map(|c| c[0]).collect();
        assert_eq!(t.stats().overruns as usize + firsts.len(), 40);
        assert_eq!(firsts.last(), Some(&40));
        assert!(firsts.windows(2).all(|w| w[1] == w[0] + 1));
    }

    #[test]
    fn timestamp_wraps() {
        let mut t = Tap::new(Codec::Pcmu, 1);
        t.push(1, u32::MAX - 159, &[1; 160]);
        t.push(1, 0, &[2; 160]);
        t.push(1, 160, &[3; 160]);
        let out = drain(&mut t, true);
        let firsts: Vec<u8> = out.chunks(160).map(|c| c[0]).collect();
        assert_eq!(firsts, [1, 2, 3]);
    }
}
