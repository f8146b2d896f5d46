//! Broken input never panics the decoder: it is an error, or it decodes what is there.

mod common;

use common::{devset_rows, testdata, wav, wav_pcm16};
use proptest::prelude::*;
use tonegate_classify::{audio, Error};

/// A shipped library file (PCM 16-bit, 8 kHz) and its full decode.
fn library_wav() -> (Vec<u8>, Vec<i16>) {
    let bytes =
        std::fs::read(testdata().join("library/2114-empty-number/cm.wav")).expect("library wav");
    let full = audio::decode(&bytes, Some("wav")).expect("full decode");
    (bytes, full)
}

/// The first dev-set call (G.711 as sox writes it: 18-byte fmt, fact, data) and its full decode.
fn devset_wav() -> (Vec<u8>, Vec<i16>) {
    let row = &devset_rows()[0];
    let bytes = std::fs::read(testdata().join("devset").join(&row.file)).expect("dev-set wav");
    let full = audio::decode(&bytes, Some("wav")).expect("full decode");
    (bytes, full)
}

/// Offset of the first sample: just past the `data` chunk header.
fn data_offset(bytes: &[u8]) -> usize {
    bytes
        .windows(4)
        .position(|w| w == b"data")
        .expect("data chunk")
        + 8
}

/// What a decode of damaged bytes may return: an error, or a prefix of the full decode.
fn assert_prefix_or_err(got: &Result<Vec<i16>, Error>, full: &[i16], what: &str) {
    if let Ok(x) = got {
        assert!(
            !x.is_empty(),
            "{what}: Ok must carry samples (empty is Error::Empty)"
        );
        assert!(
            x.len() <= full.len(),
            "{what}: {} samples from a file of {}",
            x.len(),
            full.len()
        );
        assert_eq!(
            x.as_slice(),
            &full[..x.len()],
            "{what}: not a prefix of the full decode"
        );
    }
}

#[test]
fn zero_length_is_an_error() {
    assert!(audio::decode(&[], None).is_err());
    assert!(audio::decode(&[], Some("wav")).is_err());
    assert!(audio::decode(&[], Some("mp3")).is_err());
}

#[test]
fn garbage_is_an_error() {
    let text = b"this is not audio, just a sentence that goes on for a while ....".repeat(20);
    assert!(audio::decode(&text, Some("wav")).is_err());
    assert!(audio::decode(&text, None).is_err());
    let mut rng = common::Rng(7);
    let noise: Vec<u8> = (0..4096).map(|_| rng.next_u64() as u8).collect();
    assert!(audio::decode(&noise, Some("wav")).is_err());
}

#[test]
fn truncated_header_is_an_error() {
    let (bytes, _) = library_wav();
    // Inside RIFF, inside fmt, and just before the data chunk's size.
    for cut in [4, 12, 20, 30, 36, 40] {
        let r = audio::decode(&bytes[..cut], Some("wav"));
        assert!(
            r.is_err(),
            "cut at {cut}: got {} samples",
            r.map(|x| x.len()).unwrap_or(0)
        );
    }
    let (g711, _) = devset_wav();
    let data = data_offset(&g711);
    for cut in [8, 25, 40, data - 4] {
        assert!(
            audio::decode(&g711[..cut], Some("wav")).is_err(),
            "G.711 cut at {cut}"
        );
    }
}

#[test]
fn truncated_data_decodes_what_is_there() {
    for (what, (bytes, full)) in [("pcm16", library_wav()), ("g711", devset_wav())] {
        let data = data_offset(&bytes);
        let width = if what == "pcm16" { 2 } else { 1 };
        for fraction in [0.1, 0.5, 0.9] {
            let cut = data + ((bytes.len() - data) as f64 * fraction) as usize;
            let got = audio::decode(&bytes[..cut], Some("wav"));
            assert_prefix_or_err(&got, &full, &format!("{what} cut at {cut}"));
            let x =
                got.unwrap_or_else(|e| panic!("{what}: a file cut in its data must decode: {e}"));
            let there = (cut - data) / width;
            // The demuxer reads whole packets: at most one packet of the cut tail is lost.
            assert!(
                x.len() <= there && x.len() + 1152 >= there,
                "{what} cut at {fraction}: {} samples decoded of {there} present",
                x.len()
            );
        }
    }
}

