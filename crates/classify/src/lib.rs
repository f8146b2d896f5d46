//! `tonegate-classify`: hears why an unanswered call failed.
//!
//! Pure DSP, sans-IO: bytes and samples in, decisions out; no files, sockets, threads or
//! clock. Time is counted in samples at 8 kHz.
//!
//! - [`audio::decode`] turns a WAV (PCM, G.711 μ-law/A-law) or MP3 file's bytes into 8 kHz
//!   samples.
//! - [`Reference`] fingerprints one recording of a known announcement; [`Library`] indexes a
//!   set of them.
//! - [`Classifier`] is one call's stream: 20 ms frames in, at most one committed
//!   [`Decision`] (code, label, confidence, sample) out, never changed once made.
//!
//! ```
//! use std::sync::Arc;
//! use tonegate_classify::{Classifier, Code, Label, Library};
//!
//! // Busy tone: 450 Hz, 0.35 s on / 0.35 s off.
//! let busy: Vec<i16> = (0..8000 * 4)
//!     .map(|i| {
//!         let on = (i / 2800) % 2 == 0;
//!         let s = (i as f32 * 450.0 * std::f32::consts::TAU / 8000.0).sin();
//!         if on { (s * 8000.0) as i16 } else { 0 }
//!     })
//!     .collect();
//! let mut call = Classifier::new(Library::empty());
//! call.push_samples(&busy);
//! let d = call.finish();
//! assert_eq!(d.code, Some(Code::BUSY));
//! assert_eq!(d.label, Label::BusyTone);
//! ```

// DSP loops index several arrays by the same band or bin number; iterators would hide that.
#![allow(clippy::needless_range_loop)]

pub mod audio;
mod classifier;
mod codes;
mod error;
pub mod features;
pub mod g711;
mod library;
mod matcher;
pub mod tone;

pub use classifier::{Classifier, Decision};
pub use codes::{Code, Label, HEARD_CODES};
pub use error::{Error, Result};
pub use g711::Law;
pub use library::{code_of_folder, collect_jobs, is_no_code_folder, Library, Reference};
pub use matcher::{Match, Tuning};

/// The classifier's sample rate.
pub const SAMPLE_RATE: u32 = 8000;
/// Samples in one 20 ms frame.
pub const FRAME_SAMPLES: usize = 160;

/// Correlation of two references' fingerprints over a window (diagnostics; see
/// `examples/refcorr.rs`).
#[doc(hidden)]
pub fn debug_corr_window(a: &Reference, a0: i64, b: &Reference, b0: i64, len: i64) -> Option<f32> {
    library::corr_window(a, a0, b, b0, len)
}
