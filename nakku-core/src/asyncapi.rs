//! The AsyncAPI 3.0 document of Nakku's events, generated from the code: the channels are
//! the topics `<prefix>.<domain>`, the messages and their keys come from
//! [`crate::contracts`], the payload schemas from the payload types, and the operations from
//! who publishes each topic and which consumer groups ([`crate::consumers_of`]) read which
//! types. The gateway serves it at `/api/v1/asyncapi.json`; `docs/asyncapi.json` is the
//! committed copy (a test keeps it current, CI validates it with the AsyncAPI parser).

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::config::Settings;
use crate::contracts::{messages, Message};
use crate::events::envelope_json_schema;
use crate::service::Service;

/// Version of the Kafka bindings used below.
const KAFKA_BINDING: &str = "0.5.0";

const DESCRIPTION: &str = "Every event Nakku's services publish. Each travels in the same envelope \
(`Envelope` below: id, type, source, aggregate id, time, correlation id, payload version, payload, trace \
context) on the topic of its domain, `<prefix>.<domain>` (`NAKKU_EVENT_TOPIC_PREFIX`, default `nakku`), keyed \
so that the events of one order, store or user keep their order. Publication is at least once, from each \
service's transactional outbox; consumers record the ids they have processed, so a redelivery changes nothing. \
A consumer states the highest payload version of each type it understands: a newer one is dead-lettered, not \
misread.\n\nVersioning: adding an optional field keeps the version. Removing, renaming or retyping a field, or \
changing what it means, is a new version; consumers accept the old one (upcast) until no producer sends it.\n\n\
Generated from the code by `nakku_core::asyncapi::document`; the Kafka message key is the envelope's \
`aggregate_id`, and the W3C `traceparent` travels in the envelope and as a Kafka header.";

fn reference(path: &str) -> Value {
    json!({ "$ref": path })
}

/// A JSON pointer segment (`~` and `/` escaped).
fn pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn channel_message_ref(domain: &str, event_type: &str) -> Value {
    reference(&format!(
        "#/channels/{}/messages/{}",
        pointer(domain),
        pointer(event_type)
    ))
}

/// The message object of one event type: the envelope with this type's payload.
fn message_object(m: &Message) -> Value {
    let schema = serde_json::to_value(&m.schema).unwrap_or(Value::Null);
    let summary = schema["description"]
        .as_str()
        .map(|d| d.lines().next().unwrap_or(d).to_owned())
        .unwrap_or_else(|| format!("`{}` v{}", m.event_type, m.version));
    json!({
        "name": m.event_type,
        "title": format!("{} v{}", m.event_type, m.version),
        "summary": summary,
        "contentType": "application/json",
        "headers": {
            "type": "object",
            "properties": {
                "traceparent": {
                    "type": "string",
                    "description": "W3C trace context of the span that published the event, when tracing is on"
                }
            }
        },
        "payload": {
            "allOf": [
                reference("#/components/schemas/Envelope"),
                {
                    "type": "object",
                    "properties": {
                        "type": { "const": m.event_type },
                        "version": { "const": m.version },
                        "source": { "const": m.publisher.name() },
                        "aggregate_id": { "type": "string", "description": format!("The key: {}.", m.key.describe()) },
                        "payload": reference(&format!("#/components/schemas/{}", pointer(&m.schema_name)))
                    }
                }
            ]
        },
        "bindings": {
            "kafka": {
                "key": { "type": "string", "description": m.key.describe() },
                "bindingVersion": KAFKA_BINDING
            }
        }
    })
}

/// A consumer group: its service, its name, and the types and versions it reads.
type Subscription = (Service, &'static str, Vec<(&'static str, u32)>);

/// Every consumer group of every service.
fn subscriptions() -> Vec<Subscription> {
    let settings = Settings::default();
    let mut out = Vec::new();
    for svc in Service::ALL {
        for h in crate::consumers_of(svc, &settings) {
            let reads: Vec<(&'static str, u32)> = if h.handles().iter().any(|(t, _)| *t == "*") {
                // The event log keeps every type, whatever its version.
                messages().iter().map(|m| (m.event_type, m.version)).collect()
            } else {
                h.handles().to_vec()
            };
            out.push((svc, h.name(), reads));
        }
    }
    out
}

