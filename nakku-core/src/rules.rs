//! Input rules more than one domain applies: free text, PIN codes and coordinates (user,
//! location, inventory, products, payments, orders), SKUs, store codes, quantities and
//! opening hours (inventory, cart, catalogue, delivery, analytics). A leaf module: it
//! depends on nothing else in the crate, so every domain can use it without importing
//! another domain.

/// The OpenAPI schema of a text field that takes one of `values`: give it the list its
/// parser checks (`#[schema(schema_with = …)]` on the input field), so the document shows
/// exactly what is accepted.
pub fn one_of(values: &[&str]) -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(values.iter().copied()))
        .build()
}

/// Largest quantity in one line or movement (guards against typos like 10000000).
pub const MAX_QUANTITY: i64 = 100_000;

/// A sku: 1 to 64 characters of letters, digits, `-`, `_`, `.`.
pub fn parse_sku(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        Ok(s.to_owned())
    } else {
        Err("must be 1-64 letters, digits, '-', '_' or '.'".to_owned())
    }
}

/// A store code such as `BLR-KOR-01`.
pub fn parse_code(raw: &str) -> Result<String, String> {
    let s = raw.trim().to_ascii_uppercase();
    if (2..=32).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
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
