//! Prints how alike two references are: the distribution of the best 200 ms window
//! correlation of the first against the second over all alignments (diagnostics).
use tonegate_classify::{audio, Code, Reference};

fn load(path: &str) -> Reference {
    let bytes = std::fs::read(path).expect("read");
    let pcm = audio::decode(&bytes, Some("wav")).expect("decode");
    Reference::new(Code::BUSY, path, &pcm).expect("reference")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (a, b) = (load(&args[1]), load(&args[2]));
    let mut hist = [0u32; 11];
    let mut start = 0i64;
    while start + 50 <= a.frames() as i64 {
        let mut best = f32::MIN;
        for off in -(b.frames() as i64)..(b.frames() as i64) {
            if let Some(c) = tonegate_classify::debug_corr_window(&a, start, &b, start + off, 50) {
                best = best.max(c);
            }
        }
        if best > f32::MIN {
            hist[((best.max(0.0) * 10.0) as usize).min(10)] += 1;
        }
        start += 10;
    }
    println!("best-window correlation histogram (0.0-0.1 ... 1.0): {hist:?}");
}
