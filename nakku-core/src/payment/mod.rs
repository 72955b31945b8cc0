//! The payment domain: saved payment methods, charges through a provider, refunds.
//!
//! One payment per order (`payments.order_id` is unique), so a charge asked twice for the
//! same order charges once. The provider is called outside any database transaction: the
//! payment row is written `initiated` first, the provider answers, then the answer is
//! recorded. A crash in between leaves an `initiated` row that the next charge or
//! cancellation for the order settles by asking the provider again with the same
//! idempotency key (the payment id). Refunds move `refunded_paise` with a conditional
//! UPDATE that can never exceed `captured_paise`, and are idempotent per key.

pub mod consumers;
pub mod events;
pub mod provider;
pub mod service;

use events::{PaymentCompleted, PaymentFailed, PaymentInitiated, PaymentRefunded, PaymentState};

use crate::db::WriteOn;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

pub use crate::ports::{ChargeInput, MethodRef, Payment, PaymentPort, PaymentStatus, RefundInput};
pub use consumers::CodSettler;
pub use provider::{ChargeOutcome, Provider, Simulator};
pub use service::PaymentService;

use crate::db::{opt_text, text, Db};
use crate::error::{CoreError, Validator};
use crate::events::bus::BoxFut;
use crate::events::{outbox, Envelope};
use crate::id::{ms_to_rfc3339, new_id, now_ms};
use crate::service::Service;
use crate::RequestCtx;

pub use crate::ports::{choice_schema, kind_schema, KINDS};

/// Wallets the simulator knows.
pub const WALLETS: [&str; 4] = ["paytm", "phonepe", "amazonpay", "mobikwik"];

/// A saved payment method. Cards are the vault's token, shown by brand and last four.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct PaymentMethod {
    pub id: String,
    pub kind: String,
    pub label: String,
    pub last4: Option<String>,
    pub card_brand: Option<String>,
    pub upi_id: Option<String>,
    pub wallet: Option<String>,
    pub is_default: bool,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct MethodInput {
    pub kind: Option<String>,
    pub label: Option<String>,
    /// Card: the token from the card vault.
    pub token: Option<String>,
    pub last4: Option<String>,
    pub card_brand: Option<String>,
    pub upi_id: Option<String>,
    pub wallet: Option<String>,
    pub is_default: Option<bool>,
    /// Refused with a clear message: we never take card numbers.
    pub card_number: Option<serde_json::Value>,
    pub number: Option<serde_json::Value>,
}

/// The OpenAPI schema of [`MethodInput`]: one shape per kind, each with what that kind
/// needs (a card its vault token, UPI an id, a wallet its name) and nothing else — a card
/// number is refused, so no variant has one.
impl utoipa::PartialSchema for MethodInput {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, OneOfBuilder, Schema, Type};
        let variant = |kind: &str, fields: Vec<(&str, Schema, bool)>| {
            let mut o = ObjectBuilder::new()
                .schema_type(Type::Object)
                .property("kind", crate::rules::one_of(&[kind]))
                .required("kind")
                .property("label", crate::rules::text::<100>())
                .property("is_default", ObjectBuilder::new().schema_type(Type::Boolean))
                .additional_properties(Some(AdditionalProperties::FreeForm(false)));
            for (name, schema, required) in fields {
                o = o.property(name, schema);
                if required {
                    o = o.required(name);
                }
            }
            o.title(Some(kind)).build()
        };
        let card = variant(
            "card",
            vec![
                (
                    "token",
                    Schema::Object(
                        ObjectBuilder::from(crate::rules::string(8, 200, "^[A-Za-z0-9_-]+$"))
                            .description(Some("The token from the card vault"))
                            .build(),
                    ),
                    true,
                ),
                ("last4", Schema::Object(crate::rules::string(4, 4, "^[0-9]{4}$")), false),
                ("card_brand", Schema::Object(crate::rules::text::<32>()), false),
            ],
        );
        let upi = variant(
            "upi",
            vec![(
                "upi_id",
                Schema::Object(crate::rules::string(5, 97, "^[A-Za-z0-9._-]{2,64}@[A-Za-z0-9]{2,32}$")),
                true,
            )],
        );
        let wallet = variant(
            "wallet",
            vec![("wallet", Schema::Object(crate::rules::one_of(&WALLETS)), true)],
        );
        let cod = variant("cod", Vec::new());
        Schema::OneOf(OneOfBuilder::new().item(cod).item(upi).item(card).item(wallet).build()).into()
    }
}

impl utoipa::ToSchema for MethodInput {}

/// A refund.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Refund {
    pub id: String,
    pub amount_paise: i64,
    pub reason: String,
    pub key: String,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
}

const PAYMENT_COLS: &str = "id, order_id, user_id, kind, method_id, amount_paise, currency, status, captured_paise, \
     refunded_paise, provider, provider_ref, failure_reason, attempts, created_at, updated_at";

