//! Loading the announcement library from a folder tree: every audio file under a folder whose
//! name begins with a hangupGcode (`2114/`, `2109-powered-off/`) is a reference of that code.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tonegate_classify::{audio, Code, Library, Reference};

/// Audio files the loader reads.
const EXTENSIONS: [&str; 2] = ["wav", "mp3"];

/// Why a library could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LibraryError {
    /// The folder could not be read.
    #[error("cannot read library folder {path}: {source}")]
    Io {
        /// The folder or file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
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

/// The code a folder name begins with, if any (`"2109-powered-off"` → 2109).
pub fn code_of_folder(name: &str) -> Option<u16> {
    let digits: String = name.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() != 4 {
        return None;
    }
    let rest = &name[digits.len()..];
    if !(rest.is_empty() || rest.starts_with(['-', '_', ' ', '.'])) {
        return None;
    }
    digits.parse().ok()
}

/// Every (code, file) of the library, sorted by path so loading is deterministic.
pub fn scan(root: &Path) -> Result<Vec<(Code, PathBuf)>, LibraryError> {
    let mut out = Vec::new();
    walk(root, None, &mut out)?;
    out.sort_by(|a, b| a.1.cmp(&b.1));
    Ok(out)
}

fn walk(
    dir: &Path,
    code: Option<Code>,
    out: &mut Vec<(Code, PathBuf)>,
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
                Some(c) => Some(Code::new(c).ok_or(LibraryError::UnknownCode {
                    path: path.clone(),
                    code: c,
                })?),
                None => code,
            };
            walk(&path, here, out)?;
        } else if let Some(code) = code {
            let ext = path
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if ext.as_deref().is_some_and(|e| EXTENSIONS.contains(&e)) {
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
    audio::decode(&bytes, ext).map_err(|source| LibraryError::Reference {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads and indexes the library under `root`, decoding files on all cores.
pub fn load(root: &Path) -> Result<Arc<Library>, LibraryError> {
    let files = scan(root)?;
    if files.is_empty() {
        return Err(LibraryError::Empty {
            path: root.to_path_buf(),
        });
    }
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .min(files.len());
    let chunk = files.len().div_ceil(workers);
    let results: Vec<Result<Reference, LibraryError>> = std::thread::scope(|s| {
        let handles: Vec<_> = files
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .map(|(code, path)| {
                            let pcm = read_audio(path)?;
                            let name = path
                                .strip_prefix(root)
                                .unwrap_or(path)
                                .to_string_lossy()
                                .into_owned();
                            Reference::new(*code, name, &pcm).map_err(|source| {
                                LibraryError::Reference {
                                    path: path.clone(),
                                    source,
                                }
                            })
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let refs = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(Library::new(refs)))
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
    fn folder_names() {
        assert_eq!(code_of_folder("2114"), Some(2114));
        assert_eq!(code_of_folder("2109-powered-off"), Some(2109));
        assert_eq!(code_of_folder("2110_kept"), Some(2110));
        assert_eq!(code_of_folder("21145"), None);
        assert_eq!(code_of_folder("misc"), None);
        assert_eq!(code_of_folder("2114abc"), None);
    }
}
