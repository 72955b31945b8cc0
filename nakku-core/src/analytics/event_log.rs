//! The event log: every event on the bus as the analytics service received it (its own
//! consumer, `analytics.events`, apart from the figures' so neither holds the other up),
//! kept for `event_log_hours`. It is what the dashboard's live tail reads
//! (`GET /analytics/events?after=`) and what the support view shows as an order's timeline
//! across services (`?order=`: every event that names the order, whichever service sent
//! it).

use serde::{Deserialize, Serialize};
use sqlx::AnyConnection;
use sqlx::Row;

use crate::contracts::{message_of, Key};
use crate::db::{opt_text, text};
use crate::error::{CoreError, Validator};
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::Envelope;
use crate::id::{is_id, ms_to_rfc3339, now_ms, stable_hash};

use super::AnalyticsService;

pub const CONSUMER: &str = "analytics.events";

/// One event in 256 prunes what is older than the retention.
const PRUNE_EVERY: u64 = 256;
/// Most events a page holds.
pub const MAX_LIMIT: i64 = 500;

pub struct EventLogHandler {
    pub retention_ms: i64,
}

/// The order an event is about: the key of a type keyed by order (see
/// [`crate::contracts`]).
fn order_of(env: &Envelope) -> Option<String> {
    message_of(&env.event_type)
        .filter(|m| m.key == Key::Order)
        .map(|_| env.aggregate_id.as_str())
        .filter(|id| is_id(id))
        .map(str::to_owned)
}

impl Handler for EventLogHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    /// Every type, every version: the log keeps envelopes as they are, whatever their schema.
    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[("*", u32::MAX)]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let occurred = env.occurred_ms()?;
            let horizon = now_ms() - self.retention_ms;
            // A replay from the beginning does not refill the log with what it would prune.
            if occurred < horizon {
                return Ok(());
            }
            sqlx::query(
                "INSERT INTO a_event_log (event_id, event_type, source, aggregate_id, correlation_id, order_id, occurred_ms, payload, trace_id) \
                 SELECT ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM a_event_log WHERE event_id = ?)",
            )
            .bind(&env.id)
            .bind(&env.event_type)
            .bind(&env.source)
            .bind(&env.aggregate_id)
            .bind(&env.correlation_id)
            .bind(order_of(env))
            .bind(occurred)
            .bind(env.payload.to_string())
            .bind(env.traceparent.as_deref().and_then(crate::trace::trace_id_of))
            .bind(&env.id)
            .execute(&mut *conn)
            .await?;
            if stable_hash(env.id.as_bytes()).is_multiple_of(PRUNE_EVERY) {
                sqlx::query("DELETE FROM a_event_log WHERE occurred_ms < ?")
                    .bind(horizon)
                    .execute(&mut *conn)
                    .await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM a_event_log").execute(&mut *conn).await?;
            Ok(())
        })
    }
}

/// `?after=&type=&order=&correlation=&limit=` of `GET /analytics/events`.
#[derive(Debug, Default, Clone, Deserialize, utoipa::IntoParams)]
pub struct EventQuery {
    /// Only events logged after this position (the `last_seq` of the previous page);
    /// without it, the newest `limit` events.
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// Type patterns separated by commas: `order.*`, `payment.captured`.
    #[serde(rename = "type")]
    #[param(rename = "type", schema_with = types_schema)]
    pub types: Option<String>,
    /// Only events about this order, oldest first by when they happened: its timeline.
    #[param(schema_with = crate::rules::id)]
    pub order: Option<String>,
    /// Only events caused by this request id.
    #[param(schema_with = correlation_schema)]
    pub correlation: Option<String>,
    /// Only events of this trace (32 hex digits, as in logs and `traceparent`).
    #[param(schema_with = trace_schema)]
    pub trace: Option<String>,
    /// 1 to 500; default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

/// A page of the log, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EventPage {
    pub items: Vec<LoggedEvent>,
    /// Where the next poll starts (`?after=`): the last item's position, or the log's end
    /// when the page is empty.
    pub last_seq: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoggedEvent {
    /// Position in the log (arrival order at the analytics service).
    pub seq: i64,
    pub id: String,
    #[serde(rename = "type")]
    #[schema(rename = "type")]
    pub event_type: String,
    pub source: String,
    pub aggregate_id: String,
    pub correlation_id: String,
    pub order_id: Option<String>,
    /// The trace the event belongs to, when tracing was on where it was emitted.
    pub trace_id: Option<String>,
    #[schema(format = DateTime)]
    pub occurred_at: String,
    /// The event's payload as it was sent.
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

/// A type pattern as SQL: exact, or a prefix ending in `*`.
/// `?type=`: 1 to 20 [`type_pattern`]s separated by commas.
fn types_schema() -> utoipa::openapi::schema::Object {
    let one = "[a-z._]+\\*?|\\*";
    crate::rules::matching(format!("^({one})(,({one})){{0,19}}$"))
}

fn correlation_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^[!-~]{1,128}$")
}

fn trace_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^[0-9a-f]{32}$")
}

