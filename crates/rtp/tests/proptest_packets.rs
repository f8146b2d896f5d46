//! Properties: any datagram gets a verdict without panicking; the tap
//! hands out exactly the samples of the span it was given, whatever the
//! order packets arrive in.

mod common;

use std::time::Instant;

use common::*;
use proptest::prelude::*;
use tonegate_rtp::{Codec, Component, MediaRelay, RelayConfig, Side, Tap, FRAME_SAMPLES};

proptest! {
    #[test]
    fn any_bytes_get_a_verdict(data in proptest::collection::vec(any::<u8>(), 0..300), rtcp in any::<bool>()) {
        let now = Instant::now();
        let mut r = MediaRelay::new(now, 20000, 20002, RelayConfig { strict: true, timeout: None });
        r.session_mut(Side::A).set_signalled(Some(addr("10.0.0.5:4000")), None);
        let c = if rtcp { Component::Rtcp } else { Component::Rtp };
        let _ = r.handle_packet(now, Side::B, c, addr("10.9.0.9:6000"), &data);
        prop_assert_eq!(r.session(Side::B).stats().packets, 1);
    }

    #[test]
    fn tap_output_is_the_stream_in_order(
        n in 1usize..60,
        perms in proptest::collection::vec(0usize..6, 20),
        ts0 in any::<u32>(),
    ) {
        // Packets shuffled inside consecutive groups of 3: none is more than
        // 2 places off, which a 3-frame jitter buffer absorbs.
        const PERMS: [[usize; 3]; 6] = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
        let mut order = Vec::new();
        for (g, p) in perms.iter().enumerate() {
            for &k in &PERMS[*p] {
                let i = g * 3 + k;
                if i < n { order.push(i); }
            }
        }
        let mut tap = Tap::new(Codec::Pcmu, 3);
        let mut out = Vec::new();
        let mut f = [0u8; FRAME_SAMPLES];
        for &i in &order {
            let payload = [(i % 200) as u8; FRAME_SAMPLES];
            tap.push(1, ts0.wrapping_add((i * FRAME_SAMPLES) as u32), &payload);
            while tap.poll_frame(&mut f) {
                out.push(f[0]);
                prop_assert!(f.iter().all(|&b| b == f[0]));
            }
        }
        while tap.flush(&mut f) {
            out.push(f[0]);
            prop_assert!(f.iter().all(|&b| b == f[0]));
        }
        prop_assert_eq!(tap.stats().overruns, 0);
        let want: Vec<u8> = (0..n).map(|i| (i % 200) as u8).collect();
        prop_assert_eq!(out, want);
    }
}
