//! Events: the envelope every event travels in, the catalogue of event types, the
//! transactional outbox and its relay, the buses (embedded log, Kafka), the idempotent
//! consumer runtime, dead letters and replay.
//!
//! Topic scheme: `<prefix>.<domain>`, where domain is the first segment of the event type
//! (`user.address.added` → `nakku.user`) and prefix defaults to `nakku`. Every event of a
//! domain shares one topic, keyed by aggregate id, so one aggregate's events keep their
//! order whatever their type.

pub mod bus;
pub mod catalog;
pub mod consumer;
pub mod dlq;
pub mod embedded;
pub mod faulty;
#[cfg(feature = "kafka")]
pub mod kafka;
pub mod outbox;
pub mod relay;

use serde::{Deserialize, Serialize};

use crate::id::{ms_to_rfc3339, new_id, now_ms};
use crate::service::Service;

/// Version of the envelope layout itself; payloads carry their own `version`.
pub const ENVELOPE_SCHEMA: &str = "https://nakku.dev/schemas/envelope-v1.json";

/// One event, as written to the outbox and published on the bus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// UUIDv7; consumers record it to stay idempotent.
    pub id: String,
    /// e.g. `user.registered`, from [`catalog`].
    #[serde(rename = "type")]
    pub event_type: String,
    /// The service that emitted it.
    pub source: String,
    /// Partition key: events of one aggregate keep their order.
    pub aggregate_id: String,
    /// RFC 3339 UTC time of the state change.
    pub occurred_at: String,
    /// The request (or order) this event belongs to: the `X-Request-Id` of the request
    /// that caused it, carried across service and event boundaries.
    pub correlation_id: String,
    /// Version of `payload`'s schema for this event type.
    pub version: u32,
    pub payload: serde_json::Value,
    /// W3C trace context of the span that emitted it (when tracing is on): consumers'
    /// spans become its children. Also sent as the Kafka header `traceparent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Envelope {
    pub fn new(
        event_type: &str,
        source: Service,
        aggregate_id: &str,
        correlation_id: &str,
        payload: serde_json::Value,
    ) -> Envelope {
        Envelope {
            id: new_id(),
            event_type: event_type.to_owned(),
            source: source.name().to_owned(),
            aggregate_id: aggregate_id.to_owned(),
            occurred_at: ms_to_rfc3339(now_ms()),
            correlation_id: correlation_id.to_owned(),
            // An untyped payload is taken as its type's first version; [`Envelope::of`] gives
            // a typed payload its type's (`Event::VERSION`).
            version: 1,
            payload,
            traceparent: crate::trace::current(),
        }
    }
}

/// A typed event payload: one struct per event type and version, declared in its domain's
/// `events.rs`. Producers build envelopes with [`Envelope::of`]; consumers read them with
/// [`Envelope::decode`], so both sides compile against the same fields.
///
/// Versioning: adding an optional field (`#[serde(default)]`) is compatible and keeps the
/// version. Removing, renaming or retyping a field, or changing what it means, is breaking:
/// declare a new struct with `VERSION` one higher, publish it, and let consumers accept the
/// old version too by upcasting it ([`Upcast`]) until no producer sends it any more.
pub trait Event: Serialize + serde::de::DeserializeOwned + utoipa::ToSchema {
    /// The event type, from [`catalog`].
    const TYPE: &'static str;
    /// The payload's schema version.
    const VERSION: u32 = 1;
}

/// What happened to a record an event carries whole (a store, a category).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Created,
    Updated,
    Deleted,
}

/// An older version of an event that consumers still accept, turned into the current one.
pub trait Upcast: Event {
    type Into: Event;
    fn upcast(self) -> Self::Into;
}

/// A payload that does not match its type's declared shape.
#[derive(Debug, thiserror::Error)]
#[error("{event_type} v{version} payload: {source}")]
pub struct DecodeError {
    pub event_type: String,
    pub version: u32,
    #[source]
    pub source: serde_json::Error,
}

