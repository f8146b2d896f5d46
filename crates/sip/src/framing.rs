//! Content-Length framing for stream transports (TCP, TLS).
//!
//! RFC 3261 §18.3: on a stream, Content-Length is mandatory and delimits
//! the body. CRLFs between messages are keep-alives (RFC 5626 §3.5.1
//! double-CRLF ping / CRLF pong) and are skipped. A message larger than the
//! configured bound is an error, after which the connection should be
//! closed: the decoder stays failed.

use bytes::{Buf, Bytes, BytesMut};

use crate::Error;

/// Default upper bound for one message (headers and body).
pub const DEFAULT_MAX_MESSAGE: usize = 64 * 1024;

/// Incremental decoder: feed it whatever the socket returned, take complete
/// messages out.
#[derive(Debug)]
pub struct StreamDecoder {
    buf: BytesMut,
    max_message: usize,
    /// Bytes of `buf` already searched for the end of the header section.
    scanned: usize,
    /// Header length and total length of the message at the front, once known.
    pending: Option<usize>,
    failed: Option<Error>,
}

impl Default for StreamDecoder {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_MESSAGE)
    }
}

impl StreamDecoder {
    /// A decoder rejecting messages over `max_message` bytes.
    pub fn new(max_message: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_message,
            scanned: 0,
            pending: None,
            failed: None,
        }
    }

    /// Append received bytes.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more data is needed, or an
    /// error (which repeats on every later call).
    pub fn next_message(&mut self) -> Result<Option<Bytes>, Error> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let r = self.decode();
        if let Err(e) = &r {
            tracing::debug!(error = %e, "stream framing failed");
            self.failed = Some(e.clone());
            self.buf.clear();
        }
        r
    }

    fn decode(&mut self) -> Result<Option<Bytes>, Error> {
        if self.pending.is_none() {
            // Keep-alive CRLFs between messages.
            let skip = self
                .buf
                .iter()
                .position(|b| *b != b'\r' && *b != b'\n')
                .unwrap_or(self.buf.len());
            if skip > 0 {
                self.buf.advance(skip);
                self.scanned = self.scanned.saturating_sub(skip);
            }
            if self.buf.is_empty() {
                return Ok(None);
            }
            let Some(head_len) = self.find_header_end() else {
                if self.buf.len() > self.max_message {
                    return Err(Error::MessageTooLarge {
                        size: self.buf.len(),
                        limit: self.max_message,
                    });
                }
                return Ok(None);
            };
            let body_len = content_length(&self.buf[..head_len])?;
            let total = head_len.saturating_add(body_len);
            if total > self.max_message {
                return Err(Error::MessageTooLarge {
                    size: total,
                    limit: self.max_message,
                });
            }
            self.pending = Some(total);
        }
        let total = self.pending.unwrap_or_default();
        if self.buf.len() < total {
            return Ok(None);
        }
        self.pending = None;
        self.scanned = 0;
        Ok(Some(self.buf.split_to(total).freeze()))
    }

    /// Length of the header section including the empty line, if complete.
    fn find_header_end(&mut self) -> Option<usize> {
        let buf = &self.buf[..];
        let start = self.scanned.saturating_sub(3);
        let mut i = start;
        while i < buf.len() {
            if buf[i] == b'\n' {
                match (buf.get(i + 1), buf.get(i + 2)) {
                    (Some(b'\n'), _) => return Some(i + 2),
                    (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
                    (None, _) | (Some(b'\r'), None) => break,
                    _ => {}
                }
            }
            i += 1;
        }
        self.scanned = buf.len();
        None
    }
}

/// Content-Length from a header section (compact `l` included); missing or
/// malformed is an error on streams.
fn content_length(head: &[u8]) -> Result<usize, Error> {
    let text = std::str::from_utf8(head).map_err(|_| Error::NotUtf8)?;
    for line in text.split('\n').skip(1) {
        let line = line.trim_end_matches('\r');
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim_end();
        if name.eq_ignore_ascii_case("Content-Length") || name.eq_ignore_ascii_case("l") {
            let v = value.trim();
            return (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()))
                .then(|| v.parse::<usize>().ok())
                .flatten()
                .ok_or(Error::InvalidHeader {
                    name: "Content-Length",
                    reason: "not a number",
                });
        }
    }
    Err(Error::MissingContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &str = "OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 5\r\n\r\nhello";

    fn drain(d: &mut StreamDecoder) -> Vec<Bytes> {
        let mut out = Vec::new();
        while let Some(m) = d.next_message().unwrap() {
            out.push(m);
        }
        out
    }

    #[test]
    fn byte_by_byte() {
        let mut d = StreamDecoder::default();
        let mut got = Vec::new();
        for b in MSG.as_bytes() {
            d.feed(&[*b]);
            got.extend(drain(&mut d));
        }
        assert_eq!(got.len(), 1);
        assert_eq!(&got[0][..], MSG.as_bytes());
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn pipelined_with_keepalives() {
        let mut d = StreamDecoder::default();
        let data = format!("\r\n\r\n{MSG}\r\n{MSG}{}", &MSG[..20]);
        d.feed(data.as_bytes());
        let got = drain(&mut d);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| &m[..] == MSG.as_bytes()));
        d.feed(&MSG.as_bytes()[20..]);
        assert_eq!(drain(&mut d).len(), 1);
        // Every framed message parses.
        assert!(crate::message::parse(&got[0]).is_ok());
    }

    #[test]
    fn compact_length_and_no_body() {
        let m = MSG
            .replace("Content-Length: 5", "l : 0")
            .replace("hello", "");
        let mut d = StreamDecoder::default();
        d.feed(format!("{m}{m}").as_bytes());
        assert_eq!(drain(&mut d).len(), 2);
    }

    #[test]
    fn missing_content_length_is_an_error() {
        let m = MSG.replace("Content-Length: 5\r\n", "");
        let mut d = StreamDecoder::default();
        d.feed(m.as_bytes());
        assert_eq!(d.next_message(), Err(Error::MissingContentLength));
        // Sticky.
        d.feed(MSG.as_bytes());
        assert_eq!(d.next_message(), Err(Error::MissingContentLength));
    }

    #[test]
    fn size_bound() {
        let mut d = StreamDecoder::new(100);
        d.feed(MSG.as_bytes());
        assert!(matches!(
            d.next_message(),
            Err(Error::MessageTooLarge { limit: 100, .. })
        ));
        // Unterminated header section growing past the bound.
        let mut d = StreamDecoder::new(64);
        d.feed(&[b'A'; 65]);
        assert!(matches!(
            d.next_message(),
            Err(Error::MessageTooLarge { .. })
        ));
        // Announced body too large, detected before it arrives.
        let mut d = StreamDecoder::new(1000);
        d.feed(
            MSG.replace("Content-Length: 5", "Content-Length: 99999")
                .as_bytes(),
        );
        assert!(
            matches!(d.next_message(), Err(Error::MessageTooLarge { size, .. }) if size > 99999)
        );
    }
}
