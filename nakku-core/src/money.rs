//! Money as people read it. Amounts are whole paise (`i64`) everywhere else.

/// `₹1234.50` style amounts for messages (cart problems, order timelines, notifications).
pub fn rupees(paise: i64) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let p = paise.unsigned_abs();
    format!("{sign}₹{}.{:02}", p / 100, p % 100)
}
