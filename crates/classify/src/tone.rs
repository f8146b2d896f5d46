//! China's call-progress tones (450 Hz) by their cadence, per the tones spec:
//! busy 0.35/0.35 s, congestion 0.7/0.7 s, number unobtainable 3 × (0.1/0.1) then 0.4/0.4,
//! ringback 1.0/4.0, call waiting 0.4/4.0, dial tone continuous.
//!
//! Time is counted in analysis frames (10 ms). Cadences are accepted within ±20 % plus one
//! frame of edge jitter (the spec allows ±15 % drift).

use crate::codes::{Code, Label};
use crate::features::Analysis;

/// Share of the channel's energy in the 450 Hz band for a frame to count as tone.
const TONE_RATIO_ON: f32 = 0.5;
/// Quietest tone we listen to.
const TONE_MIN_DB: f32 = -55.0;
/// Frames of the opposite state needed to end a segment (debounce).
const DEBOUNCE: u32 = 3;
/// Digital silence ends a tone segment only after this many frames: shorter runs are more
/// likely packet loss concealed by zeros than a cadence gap (the shortest gap, the
/// unobtainable tone's 0.1 s - 15 %, is 8.5 frames).
const ZERO_DEBOUNCE: u32 = 7;
/// A gap must be at least this much quieter than the tone before it (mean level, dB). At the
/// spec's lowest SNR (5 dB over the whole cadence, the tone on half the time) the noise in a
/// gap is about 8 dB below the tone.
const GAP_BELOW_TONE_DB: f32 = 3.0;
/// A network's tone keeps its level: an on segment whose level drifts more than this from
/// its start to its end (dB, least-squares line over its frames) is no tone of a cadence.
/// A plucked or struck note near 450 Hz decays 15-25 dB over 0.8 s; the spec's slowest gain
/// wander (±3 dB over 3 s) moves a 0.7 s tone by under 5 dB.
const UNSTEADY_DB: f32 = 10.0;
/// A note struck again: a tone frame this much louder (dB) than each of the
/// [`REATTACK_QUIET`] tone frames before the two just before it makes its on segment no
/// tone of a cadence. A network's tone keeps its level; music's notes decay and are struck
/// anew, and a note near 450 Hz struck on every beat at 103 bpm (0.58 s) alternates like
/// congestion tone: music with chords and drums was heard as 2103 (seed 1053, both voice
/// sets), one of its on segments a note struck again 11 dB over the 50 ms before. An echo
/// (gain 0.5 at most) raises a tone by 3.5 dB at most where it arrives, and the level's
/// wander is slow: on the 1740 tone calls of the dev set and 28 held-out draws (3982 on
/// segments) the largest such rise was 3.4 dB.
const REATTACK_DB: f32 = 6.0;
/// Frames into an on segment before its levels are read for [`REATTACK_DB`] (the first
/// frame is checked once the [`REATTACK_QUIET`] + 2 before it are held): the analysis
/// window (32 ms) ramps up over the segment's first frames.
const REATTACK_FROM: u32 = 5;
/// Frames of a stretch quieter by [`REATTACK_DB`] before a stroke: a dip of a few frames
/// (a codec's or a loss's) is no decayed note.
const REATTACK_QUIET: usize = 5;
/// Frames after a concealed loss (zeros or a repeated packet) whose analysis window still
/// holds it: their level is not the tone's, and neither [`REATTACK_DB`]'s check nor its
/// baseline reads them.
const CONCEALED_REACH: u32 = 4;
/// Only on segments this long are checked (frames, past busy's longest, 44): in a shorter
/// one the window's ramps at both ends weigh too much on the line.
const STEADY_CHECKED: u32 = 45;
/// A frame is tone only when its peak lies within this of 450 Hz. The spec allows ±25 Hz;
/// the rest is margin for the peak's reading (within 3 Hz for a steady tone). Music has
/// notes in the tone band's bins (375-531 Hz) that are no 450 Hz tone: B4 at 494 Hz, played
/// in turn with A4 at 440 Hz in eighth notes at 91 bpm, alternates like busy tone.
const TONE_HZ_TOLERANCE: f32 = 35.0;
/// Closed segments kept, raw and healed (two histories: see `ToneDetector::heal`). When the
/// last 12 raw segments were healed at once, healing joined number unobtainable's 0.1 s
/// bursts (their gaps are within `DROPOUT`) into what looked like busy tone, for a 425 Hz
/// unobtainable tone with 8 % of its packets concealed by repeats.
const HISTORY: usize = 8;
/// Continuous tone this long is dial tone (frames).
const DIAL_FRAMES: u32 = 300;

