//! The announcement library: reference fingerprints, the inverted index that finds candidate
//! alignments in constant time per probe, and, per reference, the intervals it shares with
//! another code's reference (so a decision is never made on a shared phrase) and those
//! references' alignments (its rivals, against which a call's evidence is weighed).
//!
//! A reference may carry no code: speech known to be no announcement (a carrier's connecting
//! prompt, colour-ringback advertising) that a coded reference's words were mistaken for. What
//! a coded reference shares with it counts as shared like anything shared with another code,
//! and a call that agrees with it as well is no decision.

use std::sync::{Arc, OnceLock};

use crate::codes::Code;
use crate::error::{Error, Result};
use crate::features::{
    band_energy, dot_pair, mask_vec, masked, Analysis, Correlation, Frontend, Lanes, BANDS, BINS,
    DIMS, FRAMES_PER_SECOND, HOP,
};
use crate::tone::ToneDetector;

/// Frames pooled into one segment of a window descriptor.
pub(crate) const SEG: usize = 4;
/// Segments in a window descriptor (12 × 40 ms = 480 ms).
pub(crate) const SEGS: usize = 12;
/// Frames a window descriptor spans.
pub(crate) const WINDOW_FRAMES: usize = SEG * SEGS;
/// Dimensions of a window descriptor.
const DESC: usize = SEGS * DIMS;
/// Hash tables, each keyed by `bits` sparse random projections of the descriptor.
pub(crate) const TABLES: usize = 20;
/// Non-zero taps of one projection.
const TAPS: usize = 12;
/// Fewest and most key bits per table; the library picks by its size so that a bucket holds
/// about two windows whatever the number of references (lookup cost stays flat).
const MIN_BITS: u32 = 10;
const MAX_BITS: u32 = 20;
/// A call's window descriptors are looked up every `STEP` frames; the library indexes one
/// every `REF_STEP` frames (the 40 ms pooling absorbs the misalignment).
pub(crate) const STEP: usize = 2;
const REF_STEP: usize = 2;
/// Keys shared by more windows than this say nothing (stationary sound).
const MAX_POSTINGS: u32 = 64;
/// Longest reference kept, frames (30 s); a cycle of an announcement is far shorter.
pub(crate) const MAX_REF_FRAMES: usize = 3000;
/// How far (dB) below a reference's long-term spectrum lies the steady background it is
/// analysed over ([`background`]). A clean recording's bands dip far below their own level
/// (a word's fading tail, the gap between syllables, a consonant with nothing in a band)
/// where no call through a real channel follows them: noise fills the dips, a codec smears
/// them, and where the call's bands are masked or floored the reference's still swing, which
/// pulls the correlation down. Over a background each dip reads at most this deep, as a
/// call's noise lets it read. Chosen on the 128 draws of seeds 501-506, 924-972 and
/// 1000-1008 (38 400 announcement calls), against none: 20 dB gave +563 of 19 200 calls
/// heard right in voice set A and +670 in B, and 15 wrong and false codes for 7; 25 dB
/// +489 and +447 (17); 30 dB +338 and +71 (16). Added to the band energies rather than
/// taken as a noise floor subtracted and masked (30 dB: −6 and +37 on 8 draws; 20 dB: −139
/// and −157); the spectrum's shape rather than the same level in every band (+39 and +61
/// on 8 draws with no bad code against +40 and +75 with two).
const REFERENCE_SNR_DB: f32 = 20.0;

/// The steady background a reference with the power spectra `powers` is analysed over: its
/// mean band energies, [`REFERENCE_SNR_DB`] down.
fn background(powers: &[[f32; BINS]]) -> [f32; BANDS] {
    let mut sum = [0.0f32; BANDS];
    for power in powers {
        for (s, e) in sum.iter_mut().zip(band_energy(power)) {
            *s += e;
        }
    }
    let scale = 10f32.powf(-REFERENCE_SNR_DB / 10.0) / powers.len().max(1) as f32;
    sum.map(|s| s * scale)
}

/// The analysis frames of a reference recording (its first [`MAX_REF_FRAMES`]), over its
/// [`background`] or not. The spectra come first: the background the frames are analysed
/// over is the recording's own long-term spectrum.
fn analyse_reference(
    samples: &[i16],
    with_background: bool,
) -> impl ExactSizeIterator<Item = Analysis> {
    let mut fe = Frontend::new(false);
    let powers: Vec<[f32; BINS]> = samples
        .chunks_exact(HOP)
        .take(MAX_REF_FRAMES)
        .map(|hop| fe.power(hop))
        .collect();
    if with_background {
        fe = fe.with_background(background(&powers));
    }
    powers.into_iter().map(move |p| fe.push_power(&p, false))
}

/// Shortest reference accepted, ms.
const MIN_REF_MS: u64 = 500;
/// Window hits (distinct windows) at one alignment needed to call two references' phrases shared.
const SHARED_MIN_HITS: usize = 10;
/// Alignments verified per other code (near-duplicate references repeat the same phrases).
const SHARED_PER_CODE: u32 = 6;
/// Tables used to find shared phrases between references (clean against clean needs few).
const SHARED_TABLES: usize = 5;
/// Half-width (frames) of the window centred on each frame over which two references are
/// compared: about the matcher's own 200 ms window.
const SHARED_HALF: i64 = 10;
/// Correlation of clean against clean above which a frame counts as said by both. A call of
/// the other code, through a channel, scores well below its clean correlation, so a frame
/// this similar is one the matcher could credit to the wrong reference.
const SHARED_CORR: f32 = 0.5;
/// Shifts (frames) tried around the alignment the hits voted for (their bins are 4 wide).
const SHARED_SHIFT: i64 = 3;
/// Shared alignments kept per reference. 24 dropped real ones: 2110/cm's English opening,
/// which 2107/cm says too, was not among 2107/cm's 24 strongest, and a tracker following it
/// blocked calls of 2107/cm that the words after it decided.
const MAX_ALIGNMENTS: usize = 128;
/// Alignments (frames of offset) at most this far apart are the same alignment: a rival
/// found twice, a tracker already following a candidate, a tracker following a rival.
pub(crate) const SAME_ALIGNMENT: i64 = 8;
/// Shortest run of shared frames kept as a shared phrase.
const SHARED_MIN_RUN: usize = 20;
/// Frames added on each side of a shared interval. The ±[`SHARED_HALF`]-frame comparison
/// already reaches several frames past where the two stop saying the same words; a wider
/// margin (5 frames) hid most of a short distinguishing word between two shared phrases
/// ("无效" in "号码无效，请查证后再拨"), for fewer right codes on held-out draws and no fewer
/// false ones.
const SHARED_MARGIN: i64 = 1;

/// Another code's reference that says some of the same words: (its index, the frame offset
/// from this reference's frames to its frames where it says them).
pub(crate) type Rival = (u16, i32);

/// The code a library folder's name begins with, if any (`"2109-powered-off"` → 2109): the
/// layout every loader of a library folder tree follows. The number need not be a known code.
pub fn code_of_folder(name: &str) -> Option<u16> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    if !ends_the_word(&name[digits.len()..]) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a folder holds references that carry no code (`none`, `none-...`, `none_...`).
pub fn is_no_code_folder(name: &str) -> bool {
    name.strip_prefix("none").is_some_and(ends_the_word)
}

/// Whether what follows a folder name's leading word (`2114`, `none`) leaves it a word of its
/// own: nothing, or a separator before a description (`-empty-number`).
fn ends_the_word(rest: &str) -> bool {
    rest.is_empty() || rest.starts_with(['-', '_', ' ', '.'])
}

