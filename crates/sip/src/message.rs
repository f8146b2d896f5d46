//! SIP messages: parsing, printing, header helpers and response builders.
//!
//! Our own types ([`Request`], [`Response`], [`SipMessage`], [`Headers`])
//! hold the start line, the header fields in their received order with
//! their raw values (so a B2BUA can pass unknown headers through untouched),
//! and the body as bytes. The `rsip` crate parses SIP URIs ([`SipUri`]);
//! it is hidden behind these types so the parser can be swapped later.
//!
//! rsip's whole-message tokenizer is deliberately not used: it rejects
//! extension methods, does not unfold continuation lines, does not accept
//! whitespace before the header colon, prints bodies through a lossy UTF-8
//! conversion and ignores Content-Length. The header section grammar here
//! is simple enough to split ourselves; the structured headers the
//! transaction layer depends on (Via, CSeq, From/To tags) get small
//! dedicated parsers because rsip 0.4 also fails on IPv6 `sent-by` hosts.

use std::fmt;
use std::str::FromStr;

use bytes::{BufMut, Bytes, BytesMut};

use crate::Error;

/// Compact header forms (RFC 3261 §7.3.3 and the registry of IANA SIP
/// header fields) and the full names we normalise them to.
pub const COMPACT_FORMS: &[(char, &str)] = &[
    ('a', "Accept-Contact"),
    ('b', "Referred-By"),
    ('c', "Content-Type"),
    ('d', "Request-Disposition"),
    ('e', "Content-Encoding"),
    ('f', "From"),
    ('i', "Call-ID"),
    ('j', "Reject-Contact"),
    ('k', "Supported"),
    ('l', "Content-Length"),
    ('m', "Contact"),
    ('o', "Event"),
    ('r', "Refer-To"),
    ('s', "Subject"),
    ('t', "To"),
    ('u', "Allow-Events"),
    ('v', "Via"),
    ('x', "Session-Expires"),
];

/// Expand a compact header name to its full form; other names are returned
/// unchanged.
pub fn expand_compact(name: &str) -> &str {
    let mut chars = name.chars();
    if let (Some(c), None) = (chars.next(), chars.next()) {
        let c = c.to_ascii_lowercase();
        if let Some((_, full)) = COMPACT_FORMS.iter().find(|(k, _)| *k == c) {
            return full;
        }
    }
    name
}

fn names_match(a: &str, b: &str) -> bool {
    expand_compact(a).eq_ignore_ascii_case(expand_compact(b))
}

/// RFC 3261 §25.1 `token` characters.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-.!%*_+`'~".contains(c)
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.chars().all(is_token_char)
}

// ---------------------------------------------------------------------------
// Method and status code
// ---------------------------------------------------------------------------

/// A SIP request method. Methods are case-sensitive (RFC 3261 §7.1).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// INVITE (RFC 3261)
    Invite,
    /// ACK (RFC 3261)
    Ack,
    /// BYE (RFC 3261)
    Bye,
    /// CANCEL (RFC 3261)
    Cancel,
    /// OPTIONS (RFC 3261)
    Options,
    /// REGISTER (RFC 3261)
    Register,
    /// INFO (RFC 6086)
    Info,
    /// UPDATE (RFC 3311)
    Update,
    /// PRACK (RFC 3262)
    Prack,
    /// SUBSCRIBE (RFC 6665)
    Subscribe,
    /// NOTIFY (RFC 6665)
    Notify,
    /// REFER (RFC 3515)
    Refer,
    /// MESSAGE (RFC 3428)
    Message,
    /// PUBLISH (RFC 3903)
    Publish,
    /// Any other token.
    Extension(String),
}

impl Method {
    /// The method as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Invite => "INVITE",
            Self::Ack => "ACK",
            Self::Bye => "BYE",
            Self::Cancel => "CANCEL",
            Self::Options => "OPTIONS",
            Self::Register => "REGISTER",
            Self::Info => "INFO",
            Self::Update => "UPDATE",
            Self::Prack => "PRACK",
            Self::Subscribe => "SUBSCRIBE",
            Self::Notify => "NOTIFY",
            Self::Refer => "REFER",
            Self::Message => "MESSAGE",
            Self::Publish => "PUBLISH",
            Self::Extension(s) => s,
        }
    }
}

impl FromStr for Method {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Ok(match s {
            "INVITE" => Self::Invite,
            "ACK" => Self::Ack,
            "BYE" => Self::Bye,
            "CANCEL" => Self::Cancel,
            "OPTIONS" => Self::Options,
            "REGISTER" => Self::Register,
            "INFO" => Self::Info,
            "UPDATE" => Self::Update,
            "PRACK" => Self::Prack,
            "SUBSCRIBE" => Self::Subscribe,
            "NOTIFY" => Self::Notify,
            "REFER" => Self::Refer,
            "MESSAGE" => Self::Message,
            "PUBLISH" => Self::Publish,
            other if is_token(other) => Self::Extension(other.to_owned()),
            _ => return Err(Error::BadStartLine),
        })
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIP status code, 100..=699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 100 Trying
    pub const TRYING: Self = Self(100);
    /// 180 Ringing
    pub const RINGING: Self = Self(180);
    /// 183 Session Progress
    pub const SESSION_PROGRESS: Self = Self(183);
    /// 200 OK
    pub const OK: Self = Self(200);
    /// 400 Bad Request
    pub const BAD_REQUEST: Self = Self(400);
    /// 403 Forbidden
    pub const FORBIDDEN: Self = Self(403);
    /// 404 Not Found
    pub const NOT_FOUND: Self = Self(404);
    /// 405 Method Not Allowed
    pub const METHOD_NOT_ALLOWED: Self = Self(405);
    /// 408 Request Timeout
    pub const REQUEST_TIMEOUT: Self = Self(408);
    /// 413 Request Entity Too Large
    pub const MESSAGE_TOO_LARGE: Self = Self(413);
    /// 415 Unsupported Media Type
    pub const UNSUPPORTED_MEDIA_TYPE: Self = Self(415);
    /// 420 Bad Extension
    pub const BAD_EXTENSION: Self = Self(420);
    /// 480 Temporarily Unavailable
    pub const TEMPORARILY_UNAVAILABLE: Self = Self(480);
    /// 481 Call/Transaction Does Not Exist
    pub const CALL_DOES_NOT_EXIST: Self = Self(481);
    /// 483 Too Many Hops
    pub const TOO_MANY_HOPS: Self = Self(483);
    /// 486 Busy Here
    pub const BUSY_HERE: Self = Self(486);
    /// 487 Request Terminated
    pub const REQUEST_TERMINATED: Self = Self(487);
    /// 488 Not Acceptable Here
    pub const NOT_ACCEPTABLE_HERE: Self = Self(488);
    /// 491 Request Pending (RFC 3261 §21.4.27).
    pub const REQUEST_PENDING: Self = Self(491);
    /// 500 Server Internal Error
    pub const SERVER_INTERNAL_ERROR: Self = Self(500);
    /// 501 Not Implemented
    pub const NOT_IMPLEMENTED: Self = Self(501);
    /// 503 Service Unavailable
    pub const SERVICE_UNAVAILABLE: Self = Self(503);
    /// 505 Version Not Supported
    pub const VERSION_NOT_SUPPORTED: Self = Self(505);

