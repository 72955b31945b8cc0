//! The product catalogue: the category tree, products, bulk import, search with facets,
//! recommendations, and the read models that feed them (stock per store from
//! `inventory.updated`, sales and co-purchases from `inventory.confirmed`).
//!
//! Search runs on an in-memory index ([`search::Index`]) that every instance builds from
//! its database at start-up and keeps current by polling for changed rows, so it works the
//! same on MySQL and SQLite and answers in microseconds (see the README for why this beat
//! FULLTEXT/FTS5 and tantivy here).

pub mod cache;
pub mod events;
pub mod import;
pub mod replica;
pub mod sample;
pub mod search;
pub mod service;
pub mod store;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

pub use events::{Category, Product};
pub use service::{ProductConfig, ProductService};

use crate::error::Validator;
use crate::rules::{parse_sku, parse_text};

/// A category with its children, as `GET /categories` returns the tree.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryNode {
    #[serde(flatten)]
    pub category: Category,
    /// Active products in this category and all below it.
    pub product_count: usize,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

/// A category's id, name and slug (breadcrumbs, facets).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryRef {
    pub id: String,
    pub name: String,
    pub slug: String,
}

#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
pub struct CategoryInput {
    #[schema(schema_with = crate::rules::text::<100>, required = true)]
    pub name: Option<String>,
    #[schema(schema_with = slug_schema)]
    pub slug: Option<String>,
    /// Parent id or slug. `null` in a PATCH moves the subtree to the root.
    #[serde(default, deserialize_with = "double_option")]
    pub parent: Option<Option<String>>,
    #[schema(minimum = 0)]
    pub position: Option<i64>,
}

/// Distinguishes an absent field (`None`) from an explicit `null` (`Some(None)`).
fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Fields of a product to create or change. Every field is optional so PATCH, POST and
/// import rows share one validation; POST and import require the ones without defaults.
#[derive(Debug, Default, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    #[schema(schema_with = crate::rules::sku)]
    pub sku: Option<String>,
    #[schema(schema_with = crate::rules::text::<200>)]
    pub name: Option<String>,
    #[schema(schema_with = crate::rules::text::<100>)]
    pub brand: Option<String>,
    #[schema(max_length = 5000)]
    pub description: Option<String>,
    /// Category id or slug.
    pub category: Option<String>,
    #[schema(schema_with = crate::rules::text::<40>)]
    pub unit: Option<String>,
    #[schema(schema_with = price_schema)]
    pub mrp_paise: Option<i64>,
    #[schema(schema_with = price_schema)]
    pub price_paise: Option<i64>,
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    #[schema(schema_with = images_schema)]
    pub images: Option<Vec<String>>,
    #[schema(schema_with = attributes_schema)]
    pub attributes: Option<BTreeMap<String, serde_json::Value>>,
    #[schema(minimum = 0, maximum = 1000)]
    pub max_per_order: Option<i64>,
    pub active: Option<bool>,
}

/// Highest price accepted (₹10 lakh): catches a rupee amount typed into a paise field ×100
/// the other way round, and keeps sums far from overflow.
pub const MAX_PRICE_PAISE: i64 = 100_000_000;
pub const MAX_TAGS: usize = 20;
pub const MAX_IMAGES: usize = 10;
pub const MAX_ATTRIBUTES: usize = 50;

fn price_schema() -> utoipa::openapi::schema::Object {
    crate::rules::whole::<1, MAX_PRICE_PAISE>()
}

/// [`parse_tag`] (ASCII here; the parser takes letters of any script).
fn tags_schema() -> utoipa::openapi::schema::Array {
    crate::rules::list(crate::rules::matching("^[A-Za-z0-9-]( ?[A-Za-z0-9-]){0,19}$"), MAX_TAGS)
}

/// [`parse_image`]: http(s) URLs of at most 500 characters.
fn images_schema() -> utoipa::openapi::schema::Array {
    crate::rules::list(crate::rules::matching("^https?://[!-~]{1,400}$"), MAX_IMAGES)
}

/// Named values (string, number or boolean), names of 1-60 characters.
fn attributes_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{AdditionalProperties, ObjectBuilder, Schema, SchemaType, Type};
    let value = ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Number, Type::Boolean]));
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property_names(Some(crate::rules::text::<60>()))
        .additional_properties(Some(AdditionalProperties::RefOr(Schema::Object(value.build()).into())))
        .max_properties(Some(MAX_ATTRIBUTES))
        .build()
}

