//! A run's margin over the references that share its phrases (`Tuning::rival_contrast`) is
//! measured every 0.3 s of the run and kept in between. It must not be kept longer when the
//! run slows (a pause, a stretch of missed windows) while the stream goes on: the words
//! the margin was measured on have moved on. A call of a held-out draw (`testdata/regress/`).

mod common;

use common::{check_near_miss_under, classify_regress_on, library_b};
use tonegate_classify::{Code, Tuning};

/// 2107/cm in voice set B ("您好，您拨打的电话已停机。Sorry, the number you dialed has been
/// suspended."), from 1.03 s into it, cut after 3.2 s, through AMR-NB 7.95k with 9.5 % of
/// packets lost and repeated (`make-testdata.sh --seed 802 --voices b`, call 419), on that
/// voice set's library. 2109/cm ("…已关机。Sorry, the subscriber you dialed is power off.")
/// followed it. Its margin over 2107/cm's reference, +0.04 at 2.8 s into the call, was kept
/// while the run grew by only 0.23 s of speech in the next 0.72 s, and it committed 2109 at
/// 3.52 s, when the margin measured afresh was -0.18. Measured every 0.3 s of the stream
/// too, it does not get 2109; with the margin's thresholds turned down it does. Since a
/// short-path winner may outweigh a rival tracker (`Tuning::short_overrule`), the call is
/// heard as 2107, past the 2109/cm tracker; before, it got no code.
#[test]
fn a_slowed_run_is_weighed_against_its_rivals_afresh() {
    let name = "seed802b-0419-2107-cm-stale-margin.wav";
    let library = library_b();
    let now = classify_regress_on(&library, name, Tuning::default());
    assert_eq!(now.code, Code::new(2107), "{name}: {now:?}");
    let never_past_a_rival = Tuning {
        short_overrule: false,
        ..Tuning::default()
    };
    let loose = Tuning {
        rival_contrast: -0.2,
        strong_rival_contrast: -0.2,
        ..never_past_a_rival
    };
    check_near_miss_under(&library, name, never_past_a_rival, loose, 2109);
}
