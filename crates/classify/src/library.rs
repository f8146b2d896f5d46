//! The announcement library: reference fingerprints, the inverted index that finds candidate
//! alignments in constant time per probe, and, per reference, the intervals it shares with
//! another code's reference (so a decision is never made on a shared phrase) and those
//! references' alignments (its rivals, against which a call's evidence is weighed).

use std::sync::Arc;

use crate::codes::Code;
use crate::error::{Error, Result};
use crate::features::{
    dot_pair, mask_vec, masked, Analysis, Correlation, Frontend, DIMS, FRAMES_PER_SECOND, HOP,
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
/// Rival alignments kept per reference.
const MAX_RIVALS: usize = 24;
/// Shortest run of shared frames kept as a shared phrase.
const SHARED_MIN_RUN: usize = 20;
/// Frames added on each side of a shared interval.
const SHARED_MARGIN: i64 = 5;

/// Another code's reference that says some of the same words: (its index, the frame offset
/// from this reference's frames to its frames where it says them).
pub(crate) type Rival = (u16, i32);

/// One reference recording, fingerprinted.
#[derive(Debug, Clone)]
pub struct Reference {
    name: String,
    code: Code,
    /// Fingerprints, zero outside each frame's mask.
    pub(crate) fp: Vec<[i8; DIMS]>,
    /// Each frame's mask as a 0/1 vector.
    pub(crate) mv: Vec<[i8; DIMS]>,
    /// Mask of usable dimensions per frame; 0 for an inactive frame.
    pub(crate) mask: Vec<u32>,
    /// Intervals `[start, end)` of frames that some other code's reference also says.
    pub(crate) shared: Vec<(u32, u32)>,
    /// Other codes' references that say some of the same words: (reference, frame offset
    /// from this reference's frames to theirs).
    pub(crate) rivals: Vec<Rival>,
    /// Window descriptors' keys, every `REF_STEP` frames: (end frame, key per table at
    /// `MAX_BITS`; a library uses the low bits it needs).
    keys: Vec<(u16, [u32; TABLES])>,
}

impl Reference {
    /// Fingerprints a reference recording (8 kHz mono). Pure and independent of the rest of
    /// the library, so callers may run it on several threads.
    pub fn new(code: Code, name: impl Into<String>, samples: &[i16]) -> Result<Reference> {
        let name = name.into();
        let ms = samples.len() as u64 * 1000 / crate::SAMPLE_RATE as u64;
        if ms < MIN_REF_MS {
            return Err(Error::ReferenceTooShort {
                name,
                ms,
                min_ms: MIN_REF_MS,
            });
        }
        let mut fe = Frontend::new(false);
        let hops = samples.chunks_exact(HOP).take(MAX_REF_FRAMES);
        let mut fp = Vec::with_capacity(hops.len());
        let mut mv = Vec::with_capacity(hops.len());
        let mut mask = Vec::with_capacity(hops.len());
        for hop in hops {
            let a = fe.push_hop(hop, false);
            let m = matchable_mask(&a);
            fp.push(masked(&a.d, m));
            mv.push(mask_vec(m));
            mask.push(m);
        }
        let mut r = Reference {
            name,
            code,
            fp,
            mv,
            mask,
            shared: Vec::new(),
            rivals: Vec::new(),
            keys: Vec::new(),
        };
        r.keys = windows(&r)
            .map(|(end, d)| {
                let mut k = [0u32; TABLES];
                for (t, key) in k.iter_mut().enumerate() {
                    *key = hash(&d, t, MAX_BITS).0;
                }
                (end as u16, k)
            })
            .collect();
        Ok(r)
    }

    /// The reference's name (its path in the library, usually).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The hangupGcode it is a recording of.
    pub fn code(&self) -> Code {
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
pub(crate) fn matchable_mask(a: &Analysis) -> u32 {
    if a.active() && !ToneDetector::is_tone(a.tone_ratio, a.level_db) {
        a.mask
    } else {
        0
    }
}

/// A window descriptor: masked fingerprints pooled over [`SEG`]-frame segments.
pub(crate) type Descriptor = [i16; DESC];

/// Pools the [`WINDOW_FRAMES`] frames `frame(0..WINDOW_FRAMES)` (oldest first) into a
/// descriptor. `None` when fewer than half the frames carry speech.
#[inline]
pub(crate) fn describe<'a>(frame: impl Fn(usize) -> (&'a [i8; DIMS], u32)) -> Option<Descriptor> {
    let mut out = [0i16; DESC];
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
            seg[m] += d[m] as i16;
        }
    }
    (active * 2 >= WINDOW_FRAMES).then_some(out)
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

