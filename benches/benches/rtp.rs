//! Criterion benchmarks of the per-packet media path (sans-IO, no sockets):
//! the relay's verdict, the early-media tap, and the whole tapped path
//! (verdict, tap, G.711 decode, classifier) for a carrier packet while the
//! call rings.
//!
//! ```sh
//! cargo bench -p tonegate-benches --bench rtp -- --quick
//! ```

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tonegate_benches::{encode, library_recordings};
use tonegate_classify::{Classifier, Law, Library, Reference, FRAME_SAMPLES};
use tonegate_rtp::{Codec, Component, MediaRelay, RelayConfig, Side, Tap, Verdict};

/// A PCMU RTP packet of 20 ms.
fn packet(seq: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x80, 0];
    p.extend_from_slice(&seq.to_be_bytes());
    p.extend_from_slice(&(u32::from(seq) * 160).to_be_bytes());
    p.extend_from_slice(&0x1234_5678u32.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn relay() -> MediaRelay {
    let mut r = MediaRelay::new(
        Instant::now(),
        20000,
        20002,
        RelayConfig {
            strict: false,
            timeout: None,
        },
    );
    let a: SocketAddr = "10.0.0.5:4000".parse().unwrap();
    let b: SocketAddr = "10.9.0.9:6000".parse().unwrap();
    r.session_mut(Side::A).set_signalled(Some(a), None);
    r.session_mut(Side::B).set_signalled(Some(b), None);
    r
}

fn verdict(c: &mut Criterion) {
    let mut g = c.benchmark_group("rtp_packet");
    g.throughput(Throughput::Elements(1));
    let from: SocketAddr = "10.9.0.9:6000".parse().unwrap();
    let packets: Vec<Vec<u8>> = (0..64).map(|i| packet(i, &[0xFF; 160])).collect();
    let mut r = relay();
    let now = Instant::now();
    let mut i = 0usize;
    g.bench_function("verdict", |b| {
        b.iter(|| {
            i = (i + 1) % packets.len();
            let (v, info) = r.handle_packet(now, Side::B, Component::Rtp, from, &packets[i]);
            black_box((matches!(v, Verdict::Forward { .. }), info.map(|x| x.seq)))
        })
    });
    let mut tap = Tap::new(Codec::Pcmu, 3);
    let mut seq = 0u32;
    let mut frame = [0u8; FRAME_SAMPLES];
    g.bench_function("tap_push_poll", |b| {
        b.iter(|| {
            seq = seq.wrapping_add(1);
            tap.push(1, seq.wrapping_mul(160), &[0x55; 160]);
            black_box(tap.poll_frame(&mut frame))
        })
    });
    g.finish();
}

/// A carrier packet while the call rings: verdict, tap, decode, classify.
fn tapped_path(c: &mut Criterion) {
    let recordings = library_recordings();
    let refs: Vec<Reference> = recordings
        .iter()
        .map(|(code, name, pcm)| Reference::new(*code, name.clone(), pcm).expect("reference"))
        .collect();
    let library = Arc::new(Library::new(refs));
    // The carrier plays a library announcement, as PCMU packets.
    let bytes = encode(Law::Mu, &recordings[0].2);
    let packets: Vec<Vec<u8>> = bytes
        .chunks_exact(FRAME_SAMPLES)
        .take(500)
        .enumerate()
        .map(|(i, p)| packet(i as u16, p))
        .collect();
    let from: SocketAddr = "10.9.0.9:6000".parse().unwrap();
    let now = Instant::now();
    let mut g = c.benchmark_group("rtp_packet");
    g.throughput(Throughput::Elements(packets.len() as u64));
    g.bench_function(format!("early_media_{}_packets", packets.len()), |b| {
        b.iter(|| {
            let mut r = relay();
            let mut tap = Tap::new(Codec::Pcmu, 3);
            let mut classifier = Classifier::new(Arc::clone(&library));
            let mut frame = [0u8; FRAME_SAMPLES];
            let mut out = [0i16; FRAME_SAMPLES];
            for p in &packets {
                let (_, info) = r.handle_packet(now, Side::B, Component::Rtp, from, p);
                let info = info.expect("valid RTP");
                tap.push(info.ssrc, info.timestamp, info.payload);
                while tap.poll_frame(&mut frame) {
                    Law::Mu.decode_into(&frame, &mut out);
                    black_box(classifier.push_frame(&out).ok());
                }
            }
            black_box(classifier.decision())
        })
    });
    g.finish();
}

criterion_group!(benches, verdict, tapped_path);
criterion_main!(benches);
