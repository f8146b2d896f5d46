//! The crate's single error type.

use crate::message::StatusCode;

/// Everything that can go wrong in `tonegate-sip`.
///
/// Parse errors know which SIP response they deserve
/// ([`Error::response_status`]); errors raised by the transaction user API
/// (unknown transaction, wrong state) have none.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes contain no start line at all (empty, or only CRLFs).
    #[error("empty message")]
    Empty,
    /// The header section is not terminated by an empty line.
    #[error("header section is not terminated by an empty line")]
    UnterminatedHeaders,
    /// The start line or header section is not valid UTF-8.
    #[error("header section is not valid UTF-8")]
    NotUtf8,
    /// The start line is neither a Request-Line nor a Status-Line.
    #[error("malformed start line")]
    BadStartLine,
    /// The start line names a SIP version other than 2.0.
    #[error("unsupported SIP version {version:?}")]
    UnsupportedVersion {
        /// The version token as received.
        version: String,
    },
    /// A header line has no colon or an invalid header name.
    #[error("malformed header line {line}")]
    MalformedHeaderLine {
        /// 1-based line number inside the message (the start line is line 1).
        line: usize,
    },
    /// A header every request or response must carry is absent (RFC 3261 §8.1.1).
    #[error("missing mandatory header {name}")]
    MissingHeader {
        /// Canonical header name.
        name: &'static str,
    },
    /// A header is present but its value does not follow its grammar.
    #[error("invalid {name} header: {reason}")]
    InvalidHeader {
        /// Canonical header name.
        name: &'static str,
        /// What was wrong, in a few words.
        reason: &'static str,
    },
    /// A URI could not be parsed.
    #[error("invalid URI {uri:?}")]
    InvalidUri {
        /// The URI text as received.
        uri: String,
    },
    /// The CSeq method differs from the Request-Line method (RFC 3261 §8.1.1.5).
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMethodMismatch {
        /// Method of the Request-Line.
        method: String,
        /// Method of the CSeq header.
        cseq: String,
    },
    /// The body is shorter than Content-Length announces (RFC 3261 §18.3).
    #[error("body has {available} bytes but Content-Length is {declared}")]
    Truncated {
        /// Content-Length value.
        declared: usize,
        /// Bytes actually present after the header section.
        available: usize,
    },
    /// A message (or a stream's buffered data) exceeds the configured limit.
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    MessageTooLarge {
        /// Size seen so far.
        size: usize,
        /// Configured maximum.
        limit: usize,
    },
    /// A stream-framed message lacks the Content-Length header (RFC 3261 §18.3).
    #[error("Content-Length is mandatory on stream transports")]
    MissingContentLength,
    /// Max-Forwards reached zero (RFC 3261 §16.3 step 3).
    #[error("too many hops")]
    TooManyHops,
    /// The request requires extensions we do not support (RFC 3261 §8.2.2.3).
    #[error("unsupported extensions {unsupported:?}")]
    BadExtension {
        /// Option tags of `Require` we do not support.
        unsupported: Vec<String>,
    },
    /// The request does not match any dialog or transaction (e.g. CANCEL, BYE).
    #[error("call or transaction does not exist")]
    CallDoesNotExist,
    /// The session description or its media type is not acceptable.
    #[error("not acceptable here: {reason}")]
    NotAcceptableHere {
        /// What was refused.
        reason: &'static str,
    },
    /// The transaction user referred to a transaction that does not exist.
    #[error("no such transaction")]
    UnknownTransaction,
    /// The operation is not allowed in the transaction's current state.
    #[error("operation not allowed in state {state}")]
    InvalidState {
        /// RFC name of the current state.
        state: &'static str,
    },
    /// The transaction user passed something the API cannot use.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What was wrong.
        reason: &'static str,
    },
}

impl Error {
    /// The response a server should send when a request fails with this
    /// error, or `None` if no response is appropriate (the error is not
    /// about a received request).
    ///
    /// Whether a response can actually be built (it needs a usable Via)
    /// is decided by [`crate::message::reject`].
    pub fn response_status(&self) -> Option<StatusCode> {
        match self {
            Self::Empty | Self::UnterminatedHeaders | Self::NotUtf8 | Self::BadStartLine => {
                Some(StatusCode::BAD_REQUEST)
            }
            Self::UnsupportedVersion { .. } => Some(StatusCode::VERSION_NOT_SUPPORTED),
            Self::MalformedHeaderLine { .. }
            | Self::MissingHeader { .. }
            | Self::InvalidHeader { .. }
            | Self::InvalidUri { .. }
            | Self::CSeqMethodMismatch { .. }
            | Self::Truncated { .. }
            | Self::MissingContentLength => Some(StatusCode::BAD_REQUEST),
            Self::MessageTooLarge { .. } => Some(StatusCode::MESSAGE_TOO_LARGE),
            Self::TooManyHops => Some(StatusCode::TOO_MANY_HOPS),
            Self::BadExtension { .. } => Some(StatusCode::BAD_EXTENSION),
            Self::CallDoesNotExist => Some(StatusCode::CALL_DOES_NOT_EXIST),
            Self::NotAcceptableHere { .. } => Some(StatusCode::NOT_ACCEPTABLE_HERE),
            Self::UnknownTransaction | Self::InvalidState { .. } | Self::InvalidArgument { .. } => {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_map_to_responses() {
        assert_eq!(
            Error::BadStartLine.response_status(),
            Some(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            Error::MissingHeader { name: "Call-ID" }
                .response_status()
                .map(|s| s.code()),
            Some(400)
        );
        assert_eq!(
            Error::TooManyHops.response_status().map(|s| s.code()),
            Some(483)
        );
        assert_eq!(
            Error::BadExtension {
                unsupported: vec!["foo".into()]
            }
            .response_status()
            .map(|s| s.code()),
            Some(420)
        );
        assert_eq!(
            Error::CallDoesNotExist.response_status().map(|s| s.code()),
            Some(481)
        );
        assert_eq!(
            Error::NotAcceptableHere { reason: "codec" }
                .response_status()
                .map(|s| s.code()),
            Some(488)
        );
        assert_eq!(
            Error::UnsupportedVersion {
                version: "SIP/3.0".into()
            }
            .response_status()
            .map(|s| s.code()),
            Some(505)
        );
        assert_eq!(Error::UnknownTransaction.response_status(), None);
    }
}