/// One reference recording, fingerprinted.
#[derive(Debug, Clone)]
pub struct Reference {
    name: String,
    code: Option<Code>,
    /// Fingerprints, zero outside each frame's mask.
    pub(crate) fp: Vec<Lanes>,
    /// The fine-detail fingerprints (`Analysis::v`), zero outside each frame's mask.
    pub(crate) vfp: Vec<Lanes>,
    /// Each frame's mask as lanes ([`mask_vec`]).
    pub(crate) mv: Vec<Lanes>,
    /// Mask of usable dimensions per frame; 0 for an inactive frame.
    pub(crate) mask: Vec<u32>,
    /// Each frame's voice period ([`Analysis::pitch`]; 0 unvoiced).
    pub(crate) pitch: Vec<u8>,
    /// Intervals `[start, end)` of frames that some other code's reference also says.
    pub(crate) shared: Vec<(u32, u32)>,
    /// The shared intervals each with what says it too: the other reference's code (`None`:
    /// speech without a code) and the alignment (frame offset to the other reference). An
    /// interval contained in another of the same code at about the same alignment is left
    /// out.
    pub(crate) shared_with: Vec<SharedWith>,
    /// Other codes' references that say some of the same words: (reference, frame offset
    /// from this reference's frames to theirs), strongest first (see [`Reference::rivals`]).
    pub(crate) alignments: Vec<Rival>,
    /// The verified shared intervals with the other reference that says each (see
    /// [`Sibling`]).
    pub(crate) siblings: Vec<Sibling>,
    /// End frame of each indexed window descriptor (every `REF_STEP` frames, where at least
    /// half the frames carry speech).
    ends: Vec<u16>,
    /// The windows' keys at `MAX_BITS` (a library uses the low bits it needs), table by
    /// table: table `t`'s are `keys[t * ends.len()..(t + 1) * ends.len()]`, contiguous for the
    /// index build, which reads one table at a time.
    keys: Vec<u32>,
}

impl Reference {
    /// Fingerprints a reference recording (8 kHz mono). Pure and independent of the rest of
    /// the library, so callers may run it on several threads.
    pub fn new(code: Code, name: impl Into<String>, samples: &[i16]) -> Result<Reference> {
        Reference::build(Some(code), name.into(), samples, true)
    }

    /// Fingerprints a recording of speech that carries no code (see the module's text).
    pub fn no_code(name: impl Into<String>, samples: &[i16]) -> Result<Reference> {
        Reference::build(None, name.into(), samples, true)
    }

    /// [`Reference::new`] (`code` given) or [`Reference::no_code`], the recording analysed
    /// as it is, without the background every reference is heard over since 2026-12-07
    /// (`REFERENCE_SNR_DB`): the front end under which the regression calls of the
    /// crate's tests (`testdata/regress`) were chosen, each to exercise one rule. The tests
    /// that hold those rules to their calls build their libraries so; a library for calls
    /// should not.
    pub fn without_background(
        code: Option<Code>,
        name: impl Into<String>,
        samples: &[i16],
    ) -> Result<Reference> {
        Reference::build(code, name.into(), samples, false)
    }

    /// This reference's recording under another name and code (`None`: no code): a copy of
    /// its file elsewhere in the library, without fingerprinting it again.
    pub fn copy_as(&self, code: Option<Code>, name: impl Into<String>) -> Reference {
        Reference {
            name: name.into(),
            code,
            ..self.clone()
        }
    }

    fn build(
        code: Option<Code>,
        name: String,
        samples: &[i16],
        with_background: bool,
    ) -> Result<Reference> {
        let ms = samples.len() as u64 * 1000 / crate::SAMPLE_RATE as u64;
        if ms < MIN_REF_MS {
            return Err(Error::ReferenceTooShort {
                name,
                ms,
                min_ms: MIN_REF_MS,
            });
        }
        let analyses = analyse_reference(samples, with_background);
        let mut fp = Vec::with_capacity(analyses.len());
        let mut vfp = Vec::with_capacity(analyses.len());
        let mut mv = Vec::with_capacity(analyses.len());
        let mut mask = Vec::with_capacity(analyses.len());
        let mut pitch = Vec::with_capacity(analyses.len());
        for a in analyses {
            let m = matchable_mask(&a);
            fp.push(masked(&a.d, m));
            vfp.push(masked(&a.v, m));
            mv.push(mask_vec(m));
            mask.push(m);
            pitch.push(a.pitch);
        }
        let (ends, keys) = window_keys(&fp, &mask);
        Ok(Reference {
            name,
            code,
            fp,
            vfp,
            mv,
            mask,
            pitch,
            shared: Vec::new(),
            shared_with: Vec::new(),
            alignments: Vec::new(),
            siblings: Vec::new(),
            ends,
            keys,
        })
    }

    /// The keys of table `t`, one per window of `ends`.
    fn table_keys(&self, t: usize) -> &[u32] {
        let n = self.ends.len();
        &self.keys[t * n..(t + 1) * n]
    }

    /// The reference's name (its path in the library, usually).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hangupGcode it is a recording of (`None`: speech that carries no code).
    pub fn code(&self) -> Option<Code> {
        self.code
    }

    /// Length in analysis frames (10 ms).
    pub fn frames(&self) -> usize {
        self.fp.len()
    }

    /// Length in ms.
    pub fn duration_ms(&self) -> u64 {
        self.fp.len() as u64 * 1000 / FRAMES_PER_SECOND as u64
    }

    /// Frame intervals `[start, end)` (10 ms frames) that some other code's reference also
    /// says: a decision never rests on these alone.
    pub fn shared_intervals(&self) -> &[(u32, u32)] {
        &self.shared
    }

    /// Its shared alignments, strongest first, against which a call's run is weighed
    /// before it commits (see [`crate::Tuning::max_rivals`]).
    pub(crate) fn rivals(&self) -> &[Rival] {
        &self.alignments
    }

    /// Share of the reference's speech that no other code's reference also says, 0..1.
    pub fn distinct_share(&self) -> f32 {
        let active: Vec<usize> = (0..self.frames()).filter(|&i| self.mask[i] != 0).collect();
        if active.is_empty() {
            return 0.0;
        }
        let free = active
            .iter()
            .filter(|&&i| {
                !self
                    .shared
                    .iter()
                    .any(|&(a, b)| (a as usize..b as usize).contains(&i))
            })
            .count();
        free as f32 / active.len() as f32
    }
}

/// The mask the matcher uses: the front end's, or 0 where the frame is not speech-like sound.
/// A tone frame is the detector's (narrow, within the tolerance of 450 Hz): a vowel whose
/// first formant holds most of its energy in the tone band's bins is speech, and matched.
/// Counting such frames as tone left 2-5 points of accuracy unmatched.
pub(crate) fn matchable_mask(a: &Analysis) -> u32 {
    if a.active() && !ToneDetector::is_tone_frame(a) {
        a.mask
    } else {
        0
    }
}

/// A window descriptor: masked fingerprints pooled over [`SEG`]-frame segments, the first
/// [`DESC`] values, then zeros up to a power of two ([`DESC_LEN`]), then the same negated: a
/// projection's tap is one read at an index that carries its sign ([`tap_indices`]), and an
/// index masked to the length needs no bounds check (the checks were about a quarter of the
/// instructions of [`hash`]).
pub(crate) type Descriptor = [i16; 2 * DESC_LEN];

/// The length of a [`Descriptor`]'s positive half.
const DESC_LEN: usize = DESC.next_power_of_two();

/// Pools the [`WINDOW_FRAMES`] frames `frame(0..WINDOW_FRAMES)` (oldest first) into a
/// descriptor. `None` when fewer than half the frames carry speech.
#[inline]
pub(crate) fn describe<'a>(frame: impl Fn(usize) -> (&'a Lanes, u32)) -> Option<Descriptor> {
    let mut out = [0i16; 2 * DESC_LEN];
    let mut active = 0;
    for i in 0..WINDOW_FRAMES {
        // Fingerprints are zero outside their masks already.
        let (d, mask) = frame(i);
        if mask == 0 {
            continue;
        }
        active += 1;
        let seg = &mut out[(i / SEG) * DIMS..(i / SEG + 1) * DIMS];
        for m in 0..DIMS {
            seg[m] += d[m];
        }
    }
    if active * 2 < WINDOW_FRAMES {
        return None;
    }
    // A segment sums four frames of values within ±127: no negation overflows.
    let (pos, neg) = out.split_at_mut(DESC_LEN);
    for (n, &p) in neg[..DESC].iter_mut().zip(&pos[..DESC]) {
        *n = -p;
    }
    Some(out)
}

/// The fixed sparse projections: `TABLES × MAX_BITS` of `TAPS` (index, ±1) each, from a
/// fixed seed so that a library and a call hash alike.
fn projections() -> &'static [[(u16, i16); TAPS]] {
    static P: std::sync::OnceLock<Vec<[(u16, i16); TAPS]>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            // xorshift64*: enough for fixed pseudo-random projections.
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        (0..TABLES * MAX_BITS as usize)
            .map(|_| {
                let mut taps = [(0u16, 0i16); TAPS];
                for t in taps.iter_mut() {
                    let r = next();
                    *t = (
                        (r % DESC as u64) as u16,
                        if (r >> 32) & 1 == 1 { 1 } else { -1 },
                    );
                }
                taps
            })
            .collect()
    })
}

