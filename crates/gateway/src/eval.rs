//! `tonegate eval`: accuracy, wrong and false codes, latency and speed on a labelled set.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tonegate_classify::{Classifier, Code, Decision, Label, Library, Tuning, SAMPLE_RATE};

use crate::library::{self, LibraryError};

/// One row of labels.csv.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Row {
    /// Audio path, relative to the labels file's folder.
    pub file: String,
    /// `announcement`, `tone` or `negative`.
    pub kind: String,
    /// Expected hangupGcode, empty for none.
    pub code: Option<u16>,
    /// Expected label.
    pub label: String,
    /// Where the announcement or tone starts, ms.
    #[serde(default)]
    pub onset_ms: Option<u64>,
}

/// A classified row.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub row: Row,
    pub result: Result<Decision, String>,
    pub evidence: (f32, u32, u32),
    pub audio: Duration,
    pub cpu: Duration,
}

/// Reads labels.csv.
pub fn read_labels(path: &Path) -> Result<Vec<Row>, LibraryError> {
    let io = |source| LibraryError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut rdr = csv::Reader::from_path(path).map_err(|e| io(std::io::Error::other(e)))?;
    rdr.deserialize::<Row>()
        .map(|r| r.map_err(|e| io(std::io::Error::new(std::io::ErrorKind::InvalidData, e))))
        .collect()
}

/// Classifies every row on all cores, in order.
pub fn classify_rows(
    lib: &Arc<Library>,
    base: &Path,
    rows: &[Row],
    tuning: Tuning,
) -> Vec<Outcome> {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut slots: Vec<Option<Outcome>> = vec![None; rows.len()];
    let results: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(row) = rows.get(i) else { break };
                        let path: PathBuf = base.join(&row.file);
                        // A span per call, as the gateway opens one: traces name the file.
                        let _call = tracing::debug_span!("call", file = %row.file).entered();
                        let out = match library::read_audio(&path) {
                            Ok(pcm) => {
                                let t = Instant::now();
                                let mut c = Classifier::with_tuning(Arc::clone(lib), tuning);
                                c.push_samples(&pcm);
                                let d = c.finish();
                                Outcome {
                                    row: row.clone(),
                                    result: Ok(d),
                                    evidence: c.evidence(),
                                    audio: Duration::from_secs_f64(
                                        pcm.len() as f64 / SAMPLE_RATE as f64,
                                    ),
                                    cpu: t.elapsed(),
                                }
                            }
                            Err(e) => Outcome {
                                row: row.clone(),
                                result: Err(e.to_string()),
                                evidence: (0.0, 0, 0),
                                audio: Duration::ZERO,
                                cpu: Duration::ZERO,
                            },
                        };
                        mine.push((i, out));
                    }
                    mine
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    for (i, o) in results {
        slots[i] = Some(o);
    }
    slots.into_iter().flatten().collect()
}

/// The figures `eval` reports.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Summary {
    pub calls: usize,
    pub errors: usize,
    pub announcements: usize,
    pub announcements_right: usize,
    pub announcements_no_code: usize,
    pub announcements_wrong: usize,
    pub known_accuracy: f64,
    pub tones: usize,
    pub tones_right: usize,
    pub tone_accuracy: f64,
    pub negatives: usize,
    pub false_codes: usize,
    pub negative_labels_right: usize,
    pub emitted_codes: usize,
    pub wrong_codes: usize,
    pub wrong_code_rate: f64,
    pub latency_p50_ms: Option<u64>,
    pub latency_p90_ms: Option<u64>,
    pub real_time_factor: f64,
    pub decided_honest: bool,
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    Some(sorted[i])
}