/// A cadence range in frames, `nominal` ± 20 % ± 2 frames.
const fn range(nominal: u32) -> (u32, u32) {
    (nominal * 8 / 10 - 2, nominal * 12 / 10 + 2)
}

const BUSY: (u32, u32) = range(35);
const CONGESTION: (u32, u32) = range(70);
const UNOBT_SHORT: (u32, u32) = range(10);
const UNOBT_LONG: (u32, u32) = range(40);
const LONG_OFF: (u32, u32) = range(400);
const RING_ON: (u32, u32) = range(100);
const WAIT_ON: (u32, u32) = range(40);

fn within(x: u32, r: (u32, u32)) -> bool {
    x >= r.0 && x <= r.1
}

/// A closed on or off segment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Segment {
    on: bool,
    frames: u32,
    /// False for a segment that belongs to no cadence whatever its length: a gap that is
    /// not quiet enough, a tone whose level is not steady.
    cadence: bool,
    /// An on segment healed from two or more across short dropouts (see [`DROPOUT`]).
    joined: bool,
}

impl Segment {
    /// Whether this segment is a cadence's, of a length within `r`.
    fn fits(&self, r: (u32, u32)) -> bool {
        self.cadence && within(self.frames, r)
    }
}

/// What the tone detector concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToneEvent {
    /// A failure tone, confirmed over enough cycles to commit.
    Failure(Code, Label),
    /// A tone that carries no code (ringback, call waiting, dial tone), seen once more.
    Progress(Label),
}

/// Off segments this short between two on segments are healed into one on segment when
/// busy or congestion tone is looked for (frames). The shortest gap of either cadence is
/// busy's 0.35 s - 20 % - 2 frames = 26 frames. 24, not 12: at 10-16 % packet loss
/// concealed by zeros, bursts of 0.16-0.2 s broke congestion's 0.7 s tones into pieces no
/// cadence fits (three congestion tones of seeds 927 and 928 heard as ringback); on the 44
/// draws of seeds 501-506, 701-706, 801-803 and 901-929 (2640 tones, 5852 negatives, both
/// voice sets) tones 2635 → 2638 right, no false code either way.
const DROPOUT: u32 = 24;

/// Busy (on, off, on, off, on: the first segment of a stream may be cut) or congestion (on,
/// off, on), plus `more` segments of the same cadence, as the newest of `s`, closed segments
/// oldest first.
fn busy_or_congestion(s: &[Segment], more: usize) -> Option<ToneEvent> {
    let alternating = |s: &[Segment], r: (u32, u32)| s.iter().all(|seg| seg.fits(r));
    if let Some(s) = newest(s, 5 + more) {
        if s[s.len() - 1].on && alternating(s, BUSY) {
            return Some(ToneEvent::Failure(Code::BUSY, Label::BusyTone));
        }
    }
    if let Some(s) = newest(s, 3 + more) {
        if s[s.len() - 1].on && alternating(s, CONGESTION) {
            return Some(ToneEvent::Failure(
                Code::NETWORK_BUSY,
                Label::CongestionTone,
            ));
        }
    }
    None
}

/// Appends `seg` to a history (newest last) that has had `count` segments added.
fn push(history: &mut [Segment; HISTORY], count: &mut usize, seg: Segment) {
    history.copy_within(1.., 0);
    history[HISTORY - 1] = seg;
    *count += 1;
}

/// The segments a history that has had `count` added still holds, oldest first.
fn kept(history: &[Segment; HISTORY], count: usize) -> &[Segment] {
    &history[HISTORY - count.min(HISTORY)..]
}

/// The newest `k` of the segments `s` (oldest first), if there are that many.
fn newest(s: &[Segment], k: usize) -> Option<&[Segment]> {
    (s.len() >= k).then(|| &s[s.len() - k..])
}

