//! The cart service's events, on `<prefix>.cart` keyed by cart id. No Nakku service
//! consumes them: they are there for data pipelines (abandoned carts, demand signals).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::events::{catalog, Event};
use crate::inventory::events::Line;

/// `cart.updated` v1: the cart's lines after a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartUpdated {
    pub cart_id: String,
    /// The cart's owner.
    pub user_id: String,
    /// Store code.
    pub store: String,
    pub items: Vec<Line>,
    /// The account that made the change (the owner, or a co-shopper of a shared cart).
    pub by: String,
}

impl Event for CartUpdated {
    const TYPE: &'static str = catalog::CART_UPDATED;
}

/// `cart.cleared` v1: every line went, with why (`cleared by the shopper`, `order … placed`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CartCleared {
    pub cart_id: String,
    pub user_id: String,
    pub store: String,
    pub reason: String,
}

impl Event for CartCleared {
    const TYPE: &'static str = catalog::CART_CLEARED;
}