/// The AsyncAPI 3.0 document.
pub fn document() -> Value {
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut component_messages = Map::new();
    let mut schemas: BTreeMap<String, Value> = BTreeMap::new();

    let mut envelope = envelope_json_schema();
    if let Some(o) = envelope.as_object_mut() {
        o.remove("$schema");
        o.remove("$id");
    }
    schemas.insert("Envelope".to_owned(), envelope);

    // Channels and their publishers, domain by domain in the order the table declares them.
    let mut domains: Vec<&'static str> = Vec::new();
    for m in messages() {
        if !domains.contains(&m.domain()) {
            domains.push(m.domain());
        }
        schemas.insert(
            m.schema_name.to_string(),
            serde_json::to_value(&m.schema).unwrap_or(Value::Null),
        );
        for (name, s) in &m.refs {
            schemas.insert(name.clone(), serde_json::to_value(s).unwrap_or(Value::Null));
        }
        component_messages.insert(m.event_type.to_owned(), message_object(m));
    }
    for domain in &domains {
        let on_topic: Vec<&Message> = messages().iter().filter(|m| m.domain() == *domain).collect();
        let publisher = on_topic.first().map(|m| m.publisher.name()).unwrap_or(domain);
        let mut channel_messages = Map::new();
        for m in &on_topic {
            channel_messages.insert(
                m.event_type.to_owned(),
                reference(&format!("#/components/messages/{}", pointer(m.event_type))),
            );
        }
        channels.insert(
            (*domain).to_owned(),
            json!({
                "address": format!("nakku.{domain}"),
                "title": format!("{domain} events"),
                "description": format!(
                    "Everything the {publisher} service publishes. The topic's name is `<prefix>.{domain}`; `nakku.{domain}` with the default prefix."
                ),
                "messages": channel_messages,
                "bindings": { "kafka": { "topic": format!("nakku.{domain}"), "bindingVersion": KAFKA_BINDING } }
            }),
        );
        operations.insert(
            format!("publish.{domain}"),
            json!({
                "action": "send",
                "title": format!("The {publisher} service publishes"),
                "summary": format!("Published from the {publisher} service's outbox by its relay."),
                "channel": reference(&format!("#/channels/{}", pointer(domain))),
                "messages": on_topic.iter().map(|m| channel_message_ref(domain, m.event_type)).collect::<Vec<_>>()
            }),
        );
    }

    // Each consumer group, once per topic it reads.
    for (svc, group, reads) in subscriptions() {
        for domain in &domains {
            let here: Vec<&(&str, u32)> = reads
                .iter()
                .filter(|(t, _)| t.split('.').next() == Some(*domain))
                .collect();
            if here.is_empty() {
                continue;
            }
            let versions = here
                .iter()
                .map(|(t, v)| format!("`{t}` up to v{v}"))
                .collect::<Vec<_>>()
                .join(", ");
            operations.insert(
                format!("consume.{group}.{domain}"),
                json!({
                    "action": "receive",
                    "title": format!("{group} reads {domain} events"),
                    "summary": format!("Consumer group `{group}` of the {} service.", svc.name()),
                    "description": format!("Understands {versions}."),
                    "channel": reference(&format!("#/channels/{}", pointer(domain))),
                    "messages": here.iter().map(|(t, _)| channel_message_ref(domain, t)).collect::<Vec<_>>(),
                    "bindings": { "kafka": { "groupId": { "type": "string", "enum": [group] }, "bindingVersion": KAFKA_BINDING } }
                }),
            );
        }
    }

    json!({
        "asyncapi": "3.0.0",
        "id": "urn:nakku:events",
        "info": {
            "title": "Nakku events",
            "version": env!("CARGO_PKG_VERSION"),
            "description": DESCRIPTION,
            "license": { "name": "Apache-2.0" }
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "localhost:9092",
                "protocol": "kafka",
                "description": "The brokers of NAKKU_KAFKA_BROKERS. With the embedded log (the default) the same messages stay inside one process."
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": component_messages
        }
    })
}

/// The document as `docs/asyncapi.json` holds it: pretty-printed, with a final newline.
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        fn walk(v: &Value, doc: &Value) {
            match v {
                Value::Object(o) => {
                    if let Some(Value::String(r)) = o.get("$ref") {
                        let path = r.strip_prefix('#').unwrap_or(r);
                        assert!(doc.pointer(path).is_some(), "{r} points nowhere");
                    }
                    o.values().for_each(|c| walk(c, doc));
                }
                Value::Array(a) => a.iter().for_each(|c| walk(c, doc)),
                _ => {}
            }
        }
        walk(&doc, &doc);
    }

    #[test]
    fn the_order_topic_names_its_consumers_and_the_versions_they_read() {
        let doc = document();
        let ops = doc["operations"].as_object().unwrap();
        let delivery = &ops["consume.delivery.orders.order"];
        assert_eq!(delivery["action"], "receive");
        assert_eq!(delivery["channel"]["$ref"], "#/channels/order");
        assert!(delivery["description"]
            .as_str()
            .unwrap()
            .contains("`order.created` up to v2"));
        assert_eq!(ops["publish.order"]["action"], "send");
        let created = &doc["components"]["messages"]["order.created"];
        assert_eq!(created["bindings"]["kafka"]["key"]["description"], "the order id");
        assert_eq!(
            created["payload"]["allOf"][1]["properties"]["payload"]["$ref"],
            "#/components/schemas/OrderCreated"
        );
        let props = &doc["components"]["schemas"]["OrderCreated"]["properties"];
        assert!(
            props["payment_kind"].is_object() && props["lines"].is_object(),
            "{props}"
        );
    }
}
