//! Loading the announcement library from a folder tree: every audio file under a folder whose
//! name begins with a hangupGcode (`2114/`, `2109-powered-off/`) is a reference of that code,
//! and every one under a folder named `none` or beginning with `none-` (`none-colour-ringback/`)
//! is speech that carries no code: a prompt or advertisement once mistaken for an
//! announcement, which the classifier then tells apart from it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tonegate_classify::{audio, collect_jobs, Code, Library, Reference};
pub use tonegate_classify::{code_of_folder, is_no_code_folder};

/// Audio files the loader reads.
const EXTENSIONS: [&str; 2] = ["wav", "mp3"];

/// Why a library, or an audio or labels file, could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// A folder or file could not be read (the library's, a call's, a labels file).
    #[error("cannot read {path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// An audio file failed to decode. Named for what it is, not as a library file:
    /// `classify` and `eval` read calls with the same function.
    #[error("cannot decode {path}: {source}")]
    Decode {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: tonegate_classify::Error,
    },
    /// A reference file failed to decode or fingerprint.
    #[error("library file {path}: {source}")]
    Reference {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        #[source]
        source: tonegate_classify::Error,
    },
    /// A folder names a code the classifier does not hear.
    #[error("library folder {path}: {code} is not a hangupGcode heard in early media (2101-2118)")]
    UnknownCode {
        /// The folder.
        path: PathBuf,
        /// The code its name begins with.
        code: u16,
    },
    /// No reference at all was found.
    #[error("no reference recordings under {path} (expected <code>[-name]/<file>.wav|.mp3)")]
    Empty {
        /// The library root.
        path: PathBuf,
    },
}

/// What the files under a folder are references of.
#[derive(Debug, Clone, Copy)]
enum Folder {
    Coded(Code),
    NoCode,
}

