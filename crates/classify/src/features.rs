//! The analysis front end: 32 ms Hann windows every 10 ms (two per 20 ms frame), band energies
//! on a mel scale, a noise floor per band, and the fingerprint vector.
//!
//! An analysis frame has two fingerprints, both differences in time of a spectral shape
//! `S[m](n)` of the log band energies `L[m](n)`: `D[m] = S[m](n) - S[m](n - LAG)`. A static EQ
//! cancels out exactly, and so does the level, since each shape removes a mix of the bands.
//! - `d`, the envelope, `S[m] = L[m] - 0.3·L[m+1] - 0.7·mean(L)`: what the matcher follows.
//! - `v`, the fine detail, `S[m] = L[m] - L[m+1]`: sharper (harmonics, formant edges), so it
//!   tells one voice from another better, but noise, echo and codecs blur it sooner.
//!
//! Bands the noise floor dominates are masked out rather than trusted. A library reference,
//! a clean recording, is analysed over a steady background instead (see
//! [`Frontend::with_background`]).

use std::sync::{Arc, OnceLock};

use realfft::num_complex::Complex;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};

/// Analysis window, samples (32 ms).
pub const WINDOW: usize = 256;
/// Hop between analysis frames, samples (10 ms).
pub const HOP: usize = 80;
/// Analysis frames per second.
pub const FRAMES_PER_SECOND: u32 = 100;
/// Mel bands between `LOW_HZ` and `HIGH_HZ`.
pub const BANDS: usize = 25;
/// Dimensions of the fingerprint vector.
pub const DIMS: usize = BANDS - 1;
/// Frames between the two spectral shapes that are differenced.
pub const LAG: usize = 5;
/// How much of the next band's log energy the envelope's shape removes; the mean over bands
/// takes the rest. 0.3 rather than 1 (the fine shape) or 0 (the mean alone): on the draws the
/// matcher's thresholds were chosen on, 0.3 gave it 3-4 points more of the announcements
/// their code than 1, and fewer negatives a code than 0 (another voice's reading of the
/// same words lines up better the smoother the shape).
const NEIGHBOUR: f32 = 0.3;
/// Frames of band energy averaged before the log (50 ms): steadier under noise and codecs.
pub const SMOOTH: usize = 5;
const LOW_HZ: f32 = 250.0;
const HIGH_HZ: f32 = 3400.0;
/// Bins of a window's power spectrum.
pub(crate) const BINS: usize = WINDOW / 2 + 1;
/// Scale of the i8 quantisation of `D` (natural-log units).
const QSCALE: f32 = 8.0;
/// Per-bin power below which a band counts as digital silence (about -80 dBFS).
const FLOOR_PER_BIN: f32 = 1.0e3;
/// Noise floor: minimum over `NOISE_SUBWINDOWS` × `NOISE_SUBWINDOW` frames (≈ 1 s).
const NOISE_SUBWINDOW: u16 = 20;
const NOISE_SUBWINDOWS: usize = 5;

/// Tone band: bins 12..=17 (375-531 Hz) hold a 450 ± 25 Hz tone with its Hann leakage.
const TONE_BINS: std::ops::RangeInclusive<usize> = 12..=17;
/// Bins either side of the tone band (188-344 Hz and 563-719 Hz).
const NEAR_LOW: std::ops::RangeInclusive<usize> = 6..=11;
const NEAR_HIGH: std::ops::RangeInclusive<usize> = 18..=23;
/// Everything a telephone channel carries (94-3875 Hz).
const TOTAL_BINS: std::ops::RangeInclusive<usize> = 3..=124;

/// The energy of `TOTAL_BINS`, and the share of it in the strongest of those bins and the two
/// bins on each side of it (a Hann window's main lobe, which holds nearly all of a pure
/// tone's energy): one pass over the bins for both.
fn total_and_peak_share(power: &[f32; BINS]) -> (f32, f32) {
    let (mut total, mut at, mut most) = (0.0f32, *TOTAL_BINS.start(), 0.0f32);
    for k in TOTAL_BINS {
        total += power[k];
        if power[k] > most {
            (at, most) = (k, power[k]);
        }
    }
    let lobe: f32 = power[(at - 2).max(*TOTAL_BINS.start())..=(at + 2).min(*TOTAL_BINS.end())]
        .iter()
        .sum();
    (total, lobe / total.max(1.0))
}

/// The strongest bin of the tone band, refined by a parabola through the log power of it
/// and its two neighbours (for a Hann window the peak's log power is close to a parabola,
/// which places a steady tone within about 2 Hz; the bins are 31 Hz apart).
fn peak_hz(power: &[f32; BINS]) -> f32 {
    let mut k = *TONE_BINS.start();
    for i in TONE_BINS {
        if power[i] > power[k] {
            k = i;
        }
    }
    let ln = |i: usize| power[i].max(1e-3).ln();
    let (a, b, c) = (ln(k - 1), ln(k), ln(k + 1));
    let den = a - 2.0 * b + c;
    let delta = if den < 0.0 {
        (0.5 * (a - c) / den).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    (k as f32 + delta) * crate::SAMPLE_RATE as f32 / WINDOW as f32
}

fn fft() -> &'static Arc<dyn RealToComplex<f32>> {
    static FFT: OnceLock<Arc<dyn RealToComplex<f32>>> = OnceLock::new();
    FFT.get_or_init(|| RealFftPlanner::<f32>::new().plan_fft_forward(WINDOW))
}