/// [`projections`] as [`hash`] reads a [`Descriptor`]: each tap's index, in the negated half
/// where its sign is -1. A projection is then twelve reads and additions; with the sign a
/// multiplication the projections took 1.7x the instructions (6.3 M against 3.8 M in a 10 s
/// call of speech).
fn tap_indices() -> &'static [[u16; TAPS]] {
    static P: std::sync::OnceLock<Vec<[u16; TAPS]>> = std::sync::OnceLock::new();
    P.get_or_init(|| {
        let negated = |(i, s): (u16, i16)| if s < 0 { i + DESC_LEN as u16 } else { i };
        (projections().iter())
            .map(|taps| taps.map(negated))
            .collect()
    })
}

/// Key of `desc` in table `t` with `bits` bits, and the index of its least certain bit.
#[inline]
pub(crate) fn hash(desc: &Descriptor, t: usize, bits: u32) -> (u32, u8) {
    let taps = tap_indices();
    let mut key = 0u32;
    let mut weakest = (i32::MAX, 0u8);
    for b in 0..bits as usize {
        let mut v = 0i32;
        for &i in &taps[t * MAX_BITS as usize + b] {
            // Every index is below `2 * DESC_LEN`: the mask changes none.
            v += desc[i as usize & (2 * DESC_LEN - 1)] as i32;
        }
        if v > 0 {
            key |= 1 << b;
        }
        // The first of the least certain bits: a probe flips that one only.
        let a = v.abs();
        if a < weakest.0 {
            weakest = (a, b as u8);
        }
    }
    (key, weakest.1)
}

/// The window descriptors of a reference every `REF_STEP` frames and their keys in every
/// table at `MAX_BITS`: `(end frame per window, keys table by table)`. A window that
/// [`describe`] refuses (too little speech) is left out.
///
/// The keys are exactly `hash(&describe(window), t, MAX_BITS).0`, but computed projection by
/// projection over all windows at once rather than window by window (which cost 4 800
/// scattered reads per window and most of a large library's load time). Windows start every
/// `REF_STEP` frames and their segments every `SEG` frames, a multiple of it, so every
/// descriptor value of every window is one of the segment sums taken at `REF_STEP` spacing;
/// stored dimension by dimension, one tap of one projection over all windows is a contiguous
/// run of them, and a projection is a dozen vector additions. The arithmetic is the same
/// integer arithmetic: a segment sum is at most 4 × 128 in magnitude and a projection at most
/// 12 times that, so `i16` holds both exactly.
fn window_keys(fp: &[Lanes], mask: &[u32]) -> (Vec<u16>, Vec<u32>) {
    const _: () = assert!(SEG % REF_STEP == 0 && TAPS * SEG * 128 <= i16::MAX as usize);
    let frames = fp.len();
    if frames < WINDOW_FRAMES {
        return (Vec::new(), Vec::new());
    }
    let windows = (frames - WINDOW_FRAMES) / REF_STEP + 1;
    // Segment `s` of window `w` is the sum at position `w + s * SEG / REF_STEP`.
    let positions = windows + (SEGS - 1) * (SEG / REF_STEP);
    // sums[m * positions + p]: dimension `m` summed over frames `p * REF_STEP..+ SEG`.
    // Fingerprints are zero outside their masks, so inactive frames add nothing, as in
    // `describe`.
    let mut sums = vec![0i16; DIMS * positions];
    for p in 0..positions {
        for d in &fp[p * REF_STEP..p * REF_STEP + SEG] {
            for m in 0..DIMS {
                sums[m * positions + p] += d[m];
            }
        }
    }
    // The windows `describe` accepts: at least half their frames active.
    let mut active = vec![0u32; frames + 1];
    for (f, &m) in mask.iter().enumerate() {
        active[f + 1] = active[f] + u32::from(m != 0);
    }
    let kept: Vec<usize> = (0..windows)
        .filter(|&w| {
            let first = w * REF_STEP;
            (active[first + WINDOW_FRAMES] - active[first]) as usize * 2 >= WINDOW_FRAMES
        })
        .collect();
    let ends = kept
        .iter()
        .map(|&w| (w * REF_STEP + WINDOW_FRAMES - 1) as u16)
        .collect();
    // Every window's keys, table by table; the refused windows are dropped at the end (a
    // branch per window and bit cost more than the projections).
    let mut all = vec![0u32; TABLES * windows];
    let mut v = vec![0i16; windows];
    for (pi, taps) in projections().iter().enumerate() {
        let (t, b) = (pi / MAX_BITS as usize, pi % MAX_BITS as usize);
        v.fill(0);
        for &(i, s) in taps {
            let (seg, m) = (i as usize / DIMS, i as usize % DIMS);
            let start = m * positions + seg * (SEG / REF_STEP);
            let run = &sums[start..start + windows];
            // Two loops rather than a multiplication by `s`, so that each is a plain vector
            // addition or subtraction.
            if s > 0 {
                v.iter_mut().zip(run).for_each(|(v, &x)| *v += x);
            } else {
                v.iter_mut().zip(run).for_each(|(v, &x)| *v -= x);
            }
        }
        let table = &mut all[t * windows..(t + 1) * windows];
        table
            .iter_mut()
            .zip(&v)
            .for_each(|(key, &v)| *key |= u32::from(v > 0) << b);
    }
    let keys = (0..TABLES)
        .flat_map(|t| kept.iter().map(move |&w| t * windows + w))
        .map(|i| all[i])
        .collect();
    (ends, keys)
}

/// Where a key occurs: reference and frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Posting {
    pub(crate) reference: u16,
    pub(crate) frame: u16,
}

/// One hash table: `heads[k]..heads[k + 1]` are the postings of key `k`.
#[derive(Debug)]
struct Table {
    heads: Vec<u32>,
    postings: Vec<Posting>,
}

impl Table {
    /// Table `t` of the references' windows, keyed by the low `bits` bits of their keys.
    fn build(refs: &[Reference], t: usize, bits: u32) -> Table {
        let size = 1usize << bits;
        let low = (1u32 << bits) - 1;
        let mut counts = vec![0u32; size + 1];
        for r in refs {
            for k in r.table_keys(t) {
                counts[(k & low) as usize] += 1;
            }
        }
        for c in counts.iter_mut() {
            if *c > MAX_POSTINGS {
                *c = 0;
            }
        }
        let mut heads = vec![0u32; size + 1];
        let mut sum = 0u32;
        for k in 0..size {
            heads[k] = sum;
            sum += counts[k];
        }
        heads[size] = sum;
        let mut fill = heads.clone();
        let mut postings = vec![
            Posting {
                reference: 0,
                frame: 0
            };
            sum as usize
        ];
        for (ri, r) in refs.iter().enumerate() {
            for (&end, k) in r.ends.iter().zip(r.table_keys(t)) {
                let k = (k & low) as usize;
                if counts[k] > 0 {
                    postings[fill[k] as usize] = Posting {
                        reference: ri as u16,
                        frame: end,
                    };
                    fill[k] += 1;
                }
            }
        }
        Table { heads, postings }
    }
}

/// The references without copies: a reference whose fingerprint equals an earlier one's of
/// the same code (the same recording under two names: a library assembled by copying
/// carriers' folders) is left out, and returned as (its name, the kept one's index). A copy
/// adds nothing to the index but work: the shared-phrase search verifies each alignment
/// with every copy, and a call's trackers, a fixed few, would follow copies of one
/// recording instead of its alternatives. The same recording under two codes stays twice
/// (it can decide neither: all of it is shared) and is warned about.
fn without_copies(refs: Vec<Reference>) -> (Vec<Reference>, Vec<(String, u16)>) {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    let mut by_print: HashMap<u64, Vec<u16>> = HashMap::new();
    let mut kept: Vec<Reference> = Vec::with_capacity(refs.len());
    let mut copies = Vec::new();
    for r in refs {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (&r.mask, &r.vfp, &r.fp).hash(&mut h);
        let same = by_print.entry(h.finish()).or_default();
        let equal = |k: &Reference| k.mask == r.mask && k.vfp == r.vfp && k.fp == r.fp;
        if let Some(&i) = same
            .iter()
            .find(|&&i| kept[i as usize].code == r.code && equal(&kept[i as usize]))
        {
            copies.push((r.name, i));
            continue;
        }
        if let Some(&i) = same.iter().find(|&&i| equal(&kept[i as usize])) {
            tracing::warn!(
                reference = %r.name,
                same_as = %kept[i as usize].name,
                "the same recording under two codes: it decides neither"
            );
        }
        same.push(kept.len() as u16);
        kept.push(r);
    }
    if !copies.is_empty() {
        tracing::info!(copies = copies.len(), "copies of references left out");
    }
    (kept, copies)
}

