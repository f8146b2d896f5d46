//! The crate's one error type.

/// Everything that can go wrong in `tonegate-classify`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not an audio container we recognise (WAV, MP3).
    #[error("unrecognised audio format: {source}")]
    UnknownFormat {
        /// What the demuxer said.
        #[source]
        source: symphonia::core::errors::Error,
    },
    /// The container was recognised but its contents are broken or truncated.
    #[error("malformed audio: {source}")]
    Malformed {
        /// What the demuxer or decoder said.
        #[source]
        source: symphonia::core::errors::Error,
    },
    /// The container holds a codec we do not decode (e.g. ADPCM).
    #[error("unsupported codec in audio file: {codec}")]
    UnsupportedCodec {
        /// The codec's short name as the demuxer reports it.
        codec: String,
    },
    /// The file has no audio track, or its track lacks a sample rate.
    #[error("no usable audio track ({what})")]
    NoAudioTrack {
        /// Which part is missing.
        what: &'static str,
    },
    /// The decoder gave up on a header it could not make sense of.
    #[error("corrupt audio header ({what})")]
    Corrupt {
        /// What was wrong, as far as known.
        what: &'static str,
    },
    /// The audio decoded to no samples at all.
    #[error("audio file holds no samples")]
    Empty,
    /// A sample rate outside 1 kHz..=384 kHz.
    #[error("unsupported sample rate {rate} Hz")]
    SampleRate {
        /// The rate found in the file.
        rate: u32,
    },
    /// A frame handed to the classifier was not 20 ms long.
    #[error("frame of {got} samples, expected {expected}")]
    FrameLength {
        /// What was passed.
        got: usize,
        /// What the classifier takes (160 at 8 kHz).
        expected: usize,
    },
    /// A reference whose folder does not name a known hangupGcode.
    #[error("hangupGcode {code} is not one the classifier can hear")]
    UnknownCode {
        /// The code parsed from the folder name.
        code: u16,
    },
    /// A reference too short to fingerprint.
    #[error("reference {name} is too short ({ms} ms; at least {min_ms} ms of audio needed)")]
    ReferenceTooShort {
        /// The reference's name.
        name: String,
        /// Its length.
        ms: u64,
        /// The minimum.
        min_ms: u64,
    },
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
