//! A run's distinct frames are those outside the one phrase shared with another code that
//! holds most of it; the next phrase of the run can be one that the same rival says too, at
//! the same alignment, and then nothing in the run tells the two codes apart
//! (`Tuning::each_distinct`). Calls of held-out draws (`testdata/regress/`).

mod common;

use common::{classify_regress_on, library_b};
use tonegate_classify::{Code, Tuning};

/// 2107/ct in voice set B ("对不起，您所拨的号码已停机。Sorry, the number you dialed is
/// suspended."; `make-testdata.sh --seed 920 --voices b`, call 199, through GSM with echo
/// and 7 % of packets lost), on that voice set's library (`testdata/regress/library-b/`;
/// which trackers a call's few slots hold depends on all of it). 2109/ct ("…已关机。Sorry, the number you dialed is
/// powered off.") followed it from the greeting into the English opening, which 2107/ct says
/// at the same alignment: without the test it is heard as 2109.
#[test]
fn words_another_code_says_in_the_same_order_decide_nothing() {
    let heard =
        |tuning| classify_regress_on(&library_b(), "seed920b-0199-2107-ct.wav", tuning).code;
    let now = heard(Tuning::default());
    assert!(now.is_none() || now == Code::new(2107), "heard as {now:?}");
    let without = Tuning {
        each_distinct: 0,
        ..Tuning::default()
    };
    assert_eq!(
        heard(without),
        Code::new(2109),
        "without the test it must be mistaken, or this tests nothing"
    );
}