/// [`parse_slug`].
fn slug_schema() -> utoipa::openapi::schema::Object {
    crate::rules::matching("^[a-z0-9]([a-z0-9-]{0,98}[a-z0-9])?$")
}

/// A tag: lower case, 1-40 letters, digits, spaces or `-`.
pub fn parse_tag(raw: &str) -> Result<String, String> {
    let t = raw.trim().to_lowercase();
    if !t.is_empty() && t.chars().count() <= 40 && t.chars().all(|c| c.is_alphanumeric() || c == ' ' || c == '-') {
        Ok(t)
    } else {
        Err(format!("tag '{raw}' must be 1-40 letters, digits, spaces or '-'"))
    }
}

/// A slug: lower-case letters, digits and `-`, 1-100 characters.
pub fn parse_slug(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if !s.is_empty()
        && s.len() <= 100
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
    {
        Ok(s.to_owned())
    } else {
        Err("must be 1-100 lower-case letters, digits or '-' (not at either end)".to_owned())
    }
}

/// A slug made from a name: `Fruits & Vegetables` → `fruits-vegetables`.
pub fn slugify(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').chars().take(100).collect()
}

fn parse_image(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    let ok = (s.starts_with("https://") || s.starts_with("http://"))
        && s.len() <= 500
        && s.len() > "https://".len()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(s.to_owned())
    } else {
        Err(format!("'{raw}' is not an http(s) URL"))
    }
}

/// The category tree in memory (a few hundred nodes at most), for resolving ids and
/// slugs, breadcrumbs, descendant filters and cycle checks on moves.
#[derive(Debug, Clone, Default)]
pub struct CategoryTree {
    by_id: HashMap<String, Category>,
    by_slug: HashMap<String, String>,
    children: HashMap<Option<String>, Vec<String>>,
}

impl CategoryTree {
    pub fn new(cats: Vec<Category>) -> Self {
        let mut t = CategoryTree::default();
        for c in cats {
            t.by_slug.insert(c.slug.clone(), c.id.clone());
            t.children.entry(c.parent_id.clone()).or_default().push(c.id.clone());
            t.by_id.insert(c.id.clone(), c);
        }
        for kids in t.children.values_mut() {
            kids.sort_by(|a, b| {
                let (a, b) = (&t.by_id[a], &t.by_id[b]);
                (a.position, &a.name).cmp(&(b.position, &b.name))
            });
        }
        t
    }

    pub fn get(&self, id: &str) -> Option<&Category> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// A category by id or slug.
    pub fn resolve(&self, key: &str) -> Option<&Category> {
        let key = key.trim();
        self.by_id
            .get(key)
            .or_else(|| self.by_slug.get(key).and_then(|id| self.by_id.get(id)))
    }