/// Every (code, file) of the library (`None`: a reference that carries no code), sorted by
/// path so loading is deterministic.
pub fn scan(root: &Path) -> Result<Vec<(Option<Code>, PathBuf)>, LibraryError> {
    let mut out = Vec::new();
    walk(root, None, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn walk(
    dir: &Path,
    folder: Option<Folder>,
    out: &mut Vec<(Option<Code>, PathBuf)>,
) -> Result<(), LibraryError> {
    let io = |source| LibraryError::Io {
        path: dir.to_path_buf(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            let here = match code_of_folder(&name) {
                Some(c) => Some(Folder::Coded(Code::new(c).ok_or(
                    LibraryError::UnknownCode {
                        path: path.clone(),
                        code: c,
                    },
                )?)),
                None if is_no_code_folder(&name) => Some(Folder::NoCode),
                None => folder,
            };
            walk(&path, here, out)?;
        } else if let Some(folder) = folder {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if ext.as_deref().is_some_and(|e| EXTENSIONS.contains(&e)) {
                let code = match folder {
                    Folder::Coded(c) => Some(c),
                    Folder::NoCode => None,
                };
                out.push((code, path));
            }
        }
    }
    Ok(())
}

/// Reads and decodes one audio file to 8 kHz samples.
pub fn read_audio(path: &Path) -> Result<Vec<i16>, LibraryError> {
    let bytes = std::fs::read(path).map_err(|source| LibraryError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let ext = path.extension().and_then(|e| e.to_str());
    audio::decode(&bytes, ext).map_err(|source| LibraryError::Decode {
        path: path.to_path_buf(),
        source,
    })
}

/// A reference's name: its path under the library folder (`2114-empty-number/cm.wav`).
pub fn reference_name(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .to_string_lossy()
        .into_owned()
}

/// Loads and indexes the library under `root` on all cores: decoding and fingerprinting the
/// files, then the index and each reference's shared phrases (what the classifier leaves to
/// its caller's threads, see [`Library::new_with`]).
pub fn load(root: &Path) -> Result<Arc<Library>, LibraryError> {
    let files = scan(root)?;
    if files.is_empty() {
        return Err(LibraryError::Empty {
            path: root.to_path_buf(),
        });
    }
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // Files with the same bytes (a library assembled by copying carriers' folders) are
    // decoded and fingerprinted once: `first[i]` is the first file with file `i`'s bytes.
    // Each file is read twice, to hash it and to decode it, rather than holding a whole
    // library's bytes at once; the second read comes from the page cache.
    let digests = run_parallel(workers, files.len(), |i| {
        std::fs::read(&files[i].1).map(|b| digest(&b)).ok()
    });
    let mut seen = std::collections::HashMap::new();
    let first: Vec<usize> = (0..files.len())
        .map(|i| match digests[i] {
            Some(d) => *seen.entry(d).or_insert(i),
            None => i,
        })
        .collect();
    let load_one = |i: usize| {
        let (code, path) = &files[i];
        // A reference that does not decode is named as the library's.
        let pcm = read_audio(path).map_err(|e| match e {
            LibraryError::Decode { path, source } => LibraryError::Reference { path, source },
            other => other,
        })?;
        let name = reference_name(root, path);
        match code {
            Some(c) => Reference::new(*c, name, &pcm),
            None => Reference::no_code(name, &pcm),
        }
        .map_err(|source| LibraryError::Reference {
            path: path.clone(),
            source,
        })
    };
    let unique: Vec<usize> = (0..files.len()).filter(|&i| first[i] == i).collect();
    let loaded = run_parallel(workers, unique.len(), |u| load_one(unique[u]));
    let mut by_file: Vec<Option<Result<Reference, LibraryError>>> =
        files.iter().map(|_| None).collect();
    for (i, r) in unique.into_iter().zip(loaded) {
        by_file[i] = Some(r);
    }
    // In path order (the first failure is the first file that fails, however the work was
    // spread); a copy is its first file's reference under its own name and code.
    let mut refs: Vec<Reference> = Vec::with_capacity(files.len());
    for i in 0..files.len() {
        let r = if first[i] != i {
            // `first[i] < i`: pushed already (or its failure returned).
            let (code, path) = &files[i];
            refs[first[i]].copy_as(*code, reference_name(root, path))
        } else {
            by_file[i].take().unwrap_or_else(|| load_one(i))?
        };
        refs.push(r);
    }
    Ok(Arc::new(Library::new_with(refs, |jobs, run| {
        for_each_parallel(workers, jobs, run)
    })))
}

/// A file's length and two 64-bit hashes of its bytes: equal digests are equal files (a
/// chance collision of 128 bits is not a concern at any library size).
fn digest(bytes: &[u8]) -> (usize, u64, u64) {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut a = DefaultHasher::new();
    bytes.hash(&mut a);
    let mut b = DefaultHasher::new();
    (0x746f_6e65_u32, bytes).hash(&mut b);
    (bytes.len(), a.finish(), b.finish())
}

/// `(0..jobs).map(job)` in order, the jobs spread over up to `workers` threads.
fn run_parallel<T: Send + Sync>(
    workers: usize,
    jobs: usize,
    job: impl Fn(usize) -> T + Sync,
) -> Vec<T> {
    collect_jobs(
        &|jobs, run| for_each_parallel(workers, jobs, run),
        jobs,
        job,
    )
}

/// Calls `run(j)` for every `j` in `0..jobs` on up to `workers` scoped threads, each taking
/// the next job when it is done with one: files and references differ in length, and a fixed
/// split left one core idle while the other finished its share. A panic in a job is resumed
/// here.
fn for_each_parallel(workers: usize, jobs: usize, run: &(dyn Fn(usize) + Sync)) {
    let next = AtomicUsize::new(0);
    let work = || loop {
        let j = next.fetch_add(1, Ordering::Relaxed);
        if j >= jobs {
            break;
        }
        run(j);
    };
    std::thread::scope(|s| {
        // This thread is one of the workers.
        let handles: Vec<_> = (1..workers.min(jobs)).map(|_| s.spawn(work)).collect();
        work();
        for h in handles {
            h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
        }
    });
}

/// Adds a recording to the library as a reference of `code`, or of speech that carries no
/// code when `code` is `None` (the learning loop: a call the classifier missed, or gave a
/// code it should not have, labelled by a person). The file must decode; it is copied into
/// the code's folder (the first one whose name begins with the code, else a new `<code>/`;
/// for no code the first `none...` folder, else a new `none/`) under its own name, with a
/// `-N` suffix rather than overwriting. Returns where it went.
pub fn add(root: &Path, code: Option<u16>, file: &Path) -> Result<PathBuf, LibraryError> {
    if let Some(code) = code.filter(|&c| Code::new(c).is_none()) {
        return Err(LibraryError::UnknownCode {
            path: file.to_path_buf(),
            code,
        });
    }
    read_audio(file)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| LibraryError::Io { path, source }
    };
    std::fs::create_dir_all(root).map_err(io(root))?;
    let mut folders: Vec<PathBuf> = std::fs::read_dir(root)
        .map_err(io(root))?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            match code {
                Some(code) => code_of_folder(&name) == Some(code),
                None => is_no_code_folder(&name),
            }
        })
        .map(|e| e.path())
        .collect();
    folders.sort();
    let folder = match folders.into_iter().next() {
        Some(f) => f,
        None => {
            let f = root.join(code.map_or_else(|| "none".to_owned(), |c| c.to_string()));
            std::fs::create_dir_all(&f).map_err(io(&f))?;
            f
        }
    };
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "added".to_owned());
    let ext = file
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_else(|| "wav".to_owned());
    let mut dest = folder.join(format!("{stem}.{ext}"));
    let mut n = 1;
    while dest.exists() {
        dest = folder.join(format!("{stem}-{n}.{ext}"));
        n += 1;
    }
    std::fs::copy(file, &dest).map_err(io(&dest))?;
    Ok(dest)
}

