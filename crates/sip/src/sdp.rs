//! SDP (RFC 8866) as far as media anchoring needs it: read where a party
//! wants its audio sent and with which payload types, and rewrite a body so
//! that the audio comes to the gateway instead.
//!
//! Written by hand rather than with an SDP crate on purpose: the rewrite
//! must keep every line it does not own byte for byte (codecs, fmtp,
//! ptime, direction, unknown attributes, their order), and a parse into a
//! model and a print back out does not promise that. Only `o=`, `c=`,
//! `m=` ports, `a=rtcp` and ICE candidates are touched.

use std::net::{IpAddr, SocketAddr};

use crate::Error;

/// One payload type of an `m=audio` line with its `a=rtpmap` (static
/// types 0 and 8 are known without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Codec {
    /// RTP payload type.
    pub pt: u8,
    /// Encoding name as written (`PCMU`, `telephone-event`...).
    pub name: String,
    /// Clock rate in Hz.
    pub rate: u32,
}

/// What an SDP says about its first audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioMedia {
    /// Where RTP is to be sent; `None` for a rejected stream (port 0) or a
    /// hold with the unspecified address (`c=IN IP4 0.0.0.0`).
    pub rtp: Option<SocketAddr>,
    /// Where RTCP is to be sent (`a=rtcp`, else the RTP port + 1; the RTP
    /// address itself with `a=rtcp-mux`).
    pub rtcp: Option<SocketAddr>,
    /// `a=rtcp-mux` is present (RFC 5761).
    pub rtcp_mux: bool,
    /// Payload types in the `m=` line's order.
    pub codecs: Vec<Codec>,
}

impl AudioMedia {
    /// The codec of a payload type, if the SDP listed it.
    pub fn codec(&self, pt: u8) -> Option<&Codec> {
        self.codecs.iter().find(|c| c.pt == pt)
    }
}

fn bad(reason: &'static str) -> Error {
    Error::NotAcceptableHere { reason }
}

/// Whether a Content-Type names SDP.
pub fn is_sdp(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/sdp"))
    })
}

fn lines(body: &str) -> impl Iterator<Item = &str> {
    body.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l))
}

/// `c=IN IP4 addr[/ttl]` → the address.
fn connection_addr(value: &str) -> Result<IpAddr, Error> {
    let mut it = value.split_whitespace();
    let (Some("IN"), Some(_), Some(addr)) = (it.next(), it.next(), it.next()) else {
        return Err(bad("malformed c= line"));
    };
    let addr = addr.split('/').next().unwrap_or(addr);
    addr.parse()
        .map_err(|_| bad("c= address is not an IP address"))
}

/// The first audio stream of an SDP body.
pub fn parse_audio(body: &[u8]) -> Result<AudioMedia, Error> {
    let text = std::str::from_utf8(body).map_err(|_| bad("SDP is not UTF-8"))?;
    let mut session_c: Option<IpAddr> = None;
    // Media section index, and whether it is the first audio one.
    let mut in_media = false;
    let mut in_audio = false;
    let mut found = false;
    let mut media_c: Option<IpAddr> = None;
    let mut port = 0u16;
    let mut pts: Vec<u8> = Vec::new();
    let mut rtpmaps: Vec<(u8, String, u32)> = Vec::new();
    let mut rtcp: Option<(u16, Option<IpAddr>)> = None;
    let mut rtcp_mux = false;
    for line in lines(text) {
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                if in_audio {
                    break;
                }
                in_media = true;
                let mut it = value.split_whitespace();
                let media = it.next().unwrap_or_default();
                if media == "audio" && !found {
                    found = true;
                    in_audio = true;
                    let p = it.next().ok_or_else(|| bad("m= line without port"))?;
                    port = p
                        .split('/')
                        .next()
                        .unwrap_or(p)
                        .parse()
                        .map_err(|_| bad("m= port is not a number"))?;
                    let _proto = it.next();
                    pts = it.filter_map(|f| f.parse().ok()).collect();
                }
            }
            "c" if !in_media => session_c = Some(connection_addr(value)?),
            "c" if in_audio => media_c = Some(connection_addr(value)?),
            "a" if in_audio => {
                if let Some(map) = value.strip_prefix("rtpmap:") {
                    let mut it = map.splitn(2, ' ');
                    let pt = it.next().and_then(|p| p.trim().parse().ok());
                    let enc = it.next().unwrap_or_default().trim();
                    let mut parts = enc.split('/');
                    let name = parts.next().unwrap_or_default().to_owned();
                    let rate = parts.next().and_then(|r| r.parse().ok()).unwrap_or(8000);
                    if let Some(pt) = pt {
                        rtpmaps.push((pt, name, rate));
                    }
                } else if let Some(v) = value.strip_prefix("rtcp:") {
                    let mut it = v.split_whitespace();
                    let p = it.next().and_then(|p| p.parse().ok());
                    let addr = match (it.next(), it.next(), it.next()) {
                        (Some("IN"), Some(_), Some(a)) => a.parse().ok(),
                        _ => None,
                    };
                    if let Some(p) = p {
                        rtcp = Some((p, addr));
                    }
                } else if value == "rtcp-mux" {
                    rtcp_mux = true;
                }
            }
            _ => {}
        }
    }
    if !found {
        return Err(bad("no audio stream"));
    }
    let addr = media_c
        .or(session_c)
        .ok_or_else(|| bad("no c= line for the audio stream"))?;
    let codecs = pts
        .iter()
        .map(|&pt| match rtpmaps.iter().find(|(p, _, _)| *p == pt) {
            Some((_, name, rate)) => Codec {
                pt,
                name: name.clone(),
                rate: *rate,
            },
            None => Codec {
                pt,
                name: static_name(pt).to_owned(),
                rate: 8000,
            },
        })
        .collect();
    let usable = port != 0 && !addr.is_unspecified();
    let rtp = usable.then(|| SocketAddr::new(addr, port));
    let rtcp = if !usable {
        None
    } else if rtcp_mux {
        rtp
    } else {
        match rtcp {
            Some((p, a)) => Some(SocketAddr::new(a.unwrap_or(addr), p)),
            None => port.checked_add(1).map(|p| SocketAddr::new(addr, p)),
        }
    };
    Ok(AudioMedia {
        rtp,
        rtcp,
        rtcp_mux,
        codecs,
    })
}