/// Scores outcomes (of one set, or of several chained).
pub fn summarise<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Summary {
    let mut s = Summary {
        decided_honest: true,
        ..Summary::default()
    };
    let mut latencies = Vec::new();
    let (mut audio, mut cpu) = (Duration::ZERO, Duration::ZERO);
    for o in outcomes {
        s.calls += 1;
        let Ok(d) = &o.result else {
            s.errors += 1;
            continue;
        };
        audio += o.audio;
        cpu += o.cpu;
        let got = d.code.map(Code::get);
        let want = o.row.code;
        if got.is_some() {
            s.emitted_codes += 1;
            if got != want {
                s.wrong_codes += 1;
            }
        }
        if got.is_some() != d.at_sample.is_some() {
            s.decided_honest = false;
        }
        match o.row.kind.as_str() {
            "announcement" => {
                s.announcements += 1;
                match got {
                    None => s.announcements_no_code += 1,
                    Some(_) if got == want => {
                        s.announcements_right += 1;
                        if let (Some(at), Some(on)) = (d.at_ms(), o.row.onset_ms) {
                            latencies.push(at.saturating_sub(on));
                        }
                    }
                    Some(_) => s.announcements_wrong += 1,
                }
            }
            "tone" => {
                s.tones += 1;
                if got == want && d.label.as_str() == o.row.label {
                    s.tones_right += 1;
                }
            }
            _ => {
                s.negatives += 1;
                if got.is_some() {
                    s.false_codes += 1;
                }
                if Label::parse(&o.row.label) == Some(d.label) {
                    s.negative_labels_right += 1;
                }
            }
        }
    }
    latencies.sort_unstable();
    s.latency_p50_ms = percentile(&latencies, 0.5);
    s.latency_p90_ms = percentile(&latencies, 0.9);
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    s.known_accuracy = ratio(s.announcements_right, s.announcements);
    s.tone_accuracy = ratio(s.tones_right, s.tones);
    s.wrong_code_rate = ratio(s.wrong_codes, s.emitted_codes);
    s.real_time_factor = if cpu.is_zero() {
        0.0
    } else {
        audio.as_secs_f64() / cpu.as_secs_f64()
    };
    s
}

/// Renders the summary as the table the README shows.
pub fn render(s: &Summary, lib: &Library) -> String {
    let pct = |x: f64| format!("{:.1} %", x * 100.0);
    let ms = |x: Option<u64>| x.map_or("-".into(), |v| format!("{v} ms"));
    let mut t = String::new();
    t += &format!(
        "calls {} ({} unreadable), library {} references of {} codes\n",
        s.calls,
        s.errors,
        lib.len(),
        lib.codes().len()
    );
    t += "kind          calls  right  no code  wrong code\n";
    t += &format!(
        "announcement  {:>5}  {:>5}  {:>7}  {:>10}\n",
        s.announcements, s.announcements_right, s.announcements_no_code, s.announcements_wrong
    );
    t += &format!(
        "tone          {:>5}  {:>5}  {:>7}  {:>10}\n",
        s.tones, s.tones_right, "", ""
    );
    t += &format!(
        "negative      {:>5}  {:>5}  {:>7}  {:>10}   (right = label right; wrong code = false code)\n",
        s.negatives,
        s.negative_labels_right,
        s.negatives - s.false_codes,
        s.false_codes
    );
    t += &format!(
        "known-announcement accuracy  {} ({}/{})\n",
        pct(s.known_accuracy),
        s.announcements_right,
        s.announcements
    );
    t += &format!(
        "wrong codes                  {} of {} emitted ({})\n",
        s.wrong_codes,
        s.emitted_codes,
        pct(s.wrong_code_rate)
    );
    t += &format!(
        "false codes on negatives     {} of {}\n",
        s.false_codes, s.negatives
    );
    t += &format!(
        "tone accuracy                {} ({}/{})\n",
        pct(s.tone_accuracy),
        s.tones_right,
        s.tones
    );
    t += &format!(
        "latency after onset          p50 {}  p90 {}\n",
        ms(s.latency_p50_ms),
        ms(s.latency_p90_ms)
    );
    t += &format!(
        "real-time factor             {:.0}x (one stream, one core, decode excluded)\n",
        s.real_time_factor
    );
    t
}

