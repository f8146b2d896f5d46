//! Helpers shared by the integration tests: the source tree's test data, a tiny labels.csv
//! reader, the shipped library, the calls of `testdata/regress/` classified on it, WAV
//! writing, call-progress tones and a seeded random generator.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonegate_classify::{
    audio, code_of_folder, is_no_code_folder, Classifier, Code, Decision, Label, Library,
    Reference, Tuning, SAMPLE_RATE,
};

/// The source tree's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata")
}

/// Reads and decodes one file, panicking with its path.
pub fn read_audio(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ext = path.extension().and_then(|e| e.to_str());
    audio::decode(&bytes, ext).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One row of `testdata/devset/labels.csv` (the columns the tests use).
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub kind: String,
    pub code: Option<u16>,
    pub label: String,
    pub onset_ms: u64,
}

/// Parses labels.csv: a header, then comma-separated rows with no quoting.
pub fn devset_rows() -> Vec<Row> {
    let path = testdata().join("devset/labels.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().expect("labels.csv has a header");
    assert!(
        header.starts_with("file,kind,code,label,onset_ms"),
        "header {header}"
    );
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            assert!(c.len() >= 5, "short row {l}");
            Row {
                file: c[0].to_owned(),
                kind: c[1].to_owned(),
                code: (!c[2].is_empty()).then(|| c[2].parse().expect("code")),
                label: c[3].to_owned(),
                onset_ms: c[4].parse().unwrap_or(0),
            }
        })
        .collect()
}

/// Decodes a dev-set call.
pub fn devset_audio(row: &Row) -> Vec<i16> {
    read_audio(&testdata().join("devset").join(&row.file))
}

/// Streams a call of `testdata/regress/` through a classifier on the shipped library (as
/// the regression calls are heard, [`regress_library`]) with these thresholds; the
/// end-of-stream decision.
pub fn classify_regress(name: &str, tuning: Tuning) -> Decision {
    classify_regress_on(&regress_library(), name, tuning)
}

/// [`classify_regress`] on another library.
pub fn classify_regress_on(library: &Arc<Library>, name: &str, tuning: Tuning) -> Decision {
    let pcm = read_audio(&testdata().join("regress").join(name));
    let mut c = Classifier::with_tuning(library.clone(), tuning);
    c.push_samples(&pcm);
    c.finish()
}

/// Voice set B's library (`testdata/regress/library-b/`) as the regression calls of voice
/// set B are heard (see [`regress_library`]), built once per test binary.
pub fn library_b() -> Arc<Library> {
    static LIBRARY: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();
    LIBRARY
        .get_or_init(|| library_from(&testdata().join("regress/library-b"), false))
        .clone()
}

/// Voice set B's library as a call hears it (each reference over its background, as
/// `Library::load` builds it), built once per test binary.
pub fn library_b_heard() -> Arc<Library> {
    static LIBRARY: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();
    Arc::clone(LIBRARY.get_or_init(|| library_at(&testdata().join("regress/library-b"))))
}

/// The shipped library with its references analysed without a background
/// (`Reference::without_background`): the front end the calls of `testdata/regress/` were
/// chosen under, each to exercise one rule (with the background most of them no longer come
/// near the line their rule draws, and a test of the rule on them would test nothing). Built
/// once per test binary.
pub fn regress_library() -> Arc<Library> {
    static LIBRARY: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();
    Arc::clone(LIBRARY.get_or_init(|| library_from(&testdata().join("library"), false)))
}

/// [`classify_regress`]'s decision if the stream committed it, before its end (`None` if
/// only the end-of-stream tests would give one).
pub fn stream_regress(name: &str, tuning: Tuning) -> Option<Decision> {
    stream_regress_on(&regress_library(), name, tuning)
}

/// [`stream_regress`] on another library.
pub fn stream_regress_on(library: &Arc<Library>, name: &str, tuning: Tuning) -> Option<Decision> {
    let pcm = read_audio(&testdata().join("regress").join(name));
    Classifier::with_tuning(Arc::clone(library), tuning).push_samples(&pcm)
}

