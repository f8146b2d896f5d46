//! Properties of the SDP rewrite: whatever the offer, the rewritten body
//! names the gateway for its first audio stream, keeps the codecs, and
//! keeps every line it does not own byte for byte.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use proptest::prelude::*;
use tonegate_sip::sdp::{parse_audio, rewrite};

fn attr() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a=sendrecv".to_owned()),
        Just("a=ptime:20".to_owned()),
        Just("a=rtcp-mux".to_owned()),
        (96u8..128).prop_map(|pt| format!("a=fmtp:{pt} 0-15")),
        "[a-z]{1,8}".prop_map(|k| format!("a=x-{k}:1")),
    ]
}

prop_compose! {
    fn offer()(
        ip in any::<[u8; 4]>().prop_filter("not unspecified", |b| b != &[0, 0, 0, 0]),
        port in 1024u16..65000,
        pts in proptest::collection::vec(prop_oneof![Just(0u8), Just(8u8), 96u8..128], 1..5),
        attrs in proptest::collection::vec(attr(), 0..4),
        media_level_c in any::<bool>(),
        crlf in any::<bool>(),
        video in any::<bool>(),
    ) -> (String, SocketAddr, Vec<u8>, Vec<String>) {
        let ip = Ipv4Addr::from(ip);
        let eol = if crlf { "\r\n" } else { "\n" };
        let pt_list: Vec<String> = pts.iter().map(|p| p.to_string()).collect();
        let mut lines = vec![
            "v=0".to_owned(),
            format!("o=peer 1 1 IN IP4 {ip}"),
            "s=-".to_owned(),
        ];
        if !media_level_c {
            lines.push(format!("c=IN IP4 {ip}"));
        }
        lines.push("t=0 0".to_owned());
        lines.push(format!("m=audio {port} RTP/AVP {}", pt_list.join(" ")));
        if media_level_c {
            lines.push(format!("c=IN IP4 {ip}"));
        }
        for p in pts.iter().filter(|&&p| p >= 96) {
            lines.push(format!("a=rtpmap:{p} telephone-event/8000"));
        }
        lines.extend(attrs.iter().cloned());
        if video {
            lines.push("m=video 5000 RTP/AVP 96".to_owned());
        }
        let body = lines.join(eol) + eol;
        (body, SocketAddr::new(IpAddr::V4(ip), port), pts, attrs)
    }
}

proptest! {
    #[test]
    fn rewrite_anchors_and_keeps_the_rest((body, party, pts, attrs) in offer(), our_port in 1024u16..65000) {
        let before = parse_audio(body.as_bytes()).unwrap();
        prop_assert_eq!(before.rtp, Some(party));
        let gw: IpAddr = "198.51.100.1".parse().unwrap();
        let out = rewrite(body.as_bytes(), gw, our_port).unwrap();
        let after = parse_audio(&out).unwrap();
        prop_assert_eq!(after.rtp, Some(SocketAddr::new(gw, our_port)));
        let codecs = |m: &tonegate_sip::sdp::AudioMedia| m.codecs.iter().map(|c| (c.pt, c.name.clone())).collect::<Vec<_>>();
        prop_assert_eq!(codecs(&after), codecs(&before));
        prop_assert_eq!(after.codecs.iter().map(|c| c.pt).collect::<Vec<_>>(), pts);
        let text = String::from_utf8(out).unwrap();
        // Nothing of the party's address is left, except in a disabled video stream.
        prop_assert!(!text.contains(&party.ip().to_string()) || text.contains("m=video 0"));
        for a in &attrs {
            prop_assert!(text.contains(a.as_str()), "{} lost", a);
        }
        // Rewriting again changes nothing more.
        let again = rewrite(text.as_bytes(), gw, our_port).unwrap();
        prop_assert_eq!(String::from_utf8(again).unwrap(), text);
    }
}
