//! A looped announcement opens its next cycle with the greeting every carrier's
//! announcements share ("对不起，您拨打的用户…"): trackers of the other codes follow that
//! phrase as well as the right one does, and used to block a well-matched winner as rivals
//! until the call ended. A rival that has matched nothing beyond the phrase it follows is no
//! evidence for its code.

mod common;

use common::classify_regress;
use tonegate_classify::{Code, Tuning};

/// 2109/cu ("…已关机") after a SIT, through GSM at 22 dB SNR, looping (held-out seed 502):
/// its run scored 0.75 with 221 frames beyond the shared phrase, and it got no code while
/// another code's tracker followed the next cycle's greeting.
const FILE: &str = "seed502-0059-2109-cu-repeat.wav";

#[test]
fn a_rival_that_follows_only_the_shared_greeting_does_not_block_a_clear_match() {
    assert_eq!(
        classify_regress(FILE, Tuning::default()).code,
        Code::new(2109)
    );
}

#[test]
fn with_every_rival_blocking_the_same_call_gets_no_code() {
    // The rule before: any tracker of another code doing about as well blocks the winner.
    // Without this, the test above would show nothing.
    let strict = Tuning {
        rival_free_mean: 2.0,
        ..Tuning::default()
    };
    assert_eq!(classify_regress(FILE, strict).code, None);
}