/// `(0..jobs).map(job)` in order, the jobs run by `for_each`, the caller's way of running
/// independent jobs (see [`Library::new_with`]); a job it leaves out runs here, on the
/// calling thread. The loader uses it for its files as the library does for its stages.
pub fn collect_jobs<T: Send + Sync>(
    for_each: &impl Fn(usize, &(dyn Fn(usize) + Sync)),
    jobs: usize,
    job: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    let done: Vec<OnceLock<T>> = (0..jobs).map(|_| OnceLock::new()).collect();
    for_each(jobs, &|j| {
        done[j].get_or_init(|| job(j));
    });
    done.into_iter()
        .enumerate()
        .map(|(j, d)| d.into_inner().unwrap_or_else(|| job(j)))
        .collect()
}

/// A loaded, indexed library. Immutable: share it with `Arc` and swap the `Arc` to reload.
#[derive(Debug)]
pub struct Library {
    refs: Vec<Reference>,
    /// References dropped as copies of a kept one: (name, index of the kept reference).
    copies: Vec<(String, u16)>,
    bits: u32,
    tables: Vec<Table>,
}

impl Library {
    /// Indexes the references and finds, for each, what it shares with other codes.
    ///
    /// At most 65 535 references (the index stores their number in 16 bits); more are dropped
    /// with a warning.
    pub fn new(refs: Vec<Reference>) -> Library {
        Library::new_with(refs, |jobs, run| (0..jobs).for_each(run))
    }

    /// [`Library::new`], with its work handed to `for_each`, the caller's way of running
    /// independent jobs: `for_each(jobs, run)` must call `run(j)` for every `j` in
    /// `0..jobs`, in any order, on any threads. It is called once per stage (the hash tables;
    /// then, per reference, what it shares with other codes, most of a large library's build).
    /// The crate starts no thread itself; a caller with several cores can spread the jobs over
    /// them. The jobs are pure and independent, so the library is the same however they run;
    /// a job `for_each` leaves out runs on the calling thread afterwards.
    pub fn new_with<F>(mut refs: Vec<Reference>, for_each: F) -> Library
    where
        F: Fn(usize, &(dyn Fn(usize) + Sync)),
    {
        if refs.len() > u16::MAX as usize {
            tracing::warn!(
                count = refs.len(),
                "library too large; extra references dropped"
            );
            refs.truncate(u16::MAX as usize);
        }
        let (refs, copies) = without_copies(refs);
        let total: usize = refs.iter().map(|r| r.ends.len()).sum();
        // About two windows per bucket.
        let bits = ((total.max(1) as f64 / 2.0).log2().round() as u32).clamp(MIN_BITS, MAX_BITS);
        let tables = collect_jobs(&for_each, TABLES, |t| Table::build(&refs, t, bits));
        let mut lib = Library {
            refs,
            copies,
            bits,
            tables,
        };
        let codes: Vec<Option<Code>> = lib.refs.iter().map(|r| r.code).collect();
        let shared = collect_jobs(&for_each, lib.refs.len(), |i| lib.shared_of(i, &codes));
        for (r, (s, with, alignments, siblings)) in lib.refs.iter_mut().zip(shared) {
            r.shared = s;
            r.shared_with = with;
            r.alignments = alignments;
            r.siblings = siblings;
        }
        lib
    }

    /// Key bits per table (grows with the library so buckets stay small).
    pub(crate) fn bits(&self) -> u32 {
        self.bits
    }

    /// An empty library (tones only).
    pub fn empty() -> Arc<Library> {
        Arc::new(Library::new(Vec::new()))
    }

    /// The references.
    pub fn references(&self) -> &[Reference] {
        &self.refs
    }

    /// References left out as copies of another of the same code: their names, each with
    /// the reference kept in their place.
    pub fn copies(&self) -> impl Iterator<Item = (&str, &Reference)> {
        self.copies
            .iter()
            .map(|(name, i)| (name.as_str(), &self.refs[*i as usize]))
    }

    /// Number of references (copies left out, see [`Library::copies`]).
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// True when there are no references.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Distinct codes the library holds.
    pub fn codes(&self) -> Vec<Code> {
        let mut c: Vec<Code> = self.refs.iter().filter_map(|r| r.code).collect();
        c.sort();
        c.dedup();
        c
    }

    pub(crate) fn reference(&self, i: u16) -> &Reference {
        &self.refs[i as usize]
    }

    #[inline]
    pub(crate) fn lookup(&self, table: usize, key: u32) -> &[Posting] {
        let t = &self.tables[table];
        let k = key as usize;
        &t.postings[t.heads[k] as usize..t.heads[k + 1] as usize]
    }

