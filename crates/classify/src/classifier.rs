//! The per-call streaming classifier: 20 ms frames in, at most one committed decision out.

use std::sync::Arc;

use crate::codes::{Code, Label};
use crate::error::{Error, Result};
use crate::features::{Frontend, HOP};
use crate::g711::Law;
use crate::library::{matchable_mask, Library};
use crate::matcher::{Match, Matcher, Tuning};
use crate::tone::{ToneDetector, ToneEvent};
use crate::FRAME_SAMPLES;

/// Largest |sample| of a frame that counts as digital silence (concealed loss). A-law has no
/// zero: its quietest codes decode to ±8.
const ZERO_LEVEL: i16 = 8;
/// Stationarity above which a frame is held to be a sustained note.
const STATIONARY: f32 = 0.95;

/// What the classifier concluded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decision {
    /// The hangupGcode, when the media says one.
    pub code: Option<Code>,
    /// What was heard.
    pub label: Label,
    /// 0..1.
    pub confidence: f32,
    /// Sample (8 kHz, from the stream's start) at whose end the classifier committed; `None`
    /// for an end-of-stream result that was never committed.
    pub at_sample: Option<u64>,
    /// Library index of the matched reference, for announcements.
    pub reference: Option<usize>,
}

impl Decision {
    /// `at_sample` in ms.
    pub fn at_ms(&self) -> Option<u64> {
        self.at_sample.map(|s| s * 1000 / crate::SAMPLE_RATE as u64)
    }
}

/// Streaming classifier for one call. Feed it frames in order; it never looks ahead.
#[derive(Debug)]
pub struct Classifier {
    frontend: Frontend,
    tone: ToneDetector,
    matcher: Matcher,
    decision: Option<Decision>,
    samples: u64,
    previous: [i16; FRAME_SAMPLES],
    have_previous: bool,
    content_frames: u32,
    stationary_frames: u32,
    ringback_cycles: u32,
    waiting_cycles: u32,
    dial: bool,
}

impl Classifier {
    /// A classifier listening against `library` with the default tuning.
    pub fn new(library: Arc<Library>) -> Classifier {
        Classifier::with_tuning(library, Tuning::default())
    }

    /// A classifier with explicit thresholds (evaluation and tests).
    pub fn with_tuning(library: Arc<Library>, tuning: Tuning) -> Classifier {
        // Only the matcher uses the voice period: a tones-only listener is spared it.
        let frontend = match library.is_empty() {
            true => Frontend::new(true).without_pitch(),
            false => Frontend::new(true),
        };
        Classifier {
            frontend,
            tone: ToneDetector::default(),
            matcher: Matcher::new(library, tuning),
            decision: None,
            samples: 0,
            previous: [0; FRAME_SAMPLES],
            have_previous: false,
            content_frames: 0,
            stationary_frames: 0,
            ringback_cycles: 0,
            waiting_cycles: 0,
            dial: false,
        }
    }

    /// Bytes of state this call's classifier holds, inline and on the heap, at most (every
    /// tracker slot in use). The library is shared by all calls and not counted.
    pub fn state_bytes(&self) -> usize {
        std::mem::size_of::<Classifier>() + self.frontend.heap_bytes() + self.matcher.heap_bytes()
    }

    /// Samples consumed so far.
    pub fn position(&self) -> u64 {
        self.samples
    }

    /// The best announcement evidence seen so far, committed or not: (mean window score,
    /// speech frames of the run). For diagnostics.
    pub fn evidence(&self) -> (f32, u32, u32) {
        let (m, f) = self.matcher.best_partial();
        (m, f, self.matcher.best_distinct())
    }

    /// The committed decision, if any.
    pub fn decision(&self) -> Option<Decision> {
        self.decision
    }

    /// Feeds one 20 ms frame of G.711. Returns the decision when this frame commits it.
    pub fn push_g711(&mut self, law: Law, bytes: &[u8]) -> Result<Option<Decision>> {
        if bytes.len() != FRAME_SAMPLES {
            return Err(Error::FrameLength {
                got: bytes.len(),
                expected: FRAME_SAMPLES,
            });
        }
        let mut pcm = [0i16; FRAME_SAMPLES];
        law.decode_into(bytes, &mut pcm);
        self.push_frame(&pcm)
    }