/// Key of `desc` in table `t` with `bits` bits, and the index of its least certain bit.
#[inline]
pub(crate) fn hash(desc: &Descriptor, t: usize, bits: u32) -> (u32, [u8; 2]) {
    let proj = projections();
    let mut key = 0u32;
    let mut weakest = [(i32::MAX, 0u8); 2];
    for b in 0..bits as usize {
        let mut v = 0i32;
        for &(i, s) in &proj[t * MAX_BITS as usize + b] {
            v += (desc[i as usize] * s) as i32;
        }
        if v > 0 {
            key |= 1 << b;
        }
        let a = v.abs();
        if a < weakest[0].0 {
            weakest[1] = weakest[0];
            weakest[0] = (a, b as u8);
        } else if a < weakest[1].0 {
            weakest[1] = (a, b as u8);
        }
    }
    (key, [weakest[0].1, weakest[1].1])
}

/// The window descriptors of a reference: `(end frame, descriptor)` every `REF_STEP` frames.
fn windows(r: &Reference) -> impl Iterator<Item = (usize, Descriptor)> + '_ {
    (WINDOW_FRAMES - 1..r.frames())
        .step_by(REF_STEP)
        .filter_map(move |end| {
            let first = end + 1 - WINDOW_FRAMES;
            describe(|i| (&r.fp[first + i], r.mask[first + i])).map(|d| (end, d))
        })
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

/// A loaded, indexed library. Immutable: share it with `Arc` and swap the `Arc` to reload.
#[derive(Debug)]
pub struct Library {
    refs: Vec<Reference>,
    bits: u32,
    tables: Vec<Table>,
}

