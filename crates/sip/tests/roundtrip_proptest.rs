//! parse -> print -> parse round trips for generated requests and
//! responses, with compact header forms, random header-name case,
//! whitespace before the colon, folded values and binary bodies.

use proptest::prelude::*;
use tonegate_sip::message::{parse, Method, SipMessage};

#[derive(Debug, Clone)]
struct Field {
    full: &'static str,
    compact: Option<&'static str>,
    value: String,
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,8}(\\.[a-z][a-z0-9-]{0,8}){0,2}",
        (1u8..=254, 0u8..=255, 0u8..=255, 1u8..=254)
            .prop_map(|(a, b, c, d)| format!("{a}.{b}.{c}.{d}")),
        Just("[2001:db8::1]".to_owned()),
    ]
}

fn port() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        (1u16..=65535).prop_map(|p| format!(":{p}"))
    ]
}

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::Invite),
        Just(Method::Bye),
        Just(Method::Options),
        Just(Method::Cancel),
        Just(Method::Ack),
        Just(Method::Info),
        Just(Method::Update),
        Just(Method::Register),
        "[A-Z]{3,9}".prop_map(|s| s.parse::<Method>().unwrap()),
    ]
}

fn name_addr() -> impl Strategy<Value = String> {
    (
        prop::option::of("[A-Za-z][A-Za-z0-9 ]{0,10}[A-Za-z0-9]"),
        "[a-z+0-9]{1,10}",
        host(),
        port(),
        prop::bool::ANY,
    )
        .prop_map(|(display, user, host, port, phone)| {
            let params = if phone { ";user=phone" } else { "" };
            match display {
                Some(d) => format!("\"{d}\" <sip:{user}@{host}{port}{params}>"),
                None => format!("<sip:{user}@{host}{port}{params}>"),
            }
        })
}

fn words() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9;=.:@/<>_-]{1,12}", 1..5).prop_map(|w| w.join(" "))
}

fn ext_header() -> impl Strategy<Value = (String, String)> {
    ("X-[A-Za-z][A-Za-z0-9-]{0,8}", words())
}

/// Header fields, top branch, Call-ID, CSeq number, body, extension headers.
type Generated = (
    Vec<Field>,
    String,
    String,
    u32,
    Vec<u8>,
    Vec<(String, String)>,
);

fn common_fields(method: Method) -> impl Strategy<Value = Generated> {
    (
        prop::collection::vec((host(), port(), "[a-zA-Z0-9]{4,12}", prop::bool::ANY), 1..4),
        name_addr(),
        token(),
        name_addr(),
        prop::option::of(token()),
        (token(), host()),
        0u32..(1 << 31),
        prop::collection::vec(any::<u8>(), 0..120),
        prop::collection::vec(ext_header(), 0..4),
        prop::option::of(0u32..=255),
    )
        .prop_map(
            move |(vias, from, ftag, to, ttag, (cid_l, cid_h), seq, body, ext, mf)| {
                let mut fields = Vec::new();
                for (i, (h, p, b, udp)) in vias.iter().enumerate() {
                    let t = if *udp { "UDP" } else { "TCP" };
                    let rport = if i == 0 { ";rport" } else { "" };
                    fields.push(Field {
                        full: "Via",
                        compact: Some("v"),
                        value: format!("SIP/2.0/{t} {h}{p};branch=z9hG4bK{b}{rport}"),
                    });
                }
                let branch = format!("z9hG4bK{}", vias[0].2);
                fields.push(Field {
                    full: "From",
                    compact: Some("f"),
                    value: format!("{from};tag={ftag}"),
                });
                let to = match ttag {
                    Some(t) => format!("{to};tag={t}"),
                    None => to,
                };
                fields.push(Field {
                    full: "To",
                    compact: Some("t"),
                    value: to,
                });
                let call_id = format!("{cid_l}@{cid_h}");
                fields.push(Field {
                    full: "Call-ID",
                    compact: Some("i"),
                    value: call_id.clone(),
                });
                fields.push(Field {
                    full: "CSeq",
                    compact: None,
                    value: format!("{seq} {method}"),
                });
                if let Some(mf) = mf {
                    fields.push(Field {
                        full: "Max-Forwards",
                        compact: None,
                        value: mf.to_string(),
                    });
                }
                if !body.is_empty() {
                    fields.push(Field {
                        full: "Content-Type",
                        compact: Some("c"),
                        value: "application/sdp".into(),
                    });
                }
                fields.push(Field {
                    full: "Content-Length",
                    compact: Some("l"),
                    value: body.len().to_string(),
                });
                (fields, branch, call_id, seq, body, ext)
            },
        )
}