    /// A status code, if `code` is in 100..=699.
    pub fn new(code: u16) -> Option<Self> {
        (100..=699).contains(&code).then_some(Self(code))
    }

    /// The numeric code.
    pub fn code(self) -> u16 {
        self.0
    }

    /// 1xx
    pub fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 200..=699
    pub fn is_final(self) -> bool {
        self.0 >= 200
    }

    /// The RFC's reason phrase for well-known codes, else a class phrase.
    pub fn canonical_reason(self) -> &'static str {
        match self.0 {
            100 => "Trying",
            180 => "Ringing",
            181 => "Call Is Being Forwarded",
            182 => "Queued",
            183 => "Session Progress",
            200 => "OK",
            202 => "Accepted",
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            407 => "Proxy Authentication Required",
            408 => "Request Timeout",
            413 => "Request Entity Too Large",
            415 => "Unsupported Media Type",
            420 => "Bad Extension",
            480 => "Temporarily Unavailable",
            481 => "Call/Transaction Does Not Exist",
            483 => "Too Many Hops",
            486 => "Busy Here",
            487 => "Request Terminated",
            488 => "Not Acceptable Here",
            491 => "Request Pending",
            500 => "Server Internal Error",
            501 => "Not Implemented",
            503 => "Service Unavailable",
            504 => "Server Time-out",
            505 => "Version Not Supported",
            600 => "Busy Everywhere",
            603 => "Decline",
            c if c < 200 => "Provisional",
            c if c < 300 => "Success",
            c if c < 400 => "Redirection",
            c if c < 500 => "Client Error",
            c if c < 600 => "Server Error",
            _ => "Global Failure",
        }
    }
}

impl fmt::Display for StatusCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

// ---------------------------------------------------------------------------
// Headers
// ---------------------------------------------------------------------------

/// One header field, name and raw value (surrounding whitespace trimmed,
/// continuation lines unfolded into single spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Header name; compact forms are expanded at parse time.
    pub name: String,
    /// Raw value.
    pub value: String,
}

/// Header fields in wire order. Lookups are case-insensitive and
/// understand compact names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<Header>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Value of the first header called `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|h| names_match(&h.name, name))
            .map(|h| h.value.as_str())
    }

    /// Values of every header line called `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |h| names_match(&h.name, name))
            .map(|h| h.value.as_str())
    }

    /// Every comma-separated element of every header line called `name`
    /// (RFC 3261 §7.3.1: `Via: a, b` equals two Via lines).
    pub fn elements<'a>(&'a self, name: &'a str) -> Vec<&'a str> {
        self.get_all(name).flat_map(split_list).collect()
    }

    /// Whether a header called `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Append a header line.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push(Header {
            name: name.into(),
            value: value.into(),
        });
    }

    /// Insert a header above any existing header of the same name (or at
    /// the top); used for Via and Record-Route.
    pub fn push_front(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let at = self
            .0
            .iter()
            .position(|h| names_match(&h.name, &name))
            .unwrap_or(0);
        self.0.insert(
            at,
            Header {
                name,
                value: value.into(),
            },
        );
    }

    /// Replace every header called `name` by one with `value`, keeping the
    /// position of the first; append if absent.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.iter().position(|h| names_match(&h.name, &name)) {
            Some(i) => {
                self.0[i].value = value;
                let mut idx = 0;
                self.0.retain(|h| {
                    let keep = idx <= i || !names_match(&h.name, &name);
                    idx += 1;
                    keep
                });
            }
            None => self.push(name, value),
        }
    }

    /// Remove every header called `name`; returns how many were removed.
    pub fn remove(&mut self, name: &str) -> usize {
        let before = self.0.len();
        self.0.retain(|h| !names_match(&h.name, name));
        before - self.0.len()
    }

    /// Remove the first comma-separated element of the first header called
    /// `name` (the whole line if it has one element). Returns the element.
    pub fn remove_first_element(&mut self, name: &str) -> Option<String> {
        let i = self.0.iter().position(|h| names_match(&h.name, name))?;
        let parts = split_list(&self.0[i].value);
        let first = parts.first()?.to_string();
        if parts.len() <= 1 {
            self.0.remove(i);
        } else {
            self.0[i].value = parts[1..].join(", ");
        }
        Some(first)
    }

    /// All header fields in order.
    pub fn iter(&self) -> impl Iterator<Item = &Header> {
        self.0.iter()
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// No header lines.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Print every header; Content-Length is written once, with the real
    /// body length, in the position of the first one (or appended).
    fn write_to(&self, out: &mut BytesMut, body_len: usize) {
        let mut wrote_length = false;
        for h in &self.0 {
            let is_length = names_match(&h.name, "Content-Length");
            if is_length && wrote_length {
                continue;
            }
            out.put_slice(h.name.as_bytes());
            out.put_slice(b": ");
            if is_length {
                wrote_length = true;
                out.put_slice(body_len.to_string().as_bytes());
            } else {
                out.put_slice(h.value.as_bytes());
            }
            out.put_slice(b"\r\n");
        }
        if !wrote_length {
            out.put_slice(format!("Content-Length: {body_len}\r\n").as_bytes());
        }
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Split a header value at commas that are outside quoted strings and
/// angle brackets; elements are trimmed, empty ones dropped.
pub fn split_list(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut in_quotes = false;
    let mut escaped = false;
    let mut angle = 0u32;
    let mut start = 0;
    for (i, c) in value.char_indices() {
        if in_quotes {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            '<' => angle += 1,
            '>' => angle = angle.saturating_sub(1),
            ',' if angle == 0 => {
                let part = value[start..i].trim();
                if !part.is_empty() {
                    out.push(part);
                }
                start = i + 1;
            }
            _ => {}
        }
    }
    let part = value[start..].trim();
    if !part.is_empty() {
        out.push(part);
    }
    out
}

/// Generic parameters: `;name[=value]` pairs, values possibly quoted.
pub type Params = Vec<(String, Option<String>)>;

/// Parse `;a=b;c;d="x;y"` (leading whitespace allowed; must start with `;`
/// unless empty). Quoted values are returned without quotes.
fn parse_params(s: &str, header: &'static str) -> Result<Params, Error> {
    let bad = Error::InvalidHeader {
        name: header,
        reason: "malformed parameter",
    };
    let mut params = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        rest = rest
            .strip_prefix(';')
            .ok_or_else(|| bad.clone())?
            .trim_start();
        let name_end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
        let name = &rest[..name_end];
        if name.is_empty() {
            return Err(bad);
        }
        rest = rest[name_end..].trim_start();
        let value = if let Some(r) = rest.strip_prefix('=') {
            let r = r.trim_start();
            if let Some(q) = r.strip_prefix('"') {
                let (v, used) = unquote(q).ok_or_else(|| bad.clone())?;
                rest = q[used..].trim_start();
                Some(v)
            } else {
                // token, or host / IPv6 reference for received= / maddr=
                let end = r
                    .find(|c: char| !(is_token_char(c) || c == ':' || c == '[' || c == ']'))
                    .unwrap_or(r.len());
                if end == 0 {
                    return Err(bad);
                }
                rest = r[end..].trim_start();
                Some(r[..end].to_owned())
            }
        } else {
            None
        };
        params.push((name.to_owned(), value));
    }
    Ok(params)
}

/// Given the text after an opening quote, return the unescaped content and
/// the number of bytes consumed including the closing quote.
fn unquote(s: &str) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == '"' {
            return Some((out, i + 1));
        } else {
            out.push(c);
        }
    }
    None
}

