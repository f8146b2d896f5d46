//! An announcement's exact words read by another voice are not the recording: the matcher
//! follows the envelope fingerprint, which another voice reading the same words at about the
//! same pace matches nearly as well as the recording. Two tests tell the voice: its fine
//! detail (harmonics, formant edges) agrees far less (`Tuning::fine_base`, and over the words
//! beyond the shared phrases `Tuning::distinct_fine`), and its pitch
//! is another (`Tuning::pitch_max`: the median over the run of the two voices' frequency
//! ratio); at the same pitch, its pace may tell it (`other_voice_pace.rs`). Calls of
//! held-out draws (`testdata/regress/`) that got a code before the fine-detail test: each
//! must give no code, give the code again with both tests off (or the file tests nothing),
//! and give none with either test alone.

mod common;

use common::{check_near_miss, classify_regress, without_pitch};
use tonegate_classify::Tuning;

/// Both fine-detail tests off: the run's, and its distinguishing words' (which tells
/// another voice too).
fn fine_off() -> Tuning {
    Tuning {
        fine_base: -1.0,
        fine_slope: 0.0,
        distinct_fine: -1.0,
        ..Tuning::default()
    }
}

fn check(name: &str, mistaken_for: u16) {
    check_near_miss(name, without_pitch(fine_off()), mistaken_for);
    assert_eq!(
        classify_regress(name, without_pitch(Tuning::default())).code,
        None,
        "{name}: the fine detail alone tells the voice"
    );
    assert_eq!(
        classify_regress(name, fine_off()).code,
        None,
        "{name}: the pitch alone tells the voice"
    );
}

/// 2117/cm's words ("您好，您拨打的是外地号码，请加拨零…") in espeak's m5 variant, through G.711
/// A-law at 16 dB SNR with 7 % of packets lost: its fine detail agreed with 2117/cm at 0.13.
#[test]
fn another_voice_reading_a_china_mobile_announcement_gets_no_code() {
    check("seed44-0349-other-voice.wav", 2117);
}

/// 2103/cu's words ("对不起，网络忙，请稍后再拨…") in the same variant, at 25 dB SNR: 0.20.
#[test]
fn another_voice_reading_a_china_unicom_announcement_gets_no_code() {
    check("seed11-0025-other-voice.wav", 2103);
}
