//! WAV files the decoder must read exactly: G.711 μ-law (format tag 7) and A-law (tag 6)
//! written by hand, and PCM at another rate or with two channels.

mod common;

use common::{sine, wav, wav_pcm16};
use tonegate_classify::{audio, Classifier, Code, Label, Law, Library};

/// Every byte value once, then a 450 Hz tone encoded with `law`.
fn g711_payload(law: Law) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..=255u8).collect();
    bytes.extend(
        sine(8000, 450.0, 12000.0, 0.5)
            .into_iter()
            .map(|x| law.encode(x)),
    );
    bytes
}

/// What a G.711 decoder must produce, from the ITU-T G.711 tables, independently of the crate's
/// own table for the points checked here.
#[test]
fn g711_reference_points() {
    // μ-law: 0xFF and 0x7F are ±0, 0x80 / 0x00 the extremes (±32124).
    assert_eq!(Law::Mu.decode(0xFF), 0);
    assert_eq!(Law::Mu.decode(0x80), 32124);
    assert_eq!(Law::Mu.decode(0x00), -32124);
    // A-law (even bits inverted): 0xD5 / 0x55 are ±8, 0xAA / 0x2A the extremes (±32256).
    assert_eq!(Law::A.decode(0xD5), 8);
    assert_eq!(Law::A.decode(0x55), -8);
    assert_eq!(Law::A.decode(0xAA), 32256);
    assert_eq!(Law::A.decode(0x2A), -32256);
}

#[test]
fn mu_law_wav_decodes_to_the_g711_samples() {
    let payload = g711_payload(Law::Mu);
    let expected: Vec<i16> = payload.iter().map(|&b| Law::Mu.decode(b)).collect();
    // As sox writes it: an 18-byte fmt (cbSize = 0), then fact, then data.
    let got = audio::decode(&wav(7, 1, 8000, 8, true, &payload), Some("wav")).expect("μ-law WAV");
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
}

#[test]
fn a_law_wav_decodes_to_the_g711_samples() {
    let payload = g711_payload(Law::A);
    let expected: Vec<i16> = payload.iter().map(|&b| Law::A.decode(b)).collect();
    let got = audio::decode(&wav(6, 1, 8000, 8, true, &payload), Some("wav")).expect("A-law WAV");
    assert_eq!(got.len(), expected.len());
    assert_eq!(got, expected);
}

#[test]
fn g711_wav_with_a_16_byte_fmt_is_exact_or_a_clean_error() {
    // The pre-WAVEFORMATEX form (no cbSize, no fact). The demuxer currently refuses it
    // ("malformed fmt chunk"); if it ever reads it, the samples must be exact.
    for law in [Law::Mu, Law::A] {
        let tag = if law == Law::Mu { 7 } else { 6 };
        let payload = g711_payload(law);
        if let Ok(got) = audio::decode(&wav(tag, 1, 8000, 8, false, &payload), Some("wav")) {
            let expected: Vec<i16> = payload.iter().map(|&b| law.decode(b)).collect();
            assert_eq!(got, expected, "{law:?}");
        }
    }
}

#[test]
fn the_extension_hint_does_not_decide() {
    // Content decides: a μ-law WAV named .mp3, or with no name at all, is still read.
    let payload = g711_payload(Law::Mu);
    let bytes = wav(7, 1, 8000, 8, true, &payload);
    let a = audio::decode(&bytes, Some("mp3")).expect("hint mp3");
    let b = audio::decode(&bytes, None).expect("no hint");
    assert_eq!(a, b);
    assert_eq!(a.len(), payload.len());
}

fn zero_crossings(x: &[i16]) -> usize {
    x.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count()
}

fn rms(x: &[i16]) -> f64 {
    (x.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

#[test]
fn pcm_at_16_khz_is_resampled_to_8_khz() {
    for (rate, hz) in [
        (16000u32, 450.0f32),
        (16000, 1000.0),
        (11025, 450.0),
        (44100, 950.0),
    ] {
        let x = sine(rate, hz, 10000.0, 1.0);
        let got = audio::decode(&wav_pcm16(1, rate, &x), Some("wav")).expect("PCM WAV");
        assert!(
            (got.len() as i64 - 8000).abs() <= 2,
            "{rate} Hz: {} samples for 1 s",
            got.len()
        );
        // Over the middle half second: 2 crossings per period, level kept.
        let mid = &got[2000..6000];
        let zc = zero_crossings(mid) as f32;
        assert!(
            (zc - hz).abs() <= hz * 0.01 + 2.0,
            "{rate} Hz file, {hz} Hz tone: {zc} crossings in 0.5 s"
        );
        let level = rms(mid) / (10000.0 / 2f64.sqrt());
        assert!(
            (0.95..=1.05).contains(&level),
            "{rate} Hz file, {hz} Hz tone: level ratio {level:.3}"
        );
    }
}

#[test]
fn a_tone_above_4_khz_is_filtered_out_when_resampling() {
    // 5 kHz cannot exist at 8 kHz; an aliasing resampler would fold it to 3 kHz.
    let x = sine(16000, 5000.0, 10000.0, 1.0);
    let got = audio::decode(&wav_pcm16(1, 16000, &x), Some("wav")).expect("PCM WAV");
    let level = rms(&got[1000..7000]) / (10000.0 / 2f64.sqrt());
    assert!(
        level < 0.1,
        "5 kHz at 16 kHz leaked through at {level:.3} of its level"
    );
}

#[test]
fn stereo_pcm_keeps_the_first_channel() {
    let left = sine(8000, 450.0, 9000.0, 0.5);
    let right = sine(8000, 1300.0, 3000.0, 0.5);
    let inter: Vec<i16> = left
        .iter()
        .zip(&right)
        .flat_map(|(&l, &r)| [l, r])
        .collect();
    let got = audio::decode(&wav_pcm16(2, 8000, &inter), Some("wav")).expect("stereo WAV");
    assert_eq!(got, left);
}

#[test]
fn a_16_khz_stereo_busy_tone_is_still_busy() {
    // End to end: the resampled first channel of a stereo file through the classifier. A
    // little noise (about -50 dBFS) keeps the gaps from being digital silence, which the
    // classifier reads as concealed packet loss.
    let mut rng = common::Rng(16);
    let on_off = 16000 * 350 / 1000;
    let tone = sine(16000, 450.0, 8000.0, 5.0);
    let left: Vec<i16> = tone
        .iter()
        .enumerate()
        .map(|(i, &v)| if (i / on_off) % 2 == 0 { v } else { 0 } + (rng.gauss() * 100.0) as i16)
        .collect();
    let right = sine(16000, 1000.0, 8000.0, 5.0);
    let inter: Vec<i16> = left
        .iter()
        .zip(&right)
        .flat_map(|(&l, &r)| [l, r])
        .collect();
    let pcm = audio::decode(&wav_pcm16(2, 16000, &inter), Some("wav")).expect("WAV");
    let d = Classifier::classify(Library::empty(), &pcm);
    assert_eq!(d.code, Some(Code::BUSY), "{d:?}");
    assert_eq!(d.label, Label::BusyTone);
}
