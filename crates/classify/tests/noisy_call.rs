//! What a noisy call (`Tuning::noisy_db`) is allowed. A run survives two missed windows in a
//! row and ends on the third (`Tuning::noisy_fails`): there two windows that miss are mostly
//! the noise over quiet syllables, not words that part from the reference. And a run of
//! 1.5 s needs no context (`Tuning::noisy_context_waive`, 2 s in a clean call): there the
//! words just before a run agree poorly however they were said. Calls of held-out draws
//! (`testdata/regress/`), on voice set B's library as a call hears it (each reference over
//! its background, as `Library::load` builds it).

mod common;

use common::{check_streaming_hit_on, library_b_heard};
use tonegate_classify::Tuning;

const CALL: &str = "seed959b-0402-2104-cm-noisy.wav";
const CONTEXT_CALL: &str = "seed937b-0175-2109-cu-noisy-context.wav";

/// 2104/cm ("您好，您拨打的电话线路故障，请稍后再拨。…" in voice set B) from 2.65 s into its
/// cycle, the announcement cut after 3.1 s, at -26 dBFS through μ-law with white noise at
/// 11.1 dB SNR (`make-testdata.sh --seed 959 --voices b`, call 402). Its tracker followed
/// it for 0.73 s, through the words that tell 2104/cm apart; then two windows at 1.03 and
/// 1.12 s scored -0.02 and 0.12, and the run ended. The windows after agreed again
/// (0.44-0.92), but the run that began there held only words 2104/cm shares with other
/// codes' references, and the call got no code. Surviving the two, the run keeps the
/// distinguishing words and the call is heard at 2.3 s.
#[test]
fn a_run_in_a_noisy_call_survives_two_missed_windows() {
    let no_call_noisy = Tuning {
        noisy_db: 0.0,
        ..Tuning::default()
    };
    let library = library_b_heard();
    check_streaming_hit_on(&library, CALL, no_call_noisy, 2104);
}

/// 2109/cu ("…已关机" in voice set B) from 4.1 s into its cycle, after two rings of ringback
/// 5 dB louder, through AMR-NB 7.95k with echo and babble at 6.8 dB SNR, cut after 3.5 s
/// (`make-testdata.sh --seed 937 --voices b`, call 175). The words before its run, the
/// announcement's own under the babble, agree with the reference at 0.08 (the test needs
/// 0.3); its run passes every other test at 1.66 s, 1.79 s after the onset, and the
/// announcement ends before the run reaches the 2 s that waives the test in a clean call.
#[test]
fn a_long_run_in_a_noisy_call_needs_no_context() {
    let as_in_a_clean_call = Tuning {
        noisy_context_waive: Tuning::default().context_waive,
        ..Tuning::default()
    };
    let library = library_b_heard();
    check_streaming_hit_on(&library, CONTEXT_CALL, as_in_a_clean_call, 2109);
}