    pub fn children_of(&self, id: Option<&str>) -> &[String] {
        self.children
            .get(&id.map(str::to_owned))
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// `id` and every category below it.
    pub fn subtree(&self, id: &str) -> Vec<String> {
        let mut out = vec![id.to_owned()];
        let mut i = 0;
        while i < out.len() {
            let kids = self.children_of(Some(&out[i])).to_vec();
            out.extend(kids);
            i += 1;
        }
        out
    }

    /// Root first, `id` last.
    pub fn path(&self, id: &str) -> Vec<CategoryRef> {
        let mut out = Vec::new();
        let mut cur = self.by_id.get(id);
        while let Some(c) = cur {
            if out.len() > self.by_id.len() {
                break; // a cycle cannot be written, but never loop on one
            }
            out.push(CategoryRef {
                id: c.id.clone(),
                name: c.name.clone(),
                slug: c.slug.clone(),
            });
            cur = c.parent_id.as_deref().and_then(|p| self.by_id.get(p));
        }
        out.reverse();
        out
    }

    /// Whether `id` is `ancestor` or lies below it.
    pub fn is_within(&self, id: &str, ancestor: &str) -> bool {
        self.path(id).iter().any(|c| c.id == ancestor)
    }

    /// The tree as nested nodes; `counts` holds active products per category.
    pub fn nested(&self, counts: &HashMap<String, usize>) -> Vec<CategoryNode> {
        fn build(t: &CategoryTree, id: &str, counts: &HashMap<String, usize>) -> Option<CategoryNode> {
            let category = t.by_id.get(id)?.clone();
            let children: Vec<CategoryNode> = t
                .children_of(Some(id))
                .iter()
                .filter_map(|k| build(t, k, counts))
                .collect();
            let product_count =
                counts.get(id).copied().unwrap_or(0) + children.iter().map(|c| c.product_count).sum::<usize>();
            Some(CategoryNode {
                category,
                product_count,
                children,
            })
        }
        self.children_of(None)
            .iter()
            .filter_map(|id| build(self, id, counts))
            .collect()
    }
}

/// A product's fields after validation, ready to write.
#[derive(Debug, Clone, PartialEq)]
pub struct ProductDraft {
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub description: String,
    pub category_id: String,
    pub unit: String,
    pub mrp_paise: i64,
    pub price_paise: i64,
    pub tags: Vec<String>,
    pub images: Vec<String>,
    pub attributes: BTreeMap<String, serde_json::Value>,
    pub max_per_order: Option<i64>,
    pub active: bool,
}

impl ProductDraft {
    fn from_product(p: &Product) -> Self {
        ProductDraft {
            sku: p.sku.clone(),
            name: p.name.clone(),
            brand: p.brand.clone(),
            description: p.description.clone(),
            category_id: p.category_id.clone(),
            unit: p.unit.clone(),
            mrp_paise: p.mrp_paise,
            price_paise: p.price_paise,
            tags: p.tags.clone(),
            images: p.images.clone(),
            attributes: p.attributes.clone(),
            max_per_order: p.max_per_order,
            active: p.active,
        }
    }
}

/// Validates `input` over `base` (the current product for a PATCH, `None` for a new one),
/// recording every problem in `v` with its field name.
pub fn validate_product(
    input: &ProductInput,
    base: Option<&Product>,
    tree: &CategoryTree,
    v: &mut Validator,
) -> Option<ProductDraft> {
    let mut d = base.map(ProductDraft::from_product);
    let is_new = d.is_none();
    let need = |v: &mut Validator, field: &str, present: bool| {
        if is_new && !present {
            v.add(field, "is required");
        }
    };
    need(v, "sku", input.sku.is_some());
    need(v, "name", input.name.is_some());
    need(v, "category", input.category.is_some());
    need(v, "unit", input.unit.is_some());
    need(v, "price_paise", input.price_paise.is_some());

    let sku = input.sku.as_deref().and_then(|s| v.check("sku", parse_sku(s)));
    if let (Some(sku), Some(base)) = (&sku, base) {
        if *sku != base.sku {
            v.add("sku", "cannot be changed; create a new product instead");
        }
    }
    let name = input.name.as_deref().and_then(|s| v.check("name", parse_text(s, 200)));
    let brand = match input.brand.as_deref() {
        Some(b) if b.trim().is_empty() => Some(String::new()),
        Some(b) => v.check("brand", parse_text(b, 100)),
        None => None,
    };
    let description = match input.description.as_deref() {
        Some(s) if s.chars().count() > 5000 => {
            v.add("description", "must be at most 5000 characters");
            None
        }
        Some(s) => Some(s.trim().to_owned()),
        None => None,
    };
    let category_id = input.category.as_deref().and_then(|c| match tree.resolve(c) {
        Some(cat) => Some(cat.id.clone()),
        None => {
            v.add("category", format!("no category with id or slug '{}'", c.trim()));
            None
        }
    });
    let unit = input.unit.as_deref().and_then(|s| v.check("unit", parse_text(s, 40)));
    let money = |v: &mut Validator, field: &str, x: Option<i64>| {
        x.and_then(|p| {
            if (1..=MAX_PRICE_PAISE).contains(&p) {
                Some(p)
            } else {
                v.add(
                    field,
                    format!("must be a whole number of paise from 1 to {MAX_PRICE_PAISE}"),
                );
                None
            }
        })
    };
    let price = money(v, "price_paise", input.price_paise);
    let mrp = money(v, "mrp_paise", input.mrp_paise);
    let tags = input.tags.as_ref().and_then(|tags| {
        if tags.len() > MAX_TAGS {
            v.add("tags", format!("at most {MAX_TAGS} tags"));
            return None;
        }
        let mut out: Vec<String> = Vec::new();
        for t in tags {
            let t = v.check("tags", parse_tag(t))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Some(out)
    });
    let images = input.images.as_ref().and_then(|imgs| {
        if imgs.len() > MAX_IMAGES {
            v.add("images", format!("at most {MAX_IMAGES} images"));
            return None;
        }
        imgs.iter().map(|i| v.check("images", parse_image(i))).collect()
    });
    let attributes = input.attributes.as_ref().and_then(|a| {
        if a.len() > MAX_ATTRIBUTES {
            v.add("attributes", format!("at most {MAX_ATTRIBUTES} attributes"));
            return None;
        }
        for (k, val) in a {
            if k.trim().is_empty() || k.chars().count() > 60 {
                v.add("attributes", format!("attribute name '{k}' must be 1-60 characters"));
                return None;
            }
            if !(val.is_string() || val.is_number() || val.is_boolean()) {
                v.add(
                    "attributes",
                    format!("attribute '{k}' must be a string, number or boolean"),
                );
                return None;
            }
        }
        Some(a.clone())
    });
    let max_per_order = match input.max_per_order {
        Some(0) => Some(None),
        Some(n) if (1..=1000).contains(&n) => Some(Some(n)),
        Some(_) => {
            v.add(
                "max_per_order",
                "must be from 1 to 1000, or 0 for no product-specific limit",
            );
            None
        }
        None => None,
    };

    let mut d = d.take().unwrap_or_else(|| ProductDraft {
        sku: String::new(),
        name: String::new(),
        brand: String::new(),
        description: String::new(),
        category_id: String::new(),
        unit: String::new(),
        mrp_paise: 0,
        price_paise: 0,
        tags: Vec::new(),
        images: Vec::new(),
        attributes: BTreeMap::new(),
        max_per_order: None,
        active: true,
    });
    macro_rules! set {
        ($field:ident, $val:expr) => {
            if let Some(x) = $val {
                d.$field = x;
            }
        };
    }
    set!(sku, sku);
    set!(name, name);
    set!(brand, brand);
    set!(description, description);
    set!(category_id, category_id);
    set!(unit, unit);
    set!(price_paise, price);
    set!(mrp_paise, mrp);
    set!(tags, tags);
    set!(images, images);
    set!(attributes, attributes);
    set!(max_per_order, max_per_order);
    set!(active, input.active);
    if is_new && input.mrp_paise.is_none() {
        d.mrp_paise = d.price_paise;
    }
    if d.price_paise > 0 && d.mrp_paise > 0 && d.price_paise > d.mrp_paise {
        v.add(
            "price_paise",
            "must not exceed mrp_paise (the printed maximum retail price)",
        );
    }
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: &str, parent: Option<&str>, slug: &str) -> Category {
        Category {
            id: id.into(),
            parent_id: parent.map(Into::into),
            name: slug.to_uppercase(),
            slug: slug.into(),
            position: 0,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_tree_resolves_slugs_subtrees_and_paths() {
        let t = CategoryTree::new(vec![
            cat("1", None, "dairy"),
            cat("2", Some("1"), "milk"),
            cat("3", Some("2"), "toned"),
            cat("4", None, "snacks"),
        ]);
        assert_eq!(t.resolve("milk").map(|c| c.id.as_str()), Some("2"));
        let mut sub = t.subtree("1");
        sub.sort();
        assert_eq!(sub, vec!["1", "2", "3"]);
        let path: Vec<String> = t.path("3").into_iter().map(|c| c.slug).collect();
        assert_eq!(path, vec!["dairy", "milk", "toned"]);
        assert!(t.is_within("3", "1") && !t.is_within("4", "1"));
        let counts = HashMap::from([("3".to_owned(), 2), ("1".to_owned(), 1)]);
        let nested = t.nested(&counts);
        assert_eq!(nested.len(), 2);
        assert_eq!(
            nested.iter().find(|n| n.category.id == "1").map(|n| n.product_count),
            Some(3)
        );
    }

    #[test]
    fn product_validation_names_every_bad_field() {
        let t = CategoryTree::new(vec![cat("1", None, "dairy")]);
        let mut v = Validator::new();
        let input = ProductInput {
            sku: Some("bad sku".into()),
            name: Some("".into()),
            category: Some("nope".into()),
            unit: Some("1 L".into()),
            price_paise: Some(5000),
            mrp_paise: Some(4000),
            images: Some(vec!["ftp://x".into()]),
            ..Default::default()
        };
        validate_product(&input, None, &t, &mut v);
        let Err(crate::CoreError::Validation(f)) = v.finish() else {
            panic!("expected validation errors")
        };
        for k in ["sku", "name", "category", "price_paise", "images"] {
            assert!(f.contains_key(k), "{k} missing from {f:?}");
        }
    }

    #[test]
    fn slugs_are_made_from_names() {
        assert_eq!(slugify("Fruits & Vegetables "), "fruits-vegetables");
        assert!(parse_slug("Fruits").is_err() && parse_slug("-x").is_err());
        assert_eq!(parse_tag(" Organic ").unwrap(), "organic");
    }
}
