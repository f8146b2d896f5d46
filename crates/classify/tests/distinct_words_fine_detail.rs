//! The words that tell a code from the others must agree with the reference on the fine
//! detail too (`Tuning::distinct_fine`): a carrier's prompt in the announcement's own voice
//! that says other words of the same length where the announcement says its distinguishing
//! ones follows their envelope, at the same pace, well enough to pass every other test.
//! Negatives of held-out draws in voice set B (`testdata/regress/`), classified on that
//! voice set's library (`testdata/regress/library-b/`).

mod common;

use common::{check_near_miss_on, library_b};
use tonegate_classify::Tuning;

/// No code now, and `mistaken_for` with the test off (or the file tests nothing). Weighing
/// the run against every shared alignment of its reference (`Tuning::max_rivals`) stops
/// the seed 801 call too: the test off weighs it against the 24 strongest, as before.
fn check(name: &str, mistaken_for: u16) {
    let off = Tuning {
        distinct_fine: -1.0,
        max_rivals: 24,
        ..Tuning::default()
    };
    check_near_miss_on(&library_b(), name, off, mistaken_for);
}

/// China Unicom's "您拨打的用户已开通炫铃，请稍候，精彩炫铃为您播放。" in the carrier's voice
/// (`make-testdata.sh --seed 922 --voices b`, call 44; AMR-NB at 8 dB SNR), against 2105/cu
/// "对不起，您拨打的用户不在服务区，请稍后再拨。": "已开通炫铃" where the reference says
/// "不在服务区", five syllables each. Its 47 frames beyond the shared phrases agree with the
/// reference at 0.52 on the envelope, and at 0.36 on the fine detail. Drawn after the
/// classifier of the round before was final, which gave it 2105.
#[test]
fn a_prompt_saying_other_words_at_the_same_pace_gets_no_code() {
    check("seed922b-0044-cu-prompt3.wav", 2105);
}

/// The same prompt on seed 801 (call 338; pink noise at 11 dB SNR, with echo): its words
/// beyond the shared phrases agree at 0.57 on the envelope and 0.36 on the fine detail.
#[test]
fn the_same_prompt_on_another_draw_gets_no_code() {
    check("seed801b-0338-cu-prompt3.wav", 2105);
}
