//! `tonegate`: the gateway binary and its tools.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `print!` for what a command reports on stdout: a reader that went away (`tonegate library
/// | head`) ends the command quietly instead of panicking, and another write error (a full
/// disk) is reported and ends it with status 1.
macro_rules! out {
    ($($arg:tt)*) => { $crate::write_stdout(format_args!($($arg)*)) };
}

/// `println!`, as [`out!`].
macro_rules! outln {
    () => { out!("\n") };
    ($($arg:tt)*) => { out!("{}\n", format_args!($($arg)*)) };
}

fn write_stdout(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    if let Err(e) = stdout.write_fmt(args).and_then(|()| stdout.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("tonegate: cannot write the output: {e}");
        std::process::exit(1);
    }
}

mod calls;
mod classify_cmd;
mod config;
mod cpu;
mod delivery;
mod demo;
mod eval;
mod hangup;
mod http;
mod library;
mod media;
mod metrics;
mod outbox;
mod run;
mod signing;
mod sip_driver;

/// tonegate: a SIP/RTP media gateway that hears why unanswered calls failed.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Classify recordings of early media (WAV PCM/μ-law/A-law, MP3), streamed as a call would be.
    Classify {
        /// The announcement library (folders named by hangupGcode).
        #[arg(long)]
        library: Option<PathBuf>,
        /// One JSON object per line per file.
        #[arg(long)]
        json: bool,
        /// Audio files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// List the library's references: code, length, and the share no other code shares;
    /// `library add` adds recordings to it.
    #[command(args_conflicts_with_subcommands = true)]
    Library {
        /// Add recordings instead of listing.
        #[command(subcommand)]
        action: Option<LibraryAction>,
        /// The announcement library.
        #[arg(long)]
        library: Option<PathBuf>,
        /// Also list each reference's phrases shared with other codes (ms ranges).
        #[arg(long)]
        shared: bool,
    },
    /// Score the classifier on a labelled set (labels.csv: file,kind,code,label,onset_ms,...).
    Eval {
        /// The announcement library.
        #[arg(long)]
        library: Option<PathBuf>,
        /// The labels file; audio paths in it are relative to its folder. Give it again for
        /// more sets (held-out draws): each is scored on its own, then all together.
        #[arg(long, required = true)]
        labels: Vec<PathBuf>,
        /// Print every call that was not right.
        #[arg(long)]
        verbose: bool,
        /// Print the summary as one JSON object (with several sets, each one's under `sets`).
        #[arg(long)]
        json: bool,
    },
    /// List the event outbox of a configuration: events pending delivery, and the ones
    /// given up (with why). Open it while the gateway is stopped (the file is locked).
    Outbox {
        /// The gateway's configuration file (its `[events] outbox`).
        #[arg(long)]
        config: PathBuf,
        /// One JSON object per given-up event, then a summary line.
        #[arg(long)]
        json: bool,
    },
    /// The main job end to end on this machine: starts the gateway with the shipped
    /// library, a carrier that plays announcements and tones in early media (and answers
    /// some calls) and a caller; places the calls, prints each HangupCauseEvent as it
    /// arrives and a summary (expected vs heard).
    Demo(demo::DemoArgs),
    /// Check a configuration file: every error with its key and line; exit 1 if any.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Run the SIP B2BUA (UDP and TCP) with a TOML configuration.
    Run {
        /// The configuration file.
        #[arg(long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum LibraryAction {
    /// Copy recordings into the library as references of a code (a running gateway
    /// picks them up on SIGHUP).
    Add {
        /// The announcement library.
        #[arg(long)]
        library: Option<PathBuf>,
        /// The hangupGcode the recordings say (2101-2118).
        #[arg(long, required_unless_present = "no_code", conflicts_with = "no_code")]
        code: Option<u16>,
        /// The recordings are speech that carries no code (a prompt or advertisement the
        /// classifier gave a code to): they go to the library's `none` folder.
        #[arg(long)]
        no_code: bool,
        /// Audio files (WAV or MP3).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
}

fn main() -> ExitCode {
    // Before anything that may use the build's instruction set.
    let missing = cpu::missing_features();
    if !missing.is_empty() {
        eprintln!("{}", cpu::refusal(&missing));
        return ExitCode::from(2);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TONEGATE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify {
            library,
            json,
            files,
        } => classify_cmd::run(&library.unwrap_or_else(library::default_root), json, &files),
        Command::Library {
            action:
                Some(LibraryAction::Add {
                    library,
                    code,
                    files,
                    ..
                }),
            ..
        } => add_to_library(&library.unwrap_or_else(library::default_root), code, &files),
        Command::Library {
            action: None,
            library,
            shared,
        } => list_library(&library.unwrap_or_else(library::default_root), shared),
        Command::Eval {
            library,
            labels,
            verbose,
            json,
        } => eval::run(
            &library.unwrap_or_else(library::default_root),
            &labels,
            verbose,
            json,
        ),
        Command::Run { config } => return run::main(&config),
        Command::CheckConfig { file } => return check_config(&file),
        Command::Demo(args) => return demo::main(args),
        Command::Outbox { config, json } => return list_outbox(&config, json),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tonegate: {e}");
            ExitCode::from(2)
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return ExitCode::from(2);
        }
    };
    match config::Config::parse(&text) {
        Ok(c) => {
            let mut notes = vec![format!("{} trunk(s)", c.trunks.len())];
            match &c.rtp {
                Some(r) => notes.push(format!("media anchored on {} ports {}", r.address, r.ports)),
                None => notes.push("media not anchored (no [rtp])".to_owned()),
            }
            let library = c
                .classify
                .library
                .clone()
                .unwrap_or_else(library::default_root);
            match library::scan(&library) {
                Ok(refs) if !refs.is_empty() => notes.push(format!(
                    "library {} ({} references)",
                    library.display(),
                    refs.len()
                )),
                Ok(_) | Err(_) if c.rtp.is_some() => {
                    eprintln!(
                        "{}: classify.library: {} holds no reference",
                        file.display(),
                        library.display()
                    );
                    return ExitCode::from(1);
                }
                _ => {}
            }
            outln!("{}: ok: {}", file.display(), notes.join(", "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            let line = e.line(&text).map(|l| format!("{l}:")).unwrap_or_default();
            let key = e.key().map(|k| format!(" {k}:")).unwrap_or_default();
            // toml's own message already names the line and the key.
            let msg = e
                .to_string()
                .replace('\n', " ")
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            eprintln!("{}:{line}{key} {msg}", file.display());
            ExitCode::from(1)
        }
    }
}

fn list_outbox(config: &std::path::Path, json: bool) -> ExitCode {
    let result = config::Config::load(config)
        .map_err(|e| e.to_string())
        .and_then(|c| outbox::Outbox::open(&c.events.outbox).map_err(|e| e.to_string()))
        .and_then(|ob| {
            Ok((
                ob.pending_len().map_err(|e| e.to_string())?,
                ob.given_up().map_err(|e| e.to_string())?,
            ))
        });
    let (pending, given_up) = match result {
        Ok(x) => x,
        Err(e) => {
            eprintln!("tonegate: {e}");
            return ExitCode::from(2);
        }
    };
    for env in &given_up {
        if json {
            outln!(
                "{}",
                serde_json::json!({
                    "eventId": env.event_id,
                    "kind": env.kind,
                    "url": env.url,
                    "attempts": env.attempts,
                    "lastError": env.last_error,
                    "createdMs": env.created_ms,
                    "body": serde_json::from_str::<serde_json::Value>(&env.body).ok(),
                })
            );
        } else {
            outln!(
                "given up  {}  {:<18} attempts {}  {}",
                env.event_id,
                env.kind,
                env.attempts,
                env.last_error.as_deref().unwrap_or("")
            );
        }
    }
    if json {
        outln!(
            "{}",
            serde_json::json!({"pending": pending, "givenUp": given_up.len()})
        );
    } else {
        outln!("pending {pending}, given up {}", given_up.len());
    }
    ExitCode::SUCCESS
}

fn add_to_library(
    root: &std::path::Path,
    code: Option<u16>,
    files: &[PathBuf],
) -> Result<ExitCode, library::LibraryError> {
    for f in files {
        let dest = library::add(root, code, f)?;
        outln!("{} -> {}", f.display(), dest.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn list_library(root: &std::path::Path, shared: bool) -> Result<ExitCode, library::LibraryError> {
    let lib = library::load(root)?;
    outln!(
        "{:<44} {:>5} {:>8} {:>9}",
        "reference",
        "code",
        "ms",
        "distinct"
    );
    for r in lib.references() {
        // A reference without a code never decides: what it shares is not looked for.
        let (code, distinct) = match r.code() {
            Some(c) => (c.to_string(), format!("{:.0}%", r.distinct_share() * 100.0)),
            None => ("none".to_owned(), "-".to_owned()),
        };
        outln!(
            "{:<44} {:>5} {:>8} {:>9}",
            r.name(),
            code,
            r.duration_ms(),
            distinct
        );
        if shared {
            let ranges: Vec<String> = r
                .shared_intervals()
                .iter()
                .map(|(a, b)| format!("{}-{}", a * 10, b * 10))
                .collect();
            outln!("    shared (ms): {}", ranges.join(" "));
        }
    }
    for (name, kept) in lib.copies() {
        outln!("{name:<44} copy of {} (left out)", kept.name());
    }
    Ok(ExitCode::SUCCESS)
}
