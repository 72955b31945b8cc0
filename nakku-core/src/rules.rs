//! Input rules more than one domain applies: free text, PIN codes and coordinates (user,
//! location, inventory, products, payments, orders), SKUs, store codes, quantities and
//! opening hours (inventory, cart, catalogue, delivery, analytics). A leaf module: it
//! depends on nothing else in the crate, so every domain can use it without importing
//! another domain.

use utoipa::openapi::schema::{AnyOfBuilder, Array, ArrayBuilder, Object, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::KnownFormat;

// The OpenAPI schema of each rule sits beside its parser and reads the same constants, so
// the document shows what the parser accepts: an input field names its rule with
// `#[schema(schema_with = rules::sku)]` (`#[param(schema_with = …)]` on a query field).
// Every schema here is a subset of what its parser takes (a parser also trims, and some
// ignore case), so a request built from the document is never refused for its shape;
// schemathesis's positive-data check in `.ci/run` holds the two together.

/// The OpenAPI schema of a text field that takes one of `values`: give it the list its
/// parser checks, so the document shows exactly what is accepted.
pub fn one_of(values: &[&str]) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// A string matching `pattern` (which carries its own bounds, as `^[!-~]{1,100}$` does).
pub fn matching(pattern: impl Into<String>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(pattern))
        .build()
}

/// A list of at most `max` items, each `item`.
pub fn list(item: Object, max: usize) -> Array {
    ArrayBuilder::new().items(item).max_items(Some(max)).build()
}

/// A string of `min` to `max` characters matching `pattern`.
pub fn string(min: usize, max: usize, pattern: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .build()
}

/// No control characters, and at least one character that is not white space (what
/// [`parse_text`] keeps after trimming).
const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

/// Free text of 1 to `MAX` characters ([`parse_text`] with the same `MAX`).
pub fn text<const MAX: usize>() -> Object {
    string(1, MAX, TEXT_PATTERN)
}

/// A whole number from `MIN` to `MAX`.
pub fn whole<const MIN: i64, const MAX: i64>() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(MIN as f64))
        .maximum(Some(MAX as f64))
        .build()
}

/// A number from `min` to `max`.
pub fn number(min: f64, max: f64) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Double)))
        .minimum(Some(min))
        .maximum(Some(max))
        .build()
}

/// A string in one of the given formats (`date`, `date-time`, …).
pub fn formats(formats: &[&str]) -> Schema {
    let mut any = AnyOfBuilder::new();
    for f in formats {
        any = any.item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::Custom((*f).to_owned()))),
        );
    }
    Schema::AnyOf(any.build())
}

/// [`parse_day`](crate::id::parse_day): a date `YYYY-MM-DD` or an RFC 3339 time.
pub fn day() -> Schema {
    formats(&["date", "date-time"])
}

/// An RFC 3339 time.
pub fn time() -> Schema {
    formats(&["date-time"])
}

/// An id we made ([`is_id`](crate::id::is_id)): a UUID; also every cursor of a list.
pub fn id() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".to_owned())))
        .build()
}

/// A list cursor `<created_at ms>_<id>` (orders, notifications).
pub fn cursor() -> Object {
    let hex = |n: usize| format!("[0-9a-fA-F]{{{n}}}");
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(format!(
            "^[0-9]{{1,15}}_{}-{}-{}-{}-{}$",
            hex(8),
            hex(4),
            hex(4),
            hex(4),
            hex(12)
        )))
        .build()
}

/// Largest sku: [`parse_sku`].
pub const SKU_MAX: usize = 64;

/// [`parse_sku`].
pub fn sku() -> Object {
    string(1, SKU_MAX, "^[A-Za-z0-9._-]+$")
}

/// [`parse_code`]: a store code.
pub fn store_code() -> Object {
    string(CODE_MIN, CODE_MAX, "^[A-Za-z0-9-]+$")
}

/// [`parse_pincode`].
pub fn pincode() -> Object {
    string(6, 6, "^[1-9][0-9]{5}$")
}

/// [`parse_hhmm`]: `HH:MM` from 00:00 to 24:00.
pub fn hhmm_schema() -> Object {
    string(5, 5, "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$")
}

/// [`check_lat`].
pub fn latitude() -> Object {
    number(-90.0, 90.0)
}

/// [`check_lng`].
pub fn longitude() -> Object {
    number(-180.0, 180.0)
}

/// [`check_quantity`].
pub fn quantity() -> Object {
    whole::<1, MAX_QUANTITY>()
}

/// Largest quantity in one line or movement (guards against typos like 10000000).
pub const MAX_QUANTITY: i64 = 100_000;

/// A sku: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn parse_sku(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if !s.is_empty()
        && s.len() <= SKU_MAX
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(s.to_owned())
    } else {
        Err("must be 1-64 letters, digits, '-', '_' or '.'".to_owned())
    }
}

const CODE_MIN: usize = 2;
const CODE_MAX: usize = 32;

/// A store code such as `BLR-KOR-01`.
pub fn parse_code(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_uppercase();
    if (CODE_MIN..=CODE_MAX).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        Ok(s)
    } else {
        Err("must be 2-32 letters, digits or '-'".to_owned())
    }
}