impl Envelope {
    /// An envelope for a typed payload.
    pub fn of<E: Event>(source: Service, aggregate_id: &str, correlation_id: &str, payload: &E) -> Envelope {
        let mut env = Envelope::new(
            E::TYPE,
            source,
            aggregate_id,
            correlation_id,
            // A derived Serialize of plain fields cannot fail.
            serde_json::to_value(payload).unwrap_or(serde_json::Value::Null),
        );
        env.version = E::VERSION;
        env
    }

    /// The payload as `E`. The caller has matched the type; this checks the version and the
    /// payload's shape.
    pub fn decode<E: Event>(&self) -> Result<E, DecodeError> {
        let err = |source| DecodeError {
            event_type: self.event_type.clone(),
            version: self.version,
            source,
        };
        if self.version != E::VERSION {
            return Err(err(serde::de::Error::custom(format!(
                "expected version {}",
                E::VERSION
            ))));
        }
        E::deserialize(&self.payload).map_err(err)
    }

    /// The payload as the current version `E`, upcasting `E`'s older version `Old`.
    pub fn decode_upcast<Old: Upcast<Into = E>, E: Event>(&self) -> Result<E, DecodeError> {
        if self.version == Old::VERSION && Old::VERSION != E::VERSION {
            return self.decode::<Old>().map(Upcast::upcast);
        }
        self.decode::<E>()
    }
}

/// Opens the configured bus: the embedded log in the data directory, or Kafka. Kafka is
/// reached lazily, so a broker that is down does not stop start-up (the outbox holds
/// events until it returns, and `/health` reports it).
pub async fn connect_bus(settings: &crate::config::Settings) -> anyhow::Result<std::sync::Arc<dyn bus::EventBus>> {
    use crate::config::BusKind;
    match settings.event_bus {
        BusKind::Embedded => Ok(std::sync::Arc::new(
            embedded::EmbeddedLog::open(&settings.event_log_path()).await?,
        )),
        #[cfg(feature = "kafka")]
        BusKind::Kafka => Ok(std::sync::Arc::new(
            kafka::KafkaBus::connect_with(
                &settings.kafka_brokers,
                &settings.event_topic_prefix,
                settings.kafka_partitions,
                kafka::security_properties(settings),
            )
            .await?,
        )),
        #[cfg(not(feature = "kafka"))]
        BusKind::Kafka => anyhow::bail!("NAKKU_EVENT_BUS=kafka, but this nakku was built without the `kafka` feature"),
    }
}

/// Largest serialised envelope accepted (Kafka's default `message.max.bytes` is ~1 MB).
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1_000_000;

/// The topic an event type travels on.
pub fn topic_for(prefix: &str, event_type: &str) -> String {
    let domain = event_type.split('.').next().unwrap_or(event_type);
    format!("{prefix}.{domain}")
}

/// Topics matching a type pattern such as `order.*`, `user.login` or `*` (all known domains).
pub fn topics_for_pattern(prefix: &str, pattern: &str) -> Vec<String> {
    if pattern == "*" {
        return catalog::DOMAINS.iter().map(|d| format!("{prefix}.{d}")).collect();
    }
    vec![topic_for(prefix, pattern)]
}

/// Whether `event_type` matches `pattern` (`order.*`, `user.address.*`, exact, or `*`).
pub fn type_matches(pattern: &str, event_type: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => event_type.starts_with(prefix),
        None => pattern == event_type,
    }
}

/// An envelope whose `occurred_at` is not an RFC 3339 time: malformed. A consumer fails it
/// (so it is retried, then dead-lettered) rather than guess when the change happened.
#[derive(Debug, thiserror::Error)]
#[error("event {id} ({event_type}): occurred_at {occurred_at:?} is not an RFC 3339 time")]
pub struct BadTime {
    pub id: String,
    pub event_type: String,
    pub occurred_at: String,
}

impl Envelope {
    /// When the change happened, in epoch milliseconds: the one reading of `occurred_at`
    /// (the outbox, the replicas' "newer facts only" checks, analytics' stage times).
    pub fn occurred_ms(&self) -> Result<i64, BadTime> {
        crate::id::parse_rfc3339_ms(&self.occurred_at).ok_or_else(|| BadTime {
            id: self.id.clone(),
            event_type: self.event_type.clone(),
            occurred_at: self.occurred_at.clone(),
        })
    }

