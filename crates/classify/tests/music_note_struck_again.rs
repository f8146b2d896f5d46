//! Music that a colour-ringback plays is no call-progress tone, even where one of its notes
//! sits near 450 Hz on a beat as long as congestion's cadence: a note decays and is struck
//! again, a network's tone keeps its level. A tone's own echo changes its level by a step
//! of a few dB, and keeps its code.

mod common;

use common::Rng;
use tonegate_classify::{Classifier, Code, Library, SAMPLE_RATE};

const SR: f64 = SAMPLE_RATE as f64;

/// `cycles` bars of: a 440 Hz sound for one beat at 103 bpm (0.58 s, within congestion's
/// 0.7 s ± 20 %), then a beat of quiet. `struck`: the beat is a plucked note (with its
/// second harmonic) struck twice, decaying between the strokes; else a steady tone.
fn beats(struck: bool, cycles: usize, rng: &mut Rng) -> Vec<i16> {
    let beat = 60.0 / 103.0;
    let n = (2.0 * beat * SR) as usize * cycles;
    (0..n)
        .map(|i| {
            let t = i as f64 / SR;
            let in_bar = t % (2.0 * beat);
            let sound = if in_bar >= beat {
                0.0
            } else if struck {
                let since = in_bar % (beat / 2.0);
                let w = std::f64::consts::TAU * 440.0 * t;
                (w.sin() + 0.25 * (2.0 * w).sin()) * (-3.5 * since).exp()
            } else {
                (std::f64::consts::TAU * 440.0 * t).sin()
            };
            (sound * 9000.0 + rng.gauss() * 90.0).round() as i16
        })
        .collect()
}

#[test]
fn a_note_struck_again_on_the_beat_gives_no_code() {
    let mut rng = Rng(103);
    // The same beat held as a steady tone is congestion's cadence.
    let steady = Classifier::classify(Library::empty(), &beats(false, 5, &mut rng));
    assert_eq!(steady.code, Some(Code::NETWORK_BUSY), "{steady:?}");
    let music = Classifier::classify(Library::empty(), &beats(true, 5, &mut rng));
    assert_eq!(music.code, None, "{music:?}");
}

/// Congestion tone (0.7 s on, 0.7 s off) with an echo of itself `delay` seconds later at
/// half its amplitude, and white noise 17 dB below the tone.
fn congestion_with_echo(delay: f64, rng: &mut Rng) -> Vec<i16> {
    let direct = common::tone(&[(0.7, 0.7)], 1.0, 450.0, 0.0, 0.0, 8.0);
    let lag = (delay * SR) as usize;
    let mut x: Vec<i16> = (0..direct.len())
        .map(|i| {
            let echo = if i >= lag {
                0.5 * f64::from(direct[i - lag])
            } else {
                0.0
            };
            (f64::from(direct[i]) + echo).round() as i16
        })
        .collect();
    common::add_noise(&mut x, 17.0, rng);
    x
}

#[test]
fn congestion_tone_with_its_echo_keeps_its_code() {
    let mut rng = Rng(450);
    // 100 ms: the echo arrives in phase (+3.5 dB where it starts); 90 ms: against it (-6 dB).
    // (An echo much later lengthens each tone past congestion's 0.7 s + 20 %: tones are not
    // heard through echo, nor does the tones spec ask it.)
    for delay in [0.1, 0.09] {
        let d = Classifier::classify(Library::empty(), &congestion_with_echo(delay, &mut rng));
        assert_eq!(d.code, Some(Code::NETWORK_BUSY), "echo at {delay} s: {d:?}");
    }
}
