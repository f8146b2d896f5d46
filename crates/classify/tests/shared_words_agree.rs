//! The words of a run inside the shared phrase that holds most of it must agree with the
//! reference too, taken together, on the envelope (`Tuning::shared_agree_min`) and on the
//! fine detail (`Tuning::shared_fine_min`): a carrier's prompt that says the words making a
//! code in a sentence of its own agrees with those words, and not with the words the
//! announcement says around them. Negatives of held-out draws in voice set B
//! (`testdata/regress/`), classified on that voice set's library
//! (`testdata/regress/library-b/`): the first two with its references analysed without a
//! background, as when they were found, the third over it, as a call hears them.

mod common;

use common::{check_near_miss_on, check_near_miss_under, library_b, library_b_heard};
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
    // The envelope's test alone refuses it; the fine detail's refuses it too.
    let envelope_only = Tuning {
        shared_fine_min: -1.0,
        ..Tuning::default()
    };
    let off = Tuning {
        shared_agree_min: -1.0,
        ..envelope_only
    };
    check_near_miss_under(
        &library_b(),
        "seed944b-0029-ct-prompt2.wav",
        envelope_only,
        off,
        2113,
    );
}

/// The same prompt of China Telecom's, from 4.3 s into it (`make-testdata.sh --seed 995
/// --voices b`, call 251; GSM with pink noise at 13 dB SNR, 1.8 % of packets lost, through a
/// 300 Hz high-pass), a fresh draw: its words inside the shared phrases agree with 2113/ct
/// at 0.1003 on the envelope, just over `Tuning::shared_agree_min`, and at -0.12 on the fine
/// detail (`Tuning::shared_fine_min`). Of the 42 612 codes given rightly on 180 draws the
/// lowest such fine agreement was 0.022.
#[test]
fn a_prompt_whose_shared_words_disagree_on_the_fine_detail_gets_no_code() {
    let off = Tuning {
        shared_fine_min: -1.0,
        ..Tuning::default()
    };
    check_near_miss_on(&library_b(), "seed995b-0251-ct-prompt2.wav", off, 2113);
}

/// China Unicom's connecting prompt "对不起，请稍候，您拨打的用户正在为您接通。Please hold." in
/// the carrier's voice (`make-testdata.sh --seed 1029 --voices b`, call 225; babble at 29 dB
/// SNR through G.711 A-law), a fresh draw, heard as its library hears a call (every
/// reference over a background): it passed every other test as 2108/cu, its words inside
/// the shared phrase agreeing at 0.056 on the fine detail, under `Tuning::shared_fine_min`
/// 0.08 and over the line before, 0.0. Of the 46 745 codes given rightly on 188 draws none
/// was under 0.03.
#[test]
fn a_prompt_whose_shared_words_barely_agree_on_the_fine_detail_gets_no_code() {
    let line_before = Tuning {
        shared_fine_min: 0.0,
        ..Tuning::default()
    };
    let library = library_b_heard();
    check_near_miss_on(
        &library,
        "seed1029b-0225-cu-prompt2-shared-fine.wav",
        line_before,
        2108,
    );
}
