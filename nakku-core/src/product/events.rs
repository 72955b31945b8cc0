//! The catalogue's events, on `<prefix>.product`: products (keyed by product id; the product
//! replicas of cart, delivery and analytics follow them) and categories (keyed by category id).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Change, DecodeError, Envelope, Event};

/// A node of the category tree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub id: String,
    pub parent_id: Option<String>,
    pub name: String,
    pub slug: String,
    pub position: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// A product as stored and served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Product {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub category_id: String,
    /// Pack size as shown to shoppers: `500 g`, `1 L`, `6 pcs`.
    pub unit: String,
    pub mrp_paise: i64,
    pub price_paise: i64,
    pub tags: Vec<String>,
    pub images: Vec<String>,
    pub attributes: BTreeMap<String, serde_json::Value>,
    /// Most units of this product in one order; `None` means the platform default.
    pub max_per_order: Option<i64>,
    pub active: bool,
    /// Bumped on every change (caches and replicas compare it).
    pub version: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
    #[serde(with = "crate::id::opt_rfc3339")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub deleted_at: Option<i64>,
}

impl Product {
    /// Whole percent off the MRP.
    pub fn discount_percent(&self) -> i64 {
        if self.mrp_paise <= 0 || self.price_paise >= self.mrp_paise {
            0
        } else {
            (self.mrp_paise - self.price_paise) * 100 / self.mrp_paise
        }
    }
}

/// A product as it stands after the change, with its discount worked out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductState {
    pub product: Product,
    /// Whole percent off the MRP.
    pub discount_percent: i64,
}

impl ProductState {
    pub fn of(p: &Product) -> ProductState {
        ProductState {
            product: p.clone(),
            discount_percent: p.discount_percent(),
        }
    }

    /// Whether shoppers can buy it: active and not deleted.
    pub fn sellable(&self) -> bool {
        self.product.active && self.product.deleted_at.is_none()
    }
}

/// `product.created` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductCreated(pub ProductState);

impl Event for ProductCreated {
    const TYPE: &'static str = catalog::PRODUCT_CREATED;
}

/// `product.updated` v1: any change, including (de)activation and restoring a deleted one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductUpdated(pub ProductState);

impl Event for ProductUpdated {
    const TYPE: &'static str = catalog::PRODUCT_UPDATED;
}

/// `product.deleted` v1: the product as it was deleted (`deleted_at` set).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct ProductDeleted(pub ProductState);

impl Event for ProductDeleted {
    const TYPE: &'static str = catalog::PRODUCT_DELETED;
}

/// The product events a replica follows, with their versions (for `Handler::handles`).
pub const PRODUCT_EVENTS: [(&str, u32); 3] = [
    (ProductCreated::TYPE, ProductCreated::VERSION),
    (ProductUpdated::TYPE, ProductUpdated::VERSION),
    (ProductDeleted::TYPE, ProductDeleted::VERSION),
];

/// Any of the three product events, as a replica reads it: the product, and whether it can
/// be sold now (a deletion never can). `None` for other event types.
pub fn product_change(env: &Envelope) -> Result<Option<(Product, bool)>, DecodeError> {
    Ok(match env.event_type.as_str() {
        ProductCreated::TYPE => Some(env.decode::<ProductCreated>()?.0),
        ProductUpdated::TYPE => Some(env.decode::<ProductUpdated>()?.0),
        ProductDeleted::TYPE => {
            let gone = env.decode::<ProductDeleted>()?.0;
            return Ok(Some((gone.product, false)));
        }
        _ => None,
    }
    .map(|s| {
        let sellable = s.sellable();
        (s.product, sellable)
    }))
}

/// `product.category.updated` v1: a category was created, changed (renamed, moved) or deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CategoryUpdated {
    pub category: Category,
    pub change: Change,
}

impl Event for CategoryUpdated {
    const TYPE: &'static str = catalog::CATEGORY_UPDATED;
}
