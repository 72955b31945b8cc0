//! The cart domain: a persistent cart per shopper per dark store, checked on every read
//! against local replicas of prices (product events), stock (inventory events) and store
//! load (order events); checkout pricing by configurable rules; sharing by link.

pub mod events;
pub mod replica;
pub mod service;

use serde::Deserialize;

pub use crate::money::rupees;
pub use crate::ports::{CartLine, Fee, LineProblem, Quote};
pub use service::CartService;

use crate::config::Pricing;

/// The fees for an item total at a distance and store load.
pub fn fees(rules: &Pricing, items_paise: i64, road_km: f64, store_load: i64) -> Vec<Fee> {
    let mut out = Vec::new();
    let free = rules.free_delivery_above_paise > 0 && items_paise >= rules.free_delivery_above_paise;
    let beyond = (road_km - rules.delivery_base_km).max(0.0).ceil() as i64;
    let delivery = if free {
        0
    } else {
        rules.delivery_base_fee_paise + beyond * rules.delivery_per_km_paise
    };
    out.push(Fee {
        code: "delivery".into(),
        label: if free {
            format!("Delivery (free above {})", rupees(rules.free_delivery_above_paise))
        } else {
            format!("Delivery ({road_km:.1} km)")
        },
        amount_paise: delivery,
    });
    if items_paise < rules.min_order_paise && rules.small_cart_fee_paise > 0 {
        out.push(Fee {
            code: "small_cart".into(),
            label: format!("Small cart fee (orders below {})", rupees(rules.min_order_paise)),
            amount_paise: rules.small_cart_fee_paise,
        });
    }
    if store_load >= rules.store_capacity && rules.surge_fee_paise > 0 {
        out.push(Fee {
            code: "surge".into(),
            label: "High demand at your store".into(),
            amount_paise: rules.surge_fee_paise,
        });
    }
    out
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ItemInput {
    #[schema(schema_with = crate::rules::sku, required = true)]
    pub sku: Option<String>,
    #[schema(schema_with = crate::rules::quantity, required = true)]
    pub quantity: Option<i64>,
    /// The dark store of the cart (default: the shopper's most recent cart).
    #[schema(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct QuantityInput {
    #[schema(schema_with = new_quantity_schema, required = true)]
    pub quantity: Option<i64>,
    #[schema(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
}

/// How a cart is shared.
pub const SHARE_MODES: [&str; 2] = ["view", "edit"];

fn share_mode_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&SHARE_MODES)
}

/// A line's new quantity: 0 removes it.
fn new_quantity_schema() -> utoipa::openapi::schema::Object {
    crate::rules::whole::<0, { crate::rules::MAX_QUANTITY }>()
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ShareInput {
    /// `view` (read-only, others may copy it) or `edit` (collaborative).
    #[schema(schema_with = share_mode_schema)]
    pub mode: Option<String>,
    #[schema(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fees_follow_the_rules() {
        let r = Pricing::default();
        // ₹150 of items, 3.2 km: base ₹15 + 2 started km × ₹8, small-cart fee, no surge.
        let f = fees(&r, 15_000, 3.2, 0);
        let by = |c: &str| f.iter().find(|x| x.code == c).map(|x| x.amount_paise);
        assert_eq!(by("delivery"), Some(1_500 + 2 * 800));
        assert_eq!(by("small_cart"), Some(2_500));
        assert_eq!(by("surge"), None);
        // Free delivery above ₹499; surge at capacity.
        let f = fees(&r, 60_000, 9.0, r.store_capacity);
        let by = |c: &str| f.iter().find(|x| x.code == c).map(|x| x.amount_paise);
        assert_eq!(by("delivery"), Some(0));
        assert_eq!(by("small_cart"), None);
        assert_eq!(by("surge"), Some(2_000));
        assert_eq!(rupees(123_456), "₹1234.56");
    }
}