/// `HH:MM` → minutes after midnight.
pub fn parse_hhmm(raw: &str) -> Result<i64, String> {
    let err = || "must be a time HH:MM between 00:00 and 24:00".to_owned();
    let (h, m) = raw.trim().split_once(':').ok_or_else(err)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| err())?, m.parse().map_err(|_| err())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || (h == 24 && m != 0) {
        return Err(err());
    }
    Ok(h * 60 + m)
}

/// Minutes after midnight as `HH:MM`.
pub fn hhmm(minutes: i64) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// Whether a store open `opens..closes` (minutes, IST) is open at `now_ms`. A closing time
/// before the opening time means the store is open past midnight.
pub fn is_open_at(opens: i64, closes: i64, now_ms: i64) -> bool {
    let ist_minutes = (now_ms / 60_000 + 5 * 60 + 30).rem_euclid(24 * 60);
    if opens == closes {
        return true; // round the clock
    }
    if opens < closes {
        (opens..closes).contains(&ist_minutes)
    } else {
        ist_minutes >= opens || ist_minutes < closes
    }
}

/// A quantity of 1..=MAX_QUANTITY.
pub fn check_quantity(q: i64) -> Result<i64, String> {
    if (1..=MAX_QUANTITY).contains(&q) {
        Ok(q)
    } else {
        Err(format!("must be a whole number from 1 to {MAX_QUANTITY}"))
    }
}

/// Free text such as a name or a city: trimmed, 1..=max characters, no control characters.
/// Everything else (quotes, SQL metacharacters, any script) is kept verbatim.
pub fn parse_text(raw: &str, max: usize) -> Result<String, String> {
    let t = raw.trim();
    if t.is_empty() {
        return Err("must not be empty".to_owned());
    }
    if t.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(t.to_owned())
}

/// Indian PIN code: six digits, not starting with 0.
pub fn parse_pincode(raw: &str) -> Result<String, String> {
    let p = raw.trim();
    if p.len() == 6 && p.chars().all(|c| c.is_ascii_digit()) && !p.starts_with('0') {
        Ok(p.to_owned())
    } else {
        Err("must be a 6-digit PIN code not starting with 0".to_owned())
    }
}

pub fn check_lat(v: f64) -> Result<f64, String> {
    if v.is_finite() && (-90.0..=90.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a latitude between -90 and 90".to_owned())
    }
}

pub fn check_lng(v: f64) -> Result<f64, String> {
    if v.is_finite() && (-180.0..=180.0).contains(&v) {
        Ok(v)
    } else {
        Err("must be a longitude between -180 and 180".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(o: Object) -> serde_json::Value {
        serde_json::to_value(o).unwrap_or_default()
    }

    /// Each schema's bounds are where its parser's are: the longest value the schema
    /// allows is accepted, one more character is refused.
    #[test]
    fn schemas_and_parsers_agree_at_their_bounds() {
        assert_eq!(json(text::<100>())["maxLength"], 100);
        assert!(parse_text(&"a".repeat(100), 100).is_ok());
        assert!(parse_text(&"a".repeat(101), 100).is_err());
        assert_eq!(json(sku())["maxLength"], SKU_MAX);
        assert!(parse_sku(&"A".repeat(SKU_MAX)).is_ok());
        assert!(parse_sku(&"A".repeat(SKU_MAX + 1)).is_err());
        let code = json(store_code());
        assert_eq!(
            (code["minLength"].clone(), code["maxLength"].clone()),
            (CODE_MIN.into(), CODE_MAX.into())
        );
        assert!(parse_code(&"A".repeat(CODE_MIN)).is_ok() && parse_code(&"A".repeat(CODE_MIN - 1)).is_err());
        assert!(parse_code(&"A".repeat(CODE_MAX)).is_ok() && parse_code(&"A".repeat(CODE_MAX + 1)).is_err());
        let q = json(quantity());
        assert_eq!(
            (q["minimum"].clone(), q["maximum"].clone()),
            (1.into(), MAX_QUANTITY.into())
        );
        assert!(check_quantity(MAX_QUANTITY).is_ok() && check_quantity(MAX_QUANTITY + 1).is_err());
        assert!(check_quantity(1).is_ok() && check_quantity(0).is_err());
        assert_eq!(json(latitude())["maximum"], 90.0);
        assert!(check_lat(90.0).is_ok() && check_lat(90.000_001).is_err());
        assert_eq!(json(longitude())["minimum"], -180.0);
        assert!(check_lng(-180.0).is_ok() && check_lng(-180.000_001).is_err());
        for t in ["00:00", "23:59", "24:00"] {
            assert!(parse_hhmm(t).is_ok(), "{t}");
        }
        assert!(parse_pincode("560034").is_ok() && parse_pincode("060034").is_err());
    }

    /// What the free-text pattern lets through, the parser keeps.
    #[test]
    fn the_text_pattern_is_within_what_parse_text_takes() {
        let pattern = json(text::<10>())["pattern"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default();
        // The pattern's classes, spelled out: no C0/C1 control characters, one non-space.
        assert!(pattern.contains(r"\x00-\x1f\x7f-\x9f") && pattern.contains(r"[^\s"));
        assert!(parse_text("a\u{85}b", 10).is_err()); // a C1 control character: refused by both
        assert!(parse_text("  a  ", 10).is_ok());
        assert!(parse_text("   ", 10).is_err());
    }
}