/// `tuning` with the pitch test off: both its lines, the long runs' (`Tuning::pitch_max`)
/// and the short runs' (`Tuning::short_pitch_max`).
pub fn without_pitch(tuning: Tuning) -> Tuning {
    Tuning {
        pitch_max: f32::MAX,
        short_pitch_max: f32::MAX,
        ..tuning
    }
}

/// A regression call that must give no code, and `mistaken_for` under `loose` (its guard
/// turned down): otherwise it is no near miss and tests nothing.
pub fn check_near_miss(name: &str, loose: Tuning, mistaken_for: u16) {
    check_near_miss_on(&regress_library(), name, loose, mistaken_for);
}

/// A regression call committed as `code` while streaming.
pub fn heard_while_streaming(name: &str, code: u16) {
    let now = stream_regress(name, Tuning::default()).map(|d| d.code);
    assert_eq!(now, Some(Code::new(code)), "{name}: heard as {now:?}");
}

/// [`check_near_hit`] while streaming: committed as `code`, and nothing committed under
/// `strict` (the rule that decides it turned off), or it tests nothing. The end of the
/// stream is left out: its tests may hear the call under either.
pub fn check_near_hit_streaming(name: &str, strict: Tuning, code: u16) {
    heard_while_streaming(name, code);
    assert_eq!(
        stream_regress(name, strict).map(|d| d.code),
        None,
        "{name}: without the rule that decides it it must commit nothing, or this tests nothing"
    );
}

/// On `library`: a regression call committed while streaming as the announcement `code`,
/// and under `strict` (the rule that decides it turned off) given no code, while streaming
/// or at the end of the stream: otherwise it tests nothing.
pub fn check_streaming_hit_on(library: &Arc<Library>, name: &str, strict: Tuning, code: u16) {
    let d = stream_regress_on(library, name, Tuning::default())
        .unwrap_or_else(|| panic!("{name}: committed nothing while streaming"));
    assert_eq!(d.code, Code::new(code), "{name}: {d:?}");
    assert_eq!(d.label, Label::Announcement, "{name}");
    let streaming = stream_regress_on(library, name, strict);
    let end = classify_regress_on(library, name, strict);
    assert_eq!(
        (streaming.map(|d| d.code), end.code),
        (None, None),
        "{name}: without the rule that decides it it must get no code, or this tests nothing"
    );
}

/// A regression call that must be heard as the announcement `code`, and get no code under
/// `strict` (the rule that decides it turned off): otherwise it tests nothing.
pub fn check_near_hit(name: &str, strict: Tuning, code: u16) {
    let now = classify_regress(name, Tuning::default());
    assert_eq!(now.code, Code::new(code), "{name}: {now:?}");
    assert_eq!(now.label, Label::Announcement, "{name}");
    assert_eq!(
        classify_regress(name, strict).code,
        None,
        "{name}: without the rule that decides it it must get no code, or this tests nothing"
    );
}

/// [`check_near_miss`] on another library.
pub fn check_near_miss_on(library: &Arc<Library>, name: &str, loose: Tuning, mistaken_for: u16) {
    check_near_miss_under(library, name, Tuning::default(), loose, mistaken_for);
}

/// [`check_near_miss_on`] with the thresholds `base` in place of the defaults (a call that a
/// later rule decides rightly, kept as the near miss it is without that rule).
pub fn check_near_miss_under(
    library: &Arc<Library>,
    name: &str,
    base: Tuning,
    loose: Tuning,
    mistaken_for: u16,
) {
    let now = classify_regress_on(library, name, base);
    assert_eq!(now.code, None, "{name}: heard as {:?}", now.code);
    assert_eq!(
        classify_regress_on(library, name, loose).code,
        Code::new(mistaken_for),
        "{name}: with its guard turned down it must be mistaken, or this tests nothing"
    );
}

/// The shipped library: every WAV under `testdata/library/<code>-<slug>/`, code from the folder.
/// Built once per test binary and shared.
pub fn shipped_library() -> Arc<Library> {
    static LIBRARY: std::sync::OnceLock<Arc<Library>> = std::sync::OnceLock::new();
    Arc::clone(LIBRARY.get_or_init(|| library_at(&testdata().join("library"))))
}