/// Streaming cadence detector.
#[derive(Debug, Clone, Default)]
pub struct ToneDetector {
    on: bool,
    run: u32,
    pending: u32,
    /// Whether every pending frame was digital silence.
    pending_zeroed: bool,
    /// Closed segments, newest last.
    segments: [Segment; HISTORY],
    closed: usize,
    /// The closed segments with short dropouts healed as they close, newest last: healing
    /// the raw segments kept left too few of them (one join turns 8 into 6, one short of
    /// busy healed; two broke congestion).
    healed: [Segment; HISTORY],
    healed_n: usize,
    tone_frames: u32,
    dial_reported: bool,
    /// Levels (dB) summed over the current run, and over the pending frames.
    run_db: f32,
    pending_db: f32,
    /// Mean level of the newest closed on segment, dB (0 before any: no gap is quiet enough
    /// until a tone has been heard).
    last_on_db: f32,
    /// Least-squares sums of (frame within the run, level) over the current run's frames.
    fit: LevelFit,
    /// The levels of the current on segment's last tone frames read for [`REATTACK_DB`]
    /// (oldest first), and how many of them are held.
    recent: [f32; REATTACK_QUIET + 2],
    recent_n: u32,
    /// Whether the current on segment had a frame [`REATTACK_DB`] louder than the frames
    /// before it (never set in an off segment: only an on segment's levels are read).
    reattacked: bool,
    /// Frames since the last concealed loss (saturating).
    since_concealed: u32,
}

/// Sums for the least-squares line through (t, level) points.
#[derive(Debug, Clone, Copy, Default)]
struct LevelFit {
    n: f32,
    t: f32,
    tt: f32,
    l: f32,
    tl: f32,
}

impl LevelFit {
    fn add(&mut self, t: f32, level: f32) {
        self.n += 1.0;
        self.t += t;
        self.tt += t * t;
        self.l += level;
        self.tl += t * level;
    }

    /// Change of the fitted level from the first point to the last (dB).
    fn drift(&self, span: f32) -> f32 {
        let den = self.n * self.tt - self.t * self.t;
        if self.n < 3.0 || den <= 0.0 {
            return 0.0;
        }
        (self.n * self.tl - self.t * self.l) / den * span
    }
}

impl ToneDetector {
    /// Frames so far that were tone.
    pub fn tone_frames(&self) -> u32 {
        self.tone_frames
    }

    /// The share of a frame's energy the detector counts as tone: the 450 Hz band's, when
    /// that energy is narrow and peaks within the tolerance of 450 Hz; else 0.
    pub fn tone_share(a: &Analysis) -> f32 {
        if a.tone_narrow && (a.tone_hz - 450.0).abs() <= TONE_HZ_TOLERANCE {
            a.tone_ratio
        } else {
            0.0
        }
    }

    /// Whether a frame is tone: what the cadences are made of, and what the matcher leaves
    /// out of speech.
    pub fn is_tone_frame(a: &Analysis) -> bool {
        Self::is_tone(Self::tone_share(a), a.level_db)
    }

    /// Whether a frame with these measurements is tone.
    pub fn is_tone(tone_ratio: f32, level_db: f32) -> bool {
        tone_ratio > TONE_RATIO_ON && level_db > TONE_MIN_DB
    }

