//! The streaming contract of `Classifier`, over real dev-set calls: a committed decision never
//! changes; the call cut right where it was committed gives the same decision; frames of the
//! wrong length are refused; a code always comes with the sample it was decided at.

mod common;

use std::sync::Arc;

use common::{devset_audio, devset_rows, shipped_library, Row};
use tonegate_classify::{Classifier, Decision, Law, Library, FRAME_SAMPLES};

/// A handful of calls of every kind: the first eight announcements, two calls of each tone,
/// and the first six negatives.
fn calls() -> Vec<(Row, Vec<i16>)> {
    let rows = devset_rows();
    let mut picked = Vec::new();
    let take = |kind: &str, label: Option<&str>, n: usize| {
        rows.iter()
            .filter(|r| r.kind == kind && label.map_or(true, |l| r.label == l))
            .take(n)
            .cloned()
            .collect::<Vec<_>>()
    };
    picked.extend(take("announcement", None, 8));
    for l in ["busy_tone", "congestion_tone", "unobtainable_tone"] {
        picked.extend(take("tone", Some(l), 2));
    }
    picked.extend(take("negative", None, 6));
    picked
        .into_iter()
        .map(|r| {
            let pcm = devset_audio(&r);
            (r, pcm)
        })
        .collect()
}

/// Streams `pcm` frame by frame, checking after every frame that a committed decision stays
/// as it was. Returns the decision at commit (if any) and the end-of-stream decision.
fn stream_checked(lib: &Arc<Library>, pcm: &[i16], file: &str) -> (Option<Decision>, Decision) {
    let mut c = Classifier::new(Arc::clone(lib));
    let mut committed: Option<Decision> = None;
    for (i, f) in pcm.chunks_exact(FRAME_SAMPLES).enumerate() {
        let got = c.push_frame(f).expect("a 160-sample frame is accepted");
        match (committed, got) {
            (None, Some(d)) => {
                assert_eq!(
                    d.at_sample,
                    Some(c.position()),
                    "{file}: committed at another sample than the frame's end"
                );
                committed = Some(d);
            }
            (Some(_), Some(d)) => panic!("{file}: frame {i} committed a second decision {d:?}"),
            _ => {}
        }
        assert_eq!(
            c.decision(),
            committed,
            "{file}: decision() disagrees after frame {i}"
        );
    }
    (committed, c.finish())
}

#[test]
fn a_committed_decision_never_changes_and_cutting_there_gives_the_same() {
    let lib = shipped_library();
    let mut committed_calls = 0;
    for (row, pcm) in calls() {
        let (committed, end) = stream_checked(&lib, &pcm, &row.file);
        let Some(d) = committed else {
            assert_eq!(
                end.code, None,
                "{}: a code at the end with nothing committed",
                row.file
            );
            assert_eq!(end.at_sample, None, "{}", row.file);
            continue;
        };
        committed_calls += 1;
        assert_eq!(
            end, d,
            "{}: finish() differs from the committed decision",
            row.file
        );
        // The same file cut right after the sample it was decided at.
        let at = d.at_sample.expect("committed decisions carry their sample") as usize;
        assert!(
            at <= pcm.len(),
            "{}: decided at {at} of {} samples",
            row.file,
            pcm.len()
        );
        let cut = Classifier::classify(Arc::clone(&lib), &pcm[..at]);
        assert_eq!(
            cut.code,
            d.code,
            "{}: cut at {} ms",
            row.file,
            d.at_ms().unwrap_or(0)
        );
        assert_eq!(cut.label, d.label, "{}", row.file);
        assert_eq!(cut.at_sample, d.at_sample, "{}", row.file);
        // One frame earlier it had not decided yet.
        let mut early = Classifier::new(Arc::clone(&lib));
        early.push_samples(&pcm[..at - FRAME_SAMPLES]);
        assert_eq!(
            early.decision(),
            None,
            "{}: already decided a frame before at_sample",
            row.file
        );
    }
    // The contract must have been exercised, not skipped: most of these calls commit.
    assert!(
        committed_calls >= 6,
        "only {committed_calls} of the calls committed a decision"
    );
}

#[test]
fn g711_frames_stream_like_pcm_frames() {
    // push_g711 is decode + push_frame: same decisions as pushing the decoded samples.
    let lib = shipped_library();
    for (row, pcm) in calls().into_iter().take(6) {
        let bytes: Vec<u8> = pcm.iter().map(|&x| Law::Mu.encode(x)).collect();
        let decoded: Vec<i16> = bytes.iter().map(|&b| Law::Mu.decode(b)).collect();
        let mut a = Classifier::new(Arc::clone(&lib));
        for f in bytes.chunks_exact(FRAME_SAMPLES) {
            a.push_g711(Law::Mu, f).expect("160 bytes");
        }
        let b = Classifier::classify(Arc::clone(&lib), &decoded);
        assert_eq!(a.finish(), b, "{}", row.file);
    }
}

#[test]
fn frames_of_the_wrong_length_are_an_error() {
    let mut c = Classifier::new(Library::empty());
    for n in [0usize, 1, 80, 159, 161, 320] {
        assert!(
            c.push_frame(&vec![100i16; n]).is_err(),
            "{n} samples accepted"
        );
        assert!(
            c.push_g711(Law::Mu, &vec![0x55u8; n]).is_err(),
            "{n} G.711 bytes accepted"
        );
        assert!(
            c.push_g711(Law::A, &vec![0x55u8; n]).is_err(),
            "{n} A-law bytes accepted"
        );
    }
    // A refused frame is not counted, and the stream goes on.
    assert_eq!(c.position(), 0);
    assert!(c.push_frame(&[0i16; FRAME_SAMPLES]).is_ok());
    assert_eq!(c.position(), FRAME_SAMPLES as u64);
    assert!(c.push_frame(&[0i16; 100]).is_err());
    assert_eq!(c.position(), FRAME_SAMPLES as u64);
}

#[test]
fn after_finish_a_code_implies_the_sample_it_was_decided_at() {
    let lib = shipped_library();
    for (row, pcm) in calls() {
        // Whole call, and the first 3 s of it (a call hung up early).
        for len in [pcm.len(), pcm.len().min(24_000)] {
            let d = Classifier::classify(Arc::clone(&lib), &pcm[..len]);
            if d.code.is_some() {
                let at = d
                    .at_sample
                    .unwrap_or_else(|| panic!("{}: code without at_sample: {d:?}", row.file));
                assert!(at as usize <= len, "{}: decided at {at} of {len}", row.file);
                assert_eq!(d.at_ms(), Some(at / 8), "{}", row.file);
                assert!(
                    (0.0..=1.0).contains(&d.confidence),
                    "{}: confidence {}",
                    row.file,
                    d.confidence
                );
            }
        }
    }
}
