//! In a noisy call a run survives two missed windows in a row and ends on the third
//! (`Tuning::noisy_db`, `Tuning::noisy_fails`): there two windows that miss are mostly the
//! noise over quiet syllables, not words that part from the reference. A call of a held-out
//! draw (`testdata/regress/`), on voice set B's library as a call hears it (each reference
//! over its background, as `Library::load` builds it).

mod common;

use common::{check_streaming_hit_on, library_at, testdata};
use tonegate_classify::Tuning;

const CALL: &str = "seed959b-0402-2104-cm-noisy.wav";

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
    let library = library_at(&testdata().join("regress/library-b"));
    check_streaming_hit_on(&library, CALL, no_call_noisy, 2104);
}
