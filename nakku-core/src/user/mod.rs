//! The user domain: accounts, credentials, roles and addresses.
//!
//! `mod.rs` holds the types and the pure validation rules (unit-tested without a
//! database); `store.rs` the SQL; `service.rs` the use cases.

pub mod activity;
pub mod events;
pub mod service;
pub mod store;

use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::Object;

pub use crate::rules::{check_lat, check_lng, parse_pincode, parse_text};
pub use events::Address;
pub use service::{AuthResult, Tokens, UserService, UserServiceConfig};

use crate::auth::Role;

/// An account as clients see it (never with its password hash).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct User {
    pub id: String,
    pub email: String,
    pub phone: String,
    pub name: String,
    pub role: Role,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: i64,
    #[serde(with = "crate::id::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: i64,
}

/// `POST /auth/register`. Fields are optional here so that a missing one is reported by
/// name together with every other problem, instead of serde's first-error-only message.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RegisterInput {
    #[schema(schema_with = email_schema, required = true)]
    pub email: Option<String>,
    #[schema(schema_with = phone_schema, required = true)]
    pub phone: Option<String>,
    #[schema(schema_with = password_schema, required = true)]
    pub password: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>, required = true)]
    pub name: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LoginInput {
    #[schema(schema_with = email_schema, required = true)]
    pub email: Option<String>,
    #[schema(value_type = String, min_length = 1, required = true)]
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct RefreshInput {
    #[schema(value_type = String, min_length = 1, required = true)]
    pub refresh_token: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct LogoutInput {
    #[schema(value_type = String, min_length = 1, required = true)]
    pub refresh_token: Option<String>,
    /// Revoke every session of the account, not only this one.
    #[serde(default)]
    pub all: bool,
}

/// `PATCH /users/me`: only the fields present change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct UpdateProfileInput {
    #[schema(schema_with = crate::rules::text::<200>)]
    pub name: Option<String>,
    #[schema(schema_with = email_schema)]
    pub email: Option<String>,
    #[schema(schema_with = phone_schema)]
    pub phone: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ChangePasswordInput {
    #[schema(value_type = String, min_length = 1, required = true)]
    pub current_password: Option<String>,
    #[schema(schema_with = password_schema, required = true)]
    pub new_password: Option<String>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct DeleteAccountInput {
    pub password: Option<String>,
}

/// `POST /users/me/addresses` and, with every field optional, `PATCH`.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct AddressInput {
    #[schema(schema_with = crate::rules::text::<50>, required = true)]
    pub label: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>, required = true)]
    pub line1: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>)]
    pub line2: Option<String>,
    #[schema(schema_with = crate::rules::text::<100>, required = true)]
    pub city: Option<String>,
    #[schema(schema_with = crate::rules::pincode, required = true)]
    pub pincode: Option<String>,
    #[schema(schema_with = crate::rules::latitude, required = true)]
    pub lat: Option<f64>,
    #[schema(schema_with = crate::rules::longitude, required = true)]
    pub lng: Option<f64>,
    pub is_default: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct SetRoleInput {
    #[schema(schema_with = role_schema, required = true)]
    pub role: Option<String>,
}

/// Admin user listing filters.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct ListUsersQuery {
    #[param(schema_with = role_schema)]
    pub role: Option<String>,
    #[param(max_length = 100)]
    pub q: Option<String>,
    #[param(schema_with = crate::rules::id)]
    pub cursor: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}

/// A page of results and the cursor of the next one.
pub use crate::list::Page;

/// Most addresses one account may keep.
pub const MAX_ADDRESSES: i64 = 20;

/// [`parse_email`] as the OpenAPI document shows it (a plain address; the parser also takes
/// other letters and trims).
pub fn email_schema() -> Object {
    crate::rules::string(3, 254, r"^[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
}

/// [`parse_phone`]: an Indian mobile, with or without +91.
pub fn phone_schema() -> Object {
    crate::rules::string(10, 13, r"^(\+91)?[6-9][0-9]{9}$")
}

/// [`check_password`]: 8 to 72 characters with a letter and a digit (ASCII here, so
/// characters and bytes agree; the parser takes any letters).
pub fn password_schema() -> Object {
    crate::rules::string(8, 72, "^[ -~]*[A-Za-z][ -~]*[0-9][ -~]*$")
}

/// A role, one of [`Role::ALL`].
pub fn role_schema() -> Object {
    crate::rules::one_of(&Role::ALL.map(Role::as_str))
}

/// Normalises an email: trimmed, lower-cased, syntactically plausible.
pub fn parse_email(raw: &str) -> Result<String, String> {
    let e = raw.trim().to_lowercase();
    let err = || "must be an email address such as asha@example.com".to_owned();
    if e.is_empty() || e.len() > 254 || e.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err());
    }
    let (local, domain) = e.split_once('@').ok_or_else(err)?;
    let domain_ok = domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && domain.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '.');
    if local.is_empty() || local.len() > 64 || !domain_ok {
        return Err(err());
    }
    Ok(e)
}

