//! SQL statements and transactions counted per service, for `nakku bench orders`.
//!
//! Every statement sqlx runs is a trace-level `sqlx::query` event (see
//! [`nakku_core::db::Db::connect`]) and every write transaction a
//! [`nakku_core::db::TRANSACTION_TARGET`] event. While counting is on ([`start`]), this
//! layer takes them and charges each to the service named by the nearest enclosing span
//! with a `service` field: a request's span, a background worker's, or the
//! [`nakku_core::trace::service_span`] an in-process port call runs in (so a reservation
//! the order service makes runs, and is counted, as the inventory's). `BEGIN`, `COMMIT`
//! and `ROLLBACK` are not statements here (SQLite's driver runs them without an event;
//! on MySQL each is a round trip more per transaction).
//!
//! While counting is off the layer costs a relaxed load per statement and span.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use nakku_core::service::Service;
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Filter, Layer};
use tracing_subscriber::registry::LookupSpan;

static ON: AtomicBool = AtomicBool::new(false);
static COUNTS: Mutex<Seen> = Mutex::new(Seen {
    transactions: BTreeMap::new(),
    texts: BTreeMap::new(),
});

/// What the layer saw while counting was on.
struct Seen {
    transactions: BTreeMap<&'static str, u64>,
    texts: BTreeMap<(&'static str, String), u64>,
}

/// What a service ran while counting was on.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Tally {
    /// Statements, not counting transaction control.
    pub statements: u64,
    /// Write transactions begun.
    pub transactions: u64,
}

/// One count: each service's tally, and its statements by text (the first
/// [`TEXT_CHARS`] characters, whitespace collapsed) with how often each ran.
#[derive(Debug, Default)]
pub struct Counted {
    pub tallies: BTreeMap<&'static str, Tally>,
    pub texts: BTreeMap<(&'static str, String), u64>,
}

/// The name statements outside any service's span are charged to.
pub const UNATTRIBUTED: &str = "(no service)";

/// How much of a statement's text [`Counted::texts`] keeps.
pub const TEXT_CHARS: usize = 120;

/// Starts counting from zero.
pub fn start() {
    let mut c = counts();
    c.transactions.clear();
    c.texts.clear();
    drop(c);
    ON.store(true, Ordering::Relaxed);
}

/// Stops counting and returns what was counted.
pub fn stop() -> Counted {
    ON.store(false, Ordering::Relaxed);
    let mut c = counts();
    let texts = std::mem::take(&mut c.texts);
    let mut tallies: BTreeMap<&'static str, Tally> = std::mem::take(&mut c.transactions)
        .into_iter()
        .map(|(svc, n)| {
            (
                svc,
                Tally {
                    statements: 0,
                    transactions: n,
                },
            )
        })
        .collect();
    for ((svc, _), n) in &texts {
        tallies.entry(svc).or_default().statements += n;
    }
    Counted { tallies, texts }
}

fn counts() -> std::sync::MutexGuard<'static, Seen> {
    COUNTS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Whether the counting layer is installed (it is by [`crate::telemetry::init`]): without
/// it [`stop`] would return nothing and look like no statements at all.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

static INSTALLED: AtomicBool = AtomicBool::new(false);

/// The layer, with its own filter: service spans always (they are made once per worker
/// or port call and must exist before counting starts), other spans and the counted
/// events only while counting.
pub fn layer<S>() -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    Counter.with_filter(Gate)
}

/// Called by [`crate::telemetry::init`] once the subscriber holding [`layer`] is the
/// process's.
pub(crate) fn mark_installed() {
    INSTALLED.store(true, Ordering::Relaxed);
}

struct Gate;

fn counted_event(target: &str) -> bool {
    target == "sqlx::query" || target == nakku_core::db::TRANSACTION_TARGET
}

impl<S> Filter<S> for Gate {
    fn enabled(&self, meta: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        meta.target() == nakku_core::trace::SERVICE_TARGET || ON.load(Ordering::Relaxed)
    }

    fn callsite_enabled(&self, meta: &'static Metadata<'static>) -> Interest {
        if meta.target() == nakku_core::trace::SERVICE_TARGET {
            Interest::always()
        } else if meta.is_span() || counted_event(meta.target()) {
            Interest::sometimes()
        } else {
            Interest::never()
        }
    }
}

struct Counter;

/// A span's service, kept in its extensions.
struct Labelled(&'static str);

#[derive(Default)]
struct ServiceField(Option<&'static str>);

impl Visit for ServiceField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "service" {
            self.0 = Some(if value == nakku_core::trace::EVENT_LOG {
                nakku_core::trace::EVENT_LOG
            } else {
                value.parse::<Service>().map_or(UNATTRIBUTED, Service::name)
            });
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "service" {
            self.record_str(field, format!("{value:?}").trim_matches('"'));
        }
    }
}

/// A `sqlx::query` event's text: `summary` (the statement's first words) and
/// `db.statement` (the whole text, when longer).
#[derive(Default)]
struct Text {
    summary: String,
    whole: String,
}

impl Text {
    fn control(&self) -> bool {
        let first = self
            .summary
            .split_whitespace()
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        matches!(
            first.as_str(),
            "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "START"
        )
    }

    /// The statement's text, whitespace collapsed and lists of placeholders shortened (a
    /// statement for 3 ids and one for 5 are one statement).
    fn key(&self) -> String {
        let text = if self.whole.trim().is_empty() {
            &self.summary
        } else {
            &self.whole
        };
        let mut t = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for (long, short) in [("?, ?", "?"), ("(?), (?)", "(?)")] {
            while t.contains(long) {
                t = t.replace(long, short);
            }
        }
        t.chars().take(TEXT_CHARS).collect()
    }
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.whole = value.to_owned(),
            _ => {}
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "db.statement") {
            self.record_str(field, &format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for Counter
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if attrs.metadata().fields().field("service").is_none() {
            return;
        }
        let mut v = ServiceField::default();
        attrs.record(&mut v);
        if let (Some(name), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(Labelled(name));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let target = event.metadata().target();
        if !counted_event(target) || !ON.load(Ordering::Relaxed) {
            return;
        }
        let transaction = target == nakku_core::db::TRANSACTION_TARGET;
        let mut text = Text::default();
        if !transaction {
            event.record(&mut text);
            if text.control() {
                return;
            }
        }
        let service = ctx
            .event_scope(event)
            .and_then(|scope| {
                scope
                    .into_iter()
                    .find_map(|s| s.extensions().get::<Labelled>().map(|l| l.0))
            })
            .unwrap_or(UNATTRIBUTED);
        let key = (!transaction).then(|| text.key());
        let mut c = counts();
        match key {
            None => *c.transactions.entry(service).or_default() += 1,
            Some(key) => *c.texts.entry((service, key)).or_default() += 1,
        }
    }
}