    /// Feeds one 20 ms frame (160 samples at 8 kHz). Returns the decision when this frame
    /// commits it; after that, frames are counted but not analysed.
    pub fn push_frame(&mut self, pcm: &[i16]) -> Result<Option<Decision>> {
        if pcm.len() != FRAME_SAMPLES {
            return Err(Error::FrameLength {
                got: pcm.len(),
                expected: FRAME_SAMPLES,
            });
        }
        self.samples += FRAME_SAMPLES as u64;
        if self.decision.is_some() {
            return Ok(None);
        }
        let zeroed = pcm.iter().all(|&x| x.unsigned_abs() <= ZERO_LEVEL as u16);
        let repeated = !zeroed && self.have_previous && pcm == self.previous.as_slice();
        self.previous.copy_from_slice(pcm);
        self.have_previous = true;
        let concealed = zeroed || repeated;
        for hop in pcm.chunks_exact(HOP) {
            let a = self.frontend.push_hop(hop, concealed);
            let share = ToneDetector::tone_share(&a);
            if let Some(ev) = self.tone.push(share, a.level_db, zeroed, concealed) {
                match ev {
                    ToneEvent::Failure(code, label) => {
                        let d = self.decided(Some(code), label, 0.95, None);
                        return Ok(Some(self.commit(d)));
                    }
                    ToneEvent::Progress(Label::Ringback) => self.ringback_cycles += 1,
                    ToneEvent::Progress(Label::CallWaitingTone) => self.waiting_cycles += 1,
                    ToneEvent::Progress(_) => self.dial = true,
                }
            }
            let mask = matchable_mask(&a);
            if mask != 0 && a.salient() {
                self.content_frames += 1;
                if a.stationarity > STATIONARY {
                    self.stationary_frames += 1;
                }
            }
            if let Some(m) = self.matcher.push(&a, mask) {
                let d = self.announcement(&m);
                return Ok(Some(self.commit(d)));
            }
        }
        Ok(None)
    }

    /// Feeds any number of samples; a trailing partial frame is dropped. Returns the decision
    /// if one was committed during these samples.
    pub fn push_samples(&mut self, pcm: &[i16]) -> Option<Decision> {
        let mut out = None;
        for f in pcm.chunks_exact(FRAME_SAMPLES) {
            // Frames from chunks_exact have the right length.
            if let Ok(Some(d)) = self.push_frame(f) {
                out = Some(d);
            }
        }
        out
    }

    /// A decision made at the current sample.
    fn decided(
        &self,
        code: Option<Code>,
        label: Label,
        confidence: f32,
        reference: Option<usize>,
    ) -> Decision {
        Decision {
            code,
            label,
            confidence,
            at_sample: Some(self.samples),
            reference,
        }
    }

    /// Commits `d`: the stream's one decision, never changed.
    fn commit(&mut self, d: Decision) -> Decision {
        tracing::debug!(code = ?d.code.map(Code::get), label = %d.label, confidence = d.confidence, at = self.samples, "committed");
        self.decision = Some(d);
        d
    }

    /// The decision a match of the library makes, at the current sample.
    fn announcement(&self, m: &Match) -> Decision {
        self.decided(
            Some(m.code),
            Label::Announcement,
            (0.6 + (m.score - 0.4f32)).clamp(0.5, 0.99),
            Some(m.reference as usize),
        )
    }

    /// The end-of-stream result: the committed decision; else the match the evidence at the
    /// end allows, every margin measured afresh (`Matcher::final_match`), decided at the
    /// last sample; else what was heard, with no code.
    pub fn finish(&self) -> Decision {
        if let Some(d) = self.decision {
            return d;
        }
        if let Some(m) = self.matcher.final_match() {
            return self.announcement(&m);
        }
        let tone = self.tone.tone_frames();
        let content = self.content_frames;
        let label = if content >= 100 && content * 2 >= tone {
            if self.stationary_frames * 100 >= content * 45 {
                Label::Music
            } else {
                Label::UnknownSpeech
            }
        } else if self.dial {
            Label::DialTone
        } else if self.waiting_cycles > self.ringback_cycles {
            Label::CallWaitingTone
        } else if self.ringback_cycles > 0 {
            Label::Ringback
        } else if let Some(l) = self.tone.finish() {
            l
        } else if tone >= 80 {
            Label::Ringback
        } else {
            Label::Silence
        };
        let (score, _) = self.matcher.best_partial();
        let confidence = match label {
            Label::UnknownSpeech => (0.9 - score).clamp(0.3, 0.9),
            _ => 0.7,
        };
        Decision {
            code: None,
            label,
            confidence,
            at_sample: None,
            reference: None,
        }
    }

    /// Classifies a whole recording through the streaming API.
    pub fn classify(library: Arc<Library>, pcm: &[i16]) -> Decision {
        let mut c = Classifier::new(library);
        c.push_samples(pcm);
        c.finish()
    }
}