fn ifft() -> &'static Arc<dyn ComplexToReal<f32>> {
    static IFFT: OnceLock<Arc<dyn ComplexToReal<f32>>> = OnceLock::new();
    IFFT.get_or_init(|| RealFftPlanner::<f32>::new().plan_fft_inverse(WINDOW))
}

/// Shortest and longest period the pitch estimate looks for, samples (500 Hz, 64 Hz).
const MIN_LAG: usize = 16;
const MAX_LAG: usize = 125;
/// Normalised autocorrelation at the period needed to call a frame voiced.
const VOICED: f32 = 0.5;

/// The Hann window's own circular autocorrelation, over its value at lag 0: a windowed
/// frame's autocorrelation falls with the lag by this much even for a periodic signal.
fn window_acf() -> &'static [f32; MAX_LAG + 1] {
    static ACF: OnceLock<[f32; MAX_LAG + 1]> = OnceLock::new();
    ACF.get_or_init(|| {
        let w = hann();
        let mut a = [0.0f32; MAX_LAG + 1];
        for (lag, x) in a.iter_mut().enumerate() {
            *x = (0..WINDOW).map(|i| w[i] * w[(i + lag) % WINDOW]).sum();
        }
        let a0 = a[0];
        a.map(|x| x / a0)
    })
}

fn hann() -> &'static [f32; WINDOW] {
    static HANN: OnceLock<[f32; WINDOW]> = OnceLock::new();
    HANN.get_or_init(|| {
        let mut w = [0.0; WINDOW];
        for (i, x) in w.iter_mut().enumerate() {
            *x = 0.5 - 0.5 * (std::f32::consts::TAU * i as f32 / WINDOW as f32).cos();
        }
        w
    })
}

/// The energy of each band of a window's power spectrum.
pub(crate) fn band_energy(power: &[f32; BINS]) -> [f32; BANDS] {
    let edges = band_edges();
    let mut energy = [0.0f32; BANDS];
    for (m, e) in energy.iter_mut().enumerate() {
        *e = power[edges[m]..edges[m + 1]].iter().sum();
    }
    energy
}

/// First bin of each band, plus the end: band `m` is `edges[m]..edges[m + 1]`.
fn band_edges() -> &'static [usize; BANDS + 1] {
    static EDGES: OnceLock<[usize; BANDS + 1]> = OnceLock::new();
    EDGES.get_or_init(|| {
        let mel = |f: f32| 2595.0 * (1.0 + f / 700.0).log10();
        let imel = |m: f32| 700.0 * (10f32.powf(m / 2595.0) - 1.0);
        let (lo, hi) = (mel(LOW_HZ), mel(HIGH_HZ));
        let hz_per_bin = crate::SAMPLE_RATE as f32 / WINDOW as f32;
        let mut e = [0usize; BANDS + 1];
        for (i, x) in e.iter_mut().enumerate() {
            let f = imel(lo + (hi - lo) * i as f32 / BANDS as f32);
            *x = (f / hz_per_bin).round() as usize;
        }
        for i in 1..=BANDS {
            if e[i] <= e[i - 1] {
                e[i] = e[i - 1] + 1;
            }
        }
        e
    })
}

/// What the front end measured in one analysis frame.
#[derive(Debug, Clone, Copy)]
pub struct Analysis {
    /// The envelope fingerprint, quantised; meaningful only where `mask` has the bit set.
    pub d: [i8; DIMS],
    /// The fine-detail fingerprint (differences of neighbouring bands), under the same mask.
    pub v: [i8; DIMS],
    /// Bit `m` set when dimension `m` is above the noise floor in both frames it compares.
    pub mask: u32,
    /// Energy of the frame (94-3875 Hz), dB re. full scale.
    pub level_db: f32,
    /// Energy over the noise floor's minimum statistics, dB (noise alone reads about 3 dB).
    pub snr_db: f32,
    /// Share of the energy in the 450 Hz tone band, 0..1.
    pub tone_ratio: f32,
    /// Whether that energy is narrow, as a tone's is (not spread into the bins beside it).
    pub tone_narrow: bool,
    /// Frequency of the strongest peak in the tone band, Hz (interpolated between bins); 0
    /// when the band's energy is not narrow.
    pub tone_hz: f32,
    /// Share of the frame's energy (94-3875 Hz) in its strongest bin and the two bins on each
    /// side of it: near 1 for a pure tone (a Hann window's main lobe), far less for speech,
    /// whose harmonics spread it.
    pub peak_share: f32,
    /// Correlation of this frame's spectral shape with the one 50 ms earlier (stationarity).
    pub stationarity: f32,
    /// True when the input was a concealed loss (digital silence or a repeated 20 ms frame).
    pub missing: bool,
    /// The voice's period, samples at 8 kHz (`MIN_LAG..=MAX_LAG`), from the frame's
    /// autocorrelation; 0 when the frame is not voiced (or carries no sound worth matching).
    pub pitch: u8,
}

