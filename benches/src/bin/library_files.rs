//! `library_files`: writes a library folder of N references for measuring the library load
//! (`benches/library-load.sh`): the shipped library's 54 coded references, copied, and
//! N - 54 synthetic variants of them (`tonegate_benches::synthetic_recordings`, the same
//! ones the `library_lookup` bench's 1000-reference library holds), each as an 8 kHz 16-bit
//! WAV in a folder of its code (`2114-synthetic/0042.wav`).
//!
//! ```text
//! library_files --out DIR [--count 1000]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use tonegate_benches::{library_recordings, synthetic_recordings, testdata};

#[derive(Parser)]
#[command(about = "Write a library folder of N references for the library-load measurement")]
struct Args {
    /// The folder to write; it must not exist yet.
    #[arg(long)]
    out: PathBuf,
    /// References in all, the shipped library's 54 coded ones included.
    #[arg(long, default_value_t = 1000)]
    count: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(n) => {
            println!("{} references written to {}", n, args.out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("library_files: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> Result<usize, String> {
    if args.out.exists() {
        return Err(format!("{} exists already", args.out.display()));
    }
    let recordings = library_recordings();
    if args.count < recordings.len() {
        return Err(format!(
            "--count {} is below the {} shipped references",
            args.count,
            recordings.len()
        ));
    }
    let library = testdata().join("library");
    for (_, name, _) in &recordings {
        // `name` is `folder/file` under the shipped library.
        let to = args.out.join(name);
        create_parent(&to)?;
        std::fs::copy(library.join(name), &to)
            .map_err(|e| format!("cannot copy {name} to {}: {e}", to.display()))?;
    }
    let variants = synthetic_recordings(&recordings, args.count - recordings.len());
    for (k, (code, _, pcm)) in variants.iter().enumerate() {
        let to = args
            .out
            .join(format!("{}-synthetic/{k:04}.wav", code.get()));
        create_parent(&to)?;
        write_wav(&to, pcm).map_err(|e| format!("cannot write {}: {e}", to.display()))?;
    }
    Ok(recordings.len() + variants.len())
}

fn create_parent(path: &Path) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

fn write_wav(path: &Path, pcm: &[i16]) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: tonegate_classify::SAMPLE_RATE,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec)?;
    for &x in pcm {
        w.write_sample(x)?;
    }
    w.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wavs(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).expect("folder") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                out.extend(wavs(&p));
            } else {
                out.push(p);
            }
        }
        out.sort();
        out
    }

    #[test]
    fn writes_the_shipped_references_and_the_variants_in_folders_of_their_codes() {
        let tmp = tempfile::tempdir().expect("temporary folder");
        let out = tmp.path().join("library");
        let args = Args {
            out: out.clone(),
            count: 60,
        };
        assert_eq!(run(&args), Ok(60));
        let files = wavs(&out);
        assert_eq!(files.len(), 60);
        let synthetic: Vec<&PathBuf> = files
            .iter()
            .filter(|p| p.to_string_lossy().contains("-synthetic/"))
            .collect();
        assert_eq!(synthetic.len(), 6);
        for p in synthetic {
            let folder = p.parent().and_then(|d| d.file_name()).expect("folder");
            let code = tonegate_classify::code_of_folder(&folder.to_string_lossy());
            assert!(
                code.and_then(tonegate_classify::Code::new).is_some(),
                "{}",
                p.display()
            );
            let r = hound::WavReader::open(p).expect("a WAV");
            assert_eq!(r.spec().sample_rate, tonegate_classify::SAMPLE_RATE);
            let seconds = r.duration() as f64 / 8000.0;
            assert!(
                (4.0..7.0).contains(&seconds),
                "{}: {seconds} s",
                p.display()
            );
        }
        // A second run does not write over the first.
        assert!(run(&args).unwrap_err().contains("exists already"));
        let few = Args {
            out: tmp.path().join("few"),
            count: 10,
        };
        assert!(run(&few).unwrap_err().contains("below the 54"));
    }
}