fn write_params(f: &mut fmt::Formatter<'_>, params: &Params) -> fmt::Result {
    for (k, v) in params {
        match v {
            Some(v)
                if v.chars().all(|c| is_token_char(c) || ":[]".contains(c)) && !v.is_empty() =>
            {
                write!(f, ";{k}={v}")?
            }
            Some(v) => write!(
                f,
                ";{k}=\"{}\"",
                v.replace('\\', "\\\\").replace('"', "\\\"")
            )?,
            None => write!(f, ";{k}")?,
        }
    }
    Ok(())
}

fn find_param<'a>(params: &'a Params, name: &str) -> Option<&'a (String, Option<String>)> {
    params.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))
}

// ---------------------------------------------------------------------------
// Structured header values
// ---------------------------------------------------------------------------

/// One Via element (RFC 3261 §20.42).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Via {
    /// Transport token (`UDP`, `TCP`, `TLS`, ...), upper-cased.
    pub transport: String,
    /// sent-by host (IPv6 references keep their brackets).
    pub host: String,
    /// sent-by port, if given.
    pub port: Option<u16>,
    /// via-params in order.
    pub params: Params,
}

impl Via {
    /// Parse one Via element (not a comma-separated list).
    pub fn parse(s: &str) -> Result<Self, Error> {
        const NAME: &str = "Via";
        let bad = |reason| Error::InvalidHeader { name: NAME, reason };
        let s = s.trim();
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport
        let mut rest = s;
        let mut parts = Vec::with_capacity(3);
        for i in 0..3 {
            rest = rest.trim_start();
            let end = rest.find(|c: char| !is_token_char(c)).unwrap_or(rest.len());
            if end == 0 {
                return Err(bad("malformed sent-protocol"));
            }
            parts.push(&rest[..end]);
            rest = rest[end..].trim_start();
            if i < 2 {
                rest = rest
                    .strip_prefix('/')
                    .ok_or_else(|| bad("malformed sent-protocol"))?;
            }
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return Err(bad("unsupported protocol"));
        }
        let transport = parts[2].to_ascii_uppercase();
        rest = rest.trim_start();
        // sent-by = host [ COLON port ]
        let (host, after_host) = if let Some(r) = rest.strip_prefix('[') {
            let close = r
                .find(']')
                .ok_or_else(|| bad("unterminated IPv6 reference"))?;
            let inner = &r[..close];
            if inner.parse::<std::net::Ipv6Addr>().is_err() {
                return Err(bad("invalid IPv6 reference"));
            }
            (format!("[{inner}]"), &r[close + 1..])
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                .unwrap_or(rest.len());
            if end == 0 {
                return Err(bad("missing sent-by host"));
            }
            (rest[..end].to_owned(), &rest[end..])
        };
        let mut rest = after_host.trim_start();
        let port = if let Some(r) = rest.strip_prefix(':') {
            let r = r.trim_start();
            let end = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
            let port = r[..end].parse::<u16>().map_err(|_| bad("invalid port"))?;
            rest = &r[end..];
            Some(port)
        } else {
            None
        };
        let params = parse_params(rest, NAME)?;
        Ok(Self {
            transport,
            host,
            port,
            params,
        })
    }

    /// The `branch` parameter.
    pub fn branch(&self) -> Option<&str> {
        self.param("branch")
    }

    /// Value of parameter `name` (`None` also for value-less parameters).
    pub fn param(&self, name: &str) -> Option<&str> {
        find_param(&self.params, name).and_then(|(_, v)| v.as_deref())
    }

    /// Whether parameter `name` is present (with or without value).
    pub fn has_param(&self, name: &str) -> bool {
        find_param(&self.params, name).is_some()
    }

    /// `host[:port]`, lower-cased, for transaction matching.
    pub fn sent_by(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host.to_ascii_lowercase()),
            None => self.host.to_ascii_lowercase(),
        }
    }

    /// Whether the branch carries the RFC 3261 magic cookie (§8.1.1.7).
    pub fn is_rfc3261(&self) -> bool {
        self.branch()
            .is_some_and(|b| b.starts_with(crate::rng::BRANCH_MAGIC))
    }

    /// Set or replace a parameter.
    pub fn set_param(&mut self, name: &str, value: Option<String>) {
        match self
            .params
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
        {
            Some(p) => p.1 = value,
            None => self.params.push((name.to_owned(), value)),
        }
    }
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIP/2.0/{} {}", self.transport, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write_params(f, &self.params)
    }
}

/// A `name-addr` or `addr-spec` with header parameters: From, To, Contact,
/// Route, P-Asserted-Identity (RFC 3261 §20.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameAddr {
    /// Display name without quotes, if any.
    pub display_name: Option<String>,
    /// The URI text.
    pub uri: String,
    /// Header parameters (after the `>` or after an addr-spec).
    pub params: Params,
}

impl NameAddr {
    /// A bare `<uri>`.
    pub fn new(uri: impl Into<String>) -> Self {
        Self {
            display_name: None,
            uri: uri.into(),
            params: Vec::new(),
        }
    }

    /// Parse one element (not a comma-separated list). `header` names the
    /// header for error reporting.
    pub fn parse(s: &str, header: &'static str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidHeader {
            name: header,
            reason,
        };
        let s = s.trim();
        let (display_name, rest) = if let Some(q) = s.strip_prefix('"') {
            let (name, used) = unquote(q).ok_or_else(|| bad("unterminated display name"))?;
            let rest = q[used..].trim_start();
            if !rest.starts_with('<') {
                return Err(bad("display name without <uri>"));
            }
            (Some(name), rest)
        } else if let Some(lt) = s.find('<') {
            let name = s[..lt].trim();
            ((!name.is_empty()).then(|| name.to_owned()), &s[lt..])
        } else {
            (None, s)
        };
        let (uri, params_text) = if let Some(r) = rest.strip_prefix('<') {
            let gt = r.find('>').ok_or_else(|| bad("unterminated <uri>"))?;
            (r[..gt].trim(), &r[gt + 1..])
        } else {
            // addr-spec: parameters after the URI belong to the header.
            let end = rest.find(';').unwrap_or(rest.len());
            (rest[..end].trim(), &rest[end..])
        };
        if uri.is_empty()
            || !uri.contains(':')
            || uri.contains(|c: char| c.is_whitespace() || "<>\"".contains(c))
        {
            return Err(bad("invalid URI"));
        }
        Ok(Self {
            display_name,
            uri: uri.to_owned(),
            params: parse_params(params_text, header)?,
        })
    }

    /// The `tag` parameter.
    pub fn tag(&self) -> Option<&str> {
        find_param(&self.params, "tag").and_then(|(_, v)| v.as_deref())
    }

    /// Set (or replace) the `tag` parameter.
    pub fn set_tag(&mut self, tag: impl Into<String>) {
        let tag = tag.into();
        match self
            .params
            .iter_mut()
            .find(|(k, _)| k.eq_ignore_ascii_case("tag"))
        {
            Some(p) => p.1 = Some(tag),
            None => self.params.push(("tag".into(), Some(tag))),
        }
    }

    /// User part of the URI (`sip:`/`sips:` user, or a `tel:` number).
    pub fn user(&self) -> Option<String> {
        uri_user(&self.uri)
    }
}