/// The library in folder `root`: every `.wav` under a folder whose name begins with a code
/// (`2114-empty-number/`), or with `none` for speech without a code (`is_no_code_folder`),
/// read with the crate's own decoder.
pub fn library_at(root: &Path) -> Arc<Library> {
    library_from(root, true)
}

/// [`library_at`], the references analysed over their background or not
/// (`Reference::without_background`).
fn library_from(root: &Path, background: bool) -> Arc<Library> {
    let mut files = Vec::new();
    for dir in std::fs::read_dir(root).expect("library folder") {
        let dir = dir.expect("entry").path();
        if !dir.is_dir() {
            continue;
        }
        let folder = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let code = if is_no_code_folder(&folder) {
            None
        } else {
            Some(
                code_of_folder(&folder)
                    .and_then(Code::new)
                    .unwrap_or_else(|| panic!("folder {folder} names no code")),
            )
        };
        for f in std::fs::read_dir(&dir).expect("code folder") {
            let f = f.expect("entry").path();
            if f.extension().is_some_and(|e| e == "wav") {
                files.push((
                    code,
                    format!("{folder}/{}", f.file_name().unwrap().to_string_lossy()),
                    f,
                ));
            }
        }
    }
    files.sort_by(|a, b| a.1.cmp(&b.1));
    let refs: Vec<Reference> = parallel_map(&files, |(code, name, path)| {
        let pcm = read_audio(path);
        match (background, code) {
            (true, Some(code)) => Reference::new(*code, name.clone(), &pcm),
            (true, None) => Reference::no_code(name.clone(), &pcm),
            (false, code) => Reference::without_background(*code, name.clone(), &pcm),
        }
        .expect("reference")
    });
    Arc::new(Library::new(refs))
}

/// The shipped library's coded references, each with its audio.
pub fn coded_references() -> Vec<(Code, String, Vec<i16>)> {
    shipped_library()
        .references()
        .iter()
        .filter_map(|r| {
            let pcm = read_audio(&testdata().join("library").join(r.name()));
            Some((r.code()?, r.name().to_owned(), pcm))
        })
        .collect()
}

/// Streams `make(i, from)` through a classifier on the shipped library for every index `i`
/// of `refs` and each share `from`, asserting that none is heard as another code than
/// `refs[i]`'s; how many were heard as it, of how many.
pub fn heard_as_their_code(
    refs: &[(Code, String, Vec<i16>)],
    froms: &[f64],
    make: impl Fn(usize, f64) -> Vec<i16> + Sync,
) -> (usize, usize) {
    let lib = shipped_library();
    let indices: Vec<usize> = (0..refs.len()).collect();
    let heard = parallel_map(&indices, |&i| {
        let (code, name, _) = &refs[i];
        froms
            .iter()
            .filter(|&&from| {
                let d = Classifier::classify(Arc::clone(&lib), &make(i, from));
                assert!(
                    d.code.is_none() || d.code == Some(*code),
                    "{name} from {from}: heard {:?}",
                    d.code
                );
                d.code == Some(*code)
            })
            .count()
    });
    (heard.iter().sum(), refs.len() * froms.len())
}

/// Mean power of `pcm`'s 20 ms frames within 25 dB of the loudest (its speech's level).
pub fn active_power(pcm: &[i16]) -> f64 {
    let frames: Vec<f64> = pcm
        .chunks_exact(160)
        .map(|f| f.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / 160.0)
        .collect();
    let max = frames.iter().copied().fold(0.0, f64::max);
    let active: Vec<f64> = frames.into_iter().filter(|&e| e >= max / 316.0).collect();
    active.iter().sum::<f64>() / active.len() as f64
}

/// `items.map(f)` on all cores, in order.
pub fn parallel_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 8);
    let chunk = items.len().div_ceil(workers).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| s.spawn(|| part.iter().map(&f).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker panicked"))
            .collect()
    })
}

