//! The event bus: what the relay publishes to and consumers read from. Two
//! implementations: the embedded durable log (default, no extra software) and Kafka.
//!
//! Delivery is at least once. Order is kept per topic partition, and a message's key (the
//! aggregate id) picks its partition, so events of one aggregate stay in order.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// A boxed future, so the traits stay object-safe (`Arc<dyn EventBus>`).
pub type BoxFut<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// An outgoing message: the serialised envelope, keyed by aggregate id.
#[derive(Debug, Clone)]
pub struct Message {
    pub topic: String,
    pub key: String,
    pub payload: Vec<u8>,
    /// Sent as the `traceparent` header where the bus has headers (Kafka), for tracers
    /// that read headers rather than the envelope.
    pub traceparent: Option<String>,
}

/// A message as a consumer receives it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<String>,
    pub payload: Vec<u8>,
    /// The `traceparent` header, where the bus has headers (Kafka).
    pub traceparent: Option<String>,
    /// When the bus stored it (ms since the epoch).
    pub timestamp_ms: i64,
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    Beginning,
    End,
    Offset(i64),
    /// The first message stored at or after this time (ms since the epoch).
    Time(i64),
}

impl Position {
    /// Parses `beginning`, `end`, an offset, or an RFC 3339 time.
    pub fn parse(s: &str) -> Result<Position, String> {
        match s.trim() {
            "beginning" | "earliest" | "0" => Ok(Position::Beginning),
            "end" | "latest" => Ok(Position::End),
            t => {
                if let Ok(n) = t.parse::<i64>() {
                    return if n >= 0 {
                        Ok(Position::Offset(n))
                    } else {
                        Err("an offset cannot be negative".into())
                    };
                }
                chrono::DateTime::parse_from_rfc3339(t)
                    .map(|d| Position::Time(d.timestamp_millis()))
                    .map_err(|_| format!("{t:?} is not `beginning`, `end`, an offset or an RFC 3339 time"))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// The broker cannot be reached or refused the operation; retrying may help.
    #[error("event bus unavailable: {0}")]
    Unavailable(String),
    /// The message can never be published (too large, bad topic name).
    #[error("event rejected: {0}")]
    Rejected(String),
    #[error("event bus error: {0}")]
    Other(String),
}

/// A bus: publish batches, read with consumer groups.
pub trait EventBus: Send + Sync + 'static {
    /// `embedded` or `kafka`.
    fn kind(&self) -> &'static str;

    /// Publishes every message and waits until the bus has stored them all (acks=all
    /// on Kafka, a committed transaction for the embedded log). On error some may have
    /// been stored: the caller retries the batch, and consumers drop the duplicates.
    fn publish<'a>(&'a self, msgs: &'a [Message]) -> BoxFut<'a, Result<(), BusError>>;

    /// Joins consumer group `group` on `topics`. A group with no committed position starts
    /// from the beginning (nothing published before the consumer existed is missed).
    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>>;

    /// Reads `topics` from `from` without a group and without committing (for `events tail`).
    fn read<'a>(&'a self, topics: &'a [String], from: Position) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>>;

    /// Moves a group's committed position on `topics` (for `events replay`). The group's
    /// consumers must be stopped.
    fn rewind<'a>(&'a self, group: &'a str, topics: &'a [String], to: Position) -> BoxFut<'a, Result<(), BusError>>;

    /// Messages stored on `topics` that consumer group `group` has not committed yet (all
    /// of them for a group that never committed). Waiting for 0 after a publish proves the
    /// group has processed what was published (the tests' "redelivery changes nothing"
    /// checks rely on it). On Kafka, committed offsets trail processing by up to the
    /// auto-commit interval (1 s).
    fn group_lag<'a>(&'a self, group: &'a str, topics: &'a [String]) -> BoxFut<'a, Result<i64, BusError>>;

    /// Topics that exist, for `events tail` with a pattern.
    fn topics(&self) -> BoxFut<'_, Result<Vec<String>, BusError>>;

    /// A cheap connectivity check for `/health`.
    fn ping(&self) -> BoxFut<'_, Result<(), BusError>>;
}

/// One member of a consumer group (or a group-less reader).
pub trait Subscriber: Send {
    /// Up to `max` messages, waiting at most `wait` for the first one.
    fn poll<'a>(&'a mut self, max: usize, wait: Duration) -> BoxFut<'a, Result<Vec<Delivery>, BusError>>;

    /// Records that everything up to and including `d` is done (after its effect is stored).
    fn commit<'a>(&'a mut self, d: &'a Delivery) -> BoxFut<'a, Result<(), BusError>>;

    /// Messages stored but not yet delivered to this subscriber, when known.
    fn lag(&mut self) -> BoxFut<'_, Option<i64>>;
}