    /// Feeds one analysis frame. `zeroed` frames (digital silence: a cadence gap, or a loss
    /// concealed by zeros) end a tone only when they last longer than a loss burst would;
    /// `concealed` marks a frame whose input was a loss concealed by zeros or by repeating
    /// the packet before.
    pub fn push(
        &mut self,
        tone_ratio: f32,
        level_db: f32,
        zeroed: bool,
        concealed: bool,
    ) -> Option<ToneEvent> {
        let tone = !zeroed && Self::is_tone(tone_ratio, level_db);
        if tone {
            self.tone_frames += 1;
        }
        self.since_concealed = if concealed || zeroed {
            0
        } else {
            self.since_concealed.saturating_add(1)
        };
        if tone && self.on {
            self.read_level(level_db);
        }
        if tone == self.on {
            self.fit.add((self.run + self.pending) as f32, level_db);
            self.run += 1 + self.pending;
            self.run_db += level_db + self.pending_db;
            self.pending = 0;
            self.pending_db = 0.0;
            self.pending_zeroed = false;
        } else {
            self.pending_db += level_db;
            if self.pending == 0 {
                self.pending_zeroed = true;
            }
            self.pending_zeroed &= zeroed;
            self.pending += 1;
            let needed = if self.on && self.pending_zeroed {
                ZERO_DEBOUNCE
            } else {
                DEBOUNCE
            };
            if self.pending >= needed {
                // A cadence's gap is quieter than its tone (by the SNR and more: the tone is on
                // half the time). A "gap" about as loud as the tone before it, such as music
                // between two notes near 450 Hz, is no gap of any cadence.
                let mean_db = self.run_db / self.run.max(1) as f32;
                let loud_gap = !self.on && mean_db > self.last_on_db - GAP_BELOW_TONE_DB;
                let unsteady = self.on
                    && self.run >= STEADY_CHECKED
                    && self.fit.drift(self.run as f32).abs() > UNSTEADY_DB;
                if self.on {
                    self.last_on_db = mean_db;
                }
                let ev = self.close(Segment {
                    on: self.on,
                    frames: self.run,
                    cadence: !(loud_gap || unsteady || self.reattacked),
                    ..Segment::default()
                });
                self.on = tone;
                self.recent_n = 0;
                self.reattacked = false;
                self.fit = LevelFit::default();
                self.run = self.pending;
                self.run_db = self.pending_db;
                self.pending = 0;
                self.pending_db = 0.0;
                if ev.is_some() {
                    return ev;
                }
            }
        }
        if self.on && self.run >= DIAL_FRAMES && !self.dial_reported {
            self.dial_reported = true;
            return Some(ToneEvent::Progress(Label::DialTone));
        }
        None
    }

    /// Reads a tone frame's level within an on segment for [`REATTACK_DB`]: marks the
    /// segment when the frame is that much louder than every one of the
    /// [`REATTACK_QUIET`] frames before the two just before it (those two may be the
    /// stroke's own rise, read through the window).
    fn read_level(&mut self, level_db: f32) {
        if self.since_concealed < CONCEALED_REACH {
            // The window holds a concealed loss: neither check nor baseline.
            self.recent_n = 0;
            return;
        }
        if self.run + self.pending < REATTACK_FROM {
            return;
        }
        if self.recent_n as usize == self.recent.len() {
            let loudest = self.recent[..REATTACK_QUIET]
                .iter()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            if level_db - loudest >= REATTACK_DB {
                self.reattacked = true;
            }
        }
        self.recent.copy_within(1.., 0);
        self.recent[self.recent.len() - 1] = level_db;
        self.recent_n = (self.recent_n + 1).min(self.recent.len() as u32);
    }

    fn close(&mut self, segment: Segment) -> Option<ToneEvent> {
        if segment.frames == 0 {
            return None;
        }
        push(&mut self.segments, &mut self.closed, segment);
        self.heal(segment);
        self.classify()
    }

    /// Adds a closed segment to the healed history: an on segment after an off segment of at
    /// most [`DROPOUT`] frames that follows an on segment is joined to it (also when the gap
    /// is as loud as the tone: a packet concealed by repeating the last one breaks the
    /// tone's phase, so its frames read as no tone). Number unobtainable's 0.1 s bursts
    /// join into one long tone this way, no cadence of busy or congestion
    /// (`unobtainable_bursts_are_never_healed_into_busy`).
    fn heal(&mut self, seg: Segment) {
        let n = self.healed_n.min(HISTORY);
        let h = &mut self.healed[HISTORY - n..];
        if let [.., before, gap] = h {
            if seg.on && before.on && !gap.on && gap.frames <= DROPOUT {
                // The joined tone is a cadence's only if both of its parts are.
                before.frames += gap.frames + seg.frames;
                before.cadence &= seg.cadence;
                before.joined = true;
                // The gap, the newest, is dropped: the older segments move up one place,
                // the joined tone the newest.
                self.healed
                    .copy_within(HISTORY - n..HISTORY - 1, HISTORY - n + 1);
                self.healed_n = self.healed_n.min(HISTORY) - 1;
                return;
            }
        }
        push(&mut self.healed, &mut self.healed_n, seg);
    }

    /// The healed segments kept (at most `HISTORY`), oldest first.
    fn healed_segments(&self) -> &[Segment] {
        kept(&self.healed, self.healed_n)
    }

    /// The closed segments kept (at most `HISTORY`), oldest first.
    fn closed_segments(&self) -> &[Segment] {
        kept(&self.segments, self.closed)
    }

    /// The last `n` closed segments, oldest first, if there are that many.
    fn last(&self, n: usize) -> Option<&[Segment]> {
        newest(self.closed_segments(), n)
    }