impl Analysis {
    /// True when the frame carries sound worth matching.
    pub fn active(&self) -> bool {
        !self.missing && self.snr_db > 6.0 && self.level_db > -60.0
    }

    /// True when the frame stands clearly out of the noise: what counts as heard content
    /// (speech, music) for the end-of-stream label.
    pub fn salient(&self) -> bool {
        !self.missing && self.snr_db > 9.0 && self.level_db > -60.0
    }

    /// True when one tone holds nearly all of the frame's energy: a SIT segment, a tone the
    /// 450 Hz detector did not take (noise spread it), never a word. 0.9: of speech frames
    /// carrying sound in a draw of 150 calls (espeak voices, every distortion), 0.6 % read
    /// above it; of a SIT segment's, most read 0.95-1.
    pub fn tonal(&self) -> bool {
        self.peak_share > 0.9
    }
}

/// Streaming front end. Allocates once, at construction.
pub struct Frontend {
    history: [f32; WINDOW],
    input: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    iscratch: Vec<Complex<f32>>,
    /// Noise-subtracted band energies of the last `SMOOTH` frames.
    recent: [[f32; BANDS]; SMOOTH],
    /// The envelope's and the fine detail's shapes for the last `LAG + 1` frames, and their
    /// masks.
    shapes: [[f32; DIMS]; LAG + 1],
    fine: [[f32; DIMS]; LAG + 1],
    shape_masks: [u32; LAG + 1],
    /// Mean-removed log spectra of the last 6 frames (for stationarity).
    logs: [[f32; BANDS]; 6],
    frames: u64,
    track_noise: bool,
    noise_min: [[f32; BANDS]; NOISE_SUBWINDOWS],
    noise_cur: [f32; BANDS],
    noise_count: u16,
    noise_slot: usize,
    smooth: [f32; BANDS],
    /// Energy added to each band before the analysis ([`Frontend::with_background`]).
    background: [f32; BANDS],
    /// Whether voiced frames are given their period ([`Frontend::without_pitch`]).
    pitch: bool,
}

impl std::fmt::Debug for Frontend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frontend")
            .field("frames", &self.frames)
            .field("track_noise", &self.track_noise)
            .finish_non_exhaustive()
    }
}

impl Frontend {
    /// A front end for a live call (`track_noise = true`) or a clean reference (`false`).
    pub fn new(track_noise: bool) -> Self {
        let fft = fft();
        Frontend {
            history: [0.0; WINDOW],
            input: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            iscratch: ifft().make_scratch_vec(),
            recent: [[0.0; BANDS]; SMOOTH],
            shapes: [[0.0; DIMS]; LAG + 1],
            fine: [[0.0; DIMS]; LAG + 1],
            shape_masks: [0; LAG + 1],
            logs: [[0.0; BANDS]; 6],
            frames: 0,
            track_noise,
            noise_min: [[f32::MAX; BANDS]; NOISE_SUBWINDOWS],
            noise_cur: [f32::MAX; BANDS],
            noise_count: 0,
            noise_slot: 0,
            smooth: [0.0; BANDS],
            background: [0.0; BANDS],
            pitch: true,
        }
    }

    /// This front end with `background[m]` added to band `m`'s energy in every frame before
    /// the analysis (what the fingerprints, the masks and the SNR are read from; the level
    /// and the tone measures read the spectrum itself): the expected energy of a steady
    /// noise under the signal. A library reference is analysed so, as if heard a little
    /// above such a noise (see `library::REFERENCE_SNR_DB`).
    pub fn with_background(mut self, background: [f32; BANDS]) -> Self {
        self.background = background;
        self
    }

    /// This front end without the voice period ([`Analysis::pitch`] stays 0): for a listener
    /// that matches no announcement (tones only), which has no use for it.
    pub fn without_pitch(mut self) -> Self {
        self.pitch = false;
        self
    }

    /// Bytes this front end holds on the heap (FFT buffers).
    pub fn heap_bytes(&self) -> usize {
        self.input.capacity() * std::mem::size_of::<f32>()
            + (self.spectrum.capacity() + self.scratch.capacity() + self.iscratch.capacity())
                * std::mem::size_of::<Complex<f32>>()
    }

    /// Analysis frames produced so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Feeds one hop of [`HOP`] samples; `missing` marks concealed loss.
    pub fn push_hop(&mut self, hop: &[i16], missing: bool) -> Analysis {
        let power = self.power(hop);
        self.push_power(&power, missing)
    }