/// Names of the static payload types an `m=` line may use without rtpmap
/// (RFC 3551 table 4, audio).
fn static_name(pt: u8) -> &'static str {
    match pt {
        0 => "PCMU",
        3 => "GSM",
        4 => "G723",
        8 => "PCMA",
        9 => "G722",
        18 => "G729",
        _ => "",
    }
}

fn addr_type(ip: IpAddr) -> &'static str {
    if ip.is_ipv4() {
        "IP4"
    } else {
        "IP6"
    }
}

/// Rewrite an SDP body so that its first audio stream is received by the
/// gateway at `addr:port` (RTCP at `port + 1`, or on `port` with
/// `a=rtcp-mux`). Other media streams are disabled (port 0): only audio is
/// anchored. ICE candidates are removed (they would bypass the anchor).
/// A held stream (`0.0.0.0`) and a rejected one (port 0) stay so.
pub fn rewrite(body: &[u8], addr: IpAddr, port: u16) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(body).map_err(|_| bad("SDP is not UTF-8"))?;
    let eol = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let ours = format!("IN {} {addr}", addr_type(addr));
    let mut out = String::with_capacity(text.len() + 32);
    let mut in_media = false;
    let mut in_audio = false;
    let mut audio_done = false;
    let mut audio_found = false;
    let mut rejected = false;
    for line in lines(text) {
        if line.is_empty() {
            continue;
        }
        let Some((kind, value)) = line.split_once('=') else {
            return Err(bad("SDP line without '='"));
        };
        let mut new_line = None;
        match kind {
            "o" => {
                // o=<user> <sess-id> <version> IN IP4 <address>: hide theirs.
                let f: Vec<&str> = value.split_whitespace().collect();
                if f.len() == 6 {
                    new_line = Some(format!("o={} {} {} {ours}", f[0], f[1], f[2]));
                }
            }
            "m" => {
                if in_audio {
                    audio_done = true;
                }
                in_media = true;
                in_audio = false;
                let mut f: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
                if f.len() < 3 {
                    return Err(bad("malformed m= line"));
                }
                if f[0] == "audio" && !audio_done && !audio_found {
                    audio_found = true;
                    in_audio = true;
                    rejected = f[1].split('/').next() == Some("0");
                    if !rejected {
                        f[1] = port.to_string();
                    }
                } else {
                    f[1] = "0".to_owned();
                }
                new_line = Some(format!("m={}", f.join(" ")));
            }
            "c" => {
                let held = connection_addr(value)?.is_unspecified();
                if !held && (!in_media || in_audio) {
                    new_line = Some(format!("c={ours}"));
                }
            }
            "a" if in_audio && !rejected => {
                if value.starts_with("rtcp:") {
                    new_line = Some(format!("a=rtcp:{} {ours}", port.saturating_add(1)));
                } else if value.starts_with("candidate:")
                    || value == "end-of-candidates"
                    || value.starts_with("remote-candidates:")
                {
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(new_line.as_deref().unwrap_or(line));
        out.push_str(eol);
    }
    if !audio_found {
        return Err(bad("no audio stream"));
    }
    Ok(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OFFER: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\ns=-\r\n\
        c=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 101\r\n\
        a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";

    #[test]
    fn parses_the_audio_stream() {
        let m = parse_audio(OFFER.as_bytes()).unwrap();
        assert_eq!(m.rtp, Some("10.0.0.5:49170".parse().unwrap()));
        assert_eq!(m.rtcp, Some("10.0.0.5:49171".parse().unwrap()));
        assert!(!m.rtcp_mux);
        let names: Vec<_> = m.codecs.iter().map(|c| (c.pt, c.name.as_str())).collect();
        assert_eq!(names, [(0, "PCMU"), (8, "PCMA"), (101, "telephone-event")]);
    }

    #[test]
    fn rewrite_keeps_every_other_line() {
        let out = rewrite(OFFER.as_bytes(), "192.0.2.1".parse().unwrap(), 20000).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert_eq!(
            out,
            "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.1\r\ns=-\r\n\
             c=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 20000 RTP/AVP 0 8 101\r\n\
             a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
        );
        let m = parse_audio(out.as_bytes()).unwrap();
        assert_eq!(m.rtp, Some("192.0.2.1:20000".parse().unwrap()));
    }

    #[test]
    fn media_level_connection_rtcp_attribute_and_mux() {
        let sdp = "v=0\no=- 1 1 IN IP4 10.0.0.1\ns=-\nc=IN IP4 10.0.0.1\nt=0 0\n\
                   m=audio 4000 RTP/AVP 8\nc=IN IP4 10.0.0.9\na=rtcp:4005 IN IP4 10.0.0.8\n\
                   m=video 5000 RTP/AVP 96\nc=IN IP4 10.0.0.9\n";
        let m = parse_audio(sdp.as_bytes()).unwrap();
        assert_eq!(m.rtp, Some("10.0.0.9:4000".parse().unwrap()));
        assert_eq!(m.rtcp, Some("10.0.0.8:4005".parse().unwrap()));
        assert_eq!(m.codecs[0].name, "PCMA");
        let out = rewrite(sdp.as_bytes(), "192.0.2.1".parse().unwrap(), 30000).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(out.contains("a=rtcp:30001 IN IP4 192.0.2.1\n"), "{out}");
        assert!(out.contains("m=video 0 RTP/AVP 96\n"), "{out}");
        // The video stream's own c= line is left alone (it is disabled).
        assert!(out.ends_with("c=IN IP4 10.0.0.9\n"), "{out}");

        let mux = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n\
                   m=audio 4000 RTP/AVP 0\r\na=rtcp-mux\r\n";
        let m = parse_audio(mux.as_bytes()).unwrap();
        assert!(m.rtcp_mux);
        assert_eq!(m.rtcp, m.rtp);
    }

    #[test]
    fn hold_and_rejected_streams_stay_so() {
        let held = OFFER.replace("c=IN IP4 10.0.0.5", "c=IN IP4 0.0.0.0");
        assert_eq!(parse_audio(held.as_bytes()).unwrap().rtp, None);
        let out = rewrite(held.as_bytes(), "192.0.2.1".parse().unwrap(), 20000).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("c=IN IP4 0.0.0.0\r\n"));

        let rejected = OFFER.replace("m=audio 49170", "m=audio 0");
        assert_eq!(parse_audio(rejected.as_bytes()).unwrap().rtp, None);
        let out = rewrite(rejected.as_bytes(), "192.0.2.1".parse().unwrap(), 20000).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains("m=audio 0 RTP/AVP"));
    }

    #[test]
    fn ice_candidates_are_dropped_and_ipv6_is_written_as_such() {
        let sdp = format!("{OFFER}a=candidate:1 1 UDP 2130706431 10.0.0.5 49170 typ host\r\n");
        let out = rewrite(sdp.as_bytes(), "2001:db8::1".parse().unwrap(), 20000).unwrap();
        let out = String::from_utf8(out).unwrap();
        assert!(!out.contains("candidate"), "{out}");
        assert!(out.contains("c=IN IP6 2001:db8::1\r\n"), "{out}");
    }

    #[test]
    fn garbage_is_not_acceptable() {
        for body in [
            "",
            "v=0\r\nm=video 1 RTP/AVP 96\r\n",
            "v=0\r\nm=audio 1 RTP/AVP 0\r\n",
        ] {
            let e = parse_audio(body.as_bytes()).unwrap_err();
            assert_eq!(e.response_status().map(|s| s.code()), Some(488), "{body:?}");
        }
        assert!(rewrite(b"v=0\r\njunk\r\n", "192.0.2.1".parse().unwrap(), 1).is_err());
        assert!(is_sdp(Some("application/SDP; charset=x")));
        assert!(!is_sdp(Some("application/isup")));
        assert!(!is_sdp(None));
    }
}
