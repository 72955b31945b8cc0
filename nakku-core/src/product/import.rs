//! Reading bulk-import files: CSV with a header row, or a JSON array of product objects.
//! Each row keeps its line (CSV) or item number (JSON) so problems can be reported by it.
//!
//! CSV columns (any order, header names as below; only `sku`, `name`, `category`, `unit`
//! and a price are required): `sku, name, brand, description, category, unit, mrp_paise,
//! price_paise` (or `mrp`, `price` in rupees such as `29.50`), `tags` and `images`
//! separated by `|`, `attributes` as a JSON object, `max_per_order`, `active`
//! (`true/false/1/0/yes/no`).

use std::collections::BTreeMap;

use super::ProductInput;

/// One parsed row: its line number and input, or the problems that stopped it parsing.
#[derive(Debug)]
pub struct RawRow {
    pub line: usize,
    pub input: Result<ProductInput, Vec<String>>,
}

const COLUMNS: [&str; 15] = [
    "sku",
    "name",
    "brand",
    "description",
    "category",
    "unit",
    "mrp_paise",
    "price_paise",
    "mrp",
    "price",
    "tags",
    "images",
    "attributes",
    "max_per_order",
    "active",
];

/// Which format a body is in, from its content type or, failing that, its first byte.
pub fn is_json(content_type: Option<&str>, body: &[u8]) -> bool {
    match content_type.map(|c| c.to_ascii_lowercase()) {
        Some(c) if c.contains("json") => true,
        Some(c) if c.contains("csv") || c.starts_with("text/") => false,
        _ => body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'['),
    }
}

/// Rupees with up to two decimals → paise.
pub fn parse_rupees(raw: &str) -> Result<i64, String> {
    let s = raw.trim().trim_start_matches('₹').trim();
    let err = || format!("'{raw}' is not an amount in rupees like 29.50");
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    if whole.is_empty()
        || frac.len() > 2
        || !whole.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
    {
        return Err(err());
    }
    let whole: i64 = whole.parse().map_err(|_| err())?;
    let frac: i64 = format!("{frac:0<2}").parse().map_err(|_| err())?;
    whole.checked_mul(100).and_then(|w| w.checked_add(frac)).ok_or_else(err)
}

fn parse_bool(raw: &str) -> Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "y" => Ok(true),
        "false" | "0" | "no" | "n" => Ok(false),
        _ => Err(format!("active: '{raw}' is not true or false")),
    }
}

fn parse_int(field: &str, raw: &str) -> Result<i64, String> {
    raw.trim()
        .parse()
        .map_err(|_| format!("{field}: '{raw}' is not a whole number"))
}

/// Turns byte offsets into 1-based line numbers, counting forward from the last offset
/// asked about (rows come in order, so a whole file costs one pass). The csv crate's own
/// line count skips blank lines, which would mislead an operator looking for the row.
struct Lines<'a> {
    body: &'a [u8],
    offset: usize,
    line: usize,
}

impl Lines<'_> {
    fn at(&mut self, offset: u64) -> usize {
        let mut end = (offset as usize).min(self.body.len());
        while end < self.body.len() && matches!(self.body[end], b'\n' | b'\r') {
            end += 1; // a record's position can point at blank lines skipped before it
        }
        if end < self.offset {
            (self.offset, self.line) = (0, 1);
        }
        self.line += self.body[self.offset..end].iter().filter(|b| **b == b'\n').count();
        self.offset = end;
        self.line
    }
}

