//! The user service's events, on `<prefix>.user` keyed by user id: accounts (the contacts
//! replica of notification and the activity model follow them) and addresses.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Role;
use crate::events::{catalog, Event};

/// A delivery address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Address {
    pub id: String,
    pub user_id: String,
    pub label: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub pincode: String,
    pub lat: f64,
    pub lng: f64,
    pub is_default: bool,
    /// Whether a dark store delivers here (None: not checked yet).
    pub serviceable: Option<bool>,
    /// The store that serves this address.
    pub store: Option<String>,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// `user.registered` v1: a new account.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserRegistered {
    pub user_id: String,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub role: Role,
}

impl Event for UserRegistered {
    const TYPE: &'static str = catalog::USER_REGISTERED;
}

/// `user.login` v1: a password sign-in (refreshes are not reported).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserLoggedIn {
    pub user_id: String,
    /// The client's `User-Agent`, when it sent one.
    pub user_agent: Option<String>,
}

impl Event for UserLoggedIn {
    const TYPE: &'static str = catalog::USER_LOGIN;
}

/// `user.updated` v1: what changed (`name`, `email`, `phone`, `role`, `password`) and the
/// new value of each contact field the change touched. A field left out did not change
/// (a password change carries none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserUpdated {
    pub user_id: String,
    pub changed: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
}

impl UserUpdated {
    /// A change of one thing that is not a contact field's text (`password`, or `role` with
    /// its new value).
    pub fn only(user_id: &str, what: &str, role: Option<Role>) -> UserUpdated {
        UserUpdated {
            user_id: user_id.to_owned(),
            changed: vec![what.to_owned()],
            email: None,
            phone: None,
            name: None,
            role,
        }
    }
}

impl Event for UserUpdated {
    const TYPE: &'static str = catalog::USER_UPDATED;
}

/// `user.deleted` v1: the account was closed (its contact details must be forgotten).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserDeleted {
    pub user_id: String,
}

impl Event for UserDeleted {
    const TYPE: &'static str = catalog::USER_DELETED;
}

/// An address as it was saved, and whose it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressSaved {
    pub user_id: String,
    pub address: Address,
}

/// `user.address.added` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct AddressAdded(pub AddressSaved);

impl Event for AddressAdded {
    const TYPE: &'static str = catalog::USER_ADDRESS_ADDED;
}

/// `user.address.updated` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(transparent)]
pub struct AddressUpdated(pub AddressSaved);

impl Event for AddressUpdated {
    const TYPE: &'static str = catalog::USER_ADDRESS_UPDATED;
}

/// `user.address.deleted` v1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AddressDeleted {
    pub user_id: String,
    pub address_id: String,
}

impl Event for AddressDeleted {
    const TYPE: &'static str = catalog::USER_ADDRESS_DELETED;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;
    use crate::service::Service;

    #[test]
    fn a_password_change_names_no_contact_field() {
        let e = UserUpdated::only("u1", "password", None);
        let env = Envelope::of(Service::User, "u1", "r1", &e);
        assert_eq!(
            env.payload,
            serde_json::json!({"user_id": "u1", "changed": ["password"]})
        );
        assert_eq!(env.decode::<UserUpdated>().unwrap(), e);
    }

    #[test]
    fn a_role_change_carries_the_role_as_its_wire_name() {
        let env = Envelope::of(
            Service::User,
            "u1",
            "r1",
            &UserUpdated::only("u1", "role", Some(Role::DeliveryPartner)),
        );
        assert_eq!(env.payload["role"], "delivery_partner");
    }
}