    fn classify(&self) -> Option<ToneEvent> {
        let valid = self.closed_segments();
        if let Some(ev) = busy_or_congestion(valid, 0) {
            return Some(ev);
        }
        // The same on the segments with short dropouts healed: at low SNR, noise (babble near
        // 450 Hz) breaks a 0.7 s tone for a few frames, which is no cadence of any tone.
        let healed = self.healed_segments();
        if healed.iter().any(|seg| seg.joined) {
            // One cycle more than an unbroken tone needs: music can put notes near 450 Hz on
            // a beat that, healed, looks like one cycle of congestion.
            if let Some(ev) = busy_or_congestion(healed, 2) {
                return Some(ev);
            }
        }
        // Number unobtainable: a rotation of S S S S S S L L (on/off alternating).
        if let Some(s) = self.last(8) {
            let long_at = |i: usize| s[i].fits(UNOBT_LONG);
            let short_at = |i: usize| s[i].fits(UNOBT_SHORT);
            for start in 0..8 {
                // Pattern position p of segment i: (i + 8 - start) % 8; positions 6, 7 long.
                let ok = (0..8).all(|i| {
                    let p = (i + 8 - start) % 8;
                    let want_on = p % 2 == 0;
                    s[i].on == want_on && if p >= 6 { long_at(i) } else { short_at(i) }
                });
                if ok {
                    return Some(ToneEvent::Failure(
                        Code::EMPTY_NUMBER,
                        Label::UnobtainableTone,
                    ));
                }
            }
        }
        // Ringback and call waiting: an on followed by a 4 s off.
        if let Some(s) = self.last(2) {
            if s[0].on && !s[1].on && s[1].fits(LONG_OFF) {
                if s[0].fits(RING_ON) {
                    return Some(ToneEvent::Progress(Label::Ringback));
                }
                if s[0].fits(WAIT_ON) {
                    return Some(ToneEvent::Progress(Label::CallWaitingTone));
                }
            }
        }
        None
    }