impl fmt::Display for NameAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.display_name {
            write!(f, "\"{}\" ", d.replace('\\', "\\\\").replace('"', "\\\""))?;
        }
        write!(f, "<{}>", self.uri)?;
        write_params(f, &self.params)
    }
}

/// User part of a URI: the user of a `sip:`/`sips:` URI (via rsip), or the
/// number of a `tel:` URI (which rsip 0.4 mis-parses, so it is split here).
pub fn uri_user(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once(':')?;
    if scheme.eq_ignore_ascii_case("tel") {
        let number = rest.split(';').next().unwrap_or_default();
        return (!number.is_empty()).then(|| number.to_owned());
    }
    SipUri::parse(uri).ok()?.user
}

/// A parsed `sip:`/`sips:` URI (parsed by rsip).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipUri {
    /// `sips` scheme.
    pub secure: bool,
    /// User part, if any.
    pub user: Option<String>,
    /// Host (domain or IP address).
    pub host: String,
    /// Port, if given.
    pub port: Option<u16>,
    /// `transport` URI parameter, upper-cased.
    pub transport: Option<String>,
}

impl SipUri {
    /// Parse a `sip:` or `sips:` URI.
    ///
    /// rsip 0.4 limitations surface here as [`Error::InvalidUri`]: IPv6
    /// references and non-SIP schemes are rejected.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let invalid = || Error::InvalidUri { uri: s.to_owned() };
        let s_trim = s.trim();
        let lower = s_trim
            .get(..5)
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        if !(lower.starts_with("sip:") || lower.starts_with("sips:")) {
            return Err(invalid());
        }
        let uri = rsip::Uri::try_from(s_trim).map_err(|_| invalid())?;
        let secure = match &uri.scheme {
            Some(rsip::Scheme::Sip) => false,
            Some(rsip::Scheme::Sips) => true,
            _ => return Err(invalid()),
        };
        let host = uri.host_with_port.host.to_string();
        if host.is_empty() || host.contains(['?', '@', ' ']) {
            return Err(invalid());
        }
        let port = uri.host_with_port.port.as_ref().map(|p| *p.value());
        let transport = uri.transport().map(|t| t.to_string().to_ascii_uppercase());
        Ok(Self {
            secure,
            user: uri.user().map(str::to_owned),
            host,
            port,
            transport,
        })
    }

    /// `host[:port]`.
    pub fn host_port(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

/// CSeq header value (RFC 3261 §20.16).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CSeq {
    /// Sequence number (< 2^31).
    pub seq: u32,
    /// Method.
    pub method: Method,
}

impl CSeq {
    /// Parse `NUM METHOD`.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidHeader {
            name: "CSeq",
            reason,
        };
        let mut it = s.split_whitespace();
        let seq = it
            .next()
            .and_then(|n| {
                (n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| n.parse::<u32>().ok())
                    .flatten()
            })
            .filter(|n| *n < (1 << 31))
            .ok_or_else(|| bad("invalid sequence number"))?;
        let method = it
            .next()
            .ok_or_else(|| bad("missing method"))?
            .parse::<Method>()
            .map_err(|_| bad("invalid method"))?;
        if it.next().is_some() {
            return Err(bad("trailing data"));
        }
        Ok(Self { seq, method })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

/// One element of a Reason header (RFC 3326), e.g.
/// `Q.850;cause=16;text="Normal call clearing"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// Protocol token (`SIP`, `Q.850`, ...).
    pub protocol: String,
    /// `cause` parameter.
    pub cause: Option<u16>,
    /// `text` parameter, unquoted.
    pub text: Option<String>,
}

impl Reason {
    /// Parse a whole Reason header value (a comma-separated list).
    pub fn parse_list(value: &str) -> Result<Vec<Self>, Error> {
        split_list(value).into_iter().map(Self::parse).collect()
    }