/// The library shipped in the source tree's `testdata/library`, when it is there.
pub fn default_root() -> PathBuf {
    if let Ok(p) = std::env::var("TONEGATE_LIBRARY") {
        return PathBuf::from(p);
    }
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/library");
    if shipped.is_dir() {
        return shipped;
    }
    PathBuf::from("testdata/library")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_copies_into_the_codes_folder_without_overwriting() {
        let root = std::env::temp_dir().join(format!("tonegate-libadd-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("2109-powered-off")).unwrap();
        let src = default_root().join("2114-empty-number/cm.wav");
        // A code with a folder, and one without.
        let a = add(&root, Some(2109), &src).unwrap();
        assert_eq!(a, root.join("2109-powered-off/cm.wav"));
        let b = add(&root, Some(2109), &src).unwrap();
        assert_eq!(b, root.join("2109-powered-off/cm-1.wav"));
        let c = add(&root, Some(2114), &src).unwrap();
        assert_eq!(c, root.join("2114/cm.wav"));
        assert!(matches!(
            add(&root, Some(1017), &src),
            Err(LibraryError::UnknownCode { .. })
        ));
        // Speech that carries no code goes to a `none` folder, and loads without a code.
        let d = add(&root, None, &src).unwrap();
        assert_eq!(d, root.join("none/cm.wav"));
        // Not audio: refused, nothing copied.
        let junk = root.join("junk.wav");
        std::fs::write(&junk, b"not a wav").unwrap();
        assert!(add(&root, Some(2114), &junk).is_err());
        assert!(!root.join("2114/junk.wav").exists());
        let files = scan(&root).unwrap();
        assert_eq!(files.len(), 4);
        assert_eq!(
            files.iter().filter(|(c, _)| c.is_none()).count(),
            1,
            "{files:?}"
        );
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn copied_files_load_once_under_their_own_names_and_codes() {
        let root = tempfile::tempdir().unwrap();
        let lib = default_root();
        let put = |dir: &str, name: &str, src: &str| {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
            std::fs::copy(lib.join(src), root.path().join(dir).join(name)).unwrap();
        };
        put("2114-empty-number", "cm.wav", "2114-empty-number/cm.wav");
        put(
            "2114-empty-number",
            "cm-again.wav",
            "2114-empty-number/cm.wav",
        );
        put("2109-powered-off", "cm.wav", "2109-powered-off/cm.wav");
        // The same file under another code: kept, with that code (it decides neither).
        put("2107", "cm.wav", "2114-empty-number/cm.wav");
        let loaded = load(root.path()).unwrap();
        let names: Vec<(&str, Option<u16>)> = loaded
            .references()
            .iter()
            .map(|r| (r.name(), r.code().map(tonegate_classify::Code::get)))
            .collect();
        assert_eq!(
            names,
            [
                ("2107/cm.wav", Some(2107)),
                ("2109-powered-off/cm.wav", Some(2109)),
                ("2114-empty-number/cm-again.wav", Some(2114)),
            ]
        );
        let copies: Vec<(&str, &str)> = loaded.copies().map(|(n, r)| (n, r.name())).collect();
        assert_eq!(
            copies,
            [("2114-empty-number/cm.wav", "2114-empty-number/cm-again.wav")]
        );
        // The copy fingerprints as its first file does.
        let alone = Reference::new(
            tonegate_classify::Code::EMPTY_NUMBER,
            "x",
            &read_audio(&lib.join("2114-empty-number/cm.wav")).unwrap(),
        )
        .unwrap();
        assert_eq!(loaded.references()[2].frames(), alone.frames());
        assert_eq!(loaded.references()[0].distinct_share(), 0.0);
    }
}