#[test]
fn unsupported_codec_tag_is_an_error() {
    // IMA ADPCM (0x11), GSM 6.10 (0x31), MPEG (0x50), and a tag no one uses.
    let payload = vec![0x5Au8; 4000];
    for (tag, bits) in [(0x11u16, 4u16), (0x31, 0), (0x50, 0), (0x1234, 8)] {
        let bytes = wav(tag, 1, 8000, bits, true, &payload);
        let r = audio::decode(&bytes, Some("wav"));
        assert!(
            r.is_err(),
            "format tag {tag:#x} decoded to {} samples",
            r.map(|x| x.len()).unwrap_or(0)
        );
    }
}

#[test]
fn a_wav_with_sample_rate_zero_is_an_error() {
    // A header field no real file has, but a hostile or broken one can: the demuxer must not
    // be handed a zero time base.
    let body = vec![0xFFu8; 1600];
    for tag in [1u16, 6, 7] {
        let bits = if tag == 1 { 16 } else { 8 };
        let r = std::panic::catch_unwind(|| {
            audio::decode(&wav(tag, 1, 0, bits, tag != 1, &body), Some("wav"))
        });
        match r {
            Ok(r) => assert!(r.is_err(), "tag {tag}, rate 0: decoded"),
            Err(_) => panic!("tag {tag}, rate 0: audio::decode panicked"),
        }
    }
}

#[test]
fn mp3_garbage_never_panics() {
    let mut rng = common::Rng(2026);
    // An ID3 tag followed by noise; MPEG frame sync words followed by noise; sync words alone.
    let mut id3 = b"ID3\x04\x00\x00\x00\x00\x00\x10".to_vec();
    id3.extend((0..3000).map(|_| rng.next_u64() as u8));
    let mut synced = Vec::new();
    for _ in 0..40 {
        synced.extend([0xFF, 0xFB, 0x90, 0x64]);
        synced.extend((0..413).map(|_| rng.next_u64() as u8));
    }
    let syncs = [0xFFu8, 0xFB, 0x90, 0x64].repeat(500);
    for (what, bytes) in [
        ("id3+noise", id3),
        ("frames of noise", synced),
        ("sync words", syncs),
    ] {
        match audio::decode(&bytes, Some("mp3")) {
            Err(_) => {}
            // Noise in valid frames is still audio: at most 1152 samples per frame at 32+ kHz,
            // so well under a second here.
            Ok(x) => assert!(x.len() <= 8000, "{what}: {} samples", x.len()),
        }
    }
}

#[test]
fn a_pcm_wav_with_odd_sized_data_decodes_the_whole_samples() {
    let x = common::sine(8000, 450.0, 8000.0, 0.1);
    let mut bytes = wav_pcm16(1, 8000, &x);
    // Claim one byte more than there is: the half sample at the end is not audio.
    let d = data_offset(&bytes) - 4;
    let len = u32::from_le_bytes(bytes[d..d + 4].try_into().unwrap()) + 1;
    bytes[d..d + 4].copy_from_slice(&len.to_le_bytes());
    let got = audio::decode(&bytes, Some("wav"));
    assert_prefix_or_err(&got, &x, "odd data size");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), mp3 in any::<bool>()) {
        let _ = audio::decode(&bytes, Some(if mp3 { "mp3" } else { "wav" }));
        let _ = audio::decode(&bytes, None);
    }

    #[test]
    fn random_bytes_behind_a_wav_header_never_panic(
        tag in prop_oneof![Just(1u16), Just(3), Just(6), Just(7), any::<u16>()],
        channels in 0u16..4,
        // Rate 0 has its own test above (`a_wav_with_sample_rate_zero_is_an_error`).
        rate in prop_oneof![Just(8000u32), Just(16000), Just(1), 1u32..],
        bits in prop_oneof![Just(8u16), Just(16), Just(0), Just(24), any::<u16>()],
        body in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let _ = audio::decode(&wav(tag, channels, rate, bits, tag != 1, &body), Some("wav"));
    }

    #[test]
    fn truncations_of_a_real_wav_never_panic(fraction in 0.0f64..1.0) {
        let (bytes, full) = devset_wav();
        let cut = (bytes.len() as f64 * fraction) as usize;
        let got = audio::decode(&bytes[..cut], Some("wav"));
        assert_prefix_or_err(&got, &full, &format!("cut at {cut}"));
    }

    #[test]
    fn corrupted_bytes_of_a_real_wav_never_panic(flips in proptest::collection::vec((0usize..200, any::<u8>()), 1..8)) {
        // Damage the header and the first samples: tags, sizes and rates go wrong.
        let (mut bytes, _) = library_wav();
        bytes.truncate(4000);
        for (at, v) in flips {
            bytes[at] = v;
        }
        let _ = audio::decode(&bytes, Some("wav"));
    }
}