/// Parses a CSV file. A header problem is reported against line 1 and no rows are read.
pub fn parse_csv(body: &[u8]) -> Result<Vec<RawRow>, (usize, String)> {
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(body);
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| (1, format!("cannot read the header row: {e}")))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let unknown: Vec<&String> = headers.iter().filter(|h| !COLUMNS.contains(&h.as_str())).collect();
    if !unknown.is_empty() {
        return Err((
            1,
            format!(
                "unknown column(s) {}; expected some of {}",
                unknown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "),
                COLUMNS.join(", ")
            ),
        ));
    }
    for required in ["sku", "name", "category", "unit"] {
        if !headers.iter().any(|h| h == required) {
            return Err((1, format!("missing column '{required}'")));
        }
    }
    if !headers.iter().any(|h| h == "price" || h == "price_paise") {
        return Err((1, "missing column 'price_paise' (or 'price' in rupees)".to_owned()));
    }
    let mut rows = Vec::new();
    let mut lines = Lines {
        body,
        offset: 0,
        line: 1,
    };
    for rec in rdr.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| lines.at(p.byte()));
                rows.push(RawRow {
                    line,
                    input: Err(vec![format!("unreadable row: {e}")]),
                });
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| lines.at(p.byte()));
        if rec.iter().all(str::is_empty) {
            continue;
        }
        if rec.len() != headers.len() {
            rows.push(RawRow {
                line,
                input: Err(vec![format!(
                    "has {} fields, the header has {}",
                    rec.len(),
                    headers.len()
                )]),
            });
            continue;
        }
        let mut input = ProductInput::default();
        let mut errors = Vec::new();
        for (h, v) in headers.iter().zip(rec.iter()) {
            if v.is_empty() {
                continue;
            }
            let mut push = |r: Result<i64, String>| r.map_err(|e| errors.push(e)).ok();
            match h.as_str() {
                "sku" => input.sku = Some(v.to_owned()),
                "name" => input.name = Some(v.to_owned()),
                "brand" => input.brand = Some(v.to_owned()),
                "description" => input.description = Some(v.to_owned()),
                "category" => input.category = Some(v.to_owned()),
                "unit" => input.unit = Some(v.to_owned()),
                "mrp_paise" => input.mrp_paise = push(parse_int("mrp_paise", v)),
                "price_paise" => input.price_paise = push(parse_int("price_paise", v)),
                "mrp" => input.mrp_paise = push(parse_rupees(v).map_err(|e| format!("mrp: {e}"))),
                "price" => input.price_paise = push(parse_rupees(v).map_err(|e| format!("price: {e}"))),
                "max_per_order" => input.max_per_order = push(parse_int("max_per_order", v)),
                "tags" => {
                    input.tags = Some(
                        v.split('|')
                            .map(str::to_owned)
                            .filter(|t| !t.trim().is_empty())
                            .collect(),
                    )
                }
                "images" => {
                    input.images = Some(
                        v.split('|')
                            .map(str::to_owned)
                            .filter(|t| !t.trim().is_empty())
                            .collect(),
                    )
                }
                "attributes" => match serde_json::from_str::<BTreeMap<String, serde_json::Value>>(v) {
                    Ok(a) => input.attributes = Some(a),
                    Err(_) => errors.push(format!("attributes: '{v}' is not a JSON object")),
                },
                "active" => match parse_bool(v) {
                    Ok(b) => input.active = Some(b),
                    Err(e) => errors.push(e),
                },
                _ => {}
            }
        }
        rows.push(RawRow {
            line,
            input: if errors.is_empty() { Ok(input) } else { Err(errors) },
        });
    }
    Ok(rows)
}

/// Parses a JSON array of product objects; "lines" are item numbers from 1.
pub fn parse_json(body: &[u8]) -> Result<Vec<RawRow>, (usize, String)> {
    let items: Vec<serde_json::Value> =
        serde_json::from_slice(body).map_err(|e| (e.line(), format!("not a JSON array of products: {e}")))?;
    Ok(items
        .into_iter()
        .enumerate()
        .map(|(i, v)| RawRow {
            line: i + 1,
            input: serde_json::from_value::<ProductInput>(v).map_err(|e| vec![e.to_string()]),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_keep_their_line_numbers_and_problems() {
        let csv = "sku,name,category,unit,price,tags,active\n\
                   MILK-1,\"Milk, toned\",milk,1 L,29.50,dairy|fresh,yes\n\
                   \n\
                   EGG-6,Eggs,eggs,6 pcs,abc,,maybe\n";
        let rows = parse_csv(csv.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        let first = rows[0].input.as_ref().unwrap();
        assert_eq!(rows[0].line, 2);
        assert_eq!(first.name.as_deref(), Some("Milk, toned"));
        assert_eq!(first.price_paise, Some(2950));
        assert_eq!(first.tags.as_ref().unwrap().len(), 2);
        assert_eq!(rows[1].line, 4);
        assert_eq!(rows[1].input.as_ref().unwrap_err().len(), 2);
    }

    #[test]
    fn bad_headers_stop_the_file() {
        assert_eq!(parse_csv(b"sku,name,colour\n").unwrap_err().0, 1);
        assert!(parse_csv(b"sku,name,category,unit\n").unwrap_err().1.contains("price"));
    }

    #[test]
    fn rupees_become_paise() {
        assert_eq!(parse_rupees("29.5"), Ok(2950));
        assert_eq!(parse_rupees("₹100"), Ok(10000));
        assert!(parse_rupees("1.234").is_err() && parse_rupees("-1").is_err() && parse_rupees("").is_err());
    }

    #[test]
    fn json_items_are_numbered_from_one() {
        let rows = parse_json(br#"[{"sku": "A"}, {"sku": "B", "colour": "red"}]"#).unwrap();
        assert!(rows[0].input.is_ok());
        assert_eq!(rows[1].line, 2);
        assert!(rows[1].input.as_ref().unwrap_err()[0].contains("colour"));
        assert!(parse_json(b"{}").is_err());
    }
}
