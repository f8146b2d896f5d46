//! The words of a run inside the shared phrase that holds most of it must agree with the
//! reference too, taken together (`Tuning::shared_agree_min`): a carrier's prompt that says
//! the words making a code in a sentence of its own agrees with those words, and not with
//! the words the announcement says around them. A negative of a held-out draw in voice set
//! B (`testdata/regress/`), classified on that voice set's library
//! (`testdata/regress/library-b/`).

mod common;

use common::{check_near_miss_on, library_b};
use tonegate_classify::Tuning;

/// China Telecom's connecting prompt "对不起，请稍候，您所拨的号码正在接通中。Please wait,
/// your call is being connected." in the carrier's voice, from 1.8 s into it
/// (`make-testdata.sh --seed 944 --voices b`, call 29; white noise at 21 dB SNR, with echo,
/// through a 300 Hz high-pass), against 2113/ct "您所拨的号码已转移，正在为您转接，请稍候。
/// Your call is being forwarded, please hold on.". Its 59 frames beyond the shared phrases
/// ("your call is being", which no other China Telecom announcement says) agree with the
/// reference at 0.72; its 57 frames inside them at 0.05. Every other test it passed, some at
/// their edge (a mean of 0.46 against 0.45, its fine detail 0.02 over the line). Drawn after
/// the classifier of the round before was final, which gave it 2113. Of the 20 425 codes given
/// rightly on 88 draws, the lowest such agreement was 0.14.
#[test]
fn a_prompt_reusing_the_distinguishing_words_gets_no_code() {
    let off = Tuning {
        shared_agree_min: -1.0,
        ..Tuning::default()
    };
    check_near_miss_on(&library_b(), "seed944b-0029-ct-prompt2.wav", off, 2113);
}
