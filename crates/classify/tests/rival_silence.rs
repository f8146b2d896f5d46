//! The margin over rivals weighs the run's reference and each rival on the same frames of the
//! call: a frame that carries sound where a reference is silent, or has ended, disagrees with
//! it (`Tuning::rival_silence_disagrees`). Weighed only where each speaks, a rival that pauses
//! where the run's reference says its distinguishing words fits the call as well as the run's
//! does. A call of a held-out draw (`testdata/regress/`), on the shipped library.

mod common;

use common::check_near_hit;
use tonegate_classify::Tuning;

/// 2110/cm ("您好，您拨打的电话已停机保号。…") from its start, after two ringback cycles, cut
/// 3.3 s after its onset, through μ-law at 29 dB SNR with 8.9 % of packets lost and concealed
/// by zeros (`make-testdata.sh --seed 930`, call 226). 2107/cm says "您好，您拨打的电话已停机。"
/// and pauses where 2110/cm says "保号". Weighed only where each speaks, 2110/cm fitted the
/// call by 0.049 more than 2107/cm, under the 0.06 a run with 0.23 s of distinguishing words
/// needs, and the call ended without a code; weighed on the same frames, by 0.077.
#[test]
fn a_rival_silent_where_the_call_speaks_does_not_fit_it() {
    let each_where_it_speaks = Tuning {
        rival_silence_disagrees: false,
        ..Tuning::default()
    };
    check_near_hit(
        "seed930-0226-2110-cm-rival-pause.wav",
        each_where_it_speaks,
        2110,
    );
}