    /// Analyses the next frame from its power spectrum, as [`Frontend::power`] gave it (the
    /// second half of [`Frontend::push_hop`], for a caller that needs the spectra first).
    pub(crate) fn push_power(&mut self, power: &[f32; BINS], missing: bool) -> Analysis {
        let mut a = self.analyse(power, missing);
        if self.pitch && a.mask != 0 && a.active() {
            a.pitch = self.pitch(power);
        }
        a
    }

    /// The power spectrum of the window ending with `hop` (the first half of
    /// [`Frontend::push_hop`]: the window's history moves on, the analysis does not).
    pub(crate) fn power(&mut self, hop: &[i16]) -> [f32; BINS] {
        debug_assert_eq!(hop.len(), HOP);
        self.history.copy_within(HOP.., 0);
        for (h, &x) in self.history[WINDOW - HOP..].iter_mut().zip(hop) {
            *h = x as f32;
        }
        let w = hann();
        for ((i, &h), &wi) in self.input.iter_mut().zip(&self.history).zip(w) {
            *i = h * wi;
        }
        // The buffer lengths come from the plan itself, so this cannot fail.
        let _ = fft().process_with_scratch(&mut self.input, &mut self.spectrum, &mut self.scratch);
        let mut power = [0.0f32; BINS];
        for (p, c) in power.iter_mut().zip(&self.spectrum) {
            *p = c.norm_sqr();
        }
        power
    }

    fn analyse(&mut self, power: &[f32; BINS], missing: bool) -> Analysis {
        let edges = band_edges();
        let mut energy = band_energy(power);
        for (e, b) in energy.iter_mut().zip(&self.background) {
            *e += b;
        }
        let (total, peak_share) = total_and_peak_share(power);
        let tone: f32 = power[TONE_BINS].iter().sum();
        // A tone is narrow: speech or babble with energy near 450 Hz spreads into the bins
        // either side (a Hann-windowed 425-475 Hz tone leaks almost nothing 3 bins away).
        let beside: f32 =
            power[NEAR_LOW].iter().sum::<f32>() + power[NEAR_HIGH].iter().sum::<f32>();
        let tone_narrow = tone > 3.0 * beside;
        // Only a narrow tone band has a peak worth reading (the only frames that use it).
        let tone_hz = if tone_narrow { peak_hz(power) } else { 0.0 };
        let full_scale = (32768.0f32 * WINDOW as f32 / 4.0).powi(2) * 2.0;
        let level_db = 10.0 * ((total + 1.0) / full_scale).log10();

        let noise = self.noise_floor(&energy, missing);
        let rslot = (self.frames as usize) % SMOOTH;
        let mut log = [0.0f32; BANDS];
        let mut band_ok = 0u32;
        let mut sig = 0.0f32;
        let mut nse = 0.0f32;
        for m in 0..BANDS {
            let floor = FLOOR_PER_BIN * (edges[m + 1] - edges[m]) as f32;
            let n = noise[m].max(floor);
            self.recent[rslot][m] = (energy[m] - 1.5 * n).max(0.5 * n);
            let smoothed: f32 = self.recent.iter().map(|r| r[m]).sum();
            log[m] = smoothed.ln();
            if energy[m] > 3.0 * n {
                band_ok |= 1 << m;
            }
            sig += energy[m];
            nse += n;
        }
        // Against the minimum statistics, which sit below the noise's mean (about half, for
        // these band widths): noise alone reads 3 dB or so.
        let snr_db = 10.0 * (sig / nse.max(1.0)).log10();

        let slot = (self.frames as usize) % (LAG + 1);
        let mean = log.iter().sum::<f32>() / BANDS as f32;
        let mut shape = [0.0f32; DIMS];
        let mut fine = [0.0f32; DIMS];
        for m in 0..DIMS {
            shape[m] = log[m] - NEIGHBOUR * log[m + 1] - (1.0 - NEIGHBOUR) * mean;
            fine[m] = log[m] - log[m + 1];
        }
        let mask_now = if missing { 0 } else { band_ok & (band_ok >> 1) };
        self.shapes[slot] = shape;
        self.fine[slot] = fine;
        self.shape_masks[slot] = mask_now;
        let old = (slot + 1) % (LAG + 1);
        let mut d = [0i8; DIMS];
        let mut v = [0i8; DIMS];
        let mut mask = 0u32;
        if self.frames >= LAG as u64 {
            mask = mask_now & self.shape_masks[old] & ((1 << DIMS) - 1);
            for m in 0..DIMS {
                d[m] = quantise((shape[m] - self.shapes[old][m]) * QSCALE);
                v[m] = quantise((fine[m] - self.fine[old][m]) * QSCALE);
            }
        }

        // Stationarity: shape now against 50 ms ago, mean removed.
        let lslot = (self.frames as usize) % 6;
        for m in 0..BANDS {
            self.logs[lslot][m] = log[m] - mean;
        }
        let prev = &self.logs[(lslot + 1) % 6];
        let cur = &self.logs[lslot];
        let (mut xy, mut xx, mut yy) = (0.0f32, 0.0f32, 0.0f32);
        for m in 0..BANDS {
            xy += cur[m] * prev[m];
            xx += cur[m] * cur[m];
            yy += prev[m] * prev[m];
        }
        let stationarity = if self.frames >= 5 {
            xy / (xx * yy).sqrt().max(1e-6)
        } else {
            0.0
        };

        self.frames += 1;
        Analysis {
            d,
            v,
            mask,
            level_db,
            snr_db,
            tone_ratio: tone / total.max(1.0),
            tone_narrow,
            tone_hz,
            peak_share,
            stationarity,
            missing,
            pitch: 0,
        }
    }

