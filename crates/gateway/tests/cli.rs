//! The `tonegate` binary as a user runs it: `classify --json`, `eval --json`, `library`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// hangupGname of every code heard in early media, byte for byte from the spec's table
/// (hangup-codes.md), written out here rather than taken from the crate.
const SPEC_NAMES: [(u64, &str); 18] = [
    (2101, "用户占线"),
    (2102, "无人接听"),
    (2103, "网络忙"),
    (2104, "线路故障"),
    (2105, "不在服务区"),
    (2106, "暂停服务"),
    (2107, "停机"),
    (2108, "暂时无法接通"),
    (2109, "关机"),
    (2110, "停机保号"),
    (2111, "呼叫受限"),
    (2112, "呼叫等待"),
    (2113, "呼叫转移"),
    (2114, "空号"),
    (2115, "号码不正确"),
    (2116, "号码无效"),
    (2117, "外地号码需加零"),
    (2118, "本地不需加零"),
];

const LABELS: [&str; 10] = [
    "announcement",
    "busy_tone",
    "congestion_tone",
    "unobtainable_tone",
    "ringback",
    "call_waiting_tone",
    "dial_tone",
    "unknown_speech",
    "music",
    "silence",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn devset(file: &str) -> PathBuf {
    root().join("testdata/devset").join(file)
}

fn tonegate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .args(args)
        .arg("--library")
        .arg(root().join("testdata/library"))
        .output()
        .expect("run tonegate")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8(out.stdout.clone())
        .expect("UTF-8 stdout")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// A scratch folder of this test's own under cargo's temporary target folder.
fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Checks one `classify --json` result line: fields, types, and the code's spec name.
fn check_result(v: &Value, file: &str) {
    let o = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"));
    assert_eq!(o["file"], file);
    assert!(o.get("error").is_none(), "{file}: {v}");
    let label = o["label"]
        .as_str()
        .unwrap_or_else(|| panic!("label not a string: {v}"));
    assert!(LABELS.contains(&label), "{file}: unknown label {label}");
    let conf = o["confidence"]
        .as_f64()
        .unwrap_or_else(|| panic!("confidence not a number: {v}"));
    assert!((0.0..=1.0).contains(&conf), "{file}: confidence {conf}");
    match &o["hangupGcode"] {
        Value::Null => {
            assert!(
                o["hangupGname"].is_null(),
                "{file}: a name without a code: {v}"
            );
        }
        Value::Number(n) => {
            let code = n
                .as_u64()
                .unwrap_or_else(|| panic!("code not an integer: {v}"));
            let name = SPEC_NAMES.iter().find(|(c, _)| *c == code).map(|(_, n)| *n);
            assert!(
                name.is_some(),
                "{file}: {code} is not a code heard in early media"
            );
            assert_eq!(
                o["hangupGname"].as_str(),
                name,
                "{file}: hangupGname of {code}"
            );
            let at = o["decidedAtMs"]
                .as_u64()
                .unwrap_or_else(|| panic!("{file}: a code needs decidedAtMs: {v}"));
            assert!(
                at <= 15_000,
                "{file}: decided at {at} ms in a call of at most 14 s"
            );
        }
        other => panic!("{file}: hangupGcode is {other}"),
    }
    assert!(
        o["decidedAtMs"].is_null() || o["decidedAtMs"].is_u64(),
        "{file}: decidedAtMs {v}"
    );
    for key in o.keys() {
        assert!(
            [
                "file",
                "hangupGcode",
                "hangupGname",
                "label",
                "confidence",
                "decidedAtMs"
            ]
            .contains(&key.as_str()),
            "{file}: unexpected field {key}"
        );
    }
}

/// Dev-set calls of several kinds: announcements, a tone of each kind, negatives.
fn sample_files() -> Vec<String> {
    let labels =
        std::fs::read_to_string(root().join("testdata/devset/labels.csv")).expect("labels.csv");
    let rows: Vec<Vec<String>> = labels
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    let mut files = Vec::new();
    for want in [
        "announcement",
        "busy_tone",
        "congestion_tone",
        "unobtainable_tone",
        "ringback",
        "music",
    ] {
        let n = if want == "announcement" { 3 } else { 1 };
        files.extend(
            rows.iter()
                .filter(|r| r[3] == want)
                .take(n)
                .map(|r| r[0].clone()),
        );
    }
    files
}

#[test]
fn classify_json_prints_one_line_per_file_with_spec_names() {
    let files = sample_files();
    let paths: Vec<String> = files
        .iter()
        .map(|f| devset(f).display().to_string())
        .collect();
    let mut args = vec!["classify", "--json"];
    args.extend(paths.iter().map(String::as_str));
    let out = tonegate(&args);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), paths.len());
    for (v, p) in lines.iter().zip(&paths) {
        check_result(v, p);
    }
    // The tone calls are clean enough that a code must be among the results.
    assert!(
        lines.iter().any(|v| v["hangupGcode"].is_u64()),
        "no code at all: {lines:?}"
    );
}

