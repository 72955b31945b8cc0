//! Every event Nakku publishes, declared once: its type and version (taken from its payload
//! type, see [`crate::events::Event`]), the service that publishes it, what its key is, and
//! its payload's schema. The AsyncAPI document ([`crate::asyncapi`]) is generated from this
//! table, the analytics event log finds an event's order through it, and a test holds every
//! consumer's subscriptions to it.
//!
//! Adding an event: declare its payload type in the domain's `events.rs`, then add one
//! `message::<T>(publisher, key)` line below.

use std::borrow::Cow;
use std::sync::OnceLock;

use utoipa::openapi::schema::Schema;
use utoipa::openapi::RefOr;

use crate::events::Event;
use crate::service::Service;

/// What an event's key is: the envelope's `aggregate_id`, the Kafka message key. Events of
/// one key keep their order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Order,
    User,
    Product,
    Category,
    /// A store's id.
    Store,
    /// A store's code (`BLR-1`).
    StoreCode,
    /// `<store id>:<sku>`.
    StoreSku,
    /// `<store code>:<slot start, epoch milliseconds>`.
    Slot,
    Pincode,
    Cart,
    /// A notification (one message on one channel).
    Notification,
}

impl Key {
    /// The key as the AsyncAPI document describes it.
    pub fn describe(self) -> &'static str {
        match self {
            Key::Order => "the order id",
            Key::User => "the user id",
            Key::Product => "the product id",
            Key::Category => "the category id",
            Key::Store => "the store id",
            Key::StoreCode => "the store code",
            Key::StoreSku => "`<store id>:<sku>`",
            Key::Slot => "`<store code>:<slot start in epoch milliseconds>`",
            Key::Pincode => "the pincode (`unknown` when the address had none)",
            Key::Cart => "the cart id",
            Key::Notification => "the notification id",
        }
    }
}

/// One published event type at its current version.
pub struct Message {
    pub event_type: &'static str,
    pub version: u32,
    pub publisher: Service,
    pub key: Key,
    /// The payload type's schema name, as its `$ref` under `components/schemas`.
    pub schema_name: Cow<'static, str>,
    /// The payload's schema, and every schema it refers to.
    pub schema: RefOr<Schema>,
    pub refs: Vec<(String, RefOr<Schema>)>,
}

impl Message {
    /// The domain, and so the topic `<prefix>.<domain>`, the event travels on.
    pub fn domain(&self) -> &'static str {
        self.event_type.split('.').next().unwrap_or(self.event_type)
    }
}

fn message<E: Event>(publisher: Service, key: Key) -> Message {
    let mut refs = Vec::new();
    E::schemas(&mut refs);
    Message {
        event_type: E::TYPE,
        version: E::VERSION,
        publisher,
        key,
        schema_name: E::name(),
        schema: E::schema(),
        refs,
    }
}