/// Print fields with random presentation choices.
fn render(
    start: &str,
    fields: &[Field],
    ext: &[(String, String)],
    style: &[(bool, bool, bool, bool)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{start}\r\n");
    let all: Vec<(String, String)> = fields
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let (compact, upper, _, _) = style[i % style.len()];
            let name = match (compact, f.compact) {
                (true, Some(c)) if upper => c.to_uppercase(),
                (true, Some(c)) => c.to_owned(),
                _ if upper => f.full.to_uppercase(),
                _ => f.full.to_owned(),
            };
            (name, f.value.clone())
        })
        .chain(ext.iter().cloned())
        .collect();
    for (i, (name, value)) in all.iter().enumerate() {
        let (_, _, space_before_colon, fold) = style[i % style.len()];
        let sep = if space_before_colon { " : " } else { ": " };
        let value = if fold && value.contains(' ') {
            value.replacen(' ', "\r\n\t", 1)
        } else {
            value.clone()
        };
        out.push_str(&format!("{name}{sep}{value}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

fn style() -> impl Strategy<Value = Vec<(bool, bool, bool, bool)>> {
    prop::collection::vec(any::<(bool, bool, bool, bool)>(), 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn request_round_trip(
        (method, (fields, branch, call_id, seq, body, ext)) in method().prop_flat_map(|m| (Just(m.clone()), common_fields(m))),
        user in "[a-z0-9+]{1,10}",
        h in host(),
        style in style(),
    ) {
        let start = format!("{method} sip:{user}@{h} SIP/2.0");
        let wire = render(&start, &fields, &ext, &style, &body);
        let first = parse(&wire).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&wire))))?;
        let SipMessage::Request(req) = &first else { return Err(TestCaseError::fail("not a request")) };
        prop_assert_eq!(&req.method, &method);
        prop_assert_eq!(req.call_id().unwrap(), call_id.as_str());
        prop_assert_eq!(req.cseq().unwrap().seq, seq);
        prop_assert_eq!(req.top_branch().unwrap(), branch);
        prop_assert_eq!(&req.body[..], &body[..]);
        for (n, v) in &ext {
            // Folded values come back unfolded to the original single space.
            prop_assert!(req.headers.get_all(n).any(|x| x == v), "{} missing", n);
        }
        prop_assert!(req.headers.iter().all(|h| h.name.len() > 1), "compact names expanded");
        let printed = first.to_bytes();
        let second = parse(&printed).unwrap();
        prop_assert_eq!(&second, &first);
        prop_assert_eq!(second.to_bytes(), printed);
    }

    #[test]
    fn response_round_trip(
        (method, (fields, branch, call_id, seq, body, ext)) in method().prop_flat_map(|m| (Just(m.clone()), common_fields(m))),
        code in 100u16..=699,
        reason in "[A-Za-z][A-Za-z /-]{0,20}[A-Za-z]",
        style in style(),
    ) {
        let start = format!("SIP/2.0 {code} {reason}");
        let wire = render(&start, &fields, &ext, &style, &body);
        let first = parse(&wire).map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(&wire))))?;
        let SipMessage::Response(resp) = &first else { return Err(TestCaseError::fail("not a response")) };
        prop_assert_eq!(resp.status.code(), code);
        prop_assert_eq!(resp.reason.as_str(), reason.as_str());
        prop_assert_eq!(resp.call_id().unwrap(), call_id.as_str());
        prop_assert_eq!(resp.cseq().unwrap(), tonegate_sip::message::CSeq { seq, method });
        prop_assert_eq!(resp.top_branch().unwrap(), branch);
        prop_assert_eq!(&resp.body[..], &body[..]);
        let printed = first.to_bytes();
        let second = parse(&printed).unwrap();
        prop_assert_eq!(&second, &first);
    }
}
