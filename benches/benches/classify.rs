//! Criterion benchmarks of the classifier's hot paths.
//!
//! Throughput is reported as `Elements` = 8 kHz samples, so criterion's `elem/s` divided by
//! 8000 is audio seconds per CPU second (one stream on one core).
//!
//! ```sh
//! cargo bench -p tonegate-benches              # full run
//! cargo bench -p tonegate-benches -- --quick   # a quick look
//! ```

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use tonegate_benches::{encode, library_recordings, read_audio, synthetic_references, testdata};
use tonegate_classify::features::Frontend;
use tonegate_classify::tone::ToneDetector;
use tonegate_classify::{Classifier, Law, Library, Reference, FRAME_SAMPLES, SAMPLE_RATE};

/// A 20 ms frame of speech-like sound: a few harmonics of a wandering pitch.
fn speechy(n: usize) -> Vec<i16> {
    (0..n)
        .map(|i| {
            let t = i as f32 / SAMPLE_RATE as f32;
            let f0 = 140.0 + 40.0 * (t * 3.0).sin();
            let s: f32 = (1..8)
                .map(|h| (t * f0 * h as f32 * std::f32::consts::TAU).sin() / h as f32)
                .sum();
            (s * 4000.0) as i16
        })
        .collect()
}

fn g711_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("g711_mu_decode");
    for (name, n) in [("20ms", FRAME_SAMPLES), ("1s", SAMPLE_RATE as usize)] {
        let bytes = encode(Law::Mu, &speechy(n));
        let mut out = vec![0i16; n];
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(name, |b| {
            b.iter(|| Law::Mu.decode_into(black_box(&bytes), black_box(&mut out)))
        });
    }
    g.finish();
}

fn frontend(c: &mut Criterion) {
    let x = speechy(SAMPLE_RATE as usize);
    let mut g = c.benchmark_group("frontend");
    g.throughput(Throughput::Elements(FRAME_SAMPLES as u64));
    // One 20 ms frame = two 10 ms hops; the front end keeps its state across iterations, as in
    // a call, and walks through 1 s of sound.
    g.bench_function("frame_20ms", |b| {
        let mut fe = Frontend::new(true);
        let mut frames = x.chunks_exact(FRAME_SAMPLES).cycle();
        b.iter(|| {
            let f = frames.next().unwrap_or(&x[..FRAME_SAMPLES]);
            let a = fe.push_hop(&f[..80], false);
            let b2 = fe.push_hop(&f[80..], false);
            black_box((a.mask, b2.mask))
        })
    });
    g.finish();
}

fn tone_detector(c: &mut Criterion) {
    // Busy-tone-like measurements: 35 frames on, 35 quiet ones off, two analysis frames per
    // 20 ms frame.
    let mut g = c.benchmark_group("tone_detector");
    g.throughput(Throughput::Elements(FRAME_SAMPLES as u64));
    g.bench_function("frame_20ms", |b| {
        let mut d = ToneDetector::default();
        let mut i = 0u32;
        b.iter(|| {
            let mut ev = None;
            for _ in 0..2 {
                let on = ((i / 35) & 1) == 0;
                i = i.wrapping_add(1);
                let (r, level) = if on { (0.95, -20.0) } else { (0.02, -45.0) };
                ev = ev.or(d.push(black_box(r), black_box(level), false, false));
            }
            black_box(ev)
        })
    });
    g.finish();
}

/// 3 s of a library announcement (2114 / cm from 1 s in), as a call would stream it.
fn announcement_call(recordings: &[(tonegate_classify::Code, String, Vec<i16>)]) -> Vec<i16> {
    let (_, _, pcm) = recordings
        .iter()
        .find(|(_, n, _)| n == "2114-empty-number/cm.wav")
        .unwrap_or(&recordings[0]);
    pcm.iter()
        .cycle()
        .skip(SAMPLE_RATE as usize)
        .take(3 * SAMPLE_RATE as usize)
        .copied()
        .collect()
}