fn declare() -> Vec<Message> {
    use Key::*;
    use Service as S;
    vec![
        message::<crate::user::events::UserRegistered>(S::User, User),
        message::<crate::user::events::UserLoggedIn>(S::User, User),
        message::<crate::user::events::UserUpdated>(S::User, User),
        message::<crate::user::events::UserDeleted>(S::User, User),
        message::<crate::user::events::AddressAdded>(S::User, User),
        message::<crate::user::events::AddressUpdated>(S::User, User),
        message::<crate::user::events::AddressDeleted>(S::User, User),
        message::<crate::product::events::ProductCreated>(S::Product, Product),
        message::<crate::product::events::ProductUpdated>(S::Product, Product),
        message::<crate::product::events::ProductDeleted>(S::Product, Product),
        message::<crate::product::events::CategoryUpdated>(S::Product, Category),
        message::<crate::inventory::events::StockUpdated>(S::Inventory, StoreSku),
        message::<crate::inventory::events::LowStock>(S::Inventory, StoreSku),
        message::<crate::inventory::events::OutOfStock>(S::Inventory, StoreSku),
        message::<crate::inventory::events::BackInStock>(S::Inventory, StoreSku),
        message::<crate::inventory::events::StockReserved>(S::Inventory, Order),
        message::<crate::inventory::events::ReservationFailed>(S::Inventory, Order),
        message::<crate::inventory::events::StockConfirmed>(S::Inventory, Order),
        message::<crate::inventory::events::StockReleased>(S::Inventory, Order),
        message::<crate::inventory::events::StoreUpdated>(S::Inventory, Store),
        message::<crate::order::events::OrderCreated>(S::Order, Order),
        message::<crate::order::events::OrderUpdated>(S::Order, Order),
        message::<crate::order::events::OrderCancelled>(S::Order, Order),
        message::<crate::order::events::OrderCompleted>(S::Order, Order),
        message::<crate::cart::events::CartUpdated>(S::Cart, Cart),
        message::<crate::cart::events::CartCleared>(S::Cart, Cart),
        message::<crate::payment::events::PaymentInitiated>(S::Payment, Order),
        message::<crate::payment::events::PaymentCompleted>(S::Payment, Order),
        message::<crate::payment::events::PaymentFailed>(S::Payment, Order),
        message::<crate::payment::events::PaymentRefunded>(S::Payment, Order),
        message::<crate::delivery::events::DeliveryScheduled>(S::Delivery, Order),
        message::<crate::delivery::events::DeliveryStarted>(S::Delivery, Order),
        message::<crate::delivery::events::DeliveryCompleted>(S::Delivery, Order),
        message::<crate::delivery::events::DeliveryFailed>(S::Delivery, Order),
        message::<crate::delivery::events::DeliveryPacked>(S::Delivery, Order),
        message::<crate::delivery::events::StoreLoadChanged>(S::Delivery, StoreCode),
        message::<crate::delivery::events::SlotUpdated>(S::Delivery, Slot),
        message::<crate::notification::events::NotificationSent>(S::Notification, Notification),
        message::<crate::notification::events::NotificationFailed>(S::Notification, Notification),
        message::<crate::location::events::AddressValidated>(S::Location, Pincode),
    ]
}

/// Every published event type, in the order declared.
pub fn messages() -> &'static [Message] {
    static ALL: OnceLock<Vec<Message>> = OnceLock::new();
    ALL.get_or_init(declare)
}

/// The declaration of an event type, if Nakku publishes it.
pub fn message_of(event_type: &str) -> Option<&'static Message> {
    messages().iter().find(|m| m.event_type == event_type)
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashSet};

    use super::*;
    use crate::config::Settings;
    use crate::events::catalog::DOMAINS;

    #[test]
    fn each_type_is_declared_once_on_its_publishers_topic() {
        let mut seen = HashSet::new();
        for m in messages() {
            assert!(seen.insert(m.event_type), "{} declared twice", m.event_type);
            assert!(DOMAINS.contains(&m.domain()), "{} is on no known topic", m.event_type);
            assert_eq!(
                m.domain(),
                m.publisher.name(),
                "{} is published by {}",
                m.event_type,
                m.publisher.name()
            );
        }
    }

    #[test]
    fn every_subscription_is_to_a_published_type_at_its_version() {
        let settings = Settings::default();
        for svc in Service::ALL {
            for h in crate::consumers_of(svc, &settings) {
                for (t, v) in h.handles() {
                    if *t == "*" {
                        continue;
                    }
                    let m = message_of(t)
                        .unwrap_or_else(|| panic!("{} subscribes to {t}, which nobody publishes", h.name()));
                    assert_eq!(
                        *v,
                        m.version,
                        "{} reads {t} v{v}; it is published at v{}",
                        h.name(),
                        m.version
                    );
                }
            }
        }
    }

    #[test]
    fn schema_names_mean_one_schema() {
        let mut by_name: BTreeMap<String, String> = BTreeMap::new();
        for m in messages() {
            for (name, schema) in &m.refs {
                let json = serde_json::to_string(schema).unwrap_or_default();
                if let Some(before) = by_name.insert(name.clone(), json.clone()) {
                    assert_eq!(before, json, "two different schemas are both named {name}");
                }
            }
        }
    }
}