    /// Parse one reason-value.
    pub fn parse(s: &str) -> Result<Self, Error> {
        let bad = |reason| Error::InvalidHeader {
            name: "Reason",
            reason,
        };
        let s = s.trim();
        let end = s.find(|c: char| !is_token_char(c)).unwrap_or(s.len());
        if end == 0 {
            return Err(bad("missing protocol"));
        }
        let params = parse_params(&s[end..], "Reason")?;
        let cause = match find_param(&params, "cause") {
            Some((_, Some(v))) => Some(v.parse::<u16>().map_err(|_| bad("invalid cause"))?),
            Some((_, None)) => return Err(bad("invalid cause")),
            None => None,
        };
        let text = find_param(&params, "text").and_then(|(_, v)| v.clone());
        Ok(Self {
            protocol: s[..end].to_owned(),
            cause,
            text,
        })
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.protocol)?;
        if let Some(c) = self.cause {
            write!(f, ";cause={c}")?;
        }
        if let Some(t) = &self.text {
            write!(
                f,
                ";text=\"{}\"",
                t.replace('\\', "\\\\").replace('"', "\\\"")
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

/// A SIP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Method of the Request-Line.
    pub method: Method,
    /// Request-URI as text.
    pub uri: String,
    /// Header fields.
    pub headers: Headers,
    /// Body bytes (exactly Content-Length of them once parsed).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Reason phrase.
    pub reason: String,
    /// Header fields.
    pub headers: Headers,
    /// Body bytes.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SipMessage {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

macro_rules! header_accessors {
    ($t:ty) => {
        impl $t {
            /// First value of header `name`.
            pub fn header(&self, name: &str) -> Option<&str> {
                self.headers.get(name)
            }

            /// Replace (or add) header `name`.
            pub fn set_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
                self.headers.set(name, value)
            }

            /// Append a header line.
            pub fn push_header(&mut self, name: impl Into<String>, value: impl Into<String>) {
                self.headers.push(name, value)
            }

            /// Remove every header `name`; returns how many were removed.
            pub fn remove_header(&mut self, name: &str) -> usize {
                self.headers.remove(name)
            }

            /// Call-ID (RFC 3261 §20.8).
            pub fn call_id(&self) -> Result<&str, Error> {
                self.headers
                    .get("Call-ID")
                    .filter(|v| !v.is_empty())
                    .ok_or(Error::MissingHeader { name: "Call-ID" })
            }

            /// CSeq (RFC 3261 §20.16).
            pub fn cseq(&self) -> Result<CSeq, Error> {
                CSeq::parse(
                    self.headers
                        .get("CSeq")
                        .ok_or(Error::MissingHeader { name: "CSeq" })?,
                )
            }

            /// The topmost Via element.
            pub fn top_via(&self) -> Result<Via, Error> {
                let first = self
                    .headers
                    .elements("Via")
                    .into_iter()
                    .next()
                    .ok_or(Error::MissingHeader { name: "Via" })?;
                Via::parse(first)
            }

            /// Branch of the topmost Via.
            pub fn top_branch(&self) -> Result<String, Error> {
                self.top_via()?
                    .branch()
                    .map(str::to_owned)
                    .ok_or(Error::InvalidHeader {
                        name: "Via",
                        reason: "missing branch",
                    })
            }

            /// From (RFC 3261 §20.20).
            pub fn from_header(&self) -> Result<NameAddr, Error> {
                NameAddr::parse(
                    self.headers
                        .get("From")
                        .ok_or(Error::MissingHeader { name: "From" })?,
                    "From",
                )
            }

            /// To (RFC 3261 §20.39).
            pub fn to_header(&self) -> Result<NameAddr, Error> {
                NameAddr::parse(
                    self.headers
                        .get("To")
                        .ok_or(Error::MissingHeader { name: "To" })?,
                    "To",
                )
            }

            /// From tag.
            pub fn from_tag(&self) -> Option<String> {
                self.from_header().ok()?.tag().map(str::to_owned)
            }

            /// To tag.
            pub fn to_tag(&self) -> Option<String> {
                self.to_header().ok()?.tag().map(str::to_owned)
            }

            /// Content-Length, if present.
            pub fn content_length(&self) -> Result<Option<usize>, Error> {
                parse_content_length(self.headers.get("Content-Length"))
            }

            /// Max-Forwards, if present (RFC 3261 §20.22).
            pub fn max_forwards(&self) -> Result<Option<u32>, Error> {
                self.headers
                    .get("Max-Forwards")
                    .map(|v| {
                        (v.len() <= 9 && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                            .then(|| v.parse::<u32>().ok())
                            .flatten()
                            .ok_or(Error::InvalidHeader {
                                name: "Max-Forwards",
                                reason: "not a number",
                            })
                    })
                    .transpose()
            }

            /// Every Reason element (RFC 3326); empty if absent.
            pub fn reasons(&self) -> Result<Vec<Reason>, Error> {
                let mut out = Vec::new();
                for v in self.headers.get_all("Reason") {
                    out.extend(Reason::parse_list(v)?);
                }
                Ok(out)
            }

            /// The body.
            pub fn body(&self) -> &Bytes {
                &self.body
            }

            /// Replace the body (Content-Length follows on printing) and
            /// set Content-Type, or remove it for an empty body.
            pub fn set_body(&mut self, content_type: Option<&str>, body: impl Into<Bytes>) {
                self.body = body.into();
                match content_type {
                    Some(ct) => self.headers.set("Content-Type", ct),
                    None => {
                        self.headers.remove("Content-Type");
                    }
                }
            }
        }
    };
}

header_accessors!(Request);
header_accessors!(Response);

fn parse_content_length(v: Option<&str>) -> Result<Option<usize>, Error> {
    v.map(|v| {
        (!v.is_empty() && v.len() <= 9 && v.bytes().all(|b| b.is_ascii_digit()))
            .then(|| v.parse::<usize>().ok())
            .flatten()
            .ok_or(Error::InvalidHeader {
                name: "Content-Length",
                reason: "not a number",
            })
    })
    .transpose()
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: impl Into<String>) -> Self {
        Self {
            method,
            uri: uri.into(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Builder: append a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Builder: set the body and Content-Type.
    pub fn with_body(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.set_body(Some(content_type), body);
        self
    }

    /// Print to wire format; Content-Length always equals the body length.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(512 + self.body.len());
        out.put_slice(format!("{} {} SIP/2.0\r\n", self.method, self.uri).as_bytes());
        self.headers.write_to(&mut out, self.body.len());
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }

    /// Build a response to this request (RFC 3261 §8.2.6.2): copies every
    /// Via, From, To, Call-ID and CSeq (and Timestamp for 100); adds
    /// `to_tag` to To when To has no tag and the status is not 100.
    pub fn response(&self, status: StatusCode, to_tag: Option<&str>) -> Response {
        let mut headers = Headers::new();
        for h in self.headers.iter() {
            if names_match(&h.name, "Via") {
                headers.push("Via", h.value.clone());
            }
        }
        if let Some(v) = self.headers.get("From") {
            headers.push("From", v);
        }
        if let Some(v) = self.headers.get("To") {
            let mut value = v.to_owned();
            if status != StatusCode::TRYING {
                if let (Some(tag), Ok(to)) = (to_tag, self.to_header()) {
                    if to.tag().is_none() {
                        value = format!("{v};tag={tag}");
                    }
                }
            }
            headers.push("To", value);
        }
        for name in ["Call-ID", "CSeq"] {
            if let Some(v) = self.headers.get(name) {
                headers.push(name, v);
            }
        }
        if status == StatusCode::TRYING {
            // §8.2.6.1: a 100 copies Timestamp.
            if let Some(v) = self.headers.get("Timestamp") {
                headers.push("Timestamp", v);
            }
        }
        Response {
            status,
            reason: status.canonical_reason().to_owned(),
            headers,
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// A response with no headers and the canonical reason phrase.
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            reason: status.canonical_reason().to_owned(),
            headers: Headers::new(),
            body: Bytes::new(),
        }
    }

    /// Builder: append a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push(name, value);
        self
    }

    /// Print to wire format; Content-Length always equals the body length.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(512 + self.body.len());
        out.put_slice(format!("SIP/2.0 {} {}\r\n", self.status, self.reason).as_bytes());
        self.headers.write_to(&mut out, self.body.len());
        out.put_slice(b"\r\n");
        out.put_slice(&self.body);
        out.freeze()
    }
}

impl SipMessage {
    /// Parse a complete message (one datagram, or one framed stream
    /// message). See [`parse`].
    pub fn parse(data: &[u8]) -> Result<Self, Error> {
        parse(data)
    }

    /// Print to wire format.
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Self::Request(r) => r.to_bytes(),
            Self::Response(r) => r.to_bytes(),
        }
    }

    /// Header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Self::Request(r) => &r.headers,
            Self::Response(r) => &r.headers,
        }
    }
}

impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

// ---------------------------------------------------------------------------
// Parsing
// ---------------------------------------------------------------------------

enum StartLine {
    Request { method: Method, uri: String },
    Response { status: StatusCode, reason: String },
}

struct RawMessage {
    start: StartLine,
    headers: Headers,
    body: Bytes,
}

/// Split start line, header section and body; unfold continuation lines and
/// normalise compact header names. No header semantics yet.
///
/// `lenient` (used only to answer a broken request) skips malformed header
/// lines and accepts any SIP version in a well-shaped Request-Line.
fn parse_raw(data: &[u8], lenient: bool) -> Result<RawMessage, Error> {
    // RFC 3261 §7.5: ignore CRLFs before the start line.
    let skip = data
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .ok_or(Error::Empty)?;
    let data = &data[skip..];

    // Find the empty line ending the header section (CRLF, tolerating LF).
    let mut lines: Vec<&[u8]> = Vec::new();
    let mut pos = 0;
    let body_start = loop {
        let nl = data[pos..]
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(Error::UnterminatedHeaders)?;
        let mut line = &data[pos..pos + nl];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        pos += nl + 1;
        if line.is_empty() {
            break pos;
        }
        lines.push(line);
    };

    let mut text_lines = Vec::with_capacity(lines.len());
    for l in lines {
        text_lines.push(std::str::from_utf8(l).map_err(|_| Error::NotUtf8)?);
    }
    let (first, header_lines) = text_lines.split_first().ok_or(Error::Empty)?;
    if first.contains(is_ctl) {
        return Err(Error::BadStartLine);
    }
    let start = match parse_start_line(first) {
        Err(Error::UnsupportedVersion { .. }) if lenient => {
            let mut parts = first.split(' ');
            match (parts.next(), parts.next()) {
                (Some(m), Some(uri)) if !first.starts_with("SIP/") => StartLine::Request {
                    method: m.parse()?,
                    uri: uri.to_owned(),
                },
                _ => return Err(Error::BadStartLine),
            }
        }
        other => other?,
    };

    let mut headers = Headers::new();
    for (idx, line) in header_lines.iter().enumerate() {
        // No control characters but HTAB anywhere in the header section
        // (RFC 3261 §25.1: CR and LF only end lines).
        if line.contains(is_ctl) {
            if lenient {
                continue;
            }
            return Err(Error::MalformedHeaderLine { line: idx + 2 });
        }
        if line.starts_with([' ', '\t']) {
            // RFC 3261 §7.3.1: a continuation line folds into the previous
            // header's value.
            let last = headers
                .0
                .last_mut()
                .ok_or(Error::MalformedHeaderLine { line: idx + 2 })?;
            let cont = line.trim();
            if !cont.is_empty() {
                if !last.value.is_empty() {
                    last.value.push(' ');
                }
                last.value.push_str(cont);
            }
            continue;
        }
        let Some(colon) = line.find(':') else {
            if lenient {
                continue;
            }
            return Err(Error::MalformedHeaderLine { line: idx + 2 });
        };
        // HCOLON allows whitespace before the colon.
        let name = line[..colon].trim_end_matches([' ', '\t']);
        if !is_token(name) {
            if lenient {
                continue;
            }
            return Err(Error::MalformedHeaderLine { line: idx + 2 });
        }
        headers.push(expand_compact(name), line[colon + 1..].trim());
    }
    Ok(RawMessage {
        start,
        headers,
        body: Bytes::copy_from_slice(&data[body_start..]),
    })
}

