//! The in-memory search index: an inverted index over product name, brand, tags and
//! category names with BM25-style weights, prefix matching for the word being typed, typo
//! tolerance through symmetric-delete candidates (one edit, two for words of eight letters
//! or more), filters (category subtree, brands, price range, tags, in stock at a store),
//! facets, sorts and keyset cursors.
//!
//! Why in memory: the "in stock at my store" filter joins text relevance with stock that
//! changes thousands of times a second, and facets count over every match. MySQL FULLTEXT
//! and SQLite FTS5 would each need that join and a GROUP BY per facet in SQL, with
//! different relevance and tokenisers per backend; tantivy would need a document rewrite
//! for every stock change and brings a large dependency tree. Fifty thousand products take
//! a few tens of megabytes here and a query scans only its posting lists.

use std::collections::{BTreeSet, HashMap, HashSet};

use rustc_hash::FxHashMap;
use std::sync::Arc;

use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{CategoryRef, CategoryTree, Product};

#[path = "query.rs"]
mod query;

const W_NAME: f32 = 3.0;
const W_BRAND: f32 = 2.0;
const W_TAG: f32 = 1.5;
const W_CATEGORY: f32 = 1.0;
const F_PREFIX: f32 = 0.85;
const F_FUZZY: f32 = 0.6;
const MAX_PREFIX_EXPANSIONS: usize = 64;
const STOP_WORDS: [&str; 9] = ["a", "an", "and", "the", "of", "for", "with", "in", "&"];

/// Lower-cases, splits on anything not a letter or digit and folds simple English plurals
/// (`tomatoes` → `tomato`, `berries` → `berry`, `eggs` → `egg`), the same way for products
/// and queries.
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(|t| stem(t.to_lowercase()))
        .collect()
}

fn stem(t: String) -> String {
    if t.chars().count() <= 3 || !t.chars().all(char::is_alphabetic) {
        return t;
    }
    if let Some(s) = t.strip_suffix("ies") {
        return format!("{s}y");
    }
    for suffix in ["sses", "shes", "ches", "xes", "oes"] {
        if t.ends_with(suffix) {
            return t[..t.len() - 2].to_owned();
        }
    }
    if t.ends_with('s') && !t.ends_with("ss") && !t.ends_with("us") && !t.ends_with("is") {
        return t[..t.len() - 1].to_owned();
    }
    t
}

/// Every string one deletion away from `t` (and two away for long words).
fn deletes(t: &str) -> Vec<String> {
    let chars: Vec<char> = t.chars().collect();
    let one = |cs: &[char]| -> Vec<Vec<char>> {
        (0..cs.len())
            .map(|i| {
                let mut c = cs.to_vec();
                c.remove(i);
                c
            })
            .collect()
    };
    let mut out: HashSet<Vec<char>> = HashSet::new();
    if chars.len() >= 4 {
        for d in one(&chars) {
            if chars.len() >= 8 {
                out.extend(one(&d));
            }
            out.insert(d);
        }
    }
    out.into_iter().map(|c| c.into_iter().collect()).collect()
}

fn max_edits(t: &str) -> usize {
    match t.chars().count() {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

/// How results are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best text match first (popularity breaks ties and nudges close matches); without a
    /// query, most popular first.
    #[default]
    Relevance,
    PriceAsc,
    PriceDesc,
    Popularity,
    Newest,
    Discount,
}

/// The orders a search can sort by, as `?sort=` names them (in [`Sort::ALL`]'s order).
pub const SORTS: [&str; 6] = [
    "relevance",
    "price_asc",
    "price_desc",
    "popularity",
    "newest",
    "discount",
];

/// [`SORTS`] as the OpenAPI document shows them.
pub fn sort_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&SORTS)
}

impl Sort {
    const ALL: [Sort; 6] = [
        Sort::Relevance,
        Sort::PriceAsc,
        Sort::PriceDesc,
        Sort::Popularity,
        Sort::Newest,
        Sort::Discount,
    ];

