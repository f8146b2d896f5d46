//! The whole dev set (testdata/devset, 493 calls) through the streaming classifier, with
//! regression floors.
//!
//! The floors are honest lower bounds of what the classifier measured when they were set
//! (a little below it, so small legitimate trade-offs pass); they are not targets. When the
//! classifier improves, raise them to just under the new measurement. The measurement is
//! printed (`cargo test -p tonegate-classify --test devset_floors -- --nocapture`).
//!
//! Measured when last set (the classifier is deterministic; `tonegate eval` gives the same):
//! announcements 247/300 (82.3 %), tones 60/60, false codes on negatives 0/133, wrong codes
//! 0/307, no wrong code on an announcement.
//!
//! The announcement floor was lowered once, from 0.60, on purpose: the library gained
//! known carrier prompts without a code and the context check stopped forgetting, which
//! took the false codes on seven generated draws from 14 to 0 and cost 3 points of known
//! accuracy (the README's held-out table). It was raised to 0.68 when the generator stopped
//! measuring an announcement's level and SNR over its (louder) tone prefix: those calls had
//! been 7-11 dB noisier than their labels said (170 → 211 right, the classifier unchanged).
//! Since then the context check learnt to ignore noise (+11) and three thresholds were
//! raised against the wrong and false codes that draws in other voices showed (-7). Raised
//! to 0.75 when a rival tracker following a shared phrase stopped blocking a commit the
//! call's words decide (227 → 232 right); left there when only a clear winner came to
//! outweigh such a rival (231 right; +8 and +16 of 1800 on fresh draws, voice sets A, B).
//! Raised to 0.78 when a run of 2 s stopped needing the words before it to agree (238 → 241
//! right; +28 and +15 of 2400 on fresh draws). Raised to 0.80 when the references came to
//! be analysed over a background (243 → 247 right; +119 and +137 of 3600 on fresh draws).

mod common;

use std::sync::Arc;

use common::{devset_audio, devset_rows, parallel_map, shipped_library};
use tonegate_classify::{Classifier, Label};

/// Tone calls with the right code and label: at least this share. Measured: 60/60.
const MIN_TONE_ACCURACY: f64 = 0.98;
/// Announcement calls given the right code: at least this share. Measured: 82.3 %.
const MIN_ANNOUNCEMENT_ACCURACY: f64 = 0.80;
/// Emitted codes that are wrong (wrong announcement code, or any code on a negative): at most
/// this share. Measured: 0 %; the goal is 0.3 %.
const MAX_WRONG_CODE_RATE: f64 = 0.003;

#[derive(Debug, Default)]
struct Tally {
    announcements: usize,
    announcements_right: usize,
    tones: usize,
    tones_right: usize,
    negatives: usize,
    false_codes: usize,
    emitted: usize,
    wrong: usize,
    code_without_sample: usize,
}

#[test]
fn devset_meets_the_regression_floors() {
    let lib = shipped_library();
    assert_eq!(
        lib.len(),
        60,
        "the shipped library has 54 coded references and 6 prompts"
    );
    assert_eq!(
        lib.codes().len(),
        18,
        "the shipped library covers the 18 codes"
    );
    let rows = devset_rows();
    assert_eq!(rows.len(), 493, "the dev set has 493 calls");
    let decisions = parallel_map(&rows, |r| {
        let pcm = devset_audio(r);
        Classifier::classify(Arc::clone(&lib), &pcm)
    });
    let mut t = Tally::default();
    let mut wrong_list = Vec::new();
    for (r, d) in rows.iter().zip(&decisions) {
        let got = d.code.map(|c| c.get());
        if got.is_some() {
            t.emitted += 1;
            if got != r.code {
                t.wrong += 1;
                wrong_list.push(format!(
                    "{} {} want {:?} got {:?}",
                    r.file, r.label, r.code, got
                ));
            }
            if d.at_sample.is_none() {
                t.code_without_sample += 1;
            }
        }
        match r.kind.as_str() {
            "announcement" => {
                t.announcements += 1;
                if got.is_some() && got == r.code {
                    t.announcements_right += 1;
                }
            }
            "tone" => {
                t.tones += 1;
                if got == r.code && Label::parse(&r.label) == Some(d.label) {
                    t.tones_right += 1;
                }
            }
            "negative" => {
                t.negatives += 1;
                if got.is_some() {
                    t.false_codes += 1;
                }
            }
            other => panic!("{}: unknown kind {other}", r.file),
        }
    }
    let share = |a: usize, b: usize| a as f64 / b.max(1) as f64;
    let (ann, tone, wrong) = (
        share(t.announcements_right, t.announcements),
        share(t.tones_right, t.tones),
        share(t.wrong, t.emitted),
    );
    println!(
        "dev set: announcements {}/{} ({:.1} %), tones {}/{} ({:.1} %), false codes {}/{}, wrong codes {}/{} ({:.1} %)",
        t.announcements_right,
        t.announcements,
        ann * 100.0,
        t.tones_right,
        t.tones,
        tone * 100.0,
        t.false_codes,
        t.negatives,
        t.wrong,
        t.emitted,
        wrong * 100.0
    );
    for w in &wrong_list {
        println!("  wrong: {w}");
    }
    assert_eq!(
        (t.announcements, t.tones, t.negatives),
        (300, 60, 133),
        "dev-set composition"
    );
    assert_eq!(
        t.code_without_sample, 0,
        "codes emitted without the sample they were decided at"
    );
    // Negatives (ringback, colour ringback, silence, ...) given a code: none, as the issue
    // asks (a code on a call that had none is the worst error). Measured: 0 of 133.
    assert_eq!(t.false_codes, 0, "false codes on negatives");
    assert!(
        tone >= MIN_TONE_ACCURACY,
        "tone accuracy {tone:.3} < {MIN_TONE_ACCURACY}"
    );
    assert!(
        ann >= MIN_ANNOUNCEMENT_ACCURACY,
        "announcement accuracy {ann:.3} < {MIN_ANNOUNCEMENT_ACCURACY}"
    );
    assert!(
        wrong <= MAX_WRONG_CODE_RATE,
        "wrong-code rate {wrong:.3} > {MAX_WRONG_CODE_RATE}"
    );
}