/// Normalises a phone number to E.164. A bare 10-digit number is taken as an Indian
/// mobile (+91).
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let err = || "must be a mobile number such as +919876543210 or 9876543210".to_owned();
    let compact: String = raw
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.'))
        .collect();
    let (plus, digits) = match compact.strip_prefix('+') {
        Some(d) => (true, d),
        None => (false, compact.as_str()),
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(err());
    }
    let indian_mobile = |d: &str| d.len() == 10 && matches!(d.as_bytes()[0], b'6'..=b'9');
    if plus {
        if let Some(rest) = digits.strip_prefix("91") {
            return if indian_mobile(rest) {
                Ok(format!("+{digits}"))
            } else {
                Err(err())
            };
        }
        return if (8..=15).contains(&digits.len()) && !digits.starts_with('0') {
            Ok(format!("+{digits}"))
        } else {
            Err(err())
        };
    }
    let national = if digits.len() == 11 && digits.starts_with('0') {
        &digits[1..]
    } else if digits.len() == 12 && digits.starts_with("91") {
        &digits[2..]
    } else {
        digits
    };
    if indian_mobile(national) {
        Ok(format!("+91{national}"))
    } else {
        Err(err())
    }
}

const COMMON_PASSWORDS: [&str; 12] = [
    "password1",
    "password123",
    "12345678a",
    "qwerty123",
    "abc12345",
    "iloveyou1",
    "welcome1",
    "letmein1",
    "admin123",
    "passw0rd",
    "123456789a",
    "india123",
];

/// The password policy: 8 to 72 bytes (bcrypt's limit), a letter and a digit, not the
/// email, not one of the most common passwords.
pub fn check_password(pw: &str, email: Option<&str>) -> Result<(), String> {
    if pw.chars().count() < 8 {
        return Err("must be at least 8 characters".to_owned());
    }
    if pw.len() > 72 {
        return Err("must be at most 72 bytes".to_owned());
    }
    if !pw.chars().any(char::is_alphabetic) || !pw.chars().any(|c| c.is_ascii_digit()) {
        return Err("must contain at least one letter and one digit".to_owned());
    }
    let lower = pw.to_lowercase();
    if email.is_some_and(|e| lower == e.to_lowercase() || e.split('@').next() == Some(lower.as_str())) {
        return Err("must not be your email address".to_owned());
    }
    if COMMON_PASSWORDS.contains(&lower.as_str()) {
        return Err("is too common; choose another".to_owned());
    }
    Ok(())
}

/// The events' views of an account.
impl events::UserRegistered {
    pub fn of(u: &User) -> Self {
        Self {
            user_id: u.id.clone(),
            email: u.email.clone(),
            phone: u.phone.clone(),
            name: u.name.clone(),
            role: u.role,
        }
    }
}

impl events::UserUpdated {
    /// A profile edit: the account's contact fields as they now are.
    pub fn profile(u: &User, changed: &[&str]) -> Self {
        Self {
            user_id: u.id.clone(),
            changed: changed.iter().map(|c| (*c).to_owned()).collect(),
            email: Some(u.email.clone()),
            phone: Some(u.phone.clone()),
            name: Some(u.name.clone()),
            role: Some(u.role),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_junk_refused() {
        assert_eq!(parse_email("  Asha@Example.COM ").unwrap(), "asha@example.com");
        for bad in [
            "",
            "asha",
            "asha@",
            "@x.com",
            "a b@x.com",
            "a@x",
            "a@.x.com",
            "a@x..com",
        ] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn indian_mobiles_normalise_to_e164() {
        for ok in [
            "9876543210",
            "+91 98765 43210",
            "09876543210",
            "919876543210",
            "+91-9876-543-210",
        ] {
            assert_eq!(parse_phone(ok).unwrap(), "+919876543210", "{ok}");
        }
        assert_eq!(parse_phone("+14155550123").unwrap(), "+14155550123");
        for bad in ["12345", "5876543210", "+915876543210", "98765x3210", "", "+0123456789"] {
            assert!(parse_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_password_policy_explains_what_is_missing() {
        assert!(check_password("s3cret-enough", None).is_ok());
        assert_eq!(
            check_password("short1", None).unwrap_err(),
            "must be at least 8 characters"
        );
        assert!(check_password("allletters", None).unwrap_err().contains("digit"));
        assert!(check_password("Password1", None).unwrap_err().contains("common"));
        assert!(check_password("asha2024x", Some("asha2024x@example.com"))
            .unwrap_err()
            .contains("email"));
        assert!(check_password(&"a1".repeat(40), None).unwrap_err().contains("72"));
    }

    #[test]
    fn text_is_kept_verbatim_but_bounded() {
        assert_eq!(
            parse_text(" Robert'); DROP TABLE users;-- ", 200).unwrap(),
            "Robert'); DROP TABLE users;--"
        );
        assert_eq!(parse_text("श्रेया 🛒", 200).unwrap(), "श्रेया 🛒");
        assert!(parse_text("   ", 10).is_err());
        assert!(parse_text("a\u{0}b", 10).is_err());
        assert!(parse_text(&"x".repeat(11), 10).is_err());
    }

    #[test]
    fn pincodes_and_coordinates_are_range_checked() {
        assert!(parse_pincode("560001").is_ok());
        assert!(parse_pincode("060001").is_err());
        assert!(parse_pincode("56001").is_err());
        assert!(check_lat(12.97).is_ok() && check_lat(91.0).is_err() && check_lat(f64::NAN).is_err());
        assert!(check_lng(77.59).is_ok() && check_lng(-180.5).is_err());
    }
}
