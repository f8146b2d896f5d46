//! Audio in: WAV (PCM 16-bit, G.711 μ-law and A-law, others symphonia reads) and MP3, any
//! sample rate, first channel, resampled to 8 kHz.
//!
//! Pure: bytes in, samples out. Reading files is the caller's business.

use std::io::Cursor;

use dasp::interpolate::sinc::Sinc;
use dasp::{ring_buffer, Signal};
use symphonia::core::audio::SampleBuffer;
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

use crate::error::{Error, Result};
use crate::SAMPLE_RATE;

/// Upper bound on decoded length (one hour at 8 kHz), so a hostile header cannot exhaust memory.
const MAX_SECONDS: usize = 3600;

/// Decodes an audio file's bytes to 8 kHz mono i16.
///
/// `extension` (e.g. `"wav"`, `"mp3"`) is a hint for the probe; content decides.
pub fn decode(bytes: &[u8], extension: Option<&str>) -> Result<Vec<i16>> {
    // symphonia panics on a WAV declaring 0 Hz: refused here, before it, so that no panic
    // message reaches the process's standard error.
    if wav_declares_zero_rate(bytes) {
        return Err(Error::Corrupt {
            what: "the WAV header declares 0 Hz",
        });
    }
    // Any other impossible header it panics on: a bad file must be an error for its caller,
    // never a crash of the process.
    let decoded = std::panic::catch_unwind(|| decode_native(bytes, extension)).map_err(|_| {
        Error::Corrupt {
            what: "decoder rejected the header",
        }
    })?;
    let (samples, rate) = decoded?;
    if samples.is_empty() {
        return Err(Error::Empty);
    }
    if rate == SAMPLE_RATE {
        return Ok(samples.iter().map(|&x| to_i16(x)).collect());
    }
    Ok(resample(&samples, rate, SAMPLE_RATE)
        .into_iter()
        .map(to_i16)
        .collect())
}

/// Whether `bytes` are a RIFF WAVE file whose `fmt ` chunk gives a sample rate of 0. Only
/// that one field is read (symphonia reads the rest and says what else is wrong).
fn wav_declares_zero_rate(bytes: &[u8]) -> bool {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return false;
    }
    let mut at = 12usize;
    while let Some(header) = bytes.get(at..at + 8) {
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[..4] == b"fmt " {
            // The sample rate is the chunk's bytes 4..8 (after the format tag and channels).
            return bytes
                .get(at + 12..at + 16)
                .is_some_and(|rate| rate == [0, 0, 0, 0]);
        }
        // Chunks are padded to an even length.
        let Some(next) = at.checked_add(8 + size + (size & 1)) else {
            return false;
        };
        at = next;
    }
    false
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Decodes to f32 in [-1, 1] at the file's own rate, first channel only.
fn decode_native(bytes: &[u8], extension: Option<&str>) -> Result<(Vec<f32>, u32)> {
    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes.to_vec())),
        MediaSourceStreamOptions::default(),
    );
    let mut hint = Hint::new();
    if let Some(ext) = extension {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|source| Error::UnknownFormat { source })?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or(Error::NoAudioTrack { what: "no track" })?;
    let track_id = track.id;
    let rate = track.codec_params.sample_rate.ok_or(Error::NoAudioTrack {
        what: "no sample rate",
    })?;
    if !(1000..=384_000).contains(&rate) {
        return Err(Error::SampleRate { rate });
    }
    let codec = track.codec_params.codec;
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &DecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(_) => Error::UnsupportedCodec {
                codec: symphonia::default::get_codecs()
                    .get_codec(codec)
                    .map_or_else(|| format!("{codec:?}"), |d| d.short_name.to_string()),
            },
            source => Error::Malformed { source },
        })?;
    let limit = MAX_SECONDS * rate as usize;
    let mut out: Vec<f32> = Vec::new();
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // End of stream, or a file cut short: keep what decoded.
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(SymError::ResetRequired) => break,
            Err(source) => {
                if out.is_empty() {
                    return Err(Error::Malformed { source });
                }
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A corrupt MP3 frame: skip it, as players do.
            Err(SymError::DecodeError(_)) => continue,
            Err(source) => return Err(Error::Malformed { source }),
        };
        let spec = *decoded.spec();
        let channels = spec.channels.count().max(1);
        let needed = decoded.capacity() as u64;
        let sb = match &mut buf {
            Some(b) if b.capacity() as u64 >= needed * channels as u64 => b,
            _ => buf.insert(SampleBuffer::new(needed, spec)),
        };
        sb.copy_interleaved_ref(decoded);
        out.extend(sb.samples().iter().step_by(channels));
        if out.len() > limit {
            out.truncate(limit);
            break;
        }
    }
    Ok((out, rate))
}

