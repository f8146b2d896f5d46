//! At the end of the stream the commit tests are taken once more, the margin over rivals
//! measured afresh: while streaming it is remeasured only every 30 frames of a run, and
//! the words that tell a code from the rivals that share its other words can be the last
//! the call plays (the stream ends as the early media ends). A decision made there is made
//! at the last sample, so the file cut right after it is the same file. Calls of held-out
//! draws (`testdata/regress/`).

mod common;

use common::{read_audio, shipped_library, testdata};
use tonegate_classify::{Classifier, Code, Label, Tuning, FRAME_SAMPLES};

/// The stream commits nothing, and `finish` gives `code` at its last whole frame. Every run
/// needs the full margin over its rivals here (`Tuning::rival_contrast`): a run whose
/// distinct words agree closely needs less since (`clear_distinct_words.rs`), and the second
/// call then commits while streaming.
fn check_heard_at_the_end(name: &str, code: u16) {
    let pcm = read_audio(&testdata().join("regress").join(name));
    let full_margin = Tuning {
        strong_rival_contrast: Tuning::default().rival_contrast,
        ..Tuning::default()
    };
    let mut c = Classifier::with_tuning(shipped_library(), full_margin);
    let streamed = pcm
        .chunks(FRAME_SAMPLES)
        .filter_map(|f| c.push_samples(f))
        .next();
    assert_eq!(
        streamed.map(|d| d.code),
        None,
        "{name}: committed while streaming; this tests nothing"
    );
    let d = c.finish();
    assert_eq!(d.code, Code::new(code), "{name}: {d:?}");
    assert_eq!(d.label, Label::Announcement);
    let whole = (pcm.len() / FRAME_SAMPLES * FRAME_SAMPLES) as u64;
    assert_eq!(d.at_sample, Some(whole), "{name}: decided at the end");
    assert_eq!(c.finish(), d, "{name}: the same decision when asked again");
}

/// 2112/ct (call waiting) through AMR-NB 5.15k from its start: its margin over its rivals,
/// 0.05 when last measured while streaming, crossed the line (0.06) in the last 0.1 s.
#[test]
fn a_margin_cleared_in_the_last_frames_decides_at_the_end() {
    check_heard_at_the_end("seed501-0039-2112-ct-end.wav", 2112);
}

/// 2108/cu through GSM at 6 dB SNR with 4 % of packets lost, from its start.
#[test]
fn a_noisy_call_whose_margin_rose_at_its_end_is_heard() {
    check_heard_at_the_end("seed502-0351-2108-cu-end.wav", 2108);
}