    /// The period of a voiced frame from its power spectrum (the autocorrelation is its
    /// inverse transform), corrected for the window's own fall with the lag; the shortest
    /// lag that correlates nearly as well as the best (a period's multiples correlate too).
    /// 0 if no lag correlates at [`VOICED`].
    fn pitch(&mut self, power: &[f32; BINS]) -> u8 {
        for (s, &p) in self.spectrum.iter_mut().zip(power) {
            *s = Complex::new(p, 0.0);
        }
        // The buffer lengths come from the plans, and the input's first and last bins are
        // real: this cannot fail.
        let _ =
            ifft().process_with_scratch(&mut self.spectrum, &mut self.input, &mut self.iscratch);
        let r0 = self.input[0];
        if r0 <= 0.0 {
            return 0;
        }
        let wac = window_acf();
        let mut n = [0.0f32; MAX_LAG + 2];
        let mut best = 0.0f32;
        for lag in MIN_LAG..=MAX_LAG {
            n[lag] = self.input[lag] / (r0 * wac[lag]);
            best = best.max(n[lag]);
        }
        if best < VOICED {
            return 0;
        }
        (MIN_LAG..=MAX_LAG)
            .find(|&l| n[l] >= 0.85 * best && n[l] >= n[l - 1] && n[l] >= n[l + 1])
            .map_or(0, |l| l as u8)
    }

    /// Minimum statistics over ≈ 1 s of 3-frame-smoothed band energy. A reference (no noise
    /// tracking) has only the digital-silence floor.
    fn noise_floor(&mut self, energy: &[f32; BANDS], missing: bool) -> [f32; BANDS] {
        let mut out = [0.0f32; BANDS];
        if !self.track_noise {
            return out;
        }
        if !missing {
            for m in 0..BANDS {
                self.smooth[m] = if self.noise_count == 0 && self.noise_cur[m] == f32::MAX {
                    energy[m]
                } else {
                    0.67 * self.smooth[m] + 0.33 * energy[m]
                };
                self.noise_cur[m] = self.noise_cur[m].min(self.smooth[m]);
            }
            self.noise_count += 1;
            if self.noise_count == NOISE_SUBWINDOW {
                self.noise_min[self.noise_slot] = self.noise_cur;
                self.noise_slot = (self.noise_slot + 1) % NOISE_SUBWINDOWS;
                self.noise_cur = [f32::MAX; BANDS];
                self.noise_count = 0;
            }
        }
        for m in 0..BANDS {
            let mut n = self.noise_cur[m];
            for w in &self.noise_min {
                n = n.min(w[m]);
            }
            out[m] = if n == f32::MAX { 0.0 } else { n };
        }
        out
    }
}

/// `v.round().clamp(-127.0, 127.0) as i8`, exactly, without a call to the C library's
/// `roundf` (the baseline x86-64 target has no rounding instruction; this was 2 % of a call).
#[inline]
fn quantise(v: f32) -> i8 {
    // Within ±128 the truncation is exact and so is the fraction `v - t`; NaN gives 0 as the
    // cast of a NaN does.
    let v = v.clamp(-128.0, 128.0);
    let t = v as i32;
    let frac = v - t as f32;
    let r = if frac >= 0.5 {
        t + 1
    } else if frac <= -0.5 {
        t - 1
    } else {
        t
    };
    r.clamp(-127, 127) as i8
}

/// A stored fingerprint, or a mask as lanes: one 16-bit lane per dimension. The values are
/// the quantised `i8`s, widened once when stored: x86-64's baseline (SSE2) multiplies 16-bit
/// lanes into 32-bit sums in one instruction, while 8-bit lanes must be widened at every dot
/// product; a 200 ms window scored at five shifts takes 0.6 µs on 16-bit lanes, 0.95 µs on
/// 8-bit ones.
pub type Lanes = [i16; DIMS];

/// The mask as lanes of all ones (kept) or zeros (left out), for branch-free (vectorised)
/// dot products.
#[inline]
pub fn mask_vec(mask: u32) -> Lanes {
    let mut v = [0i16; DIMS];
    for (m, x) in v.iter_mut().enumerate() {
        *x = -(((mask >> m) & 1) as i16);
    }
    v
}