    /// Intervals of reference `i` that another code's reference also says (alone, and with
    /// the code and alignment that say each, see [`SharedWith`]): alignments with
    /// many window hits in the first [`SHARED_TABLES`] tables, verified frame by frame by
    /// correlating the two clean references; and the alignments found, strongest first.
    /// `codes[j]` is reference `j`'s code. A reference without a code never decides, so it
    /// needs neither.
    fn shared_of(&self, i: usize, codes: &[Option<Code>]) -> Shared {
        let r = &self.refs[i];
        if r.code.is_none() {
            return (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        }
        let low = (1u32 << self.bits) - 1;
        // Every hit as (other reference, offset bin of 4 frames, window end), packed into one
        // integer so that sorting the integers sorts the triples (thousands of hits per
        // reference: sorting tuples was a good part of the build). Gathered table by table,
        // so that the lookups stay within one table's memory; the sort makes the order moot.
        let mut hits: Vec<u64> = Vec::new();
        let mut buckets: Vec<&[Posting]> = Vec::with_capacity(r.ends.len());
        for t in 0..SHARED_TABLES {
            // The buckets first, then a touch of each, then the hits: the bucket reads are
            // independent of each other, so in loops of their own their cache misses
            // overlap instead of each waiting for the hits of the bucket before.
            buckets.clear();
            buckets.extend(r.table_keys(t).iter().map(|&key| self.lookup(t, key & low)));
            touch_first(&buckets);
            for (&end, bucket) in r.ends.iter().zip(&buckets) {
                for p in *bucket {
                    if codes[p.reference as usize] != r.code {
                        let off = (p.frame as i64 - end as i64).div_euclid(SHARED_BIN);
                        hits.push(pack_hit(p.reference, off, end));
                    }
                }
            }
        }
        hits.sort_unstable();
        let hit = |h: usize| unpack_hit(hits[h]);
        // Groups of equal (reference, bin): start index and length.
        let mut groups: Vec<(u16, i64, usize, usize)> = Vec::new();
        let mut g = 0;
        while g < hits.len() {
            let mut h = g;
            while h < hits.len() && hits[h] >> 16 == hits[g] >> 16 {
                h += 1;
            }
            let (other, bin, _) = hit(g);
            groups.push((other, bin, g, h - g));
            g = h;
        }
        // Every interval found, with the reference and alignment that say it.
        let mut siblings: Vec<Sibling> = Vec::new();
        let mut marked = vec![false; r.frames()];
        let mut candidates: Vec<Candidate> = Vec::new();
        for (gi, &(other_i, bin, first, len)) in groups.iter().enumerate() {
            // Count this bin with its neighbours (an alignment straddles bins).
            let mut count = len;
            let (mut lo, mut hi) = (hit(first).2, hit(first + len - 1).2);
            for nb in [gi.wrapping_sub(1), gi + 1] {
                if let Some(&(o, b, f, l)) = groups.get(nb) {
                    if o == other_i && (b - bin).abs() == 1 {
                        count += l;
                        lo = lo.min(hit(f).2);
                        hi = hi.max(hit(f + l - 1).2);
                    }
                }
            }
            if count >= SHARED_MIN_HITS {
                candidates.push(Candidate {
                    hits: count,
                    own_hits: len,
                    other: other_i,
                    bin,
                    first_end: lo,
                    last_end: hi,
                });
            }
        }
        // Strongest first (the hits in the bin itself: of an alignment's bins, the one that
        // holds the alignment), so that the long shared phrases are verified before the
        // near-duplicates that would only find them again.
        candidates.sort_unstable_by(|a, b| {
            b.own_hits
                .cmp(&a.own_hits)
                .then(b.hits.cmp(&a.hits))
                .then(a.other.cmp(&b.other))
                .then(a.bin.cmp(&b.bin))
        });
        // Every alignment at which another code's reference says something this one says,
        // strongest first: the matcher scores a call against the strongest (its rivals)
        // before it commits, and a tracker at any of them does not block a winner that the
        // words where the two differ decide.
        let mut alignments: Vec<Rival> = Vec::new();
        for c in &candidates {
            let offset = c.offset() as i32;
            if alignments.len() < MAX_ALIGNMENTS
                && !alignments
                    .iter()
                    .any(|&(o, d)| o == c.other && i64::from(d - offset).abs() <= SAME_ALIGNMENT)
            {
                alignments.push((c.other, offset));
            }
        }
        let mut per_code: Vec<(Option<Code>, u32)> = Vec::new();
        let mut verified: Vec<(u16, i64)> = Vec::new();
        for c in &candidates {
            let (other_i, bin, lo, hi) = (c.other, c.bin, c.first_end, c.last_end);
            // A bin beside one verified with the same reference is the same alignment (the
            // bin holding most of its hits came first). Verified again, each used up the
            // code's share: with the envelope fingerprint a code's first alignments came
            // three bins each, and 2101/cu's English tail, which it shares with 2103/cu
            // ("…is busy now, please call later."), went unverified: calls of 2103/cu were
            // heard as 2101 on it.
            if verified
                .iter()
                .any(|&(o, b)| o == other_i && (b - bin).abs() <= 1)
            {
                continue;
            }
            // What the hits span is already inside a verified shared interval: a contained
            // interval changes no decision, so it is not worth verifying again.
            let (span_a, span_b) = (
                (lo + 1 - WINDOW_FRAMES as i64).max(0) as u32,
                (hi + 1) as u32,
            );
            if siblings
                .iter()
                .any(|w| w.start <= span_a && span_b <= w.end)
            {
                continue;
            }
            let code = codes[other_i as usize];
            match per_code.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) if *n >= SHARED_PER_CODE => continue,
                Some((_, n)) => *n += 1,
                None => per_code.push((code, 1)),
            }
            verified.push((other_i, bin));
            let offset = c.offset();
            let other = &self.refs[other_i as usize];
            // Hits are sparse (few tables): verify well beyond them, the correlation decides.
            let from = (lo + 1 - WINDOW_FRAMES as i64 - 100).max(0);
            let to = (hi + 100).min(r.frames() as i64);
            marked.fill(false);
            shared_frames(r, other, from, to, offset, SHARED_CORR, &mut marked);
            let mut run_start = None;
            for f in from as usize..=to as usize {
                let on = f < to as usize && marked[f];
                match (on, run_start) {
                    (true, None) => run_start = Some(f),
                    (false, Some(a)) => {
                        if f - a >= SHARED_MIN_RUN {
                            let a = (a as i64 - SHARED_MARGIN).max(0) as u32;
                            let b = (f as i64 + SHARED_MARGIN).min(r.frames() as i64) as u32;
                            siblings.push(Sibling {
                                start: a,
                                end: b,
                                reference: other_i,
                                offset: offset as i32,
                            });
                        }
                        run_start = None;
                    }
                    _ => {}
                }
            }
        }
        // Each interval with the code that says it.
        let mut out_with: Vec<SharedWith> = siblings
            .iter()
            .map(|s| SharedWith {
                start: s.start,
                end: s.end,
                code: codes[s.reference as usize],
                offset: s.offset,
            })
            .collect();
        // The intervals alone, whoever says them.
        let mut out: Vec<(u32, u32)> = out_with.iter().map(|w| (w.start, w.end)).collect();
        out.sort_unstable();
        out.dedup();
        // Drop intervals contained in another: containment is all the matcher asks.
        let mut kept: Vec<(u32, u32)> = Vec::new();
        for &(a, b) in &out {
            if !out
                .iter()
                .any(|&(c, d)| (c, d) != (a, b) && c <= a && b <= d)
            {
                kept.push((a, b));
            }
        }
        out_with.sort_unstable_by_key(|w| (w.start, w.end, w.code, w.offset));
        out_with.dedup();
        let with: Vec<SharedWith> = out_with
            .iter()
            .filter(|w| {
                !out_with
                    .iter()
                    .any(|v| v.along(w) && (v.start, v.end) != (w.start, w.end) && v.contains(w))
            })
            .copied()
            .collect();
        siblings.sort_unstable_by_key(|w| (w.start, w.end, w.reference, w.offset));
        siblings.dedup();
        (kept, with, alignments, siblings)
    }
}

/// Reads the first posting of each bucket, and nothing else: these loads are independent of
/// each other, so their cache misses overlap; in a loop that also uses the postings, each
/// waits for the one before. Call it just before that loop.
#[inline]
pub(crate) fn touch_first(buckets: &[&[Posting]]) {
    let touched = buckets
        .iter()
        .filter_map(|b| b.first())
        .fold(0u16, |x, p| x ^ p.frame);
    std::hint::black_box(touched);
}

/// What [`Library::shared_of`] finds for a reference: its shared intervals, each with the
/// code and alignment that say it, its rivals, and each interval with the reference that
/// says it.
type Shared = (Vec<(u32, u32)>, Vec<SharedWith>, Vec<Rival>, Vec<Sibling>);

/// A verified shared interval `[start, end)` of a reference's frames with the other
/// reference that says it and the alignment (frame offset from this reference to it): where
/// a call follows this reference, it follows that one too, until their words part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sibling {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) reference: u16,
    pub(crate) offset: i32,
}

impl Sibling {
    /// Whether frame `at` of this reference lies in the interval.
    pub(crate) fn holds(&self, at: i64) -> bool {
        i64::from(self.start) <= at && at < i64::from(self.end)
    }
}

/// An interval `[start, end)` of a reference's frames that another reference also says,
/// with that reference's code and the alignment at which it says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SharedWith {
    pub(crate) start: u32,
    pub(crate) end: u32,
    pub(crate) code: Option<Code>,
    /// Frame offset from this reference to the other.
    pub(crate) offset: i32,
}

impl SharedWith {
    /// Said by the same code at about the same alignment: the same other recording's words
    /// in their order (a tracker of it would follow both).
    pub(crate) fn along(&self, other: &SharedWith) -> bool {
        self.code == other.code && i64::from(self.offset - other.offset).abs() <= SAME_ALIGNMENT
    }

    fn contains(&self, other: &SharedWith) -> bool {
        self.start <= other.start && other.end <= self.end
    }
}