/// Band-limited resampling with a windowed sinc (dasp). dasp's interpolator does not filter,
/// so a downsampling first goes through a low-pass at 45 % of the target rate.
fn resample(input: &[f32], from: u32, to: u32) -> Vec<f32> {
    let filtered;
    let input = if to < from {
        filtered = lowpass(input, 0.45 * to as f32 / from as f32);
        &filtered[..]
    } else {
        input
    };
    let ring = ring_buffer::Fixed::from([[0.0f32; 1]; 64]);
    let sinc = Sinc::new(ring);
    let source = dasp::signal::from_iter(input.iter().map(|&x| [x]));
    let n_out = (input.len() as u64 * to as u64 / from as u64) as usize;
    let converted = source.from_hz_to_hz(sinc, from as f64, to as f64);
    // The sinc filter delays its output by half its taps; skip that so times line up.
    let delay = 32usize * to as usize / from as usize;
    converted
        .take(n_out + delay)
        .skip(delay)
        .map(|[x]| x)
        .collect()
}

/// Linear-phase low-pass FIR (Blackman-windowed sinc, 129 taps), `cutoff` as a share of the
/// sample rate. Written here because it is a dozen lines; only used when loading files.
fn lowpass(input: &[f32], cutoff: f32) -> Vec<f32> {
    const TAPS: usize = 129;
    let half = (TAPS / 2) as isize;
    let mut h = [0.0f32; TAPS];
    for (i, x) in h.iter_mut().enumerate() {
        let n = i as isize - half;
        let sinc = if n == 0 {
            2.0 * cutoff
        } else {
            (std::f32::consts::TAU * cutoff * n as f32).sin() / (std::f32::consts::PI * n as f32)
        };
        let w = 0.42 - 0.5 * (std::f32::consts::TAU * i as f32 / (TAPS - 1) as f32).cos()
            + 0.08 * (2.0 * std::f32::consts::TAU * i as f32 / (TAPS - 1) as f32).cos();
        *x = sinc * w;
    }
    let len = input.len() as isize;
    (0..len)
        .map(|t| {
            let mut acc = 0.0f32;
            for (k, &c) in h.iter().enumerate() {
                let j = t + half - k as isize;
                if j >= 0 && j < len {
                    acc += c * input[j as usize];
                }
            }
            acc
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wav_bytes(rate: u32, channels: u16, samples: &[i16]) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut cur = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut cur, spec).unwrap();
        for &s in samples {
            w.write_sample(s).unwrap();
        }
        w.finalize().unwrap();
        cur.into_inner()
    }

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<i16> {
        (0..(rate as f32 * secs) as usize)
            .map(|i| ((i as f32 * hz * std::f32::consts::TAU / rate as f32).sin() * 10000.0) as i16)
            .collect()
    }

    #[test]
    fn pcm16_at_8k_is_bit_exact() {
        let x = tone(8000, 450.0, 0.5);
        let got = decode(&wav_bytes(8000, 1, &x), Some("wav")).unwrap();
        assert_eq!(got, x);
    }

    #[test]
    fn stereo_takes_the_first_channel() {
        let left = tone(8000, 450.0, 0.2);
        let inter: Vec<i16> = left.iter().flat_map(|&l| [l, 1234]).collect();
        let got = decode(&wav_bytes(8000, 2, &inter), Some("wav")).unwrap();
        assert_eq!(got, left);
    }

    #[test]
    fn resamples_16k_to_8k_keeping_frequency_and_length() {
        let x = tone(16000, 450.0, 1.0);
        let got = decode(&wav_bytes(16000, 1, &x), Some("wav")).unwrap();
        assert!((got.len() as i64 - 8000).abs() <= 2, "len {}", got.len());
        // Zero crossings of a 450 Hz tone over the middle 0.5 s: 450.
        let mid = &got[2000..6000];
        let zc = mid.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        assert!((445..=455).contains(&zc), "zero crossings {zc}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not audio at all", Some("wav")).is_err());
        assert!(decode(&[], None).is_err());
        let mut riff = wav_bytes(8000, 1, &tone(8000, 450.0, 0.1));
        riff.truncate(30); // header cut inside the fmt chunk
        assert!(decode(&riff, Some("wav")).is_err());
    }

    #[test]
    fn a_wav_declaring_zero_hz_is_refused_before_the_decoder() {
        let mut riff = wav_bytes(8000, 1, &tone(8000, 450.0, 0.1));
        assert!(!wav_declares_zero_rate(&riff));
        // The fmt chunk follows the 12-byte RIFF header; its rate is at bytes 24..28.
        riff[24..28].copy_from_slice(&[0, 0, 0, 0]);
        assert!(wav_declares_zero_rate(&riff));
        let err = decode(&riff, Some("wav")).unwrap_err();
        assert!(
            matches!(err, Error::Corrupt { what } if what.contains("0 Hz")),
            "{err}"
        );
        // A chunk before the fmt chunk is walked over.
        let mut with_list = riff[..12].to_vec();
        with_list.extend_from_slice(b"LIST\x03\x00\x00\x00abc\x00");
        with_list.extend_from_slice(&riff[12..]);
        assert!(wav_declares_zero_rate(&with_list));
        // Sizes that run past the end, or past usize, end the walk without a finding.
        let mut huge = riff[..12].to_vec();
        huge.extend_from_slice(b"junk\xff\xff\xff\xff");
        assert!(!wav_declares_zero_rate(&huge));
        assert!(!wav_declares_zero_rate(b"RIFF\x00\x00\x00\x00WAVEfmt "));
    }
}