fn is_ctl(c: char) -> bool {
    (c.is_ascii_control() && c != '\t') || c == '\u{7f}'
}

fn parse_start_line(line: &str) -> Result<StartLine, Error> {
    if line
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("SIP/"))
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let mut it = line.splitn(3, ' ');
        let version = it.next().unwrap_or_default();
        if !version.eq_ignore_ascii_case("SIP/2.0") {
            return Err(Error::UnsupportedVersion {
                version: version.to_owned(),
            });
        }
        let code = it.next().ok_or(Error::BadStartLine)?;
        if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Error::BadStartLine);
        }
        let status = code
            .parse::<u16>()
            .ok()
            .and_then(StatusCode::new)
            .ok_or(Error::BadStartLine)?;
        let reason = it.next().unwrap_or_default().trim().to_owned();
        return Ok(StartLine::Response { status, reason });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let parts: Vec<&str> = line.split(' ').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.is_empty()) {
        return Err(Error::BadStartLine);
    }
    let method: Method = parts[0].parse()?;
    let uri = parts[1];
    let scheme_end = uri.find(':').ok_or(Error::InvalidUri { uri: uri.into() })?;
    if scheme_end == 0
        || !uri[..scheme_end]
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        || uri.len() == scheme_end + 1
        || uri.chars().any(|c| c.is_control())
    {
        return Err(Error::InvalidUri { uri: uri.into() });
    }
    if !parts[2].eq_ignore_ascii_case("SIP/2.0") {
        return Err(Error::UnsupportedVersion {
            version: parts[2].to_owned(),
        });
    }
    Ok(StartLine::Request {
        method,
        uri: uri.to_owned(),
    })
}

/// Parse one complete SIP message.
///
/// Validation (RFC 3261 §8.1.1 and §18.3): a parseable top Via with a
/// branch, From, To, Call-ID and CSeq must be present, the CSeq method
/// must equal a request's method, Max-Forwards and Content-Length must be
/// numbers, and the body must be at least Content-Length long (extra bytes
/// after it are discarded, as datagrams allow). Without Content-Length the
/// rest of the data is the body.
pub fn parse(data: &[u8]) -> Result<SipMessage, Error> {
    let raw = parse_raw(data, false)?;
    let RawMessage {
        start,
        headers,
        mut body,
    } = raw;
    let msg = match start {
        StartLine::Request { method, uri } => SipMessage::Request(Request {
            method,
            uri,
            headers,
            body: Bytes::new(),
        }),
        StartLine::Response { status, reason } => SipMessage::Response(Response {
            status,
            reason,
            headers,
            body: Bytes::new(),
        }),
    };
    let headers = msg.headers();
    // Via first: without it no response can be sent at all.
    let first_via = headers
        .elements("Via")
        .into_iter()
        .next()
        .ok_or(Error::MissingHeader { name: "Via" })?;
    Via::parse(first_via)?;
    for name in ["From", "To"] {
        let v = headers.get(name).ok_or(Error::MissingHeader {
            name: if name == "From" { "From" } else { "To" },
        })?;
        NameAddr::parse(v, if name == "From" { "From" } else { "To" })?;
    }
    if headers.get("Call-ID").map_or(true, str::is_empty) {
        return Err(Error::MissingHeader { name: "Call-ID" });
    }
    let cseq = CSeq::parse(
        headers
            .get("CSeq")
            .ok_or(Error::MissingHeader { name: "CSeq" })?,
    )?;
    let declared = parse_content_length(headers.get("Content-Length"))?;
    let mut msg = msg;
    match &mut msg {
        SipMessage::Request(r) => {
            if cseq.method != r.method {
                return Err(Error::CSeqMethodMismatch {
                    method: r.method.to_string(),
                    cseq: cseq.method.to_string(),
                });
            }
            r.max_forwards()?;
        }
        SipMessage::Response(_) => {}
    }
    if let Some(len) = declared {
        if body.len() < len {
            return Err(Error::Truncated {
                declared: len,
                available: body.len(),
            });
        }
        body.truncate(len);
    }
    match &mut msg {
        SipMessage::Request(r) => r.body = body,
        SipMessage::Response(r) => r.body = body,
    }
    Ok(msg)
}