    pub fn parse(raw: &str) -> Result<Sort, String> {
        let raw = raw.trim();
        match SORTS.iter().position(|s| *s == raw) {
            Some(i) => Ok(Sort::ALL[i]),
            None => Err(format!(
                "unknown sort '{raw}'; expected {} or {}",
                SORTS[..5].join(", "),
                SORTS[5]
            )),
        }
    }
}

/// A validated search request.
#[derive(Debug, Clone, Default)]
pub struct SearchParams {
    pub q: String,
    /// Category id; the filter covers its whole subtree.
    pub category: Option<String>,
    /// Lower-cased brand names, any of which matches.
    pub brands: Vec<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    /// Every tag must be present.
    pub tags: Vec<String>,
    /// Store code: results carry its available units.
    pub store: Option<String>,
    /// Only products with units available at `store`.
    pub in_stock: bool,
    /// Admins may see inactive products too.
    pub include_inactive: bool,
    pub sort: Sort,
    pub limit: usize,
    pub cursor: Option<String>,
}

/// One search result: the fields a product card shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Hit {
    pub id: String,
    pub sku: String,
    pub name: String,
    pub brand: String,
    pub unit: String,
    pub category_id: String,
    pub price_paise: i64,
    pub mrp_paise: i64,
    pub discount_percent: i64,
    pub image: Option<String>,
    pub tags: Vec<String>,
    pub active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub available: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f32>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct BrandFacet {
    pub value: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CategoryFacet {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct Facets {
    /// Per brand, over the results with every filter except the brand filter (so choosing
    /// one brand still shows what the others would give).
    pub brands: Vec<BrandFacet>,
    /// Per category, over the results with every filter applied (drill-down).
    pub categories: Vec<CategoryFacet>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SearchPage {
    pub items: Vec<Hit>,
    pub total: usize,
    pub facets: Facets,
    pub next_cursor: Option<String>,
    /// The query with misspelt words replaced by what was searched instead.
    pub did_you_mean: Option<String>,
    /// With `store=`: whether that store takes orders now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_status: Option<super::service::StoreStatus>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Cursor {
    s: Sort,
    k: f64,
    id: String,
    q: u64,
}

/// Why a search was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum SearchError {
    BadCursor(&'static str),
}

struct Entry {
    product: Arc<Product>,
    tokens: Vec<String>,
}

/// What the filter loop reads of each slot, in an array of its own: a broad search reads
/// this for every match, so it is kept small and dense (56 bytes a slot, against the
/// hundred of the entry it replaced) — at 500,000 products the scan is bound by memory, not arithmetic.
#[derive(Debug, Clone, Copy, Default)]
struct Hot {
    price: i64,
    sold: i64,
    created_at: i64,
    /// `ln(1 + sold)`, what relevance's best-seller boost reads: kept with `sold` so a
    /// search does not take a logarithm per match.
    sold_ln: f32,
    /// The id's first 64 bits (a UUIDv7's time and sequence): ties are broken by these,
    /// and by the whole id (`Index::ranks`) only when they are equal too.
    rank_hi: u64,
    /// The product's tags among the first 64 interned (`Index::tags`), a bit each.
    tag_bits: u64,
    /// Percent off the MRP (clamped to ±32,767).
    discount: i16,
    /// Interned brand (lower case) and category, so filters and facets index arrays.
    brand: u32,
    category: u32,
    /// A product is in the slot (slots of removed products are empty until reused).
    live: bool,
    active: bool,
}

/// `ln(1 + units sold)`, the best-seller boost's measure (none sold, or a negative count,
/// is 0).
fn sold_ln(units: i64) -> f32 {
    (1.0 + units.max(0) as f64).ln() as f32
}

fn rank_of(id: &str) -> u128 {
    uuid::Uuid::parse_str(id).map_or_else(
        |_| {
            use std::hash::{Hash, Hasher};
            let mut h = std::collections::hash_map::DefaultHasher::new();
            id.hash(&mut h);
            u128::from(h.finish())
        },
        |u| u.as_u128(),
    )
}

/// Strings numbered in order of first sight.
#[derive(Default)]
struct Interner {
    ids: FxHashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    fn intern(&mut self, key: &str, name: &str) -> u32 {
        if let Some(i) = self.ids.get(key) {
            return *i;
        }
        let i = self.names.len() as u32;
        self.ids.insert(key.to_owned(), i);
        self.names.push(name.to_owned());
        i
    }

    fn get(&self, key: &str) -> Option<u32> {
        self.ids.get(key).copied()
    }

    /// A membership table over every interned string.
    fn mask<'a>(&self, keys: impl Iterator<Item = &'a str>) -> Vec<bool> {
        let mut m = vec![false; self.names.len()];
        for k in keys {
            if let Some(i) = self.get(k) {
                m[i as usize] = true;
            }
        }
        m
    }
}

/// The index. Slots of removed products are reused.
#[derive(Default)]
pub struct Index {
    entries: Vec<Option<Entry>>,
    /// Per slot, beside `entries`: the filter loop's fields, and the id as a number (UUIDs
    /// order the same as their text) for cheap tie-breaks.
    hot: Vec<Hot>,
    ranks: Vec<u128>,
    free: Vec<u32>,
    by_id: FxHashMap<String, u32>,
    by_sku: FxHashMap<String, u32>,
    /// token → (slot, weight), in slot order.
    postings: FxHashMap<String, Vec<(u32, f32)>>,
    vocab: BTreeSet<String>,
    fuzzy: FxHashMap<String, Vec<String>>,
    /// category id → its slots, in order.
    by_category: FxHashMap<String, Vec<u32>>,
    tree: CategoryTree,
    /// store code → sku → available units.
    stock: FxHashMap<String, FxHashMap<String, i64>>,
    /// store code → one bit per slot: in stock there (what the in-stock filter reads, so a
    /// broad search tests a bit per match instead of hashing its sku).
    in_stock: FxHashMap<String, Vec<u64>>,
    /// sku → units sold (all stores).
    sales: FxHashMap<String, i64>,
    max_sales: i64,
    brands: Interner,
    categories: Interner,
    /// Tags, numbered in order of first sight; the first 64 are bits of `Hot::tag_bits`.
    tags: Interner,
}

impl Index {
    pub fn new(tree: CategoryTree) -> Self {
        Index {
            tree,
            ..Default::default()
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    pub fn tree(&self) -> &CategoryTree {
        &self.tree
    }

    pub fn get(&self, id_or_sku: &str) -> Option<&Arc<Product>> {
        let slot = self.by_id.get(id_or_sku).or_else(|| self.by_sku.get(id_or_sku))?;
        self.entries.get(*slot as usize)?.as_ref().map(|e| &e.product)
    }

    pub fn available(&self, store: &str, sku: &str) -> Option<i64> {
        self.stock.get(store).and_then(|m| m.get(sku)).copied()
    }

    /// Active products per category (not rolled up).
    pub fn category_counts(&self) -> HashMap<String, usize> {
        self.by_category
            .iter()
            .map(|(c, slots)| {
                let n = slots
                    .iter()
                    .filter(|s| self.entry(**s).is_some_and(|e| e.product.active))
                    .count();
                (c.clone(), n)
            })
            .collect()
    }

    /// Replaces the category tree and re-derives every product's category words.
    pub fn set_tree(&mut self, tree: CategoryTree) {
        let products: Vec<Arc<Product>> = self.entries.iter().flatten().map(|e| e.product.clone()).collect();
        self.rebuild(tree, products);
    }

    /// Adds or replaces many products at once by rebuilding the postings (cheaper than
    /// one-by-one replacement for large batches such as an import).
    pub fn upsert_many(&mut self, changed: Vec<Arc<Product>>) {
        let mut all: FxHashMap<String, Arc<Product>> = self
            .entries
            .iter()
            .flatten()
            .map(|e| (e.product.id.clone(), e.product.clone()))
            .collect();
        for p in changed {
            all.insert(p.id.clone(), p);
        }
        let tree = std::mem::take(&mut self.tree);
        self.rebuild(tree, all.into_values().collect());
    }

    /// Builds the index over `products` (a start-up load, an import, a new tree), with the
    /// products of a category in neighbouring slots: browsing a category then reads its
    /// slots in a row instead of one in twenty across the whole catalogue.
    pub fn build(tree: CategoryTree, products: Vec<Arc<Product>>) -> Index {
        let mut ix = Index::new(tree);
        ix.rebuild_from(products);
        ix
    }

    fn rebuild(&mut self, tree: CategoryTree, products: Vec<Arc<Product>>) {
        let mut fresh = Index::new(tree);
        fresh.stock = std::mem::take(&mut self.stock);
        fresh.sales = std::mem::take(&mut self.sales);
        fresh.max_sales = self.max_sales;
        fresh.rebuild_from(products);
        *self = fresh;
    }

    fn rebuild_from(&mut self, mut products: Vec<Arc<Product>>) {
        products.sort_unstable_by(|a, b| (&a.category_id, &a.id).cmp(&(&b.category_id, &b.id)));
        for p in products {
            self.upsert(p);
        }
    }

    /// A product as a result card, with its availability when a store is named.
    pub fn hit(&self, pr: &Product, store: Option<&str>) -> Hit {
        let available = store.map(|s| self.available(s, &pr.sku).unwrap_or(0));
        Hit {
            id: pr.id.clone(),
            sku: pr.sku.clone(),
            name: pr.name.clone(),
            brand: pr.brand.clone(),
            unit: pr.unit.clone(),
            category_id: pr.category_id.clone(),
            price_paise: pr.price_paise,
            mrp_paise: pr.mrp_paise,
            discount_percent: pr.discount_percent(),
            image: pr.images.first().cloned(),
            tags: pr.tags.clone(),
            active: pr.active,
            available,
            in_stock: available.map(|a| a > 0),
            score: None,
        }
    }

    pub fn set_stock(&mut self, store: &str, sku: &str, available: i64) {
        self.stock
            .entry(store.to_owned())
            .or_default()
            .insert(sku.to_owned(), available.max(0));
        if let Some(slot) = self.by_sku.get(sku).copied() {
            let bits = self.in_stock.entry(store.to_owned()).or_default();
            set_bit(bits, slot, available > 0);
        }
    }

    /// Whether the product in `slot` is in stock at the store whose bits these are.
    fn stocked(bits: Option<&Vec<u64>>, slot: u32) -> bool {
        bits.and_then(|b| b.get(slot as usize / 64))
            .is_some_and(|w| (w >> (slot % 64)) & 1 == 1)
    }

    pub fn set_sales(&mut self, sku: &str, units: i64) {
        self.sales.insert(sku.to_owned(), units);
        self.max_sales = self.max_sales.max(units);
        if let Some(slot) = self.by_sku.get(sku).copied() {
            if let Some(h) = self.hot.get_mut(slot as usize) {
                h.sold = units;
                h.sold_ln = sold_ln(units);
            }
        }
    }

    fn entry(&self, slot: u32) -> Option<&Entry> {
        self.entries.get(slot as usize).and_then(Option::as_ref)
    }

    /// Adds or replaces a product; a deleted one is removed.
    pub fn upsert(&mut self, p: Arc<Product>) {
        self.remove(&p.id);
        if p.deleted_at.is_some() {
            return;
        }
        let mut weights: HashMap<String, f32> = HashMap::new();
        let mut add = |text: &str, w: f32| {
            for t in tokenize(text) {
                let e = weights.entry(t).or_insert(0.0);
                *e = e.max(w);
            }
        };
        add(&p.name, W_NAME);
        add(&p.brand, W_BRAND);
        for t in &p.tags {
            add(t, W_TAG);
        }
        for c in self.tree.path(&p.category_id) {
            add(&c.name, W_CATEGORY);
        }
        let slot = self.free.pop().unwrap_or(self.entries.len() as u32);
        for (t, w) in &weights {
            let list = self.postings.entry(t.clone()).or_default();
            if list.is_empty() {
                self.vocab.insert(t.clone());
                for d in deletes(t) {
                    self.fuzzy.entry(d).or_default().push(t.clone());
                }
            }
            // Lists are kept in slot order (a search merges and intersects them in one
            // pass, and reads each match's slot data in memory order); an index built at
            // once appends, a reused slot is put in its place.
            let at = list.partition_point(|(s, _)| *s < slot);
            list.insert(at, (slot, *w));
        }
        let list = self.by_category.entry(p.category_id.clone()).or_default();
        let at = list.partition_point(|s| *s < slot);
        list.insert(at, slot);
        // The slot's stock bits (a reused slot may carry a removed product's).
        for (store, levels) in &self.stock {
            let on = levels.get(&p.sku).is_some_and(|a| *a > 0);
            set_bit(self.in_stock.entry(store.clone()).or_default(), slot, on);
        }
        self.by_id.insert(p.id.clone(), slot);
        self.by_sku.insert(p.sku.clone(), slot);
        let rank = rank_of(&p.id);
        let mut tag_bits = 0u64;
        for t in &p.tags {
            let i = self.tags.intern(t, t);
            if i < 64 {
                tag_bits |= 1 << i;
            }
        }
        let sold = self.sales.get(&p.sku).copied().unwrap_or(0);
        let hot = Hot {
            rank_hi: (rank >> 64) as u64,
            tag_bits,
            price: p.price_paise,
            sold,
            sold_ln: sold_ln(sold),
            created_at: p.created_at,
            discount: p.discount_percent().clamp(i16::MIN.into(), i16::MAX.into()) as i16,
            brand: self.brands.intern(&p.brand.to_lowercase(), &p.brand),
            category: self.categories.intern(&p.category_id, &p.category_id),
            live: true,
            active: p.active,
        };
        let entry = Entry {
            tokens: weights.into_keys().collect(),
            product: p,
        };
        let i = slot as usize;
        if i == self.entries.len() {
            self.entries.push(Some(entry));
            self.hot.push(hot);
            self.ranks.push(rank);
        } else {
            self.entries[i] = Some(entry);
            self.hot[i] = hot;
            self.ranks[i] = rank;
        }
    }

    pub fn remove(&mut self, id: &str) {
        let Some(slot) = self.by_id.remove(id) else {
            return;
        };
        let Some(entry) = self.entries.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        if let Some(h) = self.hot.get_mut(slot as usize) {
            *h = Hot::default();
        }
        self.by_sku.remove(&entry.product.sku);
        for t in &entry.tokens {
            let emptied = match self.postings.get_mut(t) {
                Some(list) => {
                    if let Ok(at) = list.binary_search_by_key(&slot, |(s, _)| *s) {
                        list.remove(at);
                    }
                    list.is_empty()
                }
                None => false,
            };
            if emptied {
                self.postings.remove(t);
                self.vocab.remove(t);
                for d in deletes(t) {
                    if let Some(v) = self.fuzzy.get_mut(&d) {
                        v.retain(|x| x != t);
                        if v.is_empty() {
                            self.fuzzy.remove(&d);
                        }
                    }
                }
            }
        }
        if let Some(list) = self.by_category.get_mut(&entry.product.category_id) {
            if let Ok(at) = list.binary_search(&slot) {
                list.remove(at);
            }
        }
        self.free.push(slot);
    }

    /// The product's breadcrumbs.
    pub fn category_path(&self, category_id: &str) -> Vec<CategoryRef> {
        self.tree.path(category_id)
    }
}

fn set_bit(bits: &mut Vec<u64>, slot: u32, on: bool) {
    let (word, bit) = (slot as usize / 64, slot % 64);
    if word >= bits.len() {
        if !on {
            return;
        }
        bits.resize(word + 1, 0);
    }
    if on {
        bits[word] |= 1 << bit;
    } else {
        bits[word] &= !(1 << bit);
    }
}

fn fingerprint(p: &SearchParams) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        &p.q,
        &p.category,
        &p.brands,
        p.min_price,
        p.max_price,
        &p.tags,
        &p.store,
        p.in_stock,
        p.include_inactive,
    )
        .hash(&mut h);
    h.finish()
}

fn encode_cursor(c: &Cursor) -> String {
    let json = serde_json::to_vec(c).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_cursor(raw: &str) -> Result<Cursor, SearchError> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(raw.trim())
        .map_err(|_| SearchError::BadCursor("is not a cursor this service issued"))?;
    serde_json::from_slice(&bytes).map_err(|_| SearchError::BadCursor("is not a cursor this service issued"))
}

#[cfg(test)]
mod tests;
