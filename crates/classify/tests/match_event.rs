//! Each code given is logged once as a `match` event (debug) that carries every figure its
//! commit tests weighed, and those figures clear the lines the tests hold them to: a code
//! can be explained from the log alone. Calls of held-out draws (`testdata/regress/`), on
//! the shipped library.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use common::classify_regress;
use tonegate_classify::{Code, Tuning};
use tracing::field::{Field, Visit};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

/// The fields of every `match` event seen, numbers and flags alike as `f64`.
#[derive(Clone, Default)]
struct Matches(Arc<Mutex<Vec<HashMap<String, f64>>>>);

#[derive(Default)]
struct Fields {
    values: HashMap<String, f64>,
    is_match: bool,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == "match" {
            self.is_match = true;
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.values.insert(field.name().to_owned(), value);
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.values.insert(field.name().to_owned(), value as f64);
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.values.insert(field.name().to_owned(), value as f64);
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.values
            .insert(field.name().to_owned(), f64::from(u8::from(value)));
    }
}

impl<S: tracing::Subscriber> Layer<S> for Matches {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        if fields.is_match {
            self.0.lock().unwrap().push(fields.values);
        }
    }
}

/// The call's decision and the `match` events logged while it was classified.
fn classify_logged(name: &str) -> (Option<Code>, Vec<HashMap<String, f64>>) {
    let seen = Matches::default();
    let subscriber =
        tracing_subscriber::registry().with(seen.clone().with_filter(LevelFilter::DEBUG));
    let decision =
        tracing::subscriber::with_default(subscriber, || classify_regress(name, Tuning::default()));
    let events = seen.0.lock().unwrap().clone();
    (decision.code, events)
}

fn check(name: &str, code: u16, short: bool) {
    let (given, events) = classify_logged(name);
    assert_eq!(given, Code::new(code), "{name}");
    assert_eq!(events.len(), 1, "{name}: one match event per code given");
    let e = &events[0];
    let get = |k: &str| {
        *e.get(k)
            .unwrap_or_else(|| panic!("{name}: no field {k} in {e:?}"))
    };
    for k in [
        "reference",
        "run",
        "mean",
        "ema",
        "distinct",
        "each",
        "short",
        "clear",
        "contrast",
        "over_rivals",
        "context",
        "fine",
        "distinct_agree",
        "distinct_fine",
        "shared_agree",
        "shared_fine",
        "pace",
    ] {
        get(k);
    }
    let t = Tuning::default();
    assert_eq!(get("short") == 1.0, short, "{name}: {e:?}");
    assert_eq!(
        get("short") == 1.0,
        get("distinct") < f64::from(t.min_distinct),
        "{name}"
    );
    assert!(get("run") >= f64::from(t.min_run), "{name}: {e:?}");
    assert!(get("mean") >= f64::from(t.commit_mean), "{name}: {e:?}");
    assert!(
        get("distinct") >= f64::from(t.short_distinct),
        "{name}: {e:?}"
    );
    assert!(get("each") >= f64::from(t.each_distinct), "{name}: {e:?}");
    assert!(get("contrast") >= f64::from(t.contrast), "{name}: {e:?}");
    let line = f64::from(t.fine_base) + f64::from(t.fine_slope) * get("mean");
    assert!(get("fine") >= line - 1e-6, "{name}: {e:?}");
    assert!(
        get("distinct_fine") >= f64::from(t.distinct_fine),
        "{name}: {e:?}"
    );
    assert!(
        get("shared_agree") >= f64::from(t.shared_agree_min),
        "{name}: {e:?}"
    );
    assert!(
        get("shared_fine") >= f64::from(t.shared_fine_min),
        "{name}: {e:?}"
    );
    if let Some(&pitch) = e.get("pitch") {
        // A run short of distinguishing words has the closer line.
        let line = if short {
            t.short_pitch_max
        } else {
            t.pitch_max
        };
        assert!(pitch.abs() <= f64::from(line), "{name}: {e:?}");
    }
}

/// 2101/ct decided on the short path (`tests/short_overrule.rs`).
#[test]
fn a_short_path_code_is_logged_with_the_figures_it_passed_on() {
    check("seed963-0196-2101-ct-short-overrule.wav", 2101, true);
}

/// 2102/cu at 5.2 dB SNR decided on a 4.6 s run (`tests/context_long_run.rs`).
#[test]
fn a_long_path_code_is_logged_with_the_figures_it_passed_on() {
    check("seed963-0270-2102-cu-context.wav", 2102, false);
}

/// A carrier's prompt that gets no code logs no match.
#[test]
fn no_code_no_match_event() {
    let (given, events) = classify_logged("seed944b-0029-ct-prompt2.wav");
    assert_eq!(given, None);
    assert!(events.is_empty(), "{events:?}");
}
