//! Nakku's domains and platform: configuration, databases, events, auth. No HTTP and no
//! terminal code lives here; nakku-server and nakku-cli build on it.

pub mod analytics;
pub mod asyncapi;
pub mod auth;
pub mod cart;
pub mod config;
pub mod contracts;
pub mod db;
pub mod delivery;
pub mod distance;
pub mod error;
pub mod events;
pub mod gateway;
pub mod gather;
pub mod id;
pub mod inventory;
pub mod list;
pub mod location;
pub mod money;
pub mod notification;
pub mod order;
pub mod payment;
pub mod ports;
pub mod product;
pub mod retry;
pub mod rules;
pub mod service;
pub mod stats;
pub mod tls;
pub mod trace;
pub mod user;

pub use error::CoreError;

use std::sync::Arc;

/// The event consumers a service runs, each with its own group on the bus.
pub fn consumers_of(svc: service::Service, settings: &config::Settings) -> Vec<Arc<dyn events::consumer::Handler>> {
    match svc {
        service::Service::User => vec![Arc::new(user::activity::ActivityHandler)],
        service::Service::Location => vec![
            Arc::new(location::service::StoreReplica("location.stores")),
            Arc::new(delivery::events::LoadReplica("location.load")),
        ],
        service::Service::Delivery => vec![
            Arc::new(location::service::StoreReplica("delivery.stores")),
            Arc::new(delivery::consumers::OrderFollower(
                delivery::DeliveryConfig::from_settings(settings),
            )),
            Arc::new(delivery::consumers::CatalogueReplica),
        ],
        service::Service::Product => vec![
            Arc::new(product::replica::StockReplica),
            Arc::new(product::replica::SalesRecorder),
            Arc::new(delivery::events::LoadReplica("product.load")),
        ],
        service::Service::Cart => vec![
            Arc::new(cart::replica::ProductReplica),
            Arc::new(cart::replica::StockReplica),
            Arc::new(cart::replica::OrderFollower),
        ],
        service::Service::Order => vec![Arc::new(order::deliveries::DeliveryFollower)],
        service::Service::Payment => vec![Arc::new(payment::CodSettler)],
        service::Service::Analytics => vec![
            Arc::new(analytics::handler::AnalyticsHandler),
            Arc::new(analytics::event_log::EventLogHandler {
                retention_ms: settings.event_log_hours * 3_600_000,
            }),
        ],
        service::Service::Notification => vec![Arc::new(notification::handler::NotificationHandler {
            utc_offset_minutes: settings.notify_utc_offset_minutes,
        })],
        _ => Vec::new(),
    }
}

/// What a use case knows about the request that triggered it. `request_id` becomes the
/// `correlation_id` of every event the use case emits.
#[derive(Debug, Clone, Default)]
pub struct RequestCtx {
    pub request_id: String,
    pub user_agent: Option<String>,
}

impl RequestCtx {
    /// A context for work that did not come from an HTTP request (CLI commands).
    pub fn internal(what: &str) -> Self {
        RequestCtx {
            request_id: format!("{what}-{}", id::new_id()),
            user_agent: None,
        }
    }
}
