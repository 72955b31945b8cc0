//! The location service's events, on `<prefix>.location`.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::FieldErrors;
use crate::events::{catalog, Event};

/// `location.validated` v1: an address was checked, with what was wrong with it. Keyed by
/// pincode (`unknown` without one). No Nakku service consumes it: it is there for audits
/// and for data pipelines reading the topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressValidated {
    pub valid: bool,
    pub pincode: Option<String>,
    pub city: Option<String>,
    pub lat: Option<f64>,
    pub lng: Option<f64>,
    /// Problems by field, as the API reported them; empty when valid.
    pub problems: FieldErrors,
}

impl Event for AddressValidated {
    const TYPE: &'static str = catalog::LOCATION_VALIDATED;
}