/// Marks `marked[i]` for the frames `from..to` of `a` that `b` also says at `a`-frame +
/// `offset` (± [`SHARED_SHIFT`]): the correlation over the [`SHARED_HALF`]-frame
/// neighbourhood of the frame is at least `corr` ([`SHARED_CORR`]; the tests try others).
/// Leaves other entries alone.
///
/// Compares the fine-detail fingerprints: two clean recordings in one voice either say the
/// same words or not, and the fine detail is the sharper test of that (the envelope's
/// correlation is higher for any two phrases of one voice).
fn shared_frames(
    a: &Reference,
    b: &Reference,
    from: i64,
    to: i64,
    offset: i64,
    corr: f32,
    marked: &mut [bool],
) {
    let len = (to - from).max(0) as usize;
    let half = SHARED_HALF as usize;
    // What the ±SHARED_HALF neighbourhood of each frame says at its best shift: `Heard::Yes`
    // as soon as one shift correlates (the others need not be computed), `Heard::No` if one
    // had enough frames to compare and none correlates, `Heard::Nothing` if none had.
    let mut heard = vec![Heard::Nothing; len];
    // One shift's frame-by-frame terms (Σxy, Σx², Σy², 1 if compared) as running sums,
    // one array per term: `sums[j][k]` is the sum of term `j` over frames `..k`, so a
    // frame's window is the difference of two entries. The terms are small integers (i8
    // values, 24 dimensions), and a window's sum is exact in i32; the running sums wrap,
    // and a difference of wrapped sums is still the exact window sum.
    let mut sums = [
        vec![0i32; len + 1],
        vec![0i32; len + 1],
        vec![0i32; len + 1],
        vec![0i32; len + 1],
    ];
    // `unheard_before[k]`: how many of the frames before `k` are not heard yet (not
    // `Heard::Yes`). A frame's terms are needed only where a frame within ±SHARED_HALF of
    // it is still unheard (no other window is read), so a phrase heard at one shift costs
    // nothing at the others.
    let mut unheard_before = vec![0u32; len + 1];
    // The likeliest shifts first (the hits' alignment, then outwards): the frame's state
    // after all shifts is the same in any order (`Yes` at any shift, else `No` at any,
    // else `Nothing`), and the earlier a frame is heard, the fewer terms the rest need.
    for shift in (0..=SHARED_SHIFT).flat_map(|s| [s, -s]).skip(1) {
        for (i, h) in heard.iter().enumerate() {
            unheard_before[i + 1] = unheard_before[i] + u32::from(*h != Heard::Yes);
        }
        // Frame `i` compares with `b`'s frame `base + i`: only `i` in `lo..hi` has one.
        let base = from + offset + shift;
        let lo = (-base).clamp(0, len as i64) as usize;
        let hi = (b.frames() as i64 - base).clamp(lo as i64, len as i64) as usize;
        // (`hi == lo` when the frames do not overlap: no pair is read, and `fb` is kept
        // within `b` so that its slices can still be taken.)
        let (fa, fb) = (
            (from as usize) + lo,
            (base + lo as i64).clamp(0, b.frames() as i64) as usize,
        );
        let pairs = (a.mask[fa..].iter().zip(&a.vfp[fa..]).zip(&a.mv[fa..]))
            .zip(b.mask[fb..].iter().zip(&b.vfp[fb..]).zip(&b.mv[fb..]));
        let mut acc = [0i32; 4];
        for (i, (((am, av), amv), ((bm, bv), bmv))) in (lo..hi).zip(pairs) {
            let near = (i.saturating_sub(half), (i + half + 1).min(len));
            if unheard_before[near.1] != unheard_before[near.0] && *am != 0 && *bm != 0 {
                let (xy, xx, yy) = dot_pair(av, amv, bv, bmv);
                for (s, t) in acc.iter_mut().zip([xy, xx, yy, 1]) {
                    *s = s.wrapping_add(t);
                }
            }
            for (s, &x) in sums.iter_mut().zip(&acc) {
                s[i + 1] = x;
            }
        }
        // Before `lo` nothing was added; after `hi`, nothing more.
        for (s, &x) in sums.iter_mut().zip(&acc) {
            s[1..=lo].fill(0);
            s[hi + 1..].fill(x);
        }
        judge_windows(&sums, half, corr, &mut heard);
    }
    // A pause inside a shared phrase has nothing to compare (too few frames carry speech on
    // both sides): it belongs to the phrase when what surrounds it is shared, or a run that
    // spans the pause would look distinct.
    let mut last_yes: Option<usize> = None;
    for i in 0..len {
        if heard[i] == Heard::Yes {
            if let Some(y) = last_yes {
                if heard[y + 1..i].iter().all(|&h| h == Heard::Nothing) {
                    marked[from as usize + y + 1..from as usize + i].fill(true);
                }
            }
            marked[from as usize + i] = true;
            last_yes = Some(i);
        }
    }
}

/// What [`shared_frames`] found of a frame's neighbourhood.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Heard {
    /// Too few frames to compare at every shift.
    Nothing,
    /// Compared, and below [`SHARED_CORR`] at every shift so far.
    No,
    /// At least [`SHARED_CORR`] at some shift.
    Yes,
}

/// Judges every frame not yet heard by its ±`half` window of one shift's terms, read off
/// their running `sums` (see [`shared_frames`]): `Heard::Yes` at `corr` or more, `Heard::No`
/// below it, unchanged where the window has too few frames or a side without energy (what
/// [`Correlation::value`] gives no value for).
///
/// The frames whose window is whole are judged in a loop of their own over plain slices,
/// which the compiler runs on vector lanes (the square roots and divisions were the
/// search's costliest line).
fn judge_windows(sums: &[Vec<i32>; 4], half: usize, corr: f32, heard: &mut [Heard]) {
    let len = heard.len();
    let judge = |h: &mut Heard, xy: i32, xx: i32, yy: i32, n: i32| {
        let verdict = match Correlation::of_sums(xy, xx, yy, n).value(half as u32 / 2) {
            Some(v) if v >= corr => Heard::Yes,
            Some(_) => Heard::No,
            None => Heard::Nothing,
        };
        *h = if *h == Heard::Yes || verdict == Heard::Nothing {
            *h
        } else {
            verdict
        };
    };
    let window = |j: usize, lo: usize, hi: usize| sums[j][hi].wrapping_sub(sums[j][lo]);
    let at = |h: &mut Heard, i: usize| {
        let (lo, hi) = (i.saturating_sub(half), (i + half + 1).min(len));
        judge(
            h,
            window(0, lo, hi),
            window(1, lo, hi),
            window(2, lo, hi),
            window(3, lo, hi),
        );
    };
    // The frames whose window is whole, `lo = i - half`, `hi = i + half + 1`: the same
    // arithmetic as at either edge, on slices the compiler can lay side by side.
    let whole = len.saturating_sub(2 * half);
    let width = 2 * half + 1;
    let [sxy, sxx, syy, sn] = sums;
    fn ends(s: &[i32], width: usize, whole: usize) -> (&[i32], &[i32]) {
        // (`whole` is 0 when no window is whole: then `width` may pass the end.)
        (&s[width.min(s.len())..][..whole], &s[..whole])
    }
    let ((xy1, xy0), (xx1, xx0), (yy1, yy0), (n1, n0)) = (
        ends(sxy, width, whole),
        ends(sxx, width, whole),
        ends(syy, width, whole),
        ends(sn, width, whole),
    );
    for (k, h) in heard[half.min(len)..][..whole].iter_mut().enumerate() {
        judge(
            h,
            xy1[k].wrapping_sub(xy0[k]),
            xx1[k].wrapping_sub(xx0[k]),
            yy1[k].wrapping_sub(yy0[k]),
            n1[k].wrapping_sub(n0[k]),
        );
    }
    for i in (0..half.min(len)).chain((half + whole).max(half.min(len))..len) {
        at(&mut heard[i], i);
    }
}

/// A candidate alignment of [`Library::shared_of`]: a bin of frame offsets to another
/// reference at which enough window descriptors of the two agree.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Hits in the bin and its two neighbours (an alignment straddles bins).
    hits: usize,
    /// Hits in the bin itself: of an alignment's bins, the one that holds it has most.
    own_hits: usize,
    other: u16,
    bin: i64,
    /// End frames of the first and last window that hit.
    first_end: i64,
    last_end: i64,
}

impl Candidate {
    /// The bin's centre: frame offset from this reference to the other.
    fn offset(&self) -> i64 {
        self.bin * SHARED_BIN + SHARED_BIN / 2
    }
}

/// Frames of offset per bin of [`Library::shared_of`]'s hits.
const SHARED_BIN: i64 = 4;
/// Offset bins lie within ± `MAX_REF_FRAMES / SHARED_BIN`; biased by this they fit 16 bits.
const BIN_BIAS: i64 = 1 << 15;
const _: () = assert!((MAX_REF_FRAMES as i64 / SHARED_BIN) < BIN_BIAS && MAX_REF_FRAMES <= 1 << 16);

/// A hit of [`Library::shared_of`] as one integer that sorts as `(other, bin, end)` does.
fn pack_hit(other: u16, bin: i64, end: u16) -> u64 {
    (other as u64) << 32 | ((bin + BIN_BIAS) as u64) << 16 | end as u64
}

/// `(other, bin, end)` back from [`pack_hit`].
fn unpack_hit(h: u64) -> (u16, i64, i64) {
    (
        (h >> 32) as u16,
        ((h >> 16) & 0xFFFF) as i64 - BIN_BIAS,
        (h & 0xFFFF) as i64,
    )
}

