//! The payment service's events, published on `<prefix>.payment` keyed by order id. Each
//! carries the payment as it stands after the change, plus what the change was.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Event};

/// A payment as it stands after the change the event reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentState {
    pub payment_id: String,
    pub order_id: String,
    pub user_id: String,
    /// `upi`, `card`, `wallet` or `cod`.
    pub kind: String,
    pub amount_paise: i64,
    pub captured_paise: i64,
    /// Everything refunded so far (for cash on delivery: taken off what the rider collects).
    pub refunded_paise: i64,
    pub currency: String,
    /// `initiated`, `captured`, `failed`, `voided`, `cod_pending`, `refunded`, `partially_refunded`.
    pub status: String,
    pub failure_reason: Option<String>,
    pub request_id: String,
}

/// `payment.initiated` v1: a charge went to the provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct PaymentInitiated(pub PaymentState);

impl Event for PaymentInitiated {
    const TYPE: &'static str = catalog::PAYMENT_INITIATED;
}

/// `payment.completed` v1: the money was captured, or (`settled: "cash"`) collected at the door.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentCompleted {
    #[serde(flatten)]
    pub payment: PaymentState,
    /// `cash` when a rider collected it; absent for a provider's capture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<String>,
}

impl Event for PaymentCompleted {
    const TYPE: &'static str = catalog::PAYMENT_COMPLETED;
}

/// `payment.failed` v1: the provider declined or the charge could not be made
/// (`failure_reason`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct PaymentFailed(pub PaymentState);

impl Event for PaymentFailed {
    const TYPE: &'static str = catalog::PAYMENT_FAILED;
}

/// `payment.refunded` v1: money went back (or, `cash_due_lowered`, the rider collects less).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PaymentRefunded {
    #[serde(flatten)]
    pub payment: PaymentState,
    /// This refund, in paise.
    pub refund_paise: i64,
    pub reason: String,
    /// The refund's idempotency key (absent for the refund of a late capture).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// True when nothing had been collected yet: the amount due on delivery went down.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cash_due_lowered: bool,
}

impl Event for PaymentRefunded {
    const TYPE: &'static str = catalog::PAYMENT_REFUNDED;
}
