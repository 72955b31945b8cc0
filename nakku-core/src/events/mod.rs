//! Events: the envelope every event travels in, the catalogue of event types, and the
//! write side of the transactional outbox. (Relay, buses and consumers arrive with the
//! event backbone.)

pub mod catalog;
pub mod outbox;

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
            version: catalog::version_of(event_type),
            payload,
        }
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
            "payload": {"type": "object"}
        },
        "additionalProperties": false
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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