    /// Serialises for the bus, refusing envelopes over `max_bytes`.
    pub fn to_bytes(&self, max_bytes: usize) -> Result<Vec<u8>, bus::BusError> {
        let bytes = serde_json::to_vec(self).map_err(|e| bus::BusError::Rejected(e.to_string()))?;
        if bytes.len() > max_bytes {
            return Err(bus::BusError::Rejected(format!(
                "event {} ({}) is {} bytes, over the {max_bytes}-byte limit",
                self.id,
                self.event_type,
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    /// The bus message carrying this envelope.
    pub fn to_message(&self, prefix: &str, max_bytes: usize) -> Result<bus::Message, bus::BusError> {
        Ok(bus::Message {
            topic: topic_for(prefix, &self.event_type),
            key: self.aggregate_id.clone(),
            payload: self.to_bytes(max_bytes)?,
            traceparent: self.traceparent.clone(),
        })
    }
}

/// JSON Schema of the envelope, for consumers in other languages.
pub fn envelope_json_schema() -> serde_json::Value {
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": ENVELOPE_SCHEMA,
        "title": "Nakku event envelope",
        "type": "object",
        "required": ["id", "type", "source", "aggregate_id", "occurred_at", "correlation_id", "version", "payload"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "type": {"type": "string", "pattern": "^[a-z_]+(\\.[a-z_]+)+$"},
            "source": {"type": "string"},
            "aggregate_id": {"type": "string", "minLength": 1},
            "occurred_at": {"type": "string", "format": "date-time"},
            "correlation_id": {"type": "string"},
            "version": {"type": "integer", "minimum": 1},
            "payload": {"type": "object"},
            "traceparent": {"type": "string", "pattern": "^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context of the emitting span; absent when tracing is off"}
        },
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn occurred_at_is_read_once_and_a_malformed_time_is_an_error() {
        let mut env = Envelope::new("user.registered", Service::User, "u1", "c1", serde_json::json!({}));
        env.occurred_at = "2026-12-06T10:00:00.250Z".to_owned();
        assert_eq!(env.occurred_ms().unwrap(), 1_796_551_200_250);
        env.occurred_at = "2026-12-06T15:30:00.250+05:30".to_owned();
        assert_eq!(env.occurred_ms().unwrap(), 1_796_551_200_250);
        env.occurred_at = "yesterday".to_owned();
        let err = env.occurred_ms().unwrap_err();
        assert!(
            err.to_string().contains(&env.id) && err.to_string().contains("yesterday"),
            "{err}"
        );
    }

    /// The versioning rule on a made-up event: v1 had one `name`; v2 split it in two.
    #[derive(Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    struct GreetedV1 {
        name: String,
    }
    #[derive(Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
    struct GreetedV2 {
        first: String,
        last: Option<String>,
    }
    impl Event for GreetedV1 {
        const TYPE: &'static str = "test.greeted";
    }
    impl Event for GreetedV2 {
        const TYPE: &'static str = "test.greeted";
        const VERSION: u32 = 2;
    }
    impl Upcast for GreetedV1 {
        type Into = GreetedV2;
        fn upcast(self) -> GreetedV2 {
            let mut parts = self.name.splitn(2, ' ');
            GreetedV2 {
                first: parts.next().unwrap_or_default().to_owned(),
                last: parts.next().map(str::to_owned),
            }
        }
    }

    #[test]
    fn a_consumer_of_v2_reads_v1_through_its_upcast_and_refuses_a_v3() {
        let v1 = Envelope::of(
            Service::User,
            "u1",
            "r1",
            &GreetedV1 {
                name: "Asha Rao".into(),
            },
        );
        assert_eq!(v1.version, 1);
        let want = GreetedV2 {
            first: "Asha".into(),
            last: Some("Rao".into()),
        };
        assert_eq!(v1.decode_upcast::<GreetedV1, GreetedV2>().unwrap(), want);
        let v2 = Envelope::of(Service::User, "u1", "r1", &want);
        assert_eq!(v2.version, 2);
        assert_eq!(v2.decode_upcast::<GreetedV1, GreetedV2>().unwrap(), want);
        let mut v3 = v2.clone();
        v3.version = 3;
        assert!(v3.decode_upcast::<GreetedV1, GreetedV2>().is_err());
    }

    #[test]
    fn topics_are_named_by_domain_and_patterns_match_types() {
        assert_eq!(topic_for("nakku", "user.address.added"), "nakku.user");
        assert_eq!(topics_for_pattern("nakku", "order.*"), vec!["nakku.order".to_owned()]);
        assert!(topics_for_pattern("x", "*").contains(&"x.inventory".to_owned()));
        assert!(type_matches("user.*", "user.address.added"));
        assert!(type_matches("user.login", "user.login"));
        assert!(!type_matches("user.login", "user.logout"));
        assert!(type_matches("*", "order.created"));
    }

    #[test]
    fn an_oversized_envelope_is_refused_with_its_size() {
        let e = Envelope::new(
            catalog::USER_UPDATED,
            Service::User,
            "u",
            "c",
            serde_json::json!({"x": "y".repeat(2000)}),
        );
        let err = e.to_bytes(1000).unwrap_err().to_string();
        assert!(err.contains("over the 1000-byte limit"), "{err}");
        assert!(e.to_bytes(10_000).is_ok());
    }

    #[test]
    fn envelopes_serialise_with_the_documented_field_names() {
        let e = Envelope::new(
            catalog::USER_REGISTERED,
            Service::User,
            "u1",
            "req-1",
            serde_json::json!({"a": 1}),
        );
        let v = serde_json::to_value(&e).unwrap();
        let schema = envelope_json_schema();
        for field in schema["required"].as_array().unwrap() {
            assert!(v.get(field.as_str().unwrap()).is_some(), "missing {field}");
        }
        assert_eq!(v["type"], "user.registered");
        assert_eq!(v["source"], "user");
        assert_eq!(v["version"], 1);
        let back: Envelope = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}

/// Outside `kafka::` on purpose: test filters skip `kafka::` (the broker suite) when no
/// broker is configured, and these need none.
#[cfg(test)]
#[cfg(feature = "kafka")]
mod kafka_settings_tests {
    use std::collections::HashMap;

    use super::kafka::security_properties;

    fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let settings = crate::config::Settings::load(None, &env).unwrap();
        security_properties(&settings).into_iter().collect()
    }

    #[test]
    fn sasl_over_tls_settings_reach_the_client_and_pass_through_properties_win() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        std::fs::write(&ca, "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n").unwrap();
        let ca = ca.display().to_string();
        let p = props(&[
            ("NAKKU_KAFKA_SECURITY_PROTOCOL", "sasl_ssl"),
            ("NAKKU_KAFKA_SASL_MECHANISM", "SCRAM-SHA-256"),
            ("NAKKU_KAFKA_SASL_USERNAME", "nakku"),
            ("NAKKU_KAFKA_SASL_PASSWORD", "pw-123"),
            ("NAKKU_TLS_CA_FILE", &ca),
            (
                "NAKKU_KAFKA_PROPERTIES",
                "ssl.endpoint.identification.algorithm=none;client.id=shop-1",
            ),
        ]);
        assert_eq!(p["security.protocol"], "sasl_ssl");
        assert_eq!(p["sasl.mechanisms"], "SCRAM-SHA-256");
        assert_eq!(p["sasl.username"], "nakku");
        assert_eq!(p["sasl.password"], "pw-123");
        assert_eq!(p["ssl.ca.location"], ca, "tls_ca_file is the fallback CA");
        assert_eq!(
            p["ssl.endpoint.identification.algorithm"], "none",
            "the operator's property wins"
        );
        assert_eq!(p["client.id"], "shop-1");
    }

    #[test]
    fn plaintext_sets_no_tls_or_sasl_property() {
        let p = props(&[]);
        assert_eq!(p["security.protocol"], "plaintext");
        assert!(!p.contains_key("ssl.ca.location") && !p.contains_key("sasl.password"));
    }
}
