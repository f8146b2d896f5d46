//! A winner outweighs a rival that follows a phrase the two references share only where the
//! call is clearly nearer the winner's words than the rival's (`Tuning::pair_margin`), and
//! that is measured on the frames the ring holds (2.56 s). In a long run the words that
//! tell the two apart can have left it: the margin last measured while the ring held them
//! is remembered for the run, and a rival whose tracker started after they had left is
//! told apart by the run's good frames where its reference says other words (a run heard
//! closely throughout). A call of a held-out draw (`testdata/regress/`).

mod common;

use common::stream_regress;
use tonegate_classify::{Code, Label, Tuning};

/// 2101/cm ("您好，您拨打的电话正在通话中，请稍后再拨。Sorry, the number you dialed is busy
/// now, …") from 2.28 s into it, through μ-law with pink noise at 15 dB SNR
/// (`make-testdata.sh --seed 927`, call 104). "正在通话中" is what tells it from 2102/cm
/// ("…暂时无人接听，请稍后再拨…"); 2102/cm's tracker started 1.5 s into the call, on
/// "请稍后再拨。Sorry, the number you dialed is", which both say at the same alignment.
/// By the time the run had 0.4 s of words beyond its shared phrases (3.7 s), "正在通话中"
/// had left the ring, and the rival, never weighed against the run, blocked it to the end
/// of the call (mean window score 0.91).
#[test]
fn words_heard_before_the_rival_started_still_tell_them_apart() {
    let d = stream_regress(
        "seed927-0104-2101-words-left-the-ring.wav",
        Tuning::default(),
    )
    .expect("committed while streaming");
    assert_eq!(d.code, Code::new(2101), "{d:?}");
    assert_eq!(d.label, Label::Announcement);
}
