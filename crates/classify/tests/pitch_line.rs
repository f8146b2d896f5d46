//! A run whose voice is 7 % from its reference's in pitch is not the recording. The pitch
//! test reads the median, over the run's frames voiced in both, of log2 of the ratio of the
//! two frequencies, in steps of 0.025 (1.7 %); a channel moves it only by its speed drift,
//! ±1.5 %, within one step. `Tuning::pitch_max` 0.09 refuses four steps (0.1, 7.2 %); the
//! line before, 0.1, let them pass. Two calls of held-out draws (`testdata/regress/`), each
//! heard as their library hears a call (every reference over a background), got a code at
//! 0.1: each must give none now, and the code again at 0.1, or it tests nothing. A run short
//! of distinguishing words (under 0.4 s) must be within two steps (`Tuning::short_pitch_max`,
//! 0.0625): a third call got a code three steps off.

mod common;

use common::{check_near_miss_on, library_b_heard, shipped_library};
use tonegate_classify::Tuning;

/// The line before, for every run: a run four steps off passed.
fn four_steps_pass() -> Tuning {
    Tuning {
        pitch_max: 0.1,
        short_pitch_max: 0.1,
        ..Tuning::default()
    }
}

/// Another voice (espeak's `f1`) reading 2107/cm's words ("…您拨打的电话已停机…"), through
/// AMR-NB at 18 dB SNR with 9.6 % of packets lost (seed 1037, voices A, call 21): every other
/// test passed it, and its pitch read 0.1.
#[test]
fn another_voice_four_pitch_steps_off_gets_no_code() {
    check_near_miss_on(
        &shipped_library(),
        "seed1037-0021-other-voice-pitch.wav",
        four_steps_pass(),
        2107,
    );
}

/// China Unicom's colour-ringback prompt "您拨打的用户已开通炫铃，请稍候…" in the carrier's own
/// voice (seed 961, voices B, call 373, pink noise at 14 dB SNR): beyond the shared "您拨打的"
/// its words followed 2117/cu's "…是外地号码…" well enough for the middle path, at another
/// intonation: its pitch read 0.1.
#[test]
fn a_carrier_prompt_at_another_pitch_gets_no_code() {
    let library = library_b_heard();
    check_near_miss_on(
        &library,
        "seed961b-0373-cu-prompt3-pitch.wav",
        four_steps_pass(),
        2117,
    );
}

/// The same prompt in the same voice on another draw (seed 960, voices B, call 416, babble at
/// 25 dB SNR, 8.1 % of packets lost): its words beyond "您拨打的" followed 2117/cu's on the
/// middle path (0.3-0.4 s of distinguishing words), with its pitch three steps off (0.075,
/// 5.3 %). A run that short must be within two steps (`Tuning::short_pitch_max`, 0.0625);
/// at the long runs' line, 0.09, it passed.
#[test]
fn a_short_run_three_pitch_steps_off_gets_no_code() {
    let library = library_b_heard();
    check_near_miss_on(
        &library,
        "seed960b-0416-cu-prompt3-short-pitch.wav",
        Tuning {
            short_pitch_max: 0.09,
            ..Tuning::default()
        },
        2117,
    );
}
