//! The crate's single error type.

/// Everything that can go wrong in `tonegate-rtp`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A datagram is not an RTP version 2 packet.
    #[error("not an RTP packet: {reason}")]
    NotRtp {
        /// What rtp-rs said, in a few words.
        reason: &'static str,
    },
    /// A payload type the tap cannot decode (only PCMU and PCMA).
    #[error("payload type {pt} is not G.711")]
    UnsupportedCodec {
        /// RTP payload type.
        pt: u8,
    },
}

impl From<rtp_rs::RtpReaderError> for Error {
    fn from(e: rtp_rs::RtpReaderError) -> Self {
        use rtp_rs::RtpReaderError as E;
        let reason = match e {
            E::BufferTooShort(_) => "shorter than an RTP header",
            E::UnsupportedVersion(_) => "version is not 2",
            E::HeadersTruncated { .. } => "header truncated",
            E::PaddingLengthInvalid(_) => "invalid padding",
        };
        Self::NotRtp { reason }
    }
}