/// `d` with the dimensions `mask` leaves out set to zero.
#[inline]
pub fn masked(d: &[i8; DIMS], mask: u32) -> Lanes {
    let mut out = [0i16; DIMS];
    for m in 0..DIMS {
        out[m] = if (mask >> m) & 1 == 1 { d[m] as i16 } else { 0 };
    }
    out
}

/// The correlation of fingerprint pairs over the dimensions both carry, accumulated frame by
/// frame (the one correlation the matcher and the library use).
#[derive(Debug, Clone, Copy, Default)]
pub struct Correlation {
    xy: i64,
    xx: i64,
    yy: i64,
    frames: u32,
}

impl Correlation {
    /// Adds one pair of masked fingerprints with their masks' lanes ([`mask_vec`]).
    #[inline]
    pub fn add(&mut self, a: &Lanes, am: &Lanes, b: &Lanes, bm: &Lanes) {
        self.add_terms(dot_pair(a, am, b, bm));
    }

    /// Adds one pair's [`dot_pair`] terms, computed elsewhere (one pair weighed in several
    /// correlations).
    #[inline]
    pub fn add_terms(&mut self, (xy, xx, yy): (i32, i32, i32)) {
        self.xy += xy as i64;
        self.xx += xx as i64;
        self.yy += yy as i64;
        self.frames += 1;
    }

    /// The sums of `frames` frames' [`dot_pair`] terms, added elsewhere.
    pub fn of_sums(xy: i32, xx: i32, yy: i32, frames: i32) -> Correlation {
        Correlation {
            xy: xy.into(),
            xx: xx.into(),
            yy: yy.into(),
            frames: frames.max(0) as u32,
        }
    }

    /// Frames added.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// The sums of both: two spans' frames taken together. Exact (integer sums).
    pub fn plus(&self, other: &Correlation) -> Correlation {
        Correlation {
            xy: self.xy + other.xy,
            xx: self.xx + other.xx,
            yy: self.yy + other.yy,
            frames: self.frames + other.frames,
        }
    }

    /// What was added after `earlier`, an earlier state of the same sums: a running sum's
    /// window. Exact (integer sums).
    pub fn since(&self, earlier: &Correlation) -> Correlation {
        Correlation {
            xy: self.xy - earlier.xy,
            xx: self.xx - earlier.xx,
            yy: self.yy - earlier.yy,
            frames: self.frames - earlier.frames,
        }
    }

    /// The correlation, if at least `min_frames` frames were added and both sides carry energy.
    pub fn value(&self, min_frames: u32) -> Option<f32> {
        (self.frames >= min_frames && self.xx > 0 && self.yy > 0)
            .then(|| self.xy as f32 / ((self.xx as f32) * (self.yy as f32)).sqrt())
    }
}

/// Sums for the correlation of two masked fingerprints over the dimensions both carry:
/// `(Σ a·b, Σ a², Σ b²)`. `a` and `b` are already zero outside their masks `am`, `bm`, so
/// `Σ a·b` needs no mask.
#[inline]
pub fn dot_pair(a: &Lanes, am: &Lanes, b: &Lanes, bm: &Lanes) -> (i32, i32, i32) {
    use std::slice::from_ref;
    dot_span(from_ref(a), from_ref(am), from_ref(b), from_ref(bm))
}

/// [`dot_pair`]'s sums over spans of frames, `a[i]` with `b[i]`, taken as one vector: the
/// sums are reduced across lanes once for the span, not once a frame (scoring the blocks of
/// a 10 s announcement call took 15 % more instructions frame by frame). Exact (integer
/// sums) for spans of up to 5000 frames (at most 24 · 127² a frame).
///
/// Written on `wide`'s 16-lane vectors: a pair of 16-bit products summed into 32 bits is one
/// `vpmaddwd`, and the compiler's own vectorisation of the plain loop used it on 8 lanes at
/// a time (half an AVX2 register): 1.6-1.8x the time of this on spans of 7 and 10 frames,
/// 1.2x or more on one frame (timed apart from the crate). A frame is 24 values: the 8 left
/// of an odd frame count take the low half of the lanes.
#[inline]
pub fn dot_span(a: &[Lanes], am: &[Lanes], b: &[Lanes], bm: &[Lanes]) -> (i32, i32, i32) {
    use wide::{i16x16, i32x8};
    let (a, am) = (a.as_flattened(), am.as_flattened());
    let (b, bm) = (b.as_flattened(), bm.as_flattened());
    let n = a.len().min(am.len()).min(b.len()).min(bm.len());
    let (mut xy, mut xx, mut yy) = (i32x8::ZERO, i32x8::ZERO, i32x8::ZERO);
    let mut add = |a: i16x16, am: i16x16, b: i16x16, bm: i16x16| {
        let (x, y) = (a & bm, b & am);
        xy += a.dot(b);
        xx += x.dot(x);
        yy += y.dot(y);
    };
    let mut i = 0;
    while i + 16 <= n {
        let lanes = |s: &[i16]| i16x16::new(s[i..i + 16].try_into().unwrap_or([0; 16]));
        add(lanes(a), lanes(am), lanes(b), lanes(bm));
        i += 16;
    }
    if i + 8 <= n {
        // The last 8 values with zeros above them, which add nothing.
        let lanes = |s: &[i16]| {
            let mut v = [0i16; 16];
            v[..8].copy_from_slice(&s[i..i + 8]);
            i16x16::new(v)
        };
        add(lanes(a), lanes(am), lanes(b), lanes(bm));
        i += 8;
    }
    let mut sums = (xy.reduce_add(), xx.reduce_add(), yy.reduce_add());
    // Slices of whole frames (24 values) never leave a tail; any other length is summed
    // here all the same.
    for k in i..n {
        let x = (a[k] & bm[k]) as i32;
        let y = (b[k] & am[k]) as i32;
        sums.0 += a[k] as i32 * b[k] as i32;
        sums.1 += x * x;
        sums.2 += y * y;
    }
    sums
}