/// A WAV file's bytes: `fmt ` chunk with `format_tag` (1 PCM, 6 A-law, 7 μ-law), optionally the
/// 18-byte form with cbSize = 0 followed by a `fact` chunk (as sox writes G.711), then `data`.
pub fn wav(
    format_tag: u16,
    channels: u16,
    rate: u32,
    bits: u16,
    extended: bool,
    data: &[u8],
) -> Vec<u8> {
    // Wrapping: property tests feed nonsense header fields.
    let block = channels.wrapping_mul(bits) / 8;
    let mut fmt = Vec::new();
    fmt.extend(format_tag.to_le_bytes());
    fmt.extend(channels.to_le_bytes());
    fmt.extend(rate.to_le_bytes());
    fmt.extend(rate.wrapping_mul(block as u32).to_le_bytes());
    fmt.extend(block.to_le_bytes());
    fmt.extend(bits.to_le_bytes());
    if extended {
        fmt.extend(0u16.to_le_bytes());
    }
    let mut body = b"WAVE".to_vec();
    body.extend(b"fmt ");
    body.extend((fmt.len() as u32).to_le_bytes());
    body.extend(&fmt);
    if extended {
        body.extend(b"fact");
        body.extend(4u32.to_le_bytes());
        body.extend((data.len() as u32 / block.max(1) as u32).to_le_bytes());
    }
    body.extend(b"data");
    body.extend((data.len() as u32).to_le_bytes());
    body.extend(data);
    if data.len() % 2 == 1 {
        body.push(0);
    }
    let mut out = b"RIFF".to_vec();
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// 16-bit PCM WAV of interleaved samples.
pub fn wav_pcm16(channels: u16, rate: u32, samples: &[i16]) -> Vec<u8> {
    let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
    wav(1, channels, rate, 16, false, &data)
}

/// A sine of `hz` at `amplitude`, `secs` long at `rate`.
pub fn sine(rate: u32, hz: f32, amplitude: f32, secs: f32) -> Vec<i16> {
    (0..(rate as f32 * secs) as usize)
        .map(|i| {
            ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * amplitude).round() as i16
        })
        .collect()
}

/// Samples at 8 kHz in `secs` seconds.
pub fn samples(secs: f32) -> usize {
    (secs * SAMPLE_RATE as f32).round() as usize
}

/// SplitMix64: small, seeded, reproducible.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Standard normal (Box-Muller).
    pub fn gauss(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

/// Tone amplitude (about -15 dBFS RMS).
pub const TONE_AMPLITUDE: f64 = 7000.0;

/// `secs` of a 450 Hz-family tone following `cadence` (on, off seconds; repeated), time-scaled
/// by `scale`, starting `phase` seconds into the cycle after `lead` seconds of nothing.
pub fn tone(
    cadence: &[(f64, f64)],
    scale: f64,
    hz: f64,
    lead: f64,
    phase: f64,
    secs: f64,
) -> Vec<i16> {
    let segments: Vec<(bool, f64)> = cadence
        .iter()
        .flat_map(|&(on, off)| [(true, on * scale), (false, off * scale)])
        .collect();
    let period: f64 = segments.iter().map(|s| s.1).sum();
    let n = (secs * SAMPLE_RATE as f64) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 / SAMPLE_RATE as f64;
            if t < lead {
                return 0;
            }
            let mut c = (t - lead + phase).rem_euclid(period);
            let mut on = false;
            for &(is_on, len) in &segments {
                if c < len {
                    on = is_on;
                    break;
                }
                c -= len;
            }
            if on {
                ((t * hz * std::f64::consts::TAU).sin() * TONE_AMPLITUDE).round() as i16
            } else {
                0
            }
        })
        .collect()
}

/// Adds white noise `snr_db` below the RMS of [`tone`]'s tone.
pub fn add_noise(x: &mut [i16], snr_db: f64, rng: &mut Rng) {
    let sigma = TONE_AMPLITUDE / 2f64.sqrt() / 10f64.powf(snr_db / 20.0);
    for v in x.iter_mut() {
        *v = (*v as f64 + rng.gauss() * sigma)
            .round()
            .clamp(-32768.0, 32767.0) as i16;
    }
}