    /// At end of stream: a ringback / call-waiting on-segment followed by a long silence that
    /// the stream cut short still says what it was.
    pub fn finish(&self) -> Option<Label> {
        if self.on {
            return (self.run >= DIAL_FRAMES).then_some(Label::DialTone);
        }
        // The silence after the last tone, long enough to say it was no cadence's gap.
        let last = self.last(1)?[0];
        if !last.on || self.run < 150 {
            return None;
        }
        if last.fits(RING_ON) {
            Some(Label::Ringback)
        } else if last.fits(WAIT_ON) {
            Some(Label::CallWaitingTone)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drives the detector with an on/off cadence in frames; returns its events.
    fn drive(pattern: &[(bool, u32)], repeats: usize) -> Vec<ToneEvent> {
        let pattern: Vec<_> = pattern.iter().map(|&(on, n)| (on, false, n)).collect();
        drive_with_loss(&pattern, repeats)
    }

    /// [`drive`] with `(on, zeroed, frames)` segments: a zeroed one is packets lost and
    /// concealed by zeros.
    fn drive_with_loss(pattern: &[(bool, bool, u32)], repeats: usize) -> Vec<ToneEvent> {
        let mut d = ToneDetector::default();
        let mut out = vec![];
        for _ in 0..repeats {
            for &(on, zeroed, n) in pattern {
                let (r, db) = match (on, zeroed) {
                    (_, true) => (0.0, -120.0),
                    (true, false) => (0.95, -20.0),
                    (false, false) => (0.01, -45.0),
                };
                for _ in 0..n {
                    out.extend(d.push(r, db, zeroed, zeroed));
                }
            }
        }
        out
    }

    /// Number unobtainable's cadence: three bursts of `short` frames with gaps of `gap`,
    /// then `long` on and `long` off.
    fn unobtainable(short: u32, gap: u32, long: u32) -> [(bool, u32); 8] {
        [
            (true, short),
            (false, gap),
            (true, short),
            (false, gap),
            (true, short),
            (false, gap),
            (true, long),
            (false, long),
        ]
    }

    fn first_failure(ev: &[ToneEvent]) -> Option<Code> {
        ev.iter().find_map(|e| match e {
            ToneEvent::Failure(c, _) => Some(*c),
            _ => None,
        })
    }

    #[test]
    fn busy_congestion_unobtainable_within_fifteen_percent() {
        for f in [0.85f32, 1.0, 1.15] {
            let s = |x: u32| (x as f32 * f).round() as u32;
            let busy = drive(&[(true, s(35)), (false, s(35))], 6);
            assert_eq!(first_failure(&busy), Some(Code::BUSY), "busy x{f}");
            let cong = drive(&[(true, s(70)), (false, s(70))], 5);
            assert_eq!(
                first_failure(&cong),
                Some(Code::NETWORK_BUSY),
                "congestion x{f}"
            );
            let unob = unobtainable(s(10), s(10), s(40));
            assert_eq!(
                first_failure(&drive(&unob, 3)),
                Some(Code::EMPTY_NUMBER),
                "unob x{f}"
            );
        }
    }

    #[test]
    fn tones_with_a_dropout_in_every_cycle_give_their_codes() {
        // Every tone broken once, by 60-100 ms: the raw segments never hold one unbroken
        // cycle, and 8 of them healed at once held too few (one join leaves 6; busy healed
        // needs 7).
        let busy = [(true, 12), (false, 6), (true, 17), (false, 35)];
        assert_eq!(first_failure(&drive(&busy, 8)), Some(Code::BUSY));
        let congestion = [(true, 30), (false, 10), (true, 30), (false, 70)];
        assert_eq!(
            first_failure(&drive(&congestion, 5)),
            Some(Code::NETWORK_BUSY)
        );
    }

    #[test]
    fn unobtainable_bursts_are_never_healed_into_busy() {
        // Number unobtainable's 0.1 s bursts and gaps are within a dropout's length; joined,
        // three of them look like one busy tone. Its cadence at -15 % to +15 %, shortened
        // gaps included, gives 2114 or nothing, never 2101.
        for f in [0.85f32, 0.9, 1.0, 1.1, 1.15] {
            for gap in [0u32, 2, 4] {
                let s = |x: u32| (x as f32 * f).round() as u32;
                let g = |x: u32| s(x).saturating_sub(gap).max(4);
                let unob = unobtainable(s(10), g(10), s(40));
                let first = first_failure(&drive(&unob, 6));
                assert!(
                    first.is_none() || first == Some(Code::EMPTY_NUMBER),
                    "x{f}, gaps {gap} shorter: {first:?}"
                );
            }
        }
    }

    #[test]
    fn congestion_with_noise_dropouts_in_its_tones() {
        // Every other 0.75 s tone broken for 0.1 s (babble near 450 Hz at low SNR): never
        // three clean segments in a row, but two full cycles once healed.
        let broken = [
            (true, 75),
            (false, 75),
            (true, 30),
            (false, 10),
            (true, 35),
            (false, 75),
        ];
        assert_eq!(first_failure(&drive(&broken, 3)), Some(Code::NETWORK_BUSY));
    }

    #[test]
    fn congestion_through_zeroed_loss_bursts() {
        // Congestion 13 % slow (0.79 s on and off), each tone broken by 0.2 s of packets
        // lost and concealed by zeros: healed, a cadence.
        let broken = [
            (true, false, 30),
            (false, true, 20),
            (true, false, 29),
            (false, false, 79),
        ];
        assert_eq!(
            first_failure(&drive_with_loss(&broken, 4)),
            Some(Code::NETWORK_BUSY)
        );
    }

    #[test]
    fn one_healed_cycle_is_not_enough() {
        // Notes near 450 Hz on a beat (music): healed, one cycle looks like congestion,
        // then the pattern breaks.
        let music = [
            (false, 200),
            (true, 37),
            (false, 6),
            (true, 27),
            (false, 79),
            (true, 37),
            (false, 8),
            (true, 20),
            (false, 300),
        ];
        assert_eq!(first_failure(&drive(&music, 1)), None);
    }

    #[test]
    fn a_note_that_fades_is_no_tone_of_a_cadence() {
        // Congestion's cadence (0.6 s on, 0.6 s off, quiet gaps); each "on" segment starts
        // at -20 dB and falls by `fade` dB over its length, as a plucked note does.
        let first_event = |fade: f32| {
            let mut d = ToneDetector::default();
            (0..1200u32).find_map(|i| {
                let (on, k) = ((i / 60) % 2 == 0, (i % 60) as f32 / 59.0);
                let (r, level) = if on {
                    (0.8, -20.0 - fade * k)
                } else {
                    (0.05, -50.0)
                };
                d.push(r, level, false, false)
            })
        };
        // A piano-like note near 450 Hz on a 0.6 s beat: no code.
        assert_eq!(first_event(18.0), None);
        // The network's tone, with a gain wander of 4 dB across a segment: congestion.
        assert_eq!(
            first_event(4.0),
            Some(ToneEvent::Failure(
                Code::NETWORK_BUSY,
                Label::CongestionTone
            ))
        );
    }

    #[test]
    fn a_gap_as_loud_as_the_tone_is_no_gap() {
        // Congestion's cadence, notes near 450 Hz at -20 dB, with the given level between them.
        let first_event = |gap_db: f32| {
            let mut d = ToneDetector::default();
            (0..1200u32).find_map(|i| {
                let on = (i / 60) % 2 == 0;
                let (r, level) = if on { (0.8, -20.0) } else { (0.05, gap_db) };
                d.push(r, level, false, false)
            })
        };
        // Music: other notes as loud between the chords: no gap, no cadence.
        assert_eq!(first_event(-21.0), None);
        // Noise 8 dB down between them (the spec's lowest SNR): congestion.
        assert_eq!(
            first_event(-28.0),
            Some(ToneEvent::Failure(
                Code::NETWORK_BUSY,
                Label::CongestionTone
            ))
        );
    }

    #[test]
    fn ringback_and_call_waiting_never_give_a_code() {
        let ring = drive(&[(true, 100), (false, 400)], 4);
        assert_eq!(first_failure(&ring), None);
        assert!(ring.contains(&ToneEvent::Progress(Label::Ringback)));
        let wait = drive(&[(true, 40), (false, 400)], 4);
        assert_eq!(first_failure(&wait), None);
        assert!(wait.contains(&ToneEvent::Progress(Label::CallWaitingTone)));
        let dial = drive(&[(true, 500)], 1);
        assert_eq!(dial, vec![ToneEvent::Progress(Label::DialTone)]);
    }

    #[test]
    fn zeroed_frames_hold_the_state() {
        let mut d = ToneDetector::default();
        let mut got = None;
        for cycle in 0..6 {
            for i in 0..70 {
                let on = i < 35;
                // A 60 ms burst of concealed loss in every on-period.
                let zeroed = on && (10..16).contains(&i);
                let r = if on && !zeroed { 0.95 } else { 0.0 };
                if let Some(ToneEvent::Failure(c, _)) =
                    d.push(r, if on && !zeroed { -20.0 } else { -45.0 }, zeroed, zeroed)
                {
                    got.get_or_insert((c, cycle));
                }
            }
        }
        assert_eq!(got.map(|g| g.0), Some(Code::BUSY));
    }

    /// Congestion's cadence (70 on, 70 off) for six cycles, each on segment's levels given
    /// by `on_level(frame within it)`; the first failure it gives.
    fn congestion_with_levels(on_level: impl Fn(u32) -> f32) -> Option<Code> {
        let mut d = ToneDetector::default();
        let mut out = Vec::new();
        for _ in 0..6 {
            for i in 0..70 {
                out.extend(d.push(0.95, on_level(i), false, false));
            }
            for _ in 0..70 {
                out.extend(d.push(0.01, -45.0, false, false));
            }
        }
        first_failure(&out)
    }

    #[test]
    fn a_note_struck_again_is_no_tone_of_a_cadence() {
        // Steady, and with a step the size of an echo's: congestion.
        assert_eq!(congestion_with_levels(|_| -20.0), Some(Code::NETWORK_BUSY));
        let echo = |i: u32| if i < 15 { -20.0 } else { -16.5 };
        assert_eq!(congestion_with_levels(echo), Some(Code::NETWORK_BUSY));
        // A dip shorter than the quiet stretch a decayed note leaves: still congestion.
        let dip = |i: u32| if (30..33).contains(&i) { -32.0 } else { -20.0 };
        assert_eq!(congestion_with_levels(dip), Some(Code::NETWORK_BUSY));
        // A note decaying 0.4 dB a frame, struck again halfway: no cadence.
        let struck = |i: u32| -20.0 - 0.4 * (i % 35) as f32;
        assert_eq!(congestion_with_levels(struck), None);
    }
}