/// The next number of a xorshift generator: the crate's tests' fixed pseudo-random input.
#[cfg(test)]
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// A span's sums are those of its frames taken one at a time, dimension by
        /// dimension, with each fingerprint zero outside its own mask (as stored) and at
        /// the extremes of the quantised range.
        #[test]
        fn a_span_sums_as_its_frames_do(
            frames in proptest::collection::vec(
                (proptest::array::uniform24(-127i8..=127), proptest::prelude::any::<u32>(),
                 proptest::array::uniform24(-127i8..=127), proptest::prelude::any::<u32>()),
                0..12,
            )
        ) {
            let (mut a, mut am, mut b, mut bm) = (vec![], vec![], vec![], vec![]);
            let (mut xy, mut xx, mut yy) = (0i64, 0i64, 0i64);
            for (da, ma, db, mb) in &frames {
                a.push(masked(da, *ma));
                am.push(mask_vec(*ma));
                b.push(masked(db, *mb));
                bm.push(mask_vec(*mb));
                for m in 0..DIMS {
                    let both = (ma >> m) & (mb >> m) & 1 == 1;
                    let (x, y) = (i64::from(da[m]), i64::from(db[m]));
                    if both {
                        xy += x * y;
                        xx += x * x;
                        yy += y * y;
                    }
                }
            }
            let got = dot_span(&a, &am, &b, &bm);
            proptest::prop_assert_eq!((i64::from(got.0), i64::from(got.1), i64::from(got.2)), (xy, xx, yy));
        }
    }

    fn run(samples: &[i16], track_noise: bool) -> Vec<Analysis> {
        let mut fe = Frontend::new(track_noise);
        samples
            .chunks_exact(HOP)
            .map(|h| fe.push_hop(h, false))
            .collect()
    }

    /// A voice-like sound: harmonics of `f0` under a falling envelope (formant-free, but
    /// with the fundamental weak, as a telephone's high-pass leaves it), and a little noise.
    fn voiced(f0: f32, seconds: f32, seed: u64) -> Vec<i16> {
        let mut state = seed | 1;
        (0..(8000.0 * seconds) as usize)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let mut x = 0.0;
                let mut k = 1;
                while k as f32 * f0 < 3400.0 {
                    let gain = if k == 1 { 0.2 } else { 1.0 / k as f32 };
                    x += gain * (std::f32::consts::TAU * k as f32 * f0 * t + k as f32).sin();
                    k += 1;
                }
                let noise = (xorshift(&mut state) % 2001) as f32 / 1000.0 - 1.0;
                (x * 4000.0 + noise * 300.0) as i16
            })
            .collect()
    }

    #[test]
    fn pitch_is_the_voice_period_and_nothing_for_noise() {
        for f0 in [80.0f32, 110.0, 150.0, 230.0] {
            let a = run(&voiced(f0, 1.0, 7), false);
            let periods: Vec<f32> = a[10..].iter().map(|a| f32::from(a.pitch)).collect();
            let want = 8000.0 / f0;
            let near = periods.iter().filter(|&&p| (p - want).abs() <= 1.0).count();
            assert!(
                near * 10 >= periods.len() * 9,
                "{f0} Hz: period {want:.1} in nine frames of ten; got {periods:?}"
            );
        }
        // White noise: no period.
        let mut state = 99u64;
        let noise: Vec<i16> = (0..8000)
            .map(|_| (xorshift(&mut state) % 16001) as i16 - 8000)
            .collect();
        let voiced_frames = run(&noise, false).iter().filter(|a| a.pitch != 0).count();
        assert!(
            voiced_frames <= 2,
            "{voiced_frames} noise frames heard as voiced"
        );
    }

    #[test]
    fn without_pitch_gives_no_period_and_the_same_features() {
        let voice = voiced(150.0, 0.5, 3);
        let mut with = Frontend::new(true);
        let mut without = Frontend::new(true).without_pitch();
        let mut voiced_frames = 0;
        for hop in voice.chunks_exact(HOP) {
            let (a, b) = (with.push_hop(hop, false), without.push_hop(hop, false));
            voiced_frames += usize::from(a.pitch != 0);
            assert_eq!(b.pitch, 0);
            assert_eq!((a.mask, a.d, a.v), (b.mask, b.d, b.v));
        }
        assert!(voiced_frames > 20, "{voiced_frames} voiced frames");
    }

    #[test]
    fn quantise_is_round_then_clamp() {
        let reference = |v: f32| v.round().clamp(-127.0, 127.0) as i8;
        let mut v = -140.0f32;
        while v <= 140.0 {
            for x in [v, v.next_up(), v.next_down()] {
                assert_eq!(quantise(x), reference(x), "{x}");
            }
            v += 0.125;
        }
        for x in [
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.49999997,
            -0.49999997,
            1e30,
        ] {
            assert_eq!(quantise(x), reference(x), "{x}");
        }
    }

    #[test]
    fn bands_are_increasing_and_inside_the_spectrum() {
        let e = band_edges();
        assert!(e.windows(2).all(|w| w[0] < w[1]));
        assert!(e[BANDS] < BINS);
    }

    /// One second of a sine at `hz`, about -12 dBFS.
    fn sine(hz: f32) -> Vec<i16> {
        (0..8000)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / 8000.0).sin() * 8000.0) as i16)
            .collect()
    }

    #[test]
    fn a_450_hz_tone_lands_in_the_tone_band() {
        for hz in [425.0f32, 450.0, 475.0] {
            let a = run(&sine(hz), true);
            assert!(a[50].tone_ratio > 0.9, "{hz} Hz ratio {}", a[50].tone_ratio);
        }
    }

    #[test]
    fn a_tone_s_frequency_is_read_within_a_few_hertz() {
        for hz in [400.0f32, 425.0, 439.0, 450.0, 462.5, 475.0, 494.0, 520.0] {
            let a = run(&sine(hz), true);
            for f in &a[10..90] {
                assert!(
                    (f.tone_hz - hz).abs() < 3.0,
                    "{hz} Hz read as {}",
                    f.tone_hz
                );
            }
        }
    }

    #[test]
    fn a_sit_segment_is_one_tone_and_a_voiced_sound_is_not() {
        for hz in [913.8f32, 1370.6, 1776.7] {
            let a = run(&sine(hz), true);
            assert!(a[10..90].iter().all(Analysis::tonal), "{hz} Hz");
        }
        // A 120 Hz voice: its harmonics, shaped by two formants (500 and 1500 Hz).
        let voice: Vec<i16> = (0..8000)
            .map(|i| {
                let t = i as f32 / 8000.0;
                let v: f32 = (1..30)
                    .map(|k| {
                        let f = 120.0 * k as f32;
                        let gain = 1.0 / (1.0 + ((f - 500.0) / 150.0).powi(2))
                            + 0.5 / (1.0 + ((f - 1500.0) / 200.0).powi(2));
                        gain * (f * std::f32::consts::TAU * t).sin()
                    })
                    .sum();
                (v * 3000.0) as i16
            })
            .collect();
        let a = run(&voice, true);
        assert!(
            a[10..90].iter().all(|f| !f.tonal()),
            "a voice read as one tone"
        );
    }

    #[test]
    fn fingerprint_ignores_the_level() {
        // Seeded noise whose spectrum changes over time (a moving resonance), and the same
        // 12 dB louder: the fingerprint must be the same wherever it is compared.
        let mut state = 12345u32;
        let mut y1 = 0.0f32;
        let x: Vec<i16> = (0..16000)
            .map(|i| {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let white = (state >> 8) as f32 / (1 << 24) as f32 - 0.5;
                let pole = 0.5 + 0.45 * (i as f32 / 2000.0).sin();
                y1 = white + pole * y1;
                (y1 * 3000.0) as i16
            })
            .collect();
        let y: Vec<i16> = x.iter().map(|&v| v.saturating_mul(4)).collect();
        let (a, b) = (run(&x, false), run(&y, false));
        let mut same = 0;
        let mut total = 0;
        for (p, q) in a.iter().zip(&b).skip(LAG + SMOOTH) {
            for m in 0..DIMS {
                // Bands at the digital-silence floor are masked and not compared.
                if (p.mask & q.mask) >> m & 1 == 0 {
                    continue;
                }
                total += 1;
                if (p.d[m] as i32 - q.d[m] as i32).abs() <= 1 {
                    same += 1;
                }
            }
        }
        assert!(total > 500, "too few comparable dimensions: {total}");
        assert!(same * 100 >= total * 98, "{same}/{total}");
    }
}
