//! A call holds a few trackers at once (one per reference and alignment it might be
//! following). Every announcement of a carrier opens with the same greeting, so the first
//! second fills the slots with a tracker per code, all at that alignment; the right code's
//! tracker must keep its slot, or win it back, when the greeting ends. A call of a held-out
//! draw (`testdata/regress/`).

mod common;

use common::classify_regress;
use tonegate_classify::{Code, Label, Tuning};

/// 2106/ct ("对不起，您所拨的号码已暂停服务。…"), from its start, cut after 2.7 s, through GSM
/// with echo and babble at 28 dB SNR (`make-testdata.sh --seed 926`, call 129). With eight
/// slots, 2106/ct's tracker scored 0.39 for a window as the greeting ended and was evicted
/// for another code's; every later start of it (0.62-0.77) scored under the weakest tracker
/// holding a slot (0.70-0.80, trackers of other codes still carried by the greeting), and
/// the call got no code.
#[test]
fn the_right_code_keeps_a_slot_past_the_shared_greeting() {
    let d = classify_regress("seed926-0129-2106-ct-slots.wav", Tuning::default());
    assert_eq!(d.code, Code::new(2106), "{d:?}");
    assert_eq!(d.label, Label::Announcement);
}
