//! Per-call state stays within 64 KiB, whatever the call holds: it is allocated once, at the
//! classifier's creation, and does not grow while frames stream through it.

mod common;

use common::{devset_audio, devset_rows, shipped_library};
use tonegate_classify::Classifier;

const LIMIT: usize = 64 * 1024;

#[test]
fn a_classifier_holds_at_most_64_kib_and_never_grows() {
    let lib = shipped_library();
    let rows = devset_rows();
    // Long calls of each kind: they spawn the most trackers.
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.kind == "announcement").take(12) {
        let pcm = devset_audio(row);
        let mut c = Classifier::new(lib.clone());
        let at_start = c.state_bytes();
        assert!(at_start <= LIMIT, "{at_start} bytes at start");
        let mut most = at_start;
        for frame in pcm.chunks_exact(tonegate_classify::FRAME_SAMPLES) {
            c.push_frame(frame).unwrap();
            most = most.max(c.state_bytes());
        }
        assert_eq!(most, at_start, "{}: state grew while streaming", row.file);
        checked += 1;
    }
    assert_eq!(checked, 12);
}