/// The response a server should send for data that failed to parse with
/// `err`, or `None` when there must be no response: the data is a response,
/// the error deserves none, the top Via needed to route a response is
/// unusable, or the copied From, To, Call-ID and CSeq would not make a
/// well-formed response. `to_tag` is added to To when it has none.
pub fn reject(data: &[u8], err: &Error, to_tag: &str) -> Option<Response> {
    let status = err.response_status()?;
    let raw = parse_raw(data, true).ok()?;
    let StartLine::Request { .. } = raw.start else {
        return None;
    };
    let probe = Request {
        method: Method::Options,
        uri: String::new(),
        headers: raw.headers,
        body: Bytes::new(),
    };
    probe.top_via().ok()?;
    let mut resp = probe.response(status, Some(to_tag));
    if let Error::BadExtension { unsupported } = err {
        resp.headers.push("Unsupported", unsupported.join(", "));
    }
    if !matches!(err, Error::BadExtension { .. }) {
        // Tell the peer what was wrong in the reason phrase.
        resp.reason = format!("{} ({err})", status.canonical_reason())
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
    }
    // Only answer with a response that is itself well-formed (the copied
    // From/To/Call-ID/CSeq may be the broken part): a peer could not match
    // anything else to its request.
    parse(&resp.to_bytes()).is_ok().then_some(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const INVITE: &str = "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com>\r\n\
X-User-Data: opaque;stuff=1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\
\r\n\
v=0\n";

    fn req(s: &str) -> Request {
        match parse(s.as_bytes()).expect("parses") {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("expected request"),
        }
    }

    #[test]
    fn parses_invite_helpers() {
        let r = req(INVITE);
        assert_eq!(r.method, Method::Invite);
        assert_eq!(r.uri, "sip:bob@biloxi.example.com");
        assert_eq!(
            r.call_id().unwrap(),
            "a84b4c76e66710@pc33.atlanta.example.com"
        );
        assert_eq!(
            r.cseq().unwrap(),
            CSeq {
                seq: 314159,
                method: Method::Invite
            }
        );
        let via = r.top_via().unwrap();
        assert_eq!(via.branch(), Some("z9hG4bK776asdhds"));
        assert_eq!(via.sent_by(), "pc33.atlanta.example.com");
        assert_eq!(via.transport, "UDP");
        assert_eq!(r.from_tag().as_deref(), Some("1928301774"));
        assert_eq!(r.to_tag(), None);
        assert_eq!(r.max_forwards().unwrap(), Some(70));
        assert_eq!(r.content_length().unwrap(), Some(4));
        assert_eq!(&r.body[..], b"v=0\n");
        assert_eq!(r.header("x-user-data"), Some("opaque;stuff=1"));
        assert_eq!(
            r.from_header().unwrap().display_name.as_deref(),
            Some("Alice")
        );
        assert_eq!(r.to_header().unwrap().user().as_deref(), Some("bob"));
    }

    #[test]
    fn compact_forms_are_normalised() {
        let msg = "INVITE sip:bob@b.example SIP/2.0\r\n\
v: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKabc\r\n\
i: call-1\r\n\
f: <sip:a@a.example>;tag=x\r\n\
T: <sip:bob@b.example>\r\n\
m: <sip:a@10.0.0.1>\r\n\
c: application/sdp\r\n\
k: timer\r\n\
s: hello\r\n\
o: presence\r\n\
r: <sip:c@c.example>\r\n\
u: talk\r\n\
x: 1800\r\n\
e: gzip\r\n\
CSeq: 1 INVITE\r\n\
l: 2\r\n\
\r\n\
f:";
        let r = req(msg);
        assert_eq!(r.call_id().unwrap(), "call-1");
        assert_eq!(r.from_tag().as_deref(), Some("x"));
        assert_eq!(r.top_via().unwrap().sent_by(), "10.0.0.1:5060");
        for (name, value) in [
            ("Contact", "<sip:a@10.0.0.1>"),
            ("Content-Type", "application/sdp"),
            ("Supported", "timer"),
            ("Subject", "hello"),
            ("Event", "presence"),
            ("Refer-To", "<sip:c@c.example>"),
            ("Allow-Events", "talk"),
            ("Session-Expires", "1800"),
            ("Content-Encoding", "gzip"),
        ] {
            assert_eq!(r.header(name), Some(value), "{name}");
        }
        let names: Vec<&str> = r.headers.iter().map(|h| h.name.as_str()).collect();
        assert!(names.contains(&"Via") && names.contains(&"To"));
        assert!(!names.iter().any(|n| n.len() == 1), "{names:?}");
        // The body is never touched, even if it looks like a header.
        assert_eq!(&r.body[..], b"f:");
        // Printing uses full names and re-parses identically.
        let again = req(std::str::from_utf8(&r.to_bytes()).unwrap());
        assert_eq!(again, r);
    }

    #[test]
    fn folding_and_whitespace_before_colon() {
        let msg = "OPTIONS sip:x@y SIP/2.0\r\nVia : SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <sip:x@y>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: 2\r\n  OPTIONS\r\nSubject: a\r\n\tb\r\n\r\n";
        let r = req(msg);
        assert_eq!(r.cseq().unwrap().method, Method::Options);
        assert_eq!(r.header("Subject"), Some("a b"));
        assert!(r.body.is_empty());
    }

    #[test]
    fn ipv6_via_and_multiple_vias() {
        let msg = "BYE sip:x@y SIP/2.0\r\nVia: SIP/2.0/UDP [2001:db8::1]:5062;branch=z9hG4bKa;received=[2001:db8::9], SIP/2.0/UDP h2;branch=z9hG4bKb\r\nVia: SIP/2.0/TCP h3;branch=z9hG4bKc\r\nTo: <sip:x@y>;tag=2\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: 3 BYE\r\nContent-Length: 0\r\n\r\n";
        let r = req(msg);
        let v = r.top_via().unwrap();
        assert_eq!(v.sent_by(), "[2001:db8::1]:5062");
        assert_eq!(v.param("received"), Some("[2001:db8::9]"));
        assert_eq!(r.headers.elements("Via").len(), 3);
        let resp = r.response(StatusCode::OK, Some("t"));
        assert_eq!(resp.headers.elements("Via").len(), 3);
        assert_eq!(resp.to_tag().as_deref(), Some("2"), "existing To tag kept");
    }

    #[test]
    fn extension_method_and_tel_uri() {
        let msg = "FOO tel:+15551234 SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nTo: <tel:+15551234>\r\nFrom: <sip:a@b>;tag=1\r\nCall-ID: c\r\nCSeq: 1 FOO\r\n\r\n";
        let r = req(msg);
        assert_eq!(r.method, Method::Extension("FOO".into()));
        assert_eq!(r.to_header().unwrap().user().as_deref(), Some("+15551234"));
    }

    #[test]
    fn response_builder_copies_and_tags() {
        let r = req(INVITE);
        let resp = r.response(StatusCode::RINGING, Some("abc"));
        assert_eq!(resp.status.code(), 180);
        assert_eq!(resp.to_tag().as_deref(), Some("abc"));
        assert_eq!(resp.call_id().unwrap(), r.call_id().unwrap());
        assert_eq!(resp.cseq().unwrap(), r.cseq().unwrap());
        assert_eq!(resp.from_tag(), r.from_tag());
        assert_eq!(resp.top_branch().unwrap(), "z9hG4bK776asdhds");
        assert!(resp.header("Contact").is_none());
        let trying = r.response(StatusCode::TRYING, Some("abc"));
        assert_eq!(trying.to_tag(), None, "100 carries no To tag");
        let bytes = resp.to_bytes();
        let parsed = match parse(&bytes).unwrap() {
            SipMessage::Response(p) => p,
            SipMessage::Request(_) => panic!(),
        };
        assert_eq!(parsed, resp.clone().with_header("Content-Length", "0"));
    }

    #[test]
    fn header_get_set_remove() {
        let mut r = req(INVITE);
        r.set_header("x-user-data", "new");
        assert_eq!(r.header("X-User-Data"), Some("new"));
        r.push_header("Route", "<sip:p1>");
        r.push_header("Route", "<sip:p2>");
        assert_eq!(r.headers.get_all("route").count(), 2);
        r.set_header("Route", "<sip:p3>");
        assert_eq!(
            r.headers.get_all("Route").collect::<Vec<_>>(),
            vec!["<sip:p3>"]
        );
        assert_eq!(r.remove_header("route"), 1);
        assert_eq!(r.remove_header("route"), 0);
        r.headers
            .push_front("Via", "SIP/2.0/UDP gw;branch=z9hG4bKgw");
        assert_eq!(r.top_branch().unwrap(), "z9hG4bKgw");
        assert_eq!(
            r.headers.remove_first_element("Via").as_deref(),
            Some("SIP/2.0/UDP gw;branch=z9hG4bKgw")
        );
        assert_eq!(r.top_branch().unwrap(), "z9hG4bK776asdhds");
        // Compact lookup works too.
        assert_eq!(
            r.header("i"),
            Some("a84b4c76e66710@pc33.atlanta.example.com")
        );
    }

    #[test]
    fn reason_header() {
        let msg = INVITE.replacen(
            "Max-Forwards: 70\r\n",
            "Max-Forwards: 70\r\nReason: Q.850;cause=16;text=\"Normal call clearing\", SIP;cause=200;text=\"Call completed elsewhere\"\r\n",
            1,
        );
        let r = req(&msg);
        let reasons = r.reasons().unwrap();
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0].protocol, "Q.850");
        assert_eq!(reasons[0].cause, Some(16));
        assert_eq!(reasons[0].text.as_deref(), Some("Normal call clearing"));
        assert_eq!(reasons[1].cause, Some(200));
        assert_eq!(
            reasons[0].to_string(),
            "Q.850;cause=16;text=\"Normal call clearing\""
        );
        assert!(Reason::parse("Q.850;cause=abc").is_err());
    }

    #[test]
    fn content_length_rules() {
        // Longer body than Content-Length: truncated (datagram rule §18.3).
        let r = req(&INVITE.replace("v=0\n", "v=0\nEXTRA"));
        assert_eq!(&r.body[..], b"v=0\n");
        // Shorter: error mapping to 400.
        let err = parse(
            INVITE
                .replace("Content-Length: 4", "Content-Length: 40")
                .as_bytes(),
        )
        .unwrap_err();
        assert_eq!(
            err,
            Error::Truncated {
                declared: 40,
                available: 4
            }
        );
        assert_eq!(err.response_status(), Some(StatusCode::BAD_REQUEST));
        let err = parse(
            INVITE
                .replace("Content-Length: 4", "Content-Length: x")
                .as_bytes(),
        )
        .unwrap_err();
        assert!(matches!(
            err,
            Error::InvalidHeader {
                name: "Content-Length",
                ..
            }
        ));
    }

    #[test]
    fn binary_body_is_preserved() {
        let mut r = req(INVITE);
        let body: Vec<u8> = (0u8..=255).collect();
        r.set_body(Some("application/octet-stream"), body.clone());
        let again = match parse(&r.to_bytes()).unwrap() {
            SipMessage::Request(x) => x,
            SipMessage::Response(_) => panic!(),
        };
        assert_eq!(&again.body[..], &body[..]);
        assert_eq!(again.content_length().unwrap(), Some(256));
    }

    #[test]
    fn malformed_messages_map_to_400_or_nothing() {
        let cases: Vec<(String, Error)> = vec![
            (
                INVITE.replace("CSeq: 314159 INVITE", "CSeq: 314159 BYE"),
                Error::CSeqMethodMismatch {
                    method: "INVITE".into(),
                    cseq: "BYE".into(),
                },
            ),
            (
                INVITE.replace("Max-Forwards: 70", "Max-Forwards: many"),
                Error::InvalidHeader {
                    name: "Max-Forwards",
                    reason: "not a number",
                },
            ),
            (
                INVITE.replace("X-User-Data: opaque;stuff=1", "X User Data"),
                Error::MalformedHeaderLine { line: 9 },
            ),
            (
                INVITE.replace("SIP/2.0\r\nVia", "SIP/3.0\r\nVia"),
                Error::UnsupportedVersion {
                    version: "SIP/3.0".into(),
                },
            ),
        ];
        for (text, expected) in cases {
            let err = parse(text.as_bytes()).unwrap_err();
            assert_eq!(err, expected);
            let resp = reject(text.as_bytes(), &err, "t").expect("a response is possible");
            assert_eq!(Some(resp.status), expected.response_status());
            assert_eq!(resp.top_branch().unwrap(), "z9hG4bK776asdhds");
        }
        // Missing Call-ID: the error maps to 400, but a response without
        // Call-ID would be malformed itself, so none is sent.
        let text = INVITE.replace("Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n", "");
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(err, Error::MissingHeader { name: "Call-ID" });
        assert_eq!(err.response_status(), Some(StatusCode::BAD_REQUEST));
        assert!(reject(text.as_bytes(), &err, "t").is_none());
        // Control characters in a header value are malformed.
        let text = INVITE.replace("opaque;stuff=1", "opaque\0stuff");
        let err = parse(text.as_bytes()).unwrap_err();
        assert_eq!(err, Error::MalformedHeaderLine { line: 9 });
        assert_eq!(
            reject(text.as_bytes(), &err, "t").map(|r| r.status.code()),
            Some(400)
        );
        // Unusable Via: no response at all.
        let text = INVITE.replace("SIP/2.0/UDP pc33", "garbage pc33");
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::InvalidHeader { name: "Via", .. }));
        assert!(reject(text.as_bytes(), &err, "t").is_none());
        // A broken response is never answered.
        let text = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n";
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(reject(text.as_bytes(), &err, "t").is_none());
        assert_eq!(parse(b"\r\n\r\n").unwrap_err(), Error::Empty);
        assert_eq!(
            parse(b"INVITE sip:a@b SIP/2.0\r\nVia: x").unwrap_err(),
            Error::UnterminatedHeaders
        );
        assert_eq!(parse(b"\xff\xfe\r\n\r\n").unwrap_err(), Error::NotUtf8);
    }

    #[test]
    fn sip_uri_via_rsip() {
        let u = SipUri::parse("sip:+4930123@10.1.2.3:5080;transport=tcp").unwrap();
        assert_eq!(u.user.as_deref(), Some("+4930123"));
        assert_eq!(u.host, "10.1.2.3");
        assert_eq!(u.port, Some(5080));
        assert_eq!(u.transport.as_deref(), Some("TCP"));
        assert_eq!(u.host_port(), "10.1.2.3:5080");
        assert!(SipUri::parse("sips:carrier.example.net").unwrap().secure);
        assert!(matches!(
            SipUri::parse("tel:+1555"),
            Err(Error::InvalidUri { .. })
        ));
        assert!(matches!(
            SipUri::parse("http://x"),
            Err(Error::InvalidUri { .. })
        ));
    }

    #[test]
    fn name_addr_forms() {
        let n = NameAddr::parse("sip:carol@chicago.example.com;tag=abc", "From").unwrap();
        assert_eq!(n.uri, "sip:carol@chicago.example.com");
        assert_eq!(n.tag(), Some("abc"));
        let n = NameAddr::parse("Bob Smith <sip:bob@x;user=phone>;tag=t;foo", "To").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("Bob Smith"));
        assert_eq!(n.uri, "sip:bob@x;user=phone");
        assert_eq!(n.params.len(), 2);
        let mut n = NameAddr::parse("\"A \\\"q\\\" B\" <sip:a@b>", "From").unwrap();
        assert_eq!(n.display_name.as_deref(), Some("A \"q\" B"));
        n.set_tag("z");
        let printed = n.to_string();
        assert_eq!(NameAddr::parse(&printed, "From").unwrap(), n);
        assert!(NameAddr::parse("<sip:a@b", "From").is_err());
        assert!(NameAddr::parse("nothing", "From").is_err());
        // An addr-spec cannot hold angle brackets or quotes.
        assert!(NameAddr::parse("sip:bob@b.example>", "To").is_err());
        assert!(NameAddr::parse("<sip:bob@b<x>", "To").is_err());
    }
}