/// Thresholds from `TONEGATE_TUNE="fail=0.15,good=0.3,..."` (for tuning experiments).
fn tuning_from_env() -> Tuning {
    let mut t = Tuning::default();
    if let Ok(spec) = std::env::var("TONEGATE_TUNE") {
        for kv in spec.split(',') {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let Ok(x) = v.trim().parse::<f32>() else {
                continue;
            };
            match k.trim() {
                "fail" => t.fail = x,
                "good" => t.good = x,
                "commit_mean" => t.commit_mean = x,
                "min_run" => t.min_run = x as u32,
                "noisy_db" => t.noisy_db = x,
                "noisy_fails" => t.noisy_fails = x as u8,
                "min_distinct" => t.min_distinct = x as u32,
                "short_distinct" => t.short_distinct = x as u32,
                "short_agree" => t.short_agree = x,
                "mid_distinct" => t.mid_distinct = x as u32,
                "mid_agree" => t.mid_agree = x,
                "distinct_fine" => t.distinct_fine = x,
                "fine_joint" => t.fine_joint = x,
                "shared_agree_min" => t.shared_agree_min = x,
                "shared_fine_min" => t.shared_fine_min = x,
                "fine_base" => t.fine_base = x,
                "fine_slope" => t.fine_slope = x,
                "rival_margin" => t.rival_margin = x,
                "pair_margin" => t.pair_margin = x,
                "overrule_fine" => t.overrule_fine = x,
                "short_overrule" => t.short_overrule = x != 0.0,
                "pitch_max" => t.pitch_max = x,
                "short_pitch_max" => t.short_pitch_max = x,
                "pace_max" => t.pace_max = x,
                "pace_gain" => t.pace_gain = x,
                "relative_miss" => t.relative_miss = x,
                "contrast" => t.contrast = x,
                "rival_contrast" => t.rival_contrast = x,
                "strong_agree" => t.strong_agree = x,
                "strong_rival_contrast" => t.strong_rival_contrast = x,
                "each_distinct" => t.each_distinct = x as u32,
                "max_rivals" => t.max_rivals = x as usize,
                "context_min" => t.context_min = x,
                "context_waive" => t.context_waive = x as u32,
                "noisy_context_waive" => t.noisy_context_waive = x as u32,
                "rival_silence_disagrees" => t.rival_silence_disagrees = x != 0.0,
                "distinct_agree" => t.distinct_agree = x,
                "short_relative" => t.short_relative = x,
                "relative_floor" => t.relative_floor = x,
                _ => eprintln!("TONEGATE_TUNE: unknown key {k}"),
            }
        }
    }
    t
}

/// Scores every labels file against the library at `root`: each set's summary, then (with
/// more than one) all of them together. Exit status 1 when a call could not be read.
pub fn run(
    root: &Path,
    labels: &[PathBuf],
    verbose: bool,
    json: bool,
) -> Result<ExitCode, LibraryError> {
    let t = Instant::now();
    let lib = library::load(root)?;
    let load = t.elapsed();
    let tuning = tuning_from_env();
    let mut sets = Vec::with_capacity(labels.len());
    for path in labels {
        let rows = read_labels(path)?;
        let base = path.parent().unwrap_or(Path::new("."));
        let outcomes = classify_rows(&lib, base, &rows, tuning);
        if verbose {
            // With several sets a call is named with its labels file.
            let prefix = if labels.len() > 1 {
                format!("{}: ", path.display())
            } else {
                String::new()
            };
            print_misses(&prefix, &outcomes, &lib);
        }
        sets.push((path, outcomes));
    }
    let summaries: Vec<Summary> = sets.iter().map(|(_, o)| summarise(o)).collect();
    let total = summarise(sets.iter().flat_map(|(_, o)| o));
    if json {
        let mut v = json!({"summary": total, "library_load_ms": load.as_millis() as u64});
        if sets.len() > 1 {
            v["sets"] = sets
                .iter()
                .zip(&summaries)
                .map(|((path, _), s)| json!({"labels": path.display().to_string(), "summary": s}))
                .collect();
        }
        outln!("{v}");
    } else {
        if sets.len() > 1 {
            for ((path, _), s) in sets.iter().zip(&summaries) {
                outln!("== {}", path.display());
                out!("{}", render(s, &lib));
                outln!();
            }
            outln!("== all {} sets", sets.len());
        }
        out!("{}", render(&total, &lib));
        outln!("library load                 {} ms", load.as_millis());
    }
    Ok(if total.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Prints (to stderr) every call that was not right, with what was expected and heard.
fn print_misses(prefix: &str, outcomes: &[Outcome], lib: &Library) {
    for o in outcomes {
        match &o.result {
            Err(e) => eprintln!("{prefix}{}: error: {e}", o.row.file),
            Ok(d) => {
                let got = d.code.map(Code::get);
                let label_ok = Label::parse(&o.row.label) == Some(d.label);
                if got != o.row.code || (o.row.kind != "announcement" && !label_ok) {
                    let r = d
                        .reference
                        .map_or("-".into(), |i| lib.references()[i].name().to_string());
                    eprintln!(
                        "{prefix}{} {}: want {:?}/{} got {:?}/{} conf {:.2} at {:?} ref {} evidence {:.2}/{}/{}",
                        o.row.file,
                        o.row.kind,
                        o.row.code,
                        o.row.label,
                        got,
                        d.label,
                        d.confidence,
                        d.at_ms(),
                        r,
                        o.evidence.0,
                        o.evidence.1,
                        o.evidence.2
                    );
                }
            }
        }
    }
}
