//! Before it commits, a run is weighed against every shared alignment the library found for
//! its reference (`Tuning::max_rivals`), not only the strongest: each of a carrier's
//! announcements shares its greeting with every other one of the carrier's, one alignment
//! each, and those alone fill the first two dozen. A phrase shared at a weaker alignment
//! left out of the weighing let the run take the other code's words for its own.

mod common;

use common::classify_regress as classify;
use tonegate_classify::{Code, Tuning};

/// 2107/cm ("您好，您拨打的电话已停机。Sorry! The number you dialed has been suspended.") from
/// 4.2 s in, the middle of its English tail, after 2.9 s of silence, through A-law with white noise
/// at 10 dB SNR, cut after 2.1 s (`make-testdata.sh --seed 925`, call 429, drawn after the
/// round before's rules were final). 2106/cm ("…Sorry, the service of the number you dialed
/// has been paused.") says "number you dialed has been" 1.1 s later in its recording, and
/// a run of it there passed every test, its 0.4 s beyond the phrase ("paused" for
/// "suspended") agreeing at 0.58. Weighed against its 24 strongest alignments only, none
/// of them 2107/cm's at that phrase, it was 0.51 better than its best rival, and the call
/// got 2106.
#[test]
fn a_run_is_weighed_against_a_rival_at_a_weaker_shared_alignment() {
    let name = "seed925-0429-2107-cm-tail.wav";
    assert_eq!(
        classify(name, Tuning::default()).code,
        Code::new(2107),
        "{name}"
    );
    let strongest_24 = Tuning {
        max_rivals: 24,
        ..Tuning::default()
    };
    assert_eq!(
        classify(name, strongest_24).code,
        Code::new(2106),
        "{name}: weighed against the 24 strongest it must be mistaken, or this tests nothing"
    );
}
