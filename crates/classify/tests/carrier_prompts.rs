//! Connecting prompts in a carrier's own voice that once got a code on fresh draws
//! (`testdata/regress/`, copied from `make-testdata.sh --seed N` draws): each reuses the
//! words of an announcement of the same carrier. Every one must now give no code. Where a
//! prompt is still a near miss, the guard that stops it is turned off and the code it used
//! to get must come back, or the file tests nothing. Since vowels in the tone band's bins are
//! matched as speech, the two prompts of the first test and the seed 203 one no longer get
//! a code even with every guard off: they are kept as regressions only. The last test also
//! holds a call that is no carrier's prompt but the same guard's other case: an
//! announcement's words read by another voice.

mod common;

use common::{check_near_miss, classify_regress as classify};
use tonegate_classify::Tuning;

fn assert_no_code(name: &str) {
    let now = classify(name, Tuning::default());
    assert_eq!(now.code, None, "{name}: heard as {:?}", now.code);
}

/// China Unicom's "对不起，请稍候，您拨打的用户正在为您接通。Please hold." agreed with 2101/cu
/// and 2112/cu in their shared words and, window by window, a little after them; taken
/// together, the words outside the shared phrase do not agree.
#[test]
fn a_prompt_agreeing_only_around_shared_words_gets_no_code() {
    assert_no_code("seed66-0461-cu-prompt2.wav");
    assert_no_code("seed1234-0213-cu-prompt2.wav");
}

/// China Mobile's colour-ringback prompt ends "…请稍候。Please hold on.", as 2113/cm ends
/// "…please hold on."; what the prompt said just before does not agree with the words
/// before "please hold on" in 2113/cm. The seed 201 call also passed at 0.2 while the check
/// was recomputed as the run grew (0.18, then 0.23): it fails if a run's lowest agreement
/// is no longer kept.
///
/// Since the envelope fingerprint, a window must score 0.35 to count as good: that alone
/// stops the seed 201 prompt too, and so does weighing the run against every shared
/// alignment of 2113/cm rather than its 24 strongest (`Tuning::max_rivals`), so the check
/// turns all three off.
#[test]
fn a_prompt_ending_as_an_announcement_ends_gets_no_code() {
    let off = Tuning {
        context_min: 0.1,
        good: 0.3,
        max_rivals: 24,
        ..Tuning::default()
    };
    check_near_miss("seed201-0374-cm-prompt2.wav", off, 2113);
    assert_no_code("seed203-0219-cm-prompt2.wav");
}

/// Two runs whose words beyond the shared phrase agree with the reference window by window,
/// and at 0.45 taken together: the `distinct_agree` guard's 0.5 was what stopped them.
/// - China Mobile's colour-ringback prompt in its own voice ("您好，欢迎使用中国移动彩铃业务，
///   …请稍候。Please hold on.", looping) shares words with 2103/cm ("您好，网络忙，请稍后再拨。
///   Sorry, …").
/// - 2109/cu's words ("…您拨打的用户已关机…") read by another voice (espeak's f1 variant,
///   through GSM at 17 dB SNR) lined up with 2109/cm beyond its greeting.
///
/// Since the envelope fingerprint no single guard stops them any more (`other_voice.rs` and
/// `short_distinguishing_words.rs` show the new ones); they must give no code, and with every
/// guard off a code again (the seed 5150 prompt then gets 2113/cm, whose "please hold on"
/// it also says), or they are no near miss. The pace test (`other_voice_pace.rs`) stops the
/// other voice too (it reads 2109/cu's words at its own pace): off with the rest.
#[test]
fn words_beyond_the_shared_phrase_that_agree_only_loosely_give_no_code() {
    let off = Tuning {
        pace_max: f32::MAX,
        distinct_agree: -1.0,
        context_min: -2.0,
        rival_contrast: -1.0,
        contrast: -1.0,
        fine_base: -1.0,
        ..Tuning::default()
    };
    check_near_miss("seed5150-0180-cm-prompt2.wav", off, 2113);
    check_near_miss("seed203-0249-other-voice.wav", off, 2109);
}