fn stream(lib: &Arc<Library>, pcm: &[i16]) -> Option<u16> {
    let mut c = Classifier::new(Arc::clone(lib));
    for f in pcm.chunks_exact(FRAME_SAMPLES) {
        // Frames from chunks_exact have the right length.
        let _ = c.push_frame(black_box(f));
    }
    c.finish().code.map(|c| c.get())
}

fn library_lookup(c: &mut Criterion) {
    let recordings = library_recordings();
    let shipped: Vec<Reference> = recordings
        .iter()
        .map(|(code, name, pcm)| Reference::new(*code, name.clone(), pcm).expect("reference"))
        .collect();
    assert_eq!(shipped.len(), 54, "the shipped library has 54 references");
    // The 54 shipped references plus 946 synthetic variants of them (sped up or slowed down by
    // 3-12 %, rotated, cut to 4-7 s, codes assigned round-robin): see `synthetic_references`.
    let mut big = shipped.clone();
    big.extend(synthetic_references(&recordings, 1000 - shipped.len()));
    let libs = [
        ("refs_54", Arc::new(Library::new(shipped))),
        ("refs_1000", Arc::new(Library::new(big))),
    ];
    let call = announcement_call(&recordings);
    // What the benchmarked stream concludes, for the record (not part of the timing).
    for (name, lib) in &libs {
        let mut c = Classifier::new(Arc::clone(lib));
        c.push_samples(&call);
        let d = c.finish();
        eprintln!(
            "library_lookup {name}: {} references; the 3 s call gives code {:?} ({}) at {:?} ms",
            lib.len(),
            d.code.map(|c| c.get()),
            d.label,
            d.at_ms()
        );
    }

    let mut g = c.benchmark_group("library_lookup_3s_call");
    g.throughput(Throughput::Elements(call.len() as u64));
    g.sample_size(20);
    for (name, lib) in &libs {
        g.bench_function(*name, |b| b.iter(|| stream(lib, &call)));
    }
    g.finish();
}

/// The first dev-set call with `label` lasting at least 10 s, cut to 10 s.
fn devset_call(label: &str) -> Vec<i16> {
    let dir = testdata().join("devset");
    let labels = std::fs::read_to_string(dir.join("labels.csv")).expect("labels.csv");
    for line in labels.lines().skip(1) {
        let cols: Vec<&str> = line.split(',').collect();
        if cols.get(3) != Some(&label) {
            continue;
        }
        let pcm = read_audio(&dir.join(cols[0]));
        if pcm.len() >= 10 * SAMPLE_RATE as usize {
            return pcm[..10 * SAMPLE_RATE as usize].to_vec();
        }
    }
    panic!("no dev-set call labelled {label} lasts 10 s");
}

fn whole_call(c: &mut Criterion) {
    let lib = Arc::new(Library::new(
        library_recordings()
            .into_iter()
            .map(|(code, name, pcm)| Reference::new(code, name, &pcm).expect("reference"))
            .collect(),
    ));
    let mut g = c.benchmark_group("whole_call_10s_pcmu");
    g.throughput(Throughput::Elements(10 * SAMPLE_RATE as u64));
    g.sample_size(20);
    // An announcement commits part-way (later frames are only counted); speech no library
    // reference holds is analysed to the end: the worst case.
    for (name, label) in [
        ("announcement", "announcement"),
        ("unknown_speech", "unknown_speech"),
    ] {
        let bytes = encode(Law::Mu, &devset_call(label));
        g.bench_function(name, |b| {
            b.iter_batched(
                || Classifier::new(Arc::clone(&lib)),
                |mut c| {
                    for f in bytes.chunks_exact(FRAME_SAMPLES) {
                        let _ = c.push_g711(Law::Mu, black_box(f));
                    }
                    c.finish().code
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    g711_decode,
    frontend,
    tone_detector,
    library_lookup,
    whole_call
);
criterion_main!(benches);
