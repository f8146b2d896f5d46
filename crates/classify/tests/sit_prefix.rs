//! An announcement that a network plays right after its three-tone SIT, from some way into
//! the announcement, is heard in its first cycle: the SIT is not a sentence, and the check
//! that stops a prompt reusing a reference's words in another sentence (the call must agree
//! with the reference where both spoke just before the run) must not read the tones as the
//! call speaking other words.

mod common;

use std::sync::Arc;

use common::{parallel_map, read_audio, samples, shipped_library, sine, testdata, Rng};
use tonegate_classify::{Classifier, SAMPLE_RATE};

/// Root mean square of `pcm`'s 20 ms frames within 25 dB of the loudest.
fn active_rms(pcm: &[i16]) -> f64 {
    let frames: Vec<f64> = pcm
        .chunks_exact(160)
        .map(|f| f.iter().map(|&x| (x as f64).powi(2)).sum::<f64>() / 160.0)
        .collect();
    let max = frames.iter().copied().fold(0.0, f64::max);
    let active: Vec<f64> = frames.into_iter().filter(|&e| e >= max / 316.0).collect();
    (active.iter().sum::<f64>() / active.len() as f64).sqrt()
}

/// The SIT (913.8, 1370.6, 1776.7 Hz, 330 ms each, at the speech's level), then `reference`
/// from `from` (a share of its length) to its end, once; white noise 25 dB below the speech
/// throughout.
fn sit_call(reference: &[i16], from: f64, rng: &mut Rng) -> (Vec<i16>, usize) {
    let rms = active_rms(reference);
    let amplitude = (rms * std::f64::consts::SQRT_2) as f32;
    let mut call = Vec::new();
    for hz in [913.8, 1370.6, 1776.7] {
        call.extend(sine(SAMPLE_RATE, hz, amplitude, 0.33));
    }
    let onset = call.len();
    call.extend_from_slice(&reference[(reference.len() as f64 * from) as usize..]);
    call.resize(call.len() + samples(0.5), 0);
    let sigma = rms / 10f64.powf(25.0 / 20.0);
    for x in call.iter_mut() {
        *x = (*x as f64 + sigma * rng.gauss()).clamp(-32768.0, 32767.0) as i16;
    }
    (call, onset)
}

#[test]
fn an_announcement_right_after_its_sit_is_heard_in_its_first_cycle() {
    let lib = shipped_library();
    let coded: Vec<_> = lib
        .references()
        .iter()
        .filter(|r| r.code().is_some())
        .collect();
    let heard = parallel_map(&coded, |r| {
        let pcm = read_audio(&testdata().join("library").join(r.name()));
        let mut rng = Rng(pcm.len() as u64 ^ 0x5175);
        [0.15, 0.3].map(|from| {
            let (call, _) = sit_call(&pcm, from, &mut rng);
            let d = Classifier::classify(Arc::clone(&lib), &call);
            assert!(
                d.code.is_none() || d.code == r.code(),
                "{} from {from}: heard {:?}",
                r.name(),
                d.code
            );
            d.code == r.code()
        })
    });
    let total = heard.len() * 2;
    let right = heard.iter().flatten().filter(|&&h| h).count();
    eprintln!("announcements after a SIT heard: {right}/{total}");
    // Measured: 108 of 108 (62 when the tones counted as the call speaking).
    assert!(right * 10 >= total * 9, "only {right} of {total} heard");
}