fn type_pattern(p: &str) -> Result<(bool, String), String> {
    let ok = |s: &str| s.chars().all(|c| c.is_ascii_lowercase() || c == '.' || c == '_');
    match p.strip_suffix('*') {
        Some(prefix) if ok(prefix) => Ok((true, format!("{prefix}%"))),
        None if !p.is_empty() && ok(p) => Ok((false, p.to_owned())),
        _ => Err(format!(
            "{p:?} is not an event type or a pattern such as order.* (lower-case letters, dots and underscores)"
        )),
    }
}

impl AnalyticsService {
    /// A page of the event log (see [`EventQuery`]).
    pub async fn events(&self, q: &EventQuery) -> Result<EventPage, CoreError> {
        let mut v = Validator::new();
        let limit = q.limit.unwrap_or(100);
        if !(1..=MAX_LIMIT).contains(&limit) {
            v.add("limit", format!("must be from 1 to {MAX_LIMIT}"));
        }
        if q.after.is_some_and(|a| a < 0) {
            v.add("after", "must be a position from an earlier page (0 or more)");
        }
        let mut patterns = Vec::new();
        for p in q.types.iter().flat_map(|t| t.split(',')).map(str::trim) {
            if let Some(p) = v.check("type", type_pattern(p)) {
                patterns.push(p);
            }
        }
        if patterns.len() > 20 {
            v.add("type", "at most 20 patterns");
        }
        if q.order.as_deref().is_some_and(|o| !is_id(o)) {
            v.add("order", "is not an order id");
        }
        if q.correlation.as_deref().is_some_and(|c| c.is_empty() || c.len() > 128) {
            v.add("correlation", "must be 1 to 128 characters");
        }
        if q.trace
            .as_deref()
            .is_some_and(|t| t.len() != 32 || !t.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()))
        {
            v.add("trace", "is not a trace id (32 lower-case hex digits)");
        }
        v.finish()?;

        let mut qb = super::sql(
            "SELECT seq, event_id, event_type, source, aggregate_id, correlation_id, order_id, occurred_ms, payload, trace_id \
             FROM a_event_log WHERE 1 = 1",
        );
        if let Some(a) = q.after {
            qb.push(" AND seq > ").push_bind(a);
        }
        if !patterns.is_empty() {
            qb.push(" AND (");
            for (i, (like, p)) in patterns.iter().enumerate() {
                qb.push(match (i, *like) {
                    (0, true) => "event_type LIKE ",
                    (0, false) => "event_type = ",
                    (_, true) => " OR event_type LIKE ",
                    (_, false) => " OR event_type = ",
                })
                .push_bind(p.clone());
            }
            qb.push(")");
        }
        if let Some(o) = &q.order {
            qb.push(" AND order_id = ").push_bind(o.clone());
        }
        if let Some(c) = &q.correlation {
            qb.push(" AND correlation_id = ").push_bind(c.clone());
        }
        if let Some(t) = &q.trace {
            qb.push(" AND trace_id = ").push_bind(t.clone());
        }
        // A tail reads forward from `after`; otherwise the newest page, turned oldest first.
        // An order's timeline goes by when things happened; within one millisecond by event
        // id (UUIDv7, increasing within a process, so cause before effect), not by arrival
        // here (consumers of different topics deliver in any order).
        let order_by = match (q.order.is_some(), q.after.is_some()) {
            (true, _) => "occurred_ms, event_id",
            (false, true) => "seq",
            (false, false) => "seq DESC",
        };
        qb.push(format!(" ORDER BY {order_by} LIMIT ")).push_bind(limit);
        let rows = super::rows(&self.db, qb).await?;
        let mut items = Vec::with_capacity(rows.len());
        for r in &rows {
            let payload: String = text(r, "payload")?;
            items.push(LoggedEvent {
                seq: r.try_get("seq")?,
                id: text(r, "event_id")?,
                event_type: text(r, "event_type")?,
                source: text(r, "source")?,
                aggregate_id: text(r, "aggregate_id")?,
                correlation_id: text(r, "correlation_id")?,
                order_id: opt_text(r, "order_id")?,
                trace_id: opt_text(r, "trace_id")?,
                occurred_at: ms_to_rfc3339(r.try_get("occurred_ms")?),
                payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
            });
        }
        if q.order.is_none() && q.after.is_none() {
            items.reverse();
        }
        let last_seq = match items.iter().map(|e| e.seq).max() {
            Some(s) => s.max(q.after.unwrap_or(0)),
            None => match q.after {
                Some(a) => a,
                None => {
                    let end = super::rows(
                        &self.db,
                        super::sql("SELECT COALESCE(MAX(seq), 0) AS s FROM a_event_log"),
                    )
                    .await?;
                    end.first().map(|r| r.try_get::<i64, _>("s")).transpose()?.unwrap_or(0)
                }
            },
        };
        Ok(EventPage { items, last_seq })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_patterns_are_exact_or_prefixes_and_nothing_else() {
        assert_eq!(type_pattern("order.*").unwrap(), (true, "order.%".to_owned()));
        assert_eq!(type_pattern("*").unwrap(), (true, "%".to_owned()));
        assert_eq!(
            type_pattern("payment.captured").unwrap(),
            (false, "payment.captured".to_owned())
        );
        for bad in ["", "order.%", "Order.*", "order;drop", "a*b"] {
            assert!(type_pattern(bad).is_err(), "{bad}");
        }
    }
}