fn payment_from_row(r: &AnyRow) -> Result<Payment, sqlx::Error> {
    Ok(Payment {
        id: text(r, "id")?,
        order_id: text(r, "order_id")?,
        user_id: text(r, "user_id")?,
        kind: text(r, "kind")?,
        method_id: opt_text(r, "method_id")?,
        amount_paise: r.try_get("amount_paise")?,
        currency: text(r, "currency")?,
        status: text(r, "status")?,
        captured_paise: r.try_get("captured_paise")?,
        refunded_paise: r.try_get("refunded_paise")?,
        provider: text(r, "provider")?,
        provider_ref: opt_text(r, "provider_ref")?,
        failure_reason: opt_text(r, "failure_reason")?,
        attempts: r.try_get("attempts")?,
        created_at: ms_to_rfc3339(r.try_get("created_at")?),
        updated_at: ms_to_rfc3339(r.try_get("updated_at")?),
    })
}

const METHOD_COLS: &str = "id, kind, label, last4, card_brand, upi_id, wallet, is_default, created_at";

fn method_from_row(r: &AnyRow) -> Result<PaymentMethod, sqlx::Error> {
    Ok(PaymentMethod {
        id: text(r, "id")?,
        kind: text(r, "kind")?,
        label: text(r, "label")?,
        last4: opt_text(r, "last4")?,
        card_brand: opt_text(r, "card_brand")?,
        upi_id: opt_text(r, "upi_id")?,
        wallet: opt_text(r, "wallet")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        created_at: r.try_get("created_at")?,
    })
}

/// True for a string of 12 to 19 digits (spaces and dashes ignored): a card number.
pub fn looks_like_card_number(s: &str) -> bool {
    let digits: String = s.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    (12..=19).contains(&digits.len()) && digits.chars().all(|c| c.is_ascii_digit())
}

/// A UPI id: `name@handle`.
pub fn parse_upi(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_lowercase();
    let ok = s.split_once('@').is_some_and(|(n, h)| {
        (2..=64).contains(&n.len())
            && (2..=32).contains(&h.len())
            && n.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
            && h.chars().all(|c| c.is_ascii_alphanumeric())
    });
    if ok {
        Ok(s)
    } else {
        Err("must be a UPI id like name@bank".to_owned())
    }
}

/// A payment as its events carry it.
impl events::PaymentState {
    pub fn of(p: &Payment, request_id: &str) -> Self {
        Self {
            payment_id: p.id.clone(),
            order_id: p.order_id.clone(),
            user_id: p.user_id.clone(),
            kind: p.kind.clone(),
            amount_paise: p.amount_paise,
            captured_paise: p.captured_paise,
            refunded_paise: p.refunded_paise,
            currency: p.currency.clone(),
            status: p.status.clone(),
            failure_reason: p.failure_reason.clone(),
            request_id: request_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every legal move of a payment, and only those.
    const LEGAL: [(&str, &str); 9] = [
        ("initiated", "captured"),
        ("initiated", "failed"),
        ("cod_pending", "captured"), // cash taken at the door
        ("cod_pending", "voided"),   // cancelled before delivery
        ("captured", "partially_refunded"),
        ("captured", "refunded"),
        ("partially_refunded", "partially_refunded"),
        ("partially_refunded", "refunded"),
        ("voided", "refunded"), // a charge that landed after the cancellation
    ];

    #[test]
    fn a_payment_moves_only_as_the_table_says() {
        let mut refused = 0;
        for from in PaymentStatus::ALL {
            assert_eq!(PaymentStatus::parse(from.as_str()), Some(from));
            assert_eq!(serde_json::to_value(from).unwrap(), from.as_str());
            for to in PaymentStatus::ALL {
                let legal = LEGAL.contains(&(from.as_str(), to.as_str()));
                match from.to(to) {
                    Ok(names) => {
                        assert!(legal, "{from:?} → {to:?} must be refused");
                        assert_eq!(names, (from.as_str(), to.as_str()));
                    }
                    Err(e) => {
                        assert!(!legal, "{from:?} → {to:?} must be allowed");
                        assert!(e.to_string().contains(from.as_str()), "{e}");
                        refused += 1;
                    }
                }
            }
        }
        assert_eq!(refused, 7 * 7 - LEGAL.len());
        assert!(PaymentStatus::Failed.next().is_empty() && PaymentStatus::Refunded.next().is_empty());
    }

    #[test]
    fn card_numbers_are_recognised_and_upi_ids_checked() {
        assert!(looks_like_card_number("4111 1111 1111 1111"));
        assert!(looks_like_card_number("4111-1111-1111-1111"));
        assert!(!looks_like_card_number("tok_4111111111111111"));
        assert_eq!(parse_upi(" Asha.K@okaxis ").unwrap(), "asha.k@okaxis");
        for bad in ["asha", "@okaxis", "a@b", "asha@ok axis"] {
            assert!(parse_upi(bad).is_err(), "{bad}");
        }
    }
}
