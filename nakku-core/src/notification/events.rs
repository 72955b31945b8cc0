//! The notification service's events, on `<prefix>.notification` keyed by message id:
//! what became of each message. No Nakku service consumes them (delivery reports for
//! data pipelines and support tooling); the correlation id is the event that caused it.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Event};

/// A message's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MessageOutcome {
    pub notification_id: String,
    pub user_id: String,
    /// The event that caused the message.
    pub event_id: String,
    /// `email`, `sms` or `push`.
    pub channel: String,
    /// `sent` or `dead_lettered`.
    pub status: String,
    /// The provider that took (or last refused) it.
    pub provider: String,
}

/// `notification.sent` v1: a provider accepted the message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct NotificationSent(pub MessageOutcome);

impl Event for NotificationSent {
    const TYPE: &'static str = catalog::NOTIFICATION_SENT;
}

/// `notification.failed` v1: every attempt failed; the message is dead-lettered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct NotificationFailed(pub MessageOutcome);

impl Event for NotificationFailed {
    const TYPE: &'static str = catalog::NOTIFICATION_FAILED;
}
