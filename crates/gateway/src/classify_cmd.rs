//! `tonegate classify`: each file streamed through the per-call classifier.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::json;
use tonegate_classify::{Classifier, Decision, Library};

use crate::library::{self, LibraryError};

/// Classifies one file through the streaming API.
pub fn classify_file(lib: &Arc<Library>, path: &Path) -> Result<Decision, LibraryError> {
    let pcm = library::read_audio(path)?;
    Ok(Classifier::classify(Arc::clone(lib), &pcm))
}

/// The `--json` line for a decision.
pub fn json_line(file: &str, d: &Decision) -> serde_json::Value {
    json!({
        "file": file,
        "hangupGcode": d.code.map(|c| c.get()),
        "hangupGname": d.code.map(|c| c.name()),
        "label": d.label.as_str(),
        "confidence": (f64::from(d.confidence) * 1000.0).round() / 1000.0,
        "decidedAtMs": d.at_ms(),
    })
}

pub fn run(root: &Path, json: bool, files: &[PathBuf]) -> Result<ExitCode, LibraryError> {
    let lib = library::load(root)?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut failed = false;
    if !json {
        let _ = writeln!(
            out,
            "{:<40} {:>5} {:<14} {:<18} {:>5} {:>8}",
            "file", "code", "name", "label", "conf", "at_ms"
        );
    }
    for path in files {
        let name = path.display().to_string();
        let line = match classify_file(&lib, path) {
            Ok(d) if json => json_line(&name, &d).to_string(),
            Ok(d) => format!(
                "{:<40} {:>5} {:<14} {:<18} {:>5.2} {:>8}",
                name,
                d.code.map_or("-".into(), |c| c.to_string()),
                d.code.map_or("-", |c| c.name()),
                d.label.as_str(),
                d.confidence,
                d.at_ms().map_or("-".into(), |m| m.to_string()),
            ),
            Err(e) => {
                failed = true;
                if json {
                    json!({"file": name, "error": e.to_string()}).to_string()
                } else {
                    format!("{name:<40} error: {e}")
                }
            }
        };
        // A closed pipe (e.g. `| head`) ends the run quietly.
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