#[test]
fn unreadable_files_give_error_lines_and_the_others_still_print() {
    let dir = scratch("errors");
    let garbage = dir.join("garbage.wav");
    std::fs::write(
        &garbage,
        b"RIFF\x10\x00\x00\x00WAVEnot really a wave file at all",
    )
    .expect("write");
    let missing = dir.join("does-not-exist.wav");
    let good = [devset("calls/0001.wav"), devset("calls/0002.wav")];
    let order = [&good[0], &missing, &garbage, &good[1]];
    let names: Vec<String> = order.iter().map(|p| p.display().to_string()).collect();
    let mut args = vec!["classify", "--json"];
    args.extend(names.iter().map(String::as_str));
    let out = tonegate(&args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 4, "{lines:?}");
    check_result(&lines[0], &names[0]);
    check_result(&lines[3], &names[3]);
    for i in [1, 2] {
        let o = lines[i].as_object().expect("object");
        assert_eq!(o["file"], names[i].as_str());
        assert!(
            o["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}",
            lines[i]
        );
        assert_eq!(o.len(), 2, "an error line is {{file, error}}: {}", lines[i]);
        // The file is a call, not the library's: the error says what failed on it.
        let error = o["error"].as_str().unwrap_or_default();
        let want = if i == 1 {
            "cannot read "
        } else {
            "cannot decode "
        };
        assert!(
            error.starts_with(&format!("{want}{}", names[i])) && !error.contains("library"),
            "{error}"
        );
    }
}

/// A labels file in `dir` with the dev set's rows of these kinds (the first row of a kind,
/// then its second, ...), their calls copied next to it; the labels file's header and rows.
fn small_labels(dir: &Path, kinds: &[&str]) -> (PathBuf, String, Vec<String>) {
    std::fs::create_dir_all(dir.join("calls")).expect("calls folder");
    let all =
        std::fs::read_to_string(root().join("testdata/devset/labels.csv")).expect("labels.csv");
    let mut lines = all.lines();
    let header = lines.next().expect("header").to_owned();
    let mut rows = Vec::new();
    for (i, kind) in kinds.iter().enumerate() {
        let nth = kinds[..i].iter().filter(|k| *k == kind).count();
        let line = lines
            .clone()
            .filter(|l| l.split(',').nth(1) == Some(kind))
            .nth(nth)
            .expect("a row of that kind");
        let file = line.split(',').next().expect("file");
        std::fs::copy(devset(file), dir.join(file)).expect("copy call");
        rows.push(line.to_owned());
    }
    let labels = dir.join("labels.csv");
    std::fs::write(&labels, format!("{header}\n{}\n", rows.join("\n"))).expect("labels");
    (labels, header, rows)
}

/// Runs `tonegate` with `args`, which must succeed and print one JSON object.
fn one_json_object(args: &[&str]) -> Value {
    let out = tonegate(args);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut v = json_lines(&out);
    assert_eq!(v.len(), 1, "one JSON object: {v:?}");
    v.remove(0)
}

/// `--labels` given twice scores each set on its own and both together.
#[test]
fn eval_scores_several_labels_files_each_and_together() {
    let dir = scratch("eval-sets");
    let (a, _, _) = small_labels(&dir.join("a"), &["announcement", "announcement"]);
    let (b, _, _) = small_labels(&dir.join("b"), &["tone", "negative"]);
    let paths = [a, b].map(|p| p.to_str().expect("UTF-8 path").to_owned());
    let v = one_json_object(&[
        "eval", "--json", "--labels", &paths[0], "--labels", &paths[1],
    ]);
    let sets = v["sets"].as_array().expect("sets");
    assert_eq!(sets.len(), 2);
    assert_eq!(sets[0]["labels"], paths[0].as_str());
    assert_eq!(sets[0]["summary"]["calls"], 2);
    assert_eq!(sets[0]["summary"]["announcements"], 2);
    assert_eq!(sets[1]["summary"]["tones"], 1);
    assert_eq!(sets[1]["summary"]["negatives"], 1);
    let total = &v["summary"];
    assert_eq!(total["calls"], 4);
    assert_eq!(total["announcements"], 2);
    assert_eq!(total["tones"], 1);
    assert_eq!(total["negatives"], 1);
    assert_eq!(
        total["announcements_right"],
        sets[0]["summary"]["announcements_right"]
    );

    // The table names each set, then the whole.
    let out = tonegate(&["eval", "--labels", &paths[0], "--labels", &paths[1]]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert!(text.contains(&format!("== {}", paths[0])), "{text}");
    assert!(text.contains("== all 2 sets"), "{text}");
    assert_eq!(
        text.matches("known-announcement accuracy").count(),
        3,
        "{text}"
    );
}

#[test]
fn eval_json_reports_counts_for_a_small_labels_file() {
    let dir = scratch("eval");
    // Two announcements, two tones and two negatives, copied next to a labels file of their own.
    let (labels, header, rows) = small_labels(
        &dir,
        &[
            "announcement",
            "announcement",
            "tone",
            "tone",
            "negative",
            "negative",
        ],
    );
    let v = one_json_object(&[
        "eval",
        "--json",
        "--labels",
        labels.to_str().expect("UTF-8 path"),
    ]);
    let s = &v["summary"];
    assert_eq!(s["calls"], 6);
    assert_eq!(s["errors"], 0);
    assert_eq!(s["announcements"], 2);
    assert_eq!(s["tones"], 2);
    assert_eq!(s["negatives"], 2);
    let right = s["announcements_right"].as_u64().expect("count");
    let none = s["announcements_no_code"].as_u64().expect("count");
    let wrong = s["announcements_wrong"].as_u64().expect("count");
    assert_eq!(right + none + wrong, 2);
    assert!(s["tones_right"].as_u64().expect("count") <= 2);
    assert!(s["false_codes"].as_u64().expect("count") <= 2);
    assert!(
        s["emitted_codes"].as_u64().expect("count") >= s["wrong_codes"].as_u64().expect("count")
    );
    assert_eq!(s["decided_honest"], true);
    assert!(v["library_load_ms"].is_u64());

    // A row whose file is missing is counted as an error and fails the run.
    std::fs::write(
        &labels,
        format!(
            "{header}\n{}\ncalls/missing.wav,negative,,silence,0,,\n",
            rows.join("\n")
        ),
    )
    .expect("labels");
    let out = tonegate(&[
        "eval",
        "--json",
        "--labels",
        labels.to_str().expect("UTF-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json_lines(&out);
    assert_eq!(v[0]["summary"]["calls"], 7);
    assert_eq!(v[0]["summary"]["errors"], 1);
}

#[test]
fn library_lists_the_shipped_references_54_coded_and_6_prompts() {
    let out = tonegate(&["library"]);
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.contains("reference") && h.contains("code")),
        "header"
    );
    let rows: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(rows.len(), 60, "{text}");
    let prompts = rows
        .iter()
        .filter(|r| r.starts_with("none-prompts/") && r.split_whitespace().nth(1) == Some("none"))
        .count();
    assert_eq!(
        prompts, 6,
        "one known prompt without a code per row: {text}"
    );
    for (code, _) in SPEC_NAMES {
        let n = rows
            .iter()
            .filter(|r| r.split_whitespace().nth(1) == Some(code.to_string().as_str()))
            .count();
        assert_eq!(
            n, 3,
            "code {code}: {n} references (one per carrier expected)"
        );
    }
}

/// A reader that stops early (`tonegate library | head`) ends the listing quietly: no panic,
/// exit status 0. The reader here has gone before the library is even loaded.
#[test]
fn a_listing_piped_to_a_reader_that_left_ends_quietly() {
    // `true` reads nothing and exits; pipefail gives the listing's own exit status.
    let out = Command::new("bash")
        .arg("-c")
        .arg("set -o pipefail; \"$0\" library --shared | true")
        .arg(env!("CARGO_BIN_EXE_tonegate"))
        .output()
        .expect("sh");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
}

/// `library add --no-code` files a recording as speech that carries no code: the listing
/// shows it without one, and `--code` or `--no-code` must be given, not both.
#[test]
fn library_add_no_code_files_a_reference_without_a_code() {
    let lib = scratch("no-code");
    let src = root().join("testdata/library/2114-empty-number/cm.wav");
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_tonegate"))
            .args(args)
            .arg("--library")
            .arg(&lib)
            .output()
            .expect("run tonegate")
    };
    let src = src.to_str().expect("UTF-8 path");
    for args in [
        vec!["library", "add", "--code", "2114", src],
        vec!["library", "add", "--no-code", src],
    ] {
        let out = run(&args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(lib.join("none/cm.wav").is_file());
    for args in [
        vec!["library", "add", src],
        vec!["library", "add", "--code", "2114", "--no-code", src],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?} must be refused");
    }
    let out = run(&["library"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let codes: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(1))
        .collect();
    assert_eq!(codes, ["2114", "none"], "{text}");
    let _ = std::fs::remove_dir_all(&lib);
}

/// `check-config` accepts the documented configuration and names the key
/// and the line of each mistake.
#[test]
fn check_config_names_the_key_and_line() {
    let good = root().join("deploy/tonegate.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_tonegate"))
        .arg("check-config")
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok:"));

    let text = std::fs::read_to_string(&good).unwrap();
    let dir = scratch("check-config");
    for (from, to, key, needle) in [
        (
            "listen = \"127.0.0.1:5060\"",
            "listne = \"x\"",
            "",
            "unknown field `listne`",
        ),
        (
            "sources = [\"127.0.0.1/32\"]",
            "sources = [\"10.0.0.0/33\"]",
            "trunks.sources",
            "10.0.0.0/33",
        ),
        (
            "ports = \"20000-29999\"",
            "ports = \"99-100\"",
            "rtp.ports",
            "99-100",
        ),
        ("retries = 3", "retries = -1", "", "retries"),
    ] {
        let bad = text.replacen(from, to, 1);
        assert_ne!(bad, text, "{from}");
        let line = bad.lines().position(|l| l.starts_with(to)).unwrap() + 1;
        let path = dir.join("bad.toml");
        std::fs::write(&path, &bad).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_tonegate"))
            .arg("check-config")
            .arg(&path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("bad.toml:{line}:")),
            "line {line} in {err}"
        );
        assert!(
            err.contains(key) && err.contains(needle),
            "{key} {needle} in {err}"
        );
    }
}
