//! Helpers for the `tonegate` benchmarks (`benches/classify.rs`): loading the shipped
//! announcement library and dev-set calls from the source tree, and deterministic synthetic
//! library references.

use std::path::{Path, PathBuf};

use tonegate_classify::{audio, code_of_folder, is_no_code_folder, Code, Reference};

/// The source tree's `testdata/` folder.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata")
}

/// Reads and decodes one audio file to 8 kHz samples. Panics with the path on failure (the
/// benchmarks cannot run without their inputs).
pub fn read_audio(path: &Path) -> Vec<i16> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let ext = path.extension().and_then(|e| e.to_str());
    audio::decode(&bytes, ext).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The shipped library's coded files as `(code, name, samples)`, sorted by path. The code is
/// the four digits the folder name begins with (`2114-empty-number/cm.wav` → 2114); the
/// `none-…` folders (speech without a code) are left out.
pub fn library_recordings() -> Vec<(Code, String, Vec<i16>)> {
    let root = testdata().join("library");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.expect("library entry").path())
        .filter(|p| p.is_dir())
        .filter(|p| !is_no_code_folder(p.file_name().and_then(|n| n.to_str()).unwrap_or_default()))
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let folder = dir
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let code = code_of_folder(&folder)
            .and_then(Code::new)
            .unwrap_or_else(|| panic!("library folder {folder} does not start with a code"));
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .expect("library folder")
            .map(|e| e.expect("library file").path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .collect();
        files.sort();
        for f in files {
            let name = format!(
                "{folder}/{}",
                f.file_name().unwrap_or_default().to_string_lossy()
            );
            out.push((code, name, read_audio(&f)));
        }
    }
    out
}

/// The shipped library's references, fingerprinted.
pub fn library_references() -> Vec<Reference> {
    library_recordings()
        .into_iter()
        .map(|(code, name, pcm)| Reference::new(code, name, &pcm).expect("reference"))
        .collect()
}

/// SplitMix64: a fixed-seed generator, so the synthetic library is the same on every run.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[lo, hi)`.
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Resamples by linear interpolation so the result plays `factor` times faster (pitch and
/// tempo both change, like a tape played at another speed).
pub fn speed(x: &[i16], factor: f64) -> Vec<i16> {
    let n = (x.len() as f64 / factor) as usize;
    (0..n)
        .map(|i| {
            let t = i as f64 * factor;
            let j = t as usize;
            let f = t - j as f64;
            let a = x[j.min(x.len() - 1)] as f64;
            let b = x[(j + 1).min(x.len() - 1)] as f64;
            (a + (b - a) * f).round() as i16
        })
        .collect()
}

/// `count` synthetic references made deterministically from `recordings`, to grow a library
/// to a realistic size without shipping more audio: [`synthetic_recordings`], fingerprinted.
pub fn synthetic_references(
    recordings: &[(Code, String, Vec<i16>)],
    count: usize,
) -> Vec<Reference> {
    synthetic_recordings(recordings, count)
        .into_iter()
        .map(|(code, name, pcm)| Reference::new(code, name, &pcm).expect("synthetic reference"))
        .collect()
}

/// `count` synthetic recordings made deterministically from `recordings`, as `(code, name,
/// samples)`: what [`synthetic_references`] fingerprints, and what `library_files` writes out
/// as a library folder.
///
/// Variant `k` takes recording `k % n`, plays it at a seeded speed of 0.88-0.97 or 1.03-1.12
/// (outside the ±1.5 % drift the matcher follows, so it is new sound to the index rather than
/// a copy of the original), rotates it at a seeded offset (the cycle starts elsewhere), and
/// keeps 4-7 s of it. Variants are assigned round-robin to the 18 codes, whatever their
/// source. They exist to load the index and the trackers as a large library would; they are
/// not meant to be recognisable announcements.
pub fn synthetic_recordings(
    recordings: &[(Code, String, Vec<i16>)],
    count: usize,
) -> Vec<(Code, String, Vec<i16>)> {
    let codes: Vec<Code> = tonegate_classify::HEARD_CODES
        .iter()
        .filter_map(|(c, _, _)| Code::new(*c))
        .collect();
    let mut rng = SplitMix64(20_261_123);
    (0..count)
        .map(|k| {
            let (_, name, pcm) = &recordings[k % recordings.len()];
            let mut factor = rng.uniform(0.88, 1.06);
            if factor >= 0.97 {
                factor += 0.06;
            }
            let sped = speed(pcm, factor);
            let start = (rng.uniform(0.0, 1.0) * sped.len() as f64) as usize;
            let keep = (rng.uniform(4.0, 7.0) * 8000.0) as usize;
            let slice: Vec<i16> = sped
                .iter()
                .cycle()
                .skip(start)
                .take(keep)
                .copied()
                .collect();
            let code = codes[k % codes.len()];
            (code, format!("synthetic/{k:04}-{name}@{factor:.3}"), slice)
        })
        .collect()
}

/// Encodes samples as G.711 bytes.
pub fn encode(law: tonegate_classify::Law, pcm: &[i16]) -> Vec<u8> {
    pcm.iter().map(|&x| law.encode(x)).collect()
}
