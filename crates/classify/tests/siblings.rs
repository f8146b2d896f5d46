//! A tracker that follows a phrase its reference shares with another code's reference asks
//! for a tracker of that reference too, near the phrase's end, at the alignment the library
//! measured between the two (`Tuning::siblings`): where noise blurs the index's votes, the
//! code the call goes on to say may otherwise never get one. A call of a held-out draw
//! (`testdata/regress/`), on voice set B's library as a call hears it (each reference over
//! its background, as `Library::load` builds it).

mod common;

use std::sync::Arc;

use common::{library_at, read_audio, testdata};
use tonegate_classify::{Classifier, Code, Decision, Label, Library, Tuning};

const CALL: &str = "seed1001b-0155-2118-ct-sibling.wav";

fn library_b_as_loaded() -> Arc<Library> {
    library_at(&testdata().join("regress/library-b"))
}

/// The decision committed while streaming (`None`: nothing before the end), and the
/// end-of-stream one.
fn classify(library: &Arc<Library>, tuning: Tuning) -> (Option<Decision>, Decision) {
    let pcm = read_audio(&testdata().join("regress").join(CALL));
    let mut c = Classifier::with_tuning(Arc::clone(library), tuning);
    let streaming = c.push_samples(&pcm);
    (streaming, c.finish())
}

/// 2118/ct ("对不起，您拨打的是本地号码，不需加拨零。…" in voice set B) from its start,
/// cut after 3 s, through μ-law with white noise at 6.8 dB SNR and 5.3 % of packets lost
/// (`make-testdata.sh --seed 1001 --voices b`, call 155). The greeting, which China
/// Telecom's announcements share, filled all twelve tracker slots with other codes' trackers;
/// 2118/ct's candidate (0.48) scored under the weakest of them (0.54) and was refused, and
/// the index never voted for it again. A tracker following the greeting asks for 2118/ct's
/// as the greeting ends, and the call is heard at 2.72 s.
#[test]
fn a_tracker_of_the_shared_greeting_brings_in_the_code_the_call_goes_on_to_say() {
    let library = library_b_as_loaded();
    let (streaming, _) = classify(&library, Tuning::default());
    let d = streaming.expect("committed while streaming");
    assert_eq!(d.code, Code::new(2118), "{d:?}");
    assert_eq!(d.label, Label::Announcement);
    let without = Tuning {
        siblings: false,
        ..Tuning::default()
    };
    let (streaming, end) = classify(&library, without);
    assert_eq!(
        (streaming.map(|d| d.code), end.code),
        (None, None),
        "without siblings the call must get no code, or this tests nothing"
    );
}