/// Correlation of `len` frames of `a` from `a0` with `b` from `b0` (fine-detail fingerprints,
/// as [`shared_frames`] compares them), over dimensions both frames carry; `None` if too few
/// frames overlap.
pub(crate) fn corr_window(a: &Reference, a0: i64, b: &Reference, b0: i64, len: i64) -> Option<f32> {
    let mut c = Correlation::default();
    for i in 0..len {
        let (pa, pb) = (a0 + i, b0 + i);
        if pa < 0 || pb < 0 || pa >= a.frames() as i64 || pb >= b.frames() as i64 {
            continue;
        }
        let (pa, pb) = (pa as usize, pb as usize);
        if a.mask[pa] != 0 && b.mask[pb] != 0 {
            c.add(&a.vfp[pa], &a.mv[pa], &b.vfp[pb], &b.mv[pb]);
        }
    }
    c.value(((len + 3) / 4) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The largest envelope value of `samples`' frames (after the first second), analysed
    /// as a reference is, over its background or not.
    fn largest_swing(samples: &[i16], with_background: bool) -> i8 {
        analyse_reference(samples, with_background)
            .skip(100)
            .flat_map(|a| a.d.map(|d| d.saturating_abs()))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_background_caps_a_band_dropping_far_below_its_level() {
        // A steady 1 kHz tone, and a 2.4 kHz tone that stops for 100 ms every 100 ms: its
        // band drops to digital silence and comes back. Over the background (the band's mean,
        // half its level while the tone sounds, 20 dB down) the drop can read as no more than
        // 23 dB. Measured: the largest envelope value 70 without the background (the 50 ms
        // smoothing and the 50 ms lag hold the plain drop to about 38 dB), 48 over it.
        let samples: Vec<i16> = (0..3 * crate::SAMPLE_RATE as usize)
            .map(|i| {
                let t = i as f32 / crate::SAMPLE_RATE as f32;
                let gate = if (i / 800) % 2 == 0 { 1.0 } else { 0.0 };
                let x = 6000.0 * (std::f32::consts::TAU * 1000.0 * t).sin()
                    + gate * 6000.0 * (std::f32::consts::TAU * 2400.0 * t).sin();
                x as i16
            })
            .collect();
        let plain = largest_swing(&samples, false);
        let over = largest_swing(&samples, true);
        assert!(
            plain >= 64,
            "a drop to silence swings the envelope: {plain}"
        );
        assert!(over <= 52, "over the background {over}, without {plain}");
        assert!(over >= 24, "the drop still shows: {over}");
    }

    /// Fingerprints and masks with some silent frames, from a fixed seed.
    fn frames(n: usize, seed: u64) -> (Vec<Lanes>, Vec<u32>) {
        let mut state = seed;
        let mut next = move || crate::features::xorshift(&mut state);
        (0..n)
            .map(|f| {
                let r = next();
                // Silent stretches, so that some windows are refused.
                let mask = if (f / 60) % 3 == 2 {
                    0
                } else {
                    r as u32 & ((1 << DIMS) - 1)
                };
                let mut d = [0i8; DIMS];
                for (m, x) in d.iter_mut().enumerate() {
                    // The extremes too: a segment sum of -128s must not overflow.
                    *x = if f % 11 == 0 { -128 } else { next() as i8 };
                    if mask >> m & 1 == 0 {
                        *x = 0;
                    }
                }
                (masked(&d, mask), mask)
            })
            .unzip()
    }

    fn reference(n: usize, seed: u64) -> Reference {
        let (fp, mask) = frames(n, seed);
        from_frames(Code::BUSY, fp, mask)
    }

    fn from_frames(code: Code, fp: Vec<Lanes>, mask: Vec<u32>) -> Reference {
        let (ends, keys) = window_keys(&fp, &mask);
        Reference {
            name: format!("{code}/{}", fp.len()),
            code: Some(code),
            mv: mask.iter().map(|&m| mask_vec(m)).collect(),
            vfp: fp.clone(),
            fp,
            pitch: vec![0; mask.len()],
            mask,
            shared: Vec::new(),
            shared_with: Vec::new(),
            alignments: Vec::new(),
            siblings: Vec::new(),
            ends,
            keys,
        }
    }

    /// Six references of three codes (`BUSY`, `NETWORK_BUSY`, `EMPTY_NUMBER`, then again),
    /// each saying frames 350..550 of the one before at its own frames 100..300; `seed`
    /// draws their sounds.
    fn six_sharing_references(seed: u64) -> Vec<Reference> {
        let codes = [Code::BUSY, Code::NETWORK_BUSY, Code::EMPTY_NUMBER];
        let sounds: Vec<_> = (0..6)
            .map(|k| frames(700 + 50 * k, seed + k as u64))
            .collect();
        (0..6)
            .map(|k| {
                let (mut fp, mut mask) = sounds[k].clone();
                let (pfp, pmask) = &sounds[(k + 5) % 6];
                fp[100..300].copy_from_slice(&pfp[350..550]);
                mask[100..300].copy_from_slice(&pmask[350..550]);
                from_frames(codes[k % 3], fp, mask)
            })
            .collect()
    }

    #[test]
    fn the_library_is_the_same_however_its_jobs_run() {
        let refs = six_sharing_references(20);
        let serial = Library::new(refs.clone());
        // Backwards, and every third job left out (the library then runs it itself).
        let other = Library::new_with(refs, |jobs, run| {
            (0..jobs).rev().filter(|j| j % 3 != 1).for_each(run)
        });
        assert_eq!(serial.bits, other.bits);
        for (a, b) in serial.tables.iter().zip(&other.tables) {
            assert_eq!((&a.heads, &a.postings), (&b.heads, &b.postings));
        }
        for (a, b) in serial.references().iter().zip(other.references()) {
            assert!(!a.shared_intervals().is_empty(), "{}", a.name());
            assert_eq!(a.shared_intervals(), b.shared_intervals(), "{}", a.name());
            assert_eq!(a.alignments, b.alignments, "{}", a.name());
            assert_eq!(a.siblings, b.siblings, "{}", a.name());
        }
    }

    #[test]
    fn a_sibling_names_the_reference_that_says_the_shared_words_and_where() {
        // Each reference's sibling at its frames 100..300 is the one before, 250 frames on;
        // and it is the sibling of the one after at its own frames 350..550, 250 frames back.
        let lib = Library::new(six_sharing_references(40));
        for (k, r) in lib.references().iter().enumerate() {
            let near = |s: &Sibling, other: usize, offset: i32| {
                usize::from(s.reference) == other
                    && i64::from(s.offset - offset).abs() <= SAME_ALIGNMENT
            };
            let before = (k + 5) % 6;
            let after = (k + 1) % 6;
            let says = r.siblings.iter().find(|s| near(s, before, 250));
            let said = r.siblings.iter().find(|s| near(s, after, -250));
            assert!(
                says.is_some_and(|s| s.holds(110) && s.holds(290) && !s.holds(400)),
                "{k}: {:?}",
                r.siblings
            );
            assert!(
                said.is_some_and(|s| s.holds(360) && s.holds(540) && !s.holds(200)),
                "{k}: {:?}",
                r.siblings
            );
            // No other reference is named (the one three on has its code).
            assert!(
                r.siblings
                    .iter()
                    .all(|s| s.reference as usize == before || s.reference as usize == after),
                "{k}: {:?}",
                r.siblings
            );
        }
    }

    #[test]
    fn shared_frames_marks_what_both_say_and_little_else() {
        let a = reference(700, 11);
        // `b` agrees with `a` (plus a little noise) from its frame 100 on `a`'s frames 220
        // to 520, and is unrelated elsewhere.
        let mut b = reference(500, 12);
        let (noise, _) = frames(300, 13);
        for k in 0..300 {
            b.vfp[100 + k] = a.vfp[220 + k];
            b.mask[100 + k] = a.mask[220 + k];
            b.mv[100 + k] = a.mv[220 + k];
            if k % 7 == 0 {
                let mv = mask_vec(b.mask[100 + k]);
                b.vfp[100 + k] = std::array::from_fn(|m| noise[k][m] & mv[m]);
            }
        }
        // At the right alignment, and a frame or two off it (the hits' bins are 4 wide).
        for offset in [-120, -118, -122] {
            let mut marked = vec![false; a.frames()];
            shared_frames(&a, &b, 150, 600, offset, SHARED_CORR, &mut marked);
            // Up to the pause at its end (`frames` is silent in 300..360 and 480..540): the
            // pause in its middle belongs to it, the one at its end does not.
            let inner = 220 + SHARED_HALF as usize..480;
            let missing: Vec<usize> = inner.clone().filter(|&i| !marked[i]).collect();
            assert!(
                missing.is_empty(),
                "offset {offset}: the common stretch is marked; not {missing:?}"
            );
            let edge = SHARED_HALF as usize;
            assert!(
                !marked[..220 - edge].iter().any(|&m| m)
                    && !marked[520 + edge..].iter().any(|&m| m),
                "offset {offset}: nothing beyond half a window of it"
            );
        }
        // Far from the alignment, nothing (an offset at which `frames`' extreme frames, every
        // 11th, do not line up with each other at any shift tried).
        let mut marked = vec![false; a.frames()];
        shared_frames(&a, &b, 0, 700, -302, SHARED_CORR, &mut marked);
        assert!(!marked.iter().any(|&m| m));
    }

    /// [`shared_frames`] as its text says, frame by frame: each neighbourhood summed afresh.
    fn shared_frames_plain(
        a: &Reference,
        b: &Reference,
        from: i64,
        to: i64,
        offset: i64,
        corr: f32,
    ) -> Vec<bool> {
        let mut marked = vec![false; a.frames()];
        let mut heard = Vec::new();
        for i in from..to {
            let mut best = None::<f32>;
            for shift in -SHARED_SHIFT..=SHARED_SHIFT {
                let mut c = Correlation::default();
                for pa in (i - SHARED_HALF).max(from)..=(i + SHARED_HALF).min(to - 1) {
                    let pb = pa + offset + shift;
                    if pb >= 0 && pb < b.frames() as i64 {
                        let (pa, pb) = (pa as usize, pb as usize);
                        if a.mask[pa] != 0 && b.mask[pb] != 0 {
                            c.add(&a.vfp[pa], &a.mv[pa], &b.vfp[pb], &b.mv[pb]);
                        }
                    }
                }
                if let Some(v) = c.value(SHARED_HALF as u32 / 2) {
                    best = Some(best.map_or(v, |w| w.max(v)));
                }
            }
            heard.push(best);
        }
        let mut last_yes: Option<usize> = None;
        for (k, h) in heard.iter().enumerate() {
            if h.is_some_and(|v| v >= corr) {
                if let Some(y) = last_yes {
                    if heard[y + 1..k].iter().all(Option::is_none) {
                        marked[from as usize + y + 1..from as usize + k].fill(true);
                    }
                }
                marked[from as usize + k] = true;
                last_yes = Some(k);
            }
        }
        marked
    }

    #[test]
    fn shared_frames_marks_what_the_plain_sums_mark() {
        // Pairs that share a stretch (with noise), at the alignment, near it, far from it,
        // and with ranges at both ends of `a` and offsets that run off `b` (or miss it).
        for seed in 0..12u64 {
            let a = reference(400 + 37 * seed as usize, 100 + seed);
            let mut b = reference(300 + 23 * seed as usize, 200 + seed);
            let (noise, _) = frames(200, 300 + seed);
            for k in 0..200 {
                b.vfp[50 + k] = a.vfp[120 + k];
                b.mask[50 + k] = a.mask[120 + k];
                b.mv[50 + k] = a.mv[120 + k];
                if k % (3 + seed as usize % 5) == 0 {
                    let mv = mask_vec(b.mask[50 + k]);
                    b.vfp[50 + k] = std::array::from_fn(|m| noise[k][m] & mv[m]);
                }
            }
            let end = a.frames() as i64;
            let mut seen_marked = false;
            for (from, to) in [(0, end), (60, 330), (100, 110), (end - 5, end)] {
                for offset in [-70, -69, -73, -66, 0, -300, 150, -2000, 2000] {
                    // Lines from 0.2 to 0.8, not only SHARED_CORR: a term left out of a
                    // window (the shifts skip terms no unheard frame needs) moves a
                    // correlation a little, which one line seldom sees.
                    for corr in (4..=16).map(|k| k as f32 * 0.05) {
                        let mut fast = vec![false; a.frames()];
                        shared_frames(&a, &b, from, to, offset, corr, &mut fast);
                        let plain = shared_frames_plain(&a, &b, from, to, offset, corr);
                        assert_eq!(
                            fast, plain,
                            "seed {seed}, {from}..{to}, offset {offset}, {corr}"
                        );
                        seen_marked |=
                            (corr - SHARED_CORR).abs() < 1e-6 && plain.iter().any(|&m| m);
                    }
                }
            }
            assert!(seen_marked, "seed {seed}: the shared stretch is found");
        }
    }

    #[test]
    fn copies_are_left_out_and_the_same_recording_under_two_codes_is_not() {
        // Two references saying a stretch of each other, a copy of the first under its own
        // code, and another under a third code.
        let (mut fp0, mut mask0) = frames(700, 31);
        let (fp1, mask1) = frames(650, 32);
        fp0[100..300].copy_from_slice(&fp1[300..500]);
        mask0[100..300].copy_from_slice(&mask1[300..500]);
        let first = from_frames(Code::BUSY, fp0, mask0);
        let other = from_frames(Code::NETWORK_BUSY, fp1, mask1);
        let copy = first.copy_as(Some(Code::BUSY), "2101/copy");
        let recoded = first.copy_as(Some(Code::EMPTY_NUMBER), "2114/same");
        let plain = Library::new(vec![first.clone(), other.clone()]);
        let lib = Library::new(vec![first.clone(), copy, other.clone()]);
        assert_eq!(lib.len(), 2);
        let copies: Vec<(&str, &str)> = lib.copies().map(|(n, r)| (n, r.name())).collect();
        assert_eq!(copies, [("2101/copy", first.name())]);
        for (a, b) in plain.references().iter().zip(lib.references()) {
            assert_eq!(a.name(), b.name());
            assert_eq!(a.shared_intervals(), b.shared_intervals(), "{}", a.name());
            assert_eq!(a.alignments, b.alignments, "{}", a.name());
        }
        assert!(!lib.references()[0].shared_intervals().is_empty());
        // Under another code the same recording stays, and all of it is shared: it decides
        // neither code.
        let lib = Library::new(vec![first, recoded, other]);
        assert_eq!((lib.len(), lib.copies().count()), (3, 0));
        for r in &lib.references()[..2] {
            assert_eq!(r.distinct_share(), 0.0, "{}", r.name());
        }
        assert!(lib.references()[2].distinct_share() > 0.5);
    }

    #[test]
    fn packed_hits_sort_as_their_triples() {
        let mut triples = vec![];
        for other in [0u16, 1, 7, u16::MAX] {
            for bin in [-750i64, -1, 0, 1, 749] {
                for end in [47u16, 48, 2999] {
                    triples.push((other, bin, end as i64));
                }
            }
        }
        let mut packed: Vec<u64> = triples
            .iter()
            .map(|&(o, b, e)| pack_hit(o, b, e as u16))
            .collect();
        packed.reverse();
        packed.sort_unstable();
        triples.sort_unstable();
        let unpacked: Vec<_> = packed.into_iter().map(unpack_hit).collect();
        assert_eq!(unpacked, triples);
    }

    #[test]
    fn window_keys_are_the_hashes_of_the_window_descriptors() {
        for (n, seed) in [
            (0, 1),
            (47, 2),
            (48, 3),
            (49, 4),
            (50, 5),
            (333, 6),
            (1200, 7),
        ] {
            let (fp, mask) = frames(n, seed);
            let (ends, keys) = window_keys(&fp, &mask);
            let mut want_ends = Vec::new();
            let mut want_keys: Vec<[u32; TABLES]> = Vec::new();
            for end in (WINDOW_FRAMES - 1..n).step_by(REF_STEP) {
                let first = end + 1 - WINDOW_FRAMES;
                if let Some(d) = describe(|i| (&fp[first + i], mask[first + i])) {
                    want_ends.push(end as u16);
                    want_keys.push(std::array::from_fn(|t| hash(&d, t, MAX_BITS).0));
                }
            }
            assert_eq!(ends, want_ends, "{n} frames");
            assert!(
                n < 300 || ends.len() < (n - WINDOW_FRAMES) / REF_STEP,
                "none refused"
            );
            for t in 0..TABLES {
                let got = &keys[t * ends.len()..(t + 1) * ends.len()];
                let want: Vec<u32> = want_keys.iter().map(|k| k[t]).collect();
                assert_eq!(got, want, "{n} frames, table {t}");
            }
        }
    }

    #[test]
    fn folder_names() {
        assert_eq!(code_of_folder("2114"), Some(2114));
        assert_eq!(code_of_folder("2109-powered-off"), Some(2109));
        assert_eq!(code_of_folder("2110_kept"), Some(2110));
        assert_eq!(code_of_folder("21145"), None);
        assert_eq!(code_of_folder("misc"), None);
        assert_eq!(code_of_folder("2114abc"), None);
        assert!(is_no_code_folder("none"));
        assert!(is_no_code_folder("none-colour-ringback"));
        assert!(!is_no_code_folder("nonesuch"));
        assert!(!is_no_code_folder("2114"));
    }
}