impl Library {
    /// Indexes the references and finds, for each, what it shares with other codes.
    ///
    /// At most 65 535 references (the index stores their number in 16 bits); more are dropped
    /// with a warning.
    pub fn new(mut refs: Vec<Reference>) -> Library {
        if refs.len() > u16::MAX as usize {
            tracing::warn!(
                count = refs.len(),
                "library too large; extra references dropped"
            );
            refs.truncate(u16::MAX as usize);
        }
        let total: usize = refs.iter().map(|r| r.keys.len()).sum();
        // About two windows per bucket.
        let bits = ((total.max(1) as f64 / 2.0).log2().round() as u32).clamp(MIN_BITS, MAX_BITS);
        let size = 1usize << bits;
        let low = (1u32 << bits) - 1;
        let mut tables = Vec::with_capacity(TABLES);
        for t in 0..TABLES {
            let mut counts = vec![0u32; size + 1];
            for r in &refs {
                for (_, k) in &r.keys {
                    counts[(k[t] & low) as usize] += 1;
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
                for (end, k) in &r.keys {
                    let k = (k[t] & low) as usize;
                    if counts[k] > 0 {
                        postings[fill[k] as usize] = Posting {
                            reference: ri as u16,
                            frame: *end,
                        };
                        fill[k] += 1;
                    }
                }
            }
            tables.push(Table { heads, postings });
        }
        let mut lib = Library { refs, bits, tables };
        let shared: Vec<_> = (0..lib.refs.len()).map(|i| lib.shared_of(i)).collect();
        for (r, (s, rivals)) in lib.refs.iter_mut().zip(shared) {
            r.shared = s;
            r.rivals = rivals;
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

    /// Number of references.
    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// True when there are no references.
    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    /// Distinct codes the library holds.
    pub fn codes(&self) -> Vec<Code> {
        let mut c: Vec<Code> = self.refs.iter().map(|r| r.code).collect();
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

    /// Intervals of reference `i` that another code's reference also says: alignments with
    /// many window hits in the first [`SHARED_TABLES`] tables, verified frame by frame by
    /// correlating the two clean references.
    fn shared_of(&self, i: usize) -> (Vec<(u32, u32)>, Vec<Rival>) {
        let r = &self.refs[i];
        let low = (1u32 << self.bits) - 1;
        // (other reference, offset bin of 4 frames, window end) for every hit.
        let mut hits: Vec<(u16, i64, i64)> = Vec::new();
        for (end, keys) in &r.keys {
            let end = *end as usize;
            for (t, key) in keys.iter().enumerate().take(SHARED_TABLES) {
                for p in self.lookup(t, key & low) {
                    if self.refs[p.reference as usize].code != r.code {
                        let off = (p.frame as i64 - end as i64).div_euclid(4);
                        hits.push((p.reference, off, end as i64));
                    }
                }
            }
        }
        hits.sort_unstable();
        // Groups of equal (reference, bin): start index and length.
        let mut groups: Vec<(u16, i64, usize, usize)> = Vec::new();
        let mut g = 0;
        while g < hits.len() {
            let mut h = g;
            while h < hits.len() && hits[h].0 == hits[g].0 && hits[h].1 == hits[g].1 {
                h += 1;
            }
            groups.push((hits[g].0, hits[g].1, g, h - g));
            g = h;
        }
        let mut out: Vec<(u32, u32)> = Vec::new();
        let mut marked = vec![false; r.frames()];
        // Candidate alignments: (hits, other reference, bin, first and last hit).
        let mut candidates: Vec<(usize, u16, i64, i64, i64)> = Vec::new();
        for (gi, &(other_i, bin, first, len)) in groups.iter().enumerate() {
            // Count this bin with its neighbours (an alignment straddles bins).
            let mut count = len;
            let (mut lo, mut hi) = (hits[first].2, hits[first + len - 1].2);
            for nb in [gi.wrapping_sub(1), gi + 1] {
                if let Some(&(o, b, f, l)) = groups.get(nb) {
                    if o == other_i && (b - bin).abs() == 1 {
                        count += l;
                        lo = lo.min(hits[f].2);
                        hi = hi.max(hits[f + l - 1].2);
                    }
                }
            }
            if count >= SHARED_MIN_HITS {
                candidates.push((count, other_i, bin, lo, hi));
            }
        }
        // Strongest first, so that the long shared phrases are verified before the
        // near-duplicates that would only find them again.
        candidates.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
        // Rivals: every alignment at which another code's reference says something this one
        // says, strongest first; the matcher scores a call against them before it commits.
        let mut rivals: Vec<Rival> = Vec::new();
        for &(_, other_i, bin, _, _) in &candidates {
            let offset = (bin * 4 + 2) as i32;
            if rivals.len() < MAX_RIVALS
                && !rivals
                    .iter()
                    .any(|&(o, d)| o == other_i && (d - offset).abs() <= 8)
            {
                rivals.push((other_i, offset));
            }
        }
        let mut per_code: Vec<(Code, u32)> = Vec::new();
        for &(_, other_i, bin, lo, hi) in &candidates {
            // What the hits span is already inside a verified shared interval: a contained
            // interval changes no decision, so it is not worth verifying again.
            let (span_a, span_b) = (
                (lo + 1 - WINDOW_FRAMES as i64).max(0) as u32,
                (hi + 1) as u32,
            );
            if out.iter().any(|&(a, b)| a <= span_a && span_b <= b) {
                continue;
            }
            let code = self.refs[other_i as usize].code;
            match per_code.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) if *n >= SHARED_PER_CODE => continue,
                Some((_, n)) => *n += 1,
                None => per_code.push((code, 1)),
            }
            let offset = bin * 4 + 2;
            let other = &self.refs[other_i as usize];
            // Hits are sparse (few tables): verify well beyond them, the correlation decides.
            let from = (lo + 1 - WINDOW_FRAMES as i64 - 100).max(0);
            let to = (hi + 100).min(r.frames() as i64);
            marked.fill(false);
            shared_frames(r, other, from, to, offset, &mut marked);
            let mut run_start = None;
            for f in from as usize..=to as usize {
                let on = f < to as usize && marked[f];
                match (on, run_start) {
                    (true, None) => run_start = Some(f),
                    (false, Some(a)) => {
                        if f - a >= SHARED_MIN_RUN {
                            let a = (a as i64 - SHARED_MARGIN).max(0) as u32;
                            let b = (f as i64 + SHARED_MARGIN).min(r.frames() as i64) as u32;
                            out.push((a, b));
                        }
                        run_start = None;
                    }
                    _ => {}
                }
            }
        }
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
        (kept, rivals)
    }
}

/// Marks `marked[i]` for the frames `from..to` of `a` that `b` also says at `a`-frame +
/// `offset` (± [`SHARED_SHIFT`]): the correlation over the [`SHARED_HALF`]-frame
/// neighbourhood of the frame is at least [`SHARED_CORR`]. Leaves other entries alone.
fn shared_frames(
    a: &Reference,
    b: &Reference,
    from: i64,
    to: i64,
    offset: i64,
    marked: &mut [bool],
) {
    let len = (to - from).max(0) as usize;
    // Prefix sums of the per-frame correlation terms, one set per shift.
    let mut sums = vec![[0i64; 3]; len + 1];
    let mut best = vec![f32::MIN; len];
    for shift in -SHARED_SHIFT..=SHARED_SHIFT {
        let mut count = vec![0u32; len + 1];
        for i in 0..len {
            let (pa, pb) = (from + i as i64, from + i as i64 + offset + shift);
            let mut t = [0i64; 3];
            let mut c = 0;
            if pb >= 0 && (pb as usize) < b.frames() {
                let (pa, pb) = (pa as usize, pb as usize);
                if a.mask[pa] != 0 && b.mask[pb] != 0 {
                    let (xy, xx, yy) = dot_pair(&a.fp[pa], &a.mv[pa], &b.fp[pb], &b.mv[pb]);
                    t = [xy as i64, xx as i64, yy as i64];
                    c = 1;
                }
            }
            for k in 0..3 {
                sums[i + 1][k] = sums[i][k] + t[k];
            }
            count[i + 1] = count[i] + c;
        }
        for (i, b) in best.iter_mut().enumerate() {
            let lo = (i as i64 - SHARED_HALF).max(0) as usize;
            let hi = (i as i64 + SHARED_HALF + 1).min(len as i64) as usize;
            if count[hi] - count[lo] < SHARED_HALF as u32 / 2 {
                continue;
            }
            let [xy, xx, yy] = [0, 1, 2].map(|k| sums[hi][k] - sums[lo][k]);
            if xx > 0 && yy > 0 {
                *b = b.max(xy as f32 / ((xx as f32) * (yy as f32)).sqrt());
            }
        }
    }
    for (i, &c) in best.iter().enumerate() {
        let pa = from as usize + i;
        if c >= SHARED_CORR {
            marked[pa] = true;
        }
    }
}

/// Correlation of `len` frames of `a` from `a0` with `b` from `b0`, over dimensions both
/// frames carry; `None` if too few frames overlap.
pub(crate) fn corr_window(a: &Reference, a0: i64, b: &Reference, b0: i64, len: i64) -> Option<f32> {
    let mut c = Correlation::default();
    for i in 0..len {
        let (pa, pb) = (a0 + i, b0 + i);
        if pa < 0 || pb < 0 || pa >= a.frames() as i64 || pb >= b.frames() as i64 {
            continue;
        }
        let (pa, pb) = (pa as usize, pb as usize);
        if a.mask[pa] != 0 && b.mask[pb] != 0 {
            c.add(&a.fp[pa], &a.mv[pa], &b.fp[pb], &b.mv[pb]);
        }
    }
    c.value(((len + 3) / 4) as u32)
}
