//! Catalogue use cases: categories, products, import, search, recommendations, and the
//! refresher that keeps this instance's index in step with the database.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sqlx::{AnyConnection, Row};
use tokio_util::sync::CancellationToken;

use super::cache::Cache;
use super::events::{CategoryUpdated, ProductCreated, ProductDeleted, ProductState, ProductUpdated};
use super::import::{self, RawRow};
use super::search::{Hit, Index, SearchError, SearchPage, SearchParams};
use super::store::{self, build};
use super::*;
use crate::db::Db;
use crate::error::{CoreError, FieldErrors, ResultExt, Validator};
use crate::events::{outbox, Change, Envelope, Event};
use crate::id::{new_id, now_ms};
use crate::service::Service;
use crate::RequestCtx;
#[path = "categories.rs"]
mod categories;
#[path = "importing.rs"]
mod importing;

/// Catalogue settings.
#[derive(Debug, Clone)]
pub struct ProductConfig {
    /// How often the index looks for rows changed by other instances or by consumers.
    pub refresh_every: Duration,
}

impl Default for ProductConfig {
    fn default() -> Self {
        ProductConfig {
            refresh_every: Duration::from_millis(500),
        }
    }
}

/// Rows written within this window before the last one seen are read again, so a
/// transaction that committed late (with an older `updated_at`) is not missed.
const REFRESH_OVERLAP_MS: i64 = 3_000;
/// A batch this large rebuilds the index instead of updating it product by product.
const REBUILD_AT: usize = 2_000;

/// A product page: the product, its breadcrumbs and, when a store was named, availability.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProductView {
    #[serde(flatten)]
    pub product: Product,
    pub discount_percent: i64,
    pub category_path: Vec<CategoryRef>,
}

/// A category with its breadcrumbs and direct children.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CategoryPage {
    pub category: Category,
    pub path: Vec<CategoryRef>,
    pub children: Vec<Category>,
}

/// Whether a store takes orders now (its load from the delivery service).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreStatus {
    pub code: String,
    /// `normal`, `busy` (deliveries take longer) or `paused` (no new orders).
    pub load: String,
    /// Extra minutes a busy store adds to the promise.
    pub delay_minutes: i64,
    pub taking_orders: bool,
    /// What to tell shoppers, when the store is busy or paused.
    pub message: Option<String>,
}

/// A recommended product and why.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Recommendation {
    #[serde(flatten)]
    pub hit: Hit,
    /// `bought_together`, `popular_in_category` or `popular_at_store`.
    pub reason: &'static str,
}

/// What an import did, or would have done.
#[derive(Debug, Clone, Serialize, Default, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: usize,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
    pub failed: Vec<RowFailure>,
    /// False when problems stopped the import (nothing was written).
    pub imported: bool,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RowFailure {
    pub line: usize,
    pub sku: Option<String>,
    pub errors: Vec<String>,
}

#[derive(Debug, Default)]
struct Marks {
    products: i64,
    stock: i64,
    sales: i64,
    categories: (i64, i64),
}

#[derive(Clone)]
pub struct ProductService {
    db: Db,
    index: Arc<RwLock<Index>>,
    cache: Cache,
    marks: Arc<Mutex<Marks>>,
    cfg: ProductConfig,
}

/// A product event: `kind` is `ProductCreated`, `ProductUpdated` or `ProductDeleted`.
fn event<E: Event>(kind: fn(ProductState) -> E, p: &Product, correlation: &str) -> Envelope {
    Envelope::of(Service::Product, &p.id, correlation, &kind(ProductState::of(p)))
}

/// How long recommendations wait for the purchase history before degrading to best-sellers.
pub const RECOMMENDATION_BUDGET: std::time::Duration = std::time::Duration::from_millis(300);

impl ProductService {
    /// Builds the index from the database (every product, stock row and sales total).
    pub async fn new(db: Db, cache: Cache, cfg: ProductConfig) -> Result<Self, CoreError> {
        let svc = ProductService {
            db,
            index: Arc::new(RwLock::new(Index::default())),
            cache,
            marks: Arc::new(Mutex::new(Marks::default())),
            cfg,
        };
        svc.reload().await?;
        Ok(svc)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn cache(&self) -> &Cache {
        &self.cache
    }

    fn read(&self) -> RwLockReadGuard<'_, Index> {
        self.index.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Index> {
        self.index.write().unwrap_or_else(|e| e.into_inner())
    }

    fn marks(&self) -> std::sync::MutexGuard<'_, Marks> {
        self.marks.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn conn(&self) -> Result<sqlx::pool::PoolConnection<sqlx::Any>, CoreError> {
        Ok(self.db.pool().acquire().await?)
    }

    /// Rebuilds the whole index from the database.
    pub async fn reload(&self) -> Result<(), CoreError> {
        let mut conn = self.conn().await?;
        let cats = store::categories(&mut conn).await?;
        let cat_mark = category_mark(&mut conn).await?;
        let mut products = Vec::new();
        let (mut since, mut after) = (i64::MIN, String::new());
        loop {
            let page = store::products_since(&mut conn, since, &after, 5_000).await?;
            let Some(last) = page.last() else { break };
            (since, after) = (last.updated_at, last.id.clone());
            products.extend(page);
        }
        let stock = store::stock_since(&mut conn, i64::MIN).await?;
        let sales = store::sales_since(&mut conn, i64::MIN).await?;
        let mut marks = Marks {
            categories: cat_mark,
            ..Default::default()
        };
        marks.products = products.iter().map(|p| p.updated_at).fold(marks.products, i64::max);
        let mut ix = Index::build(CategoryTree::new(cats), products.into_iter().map(Arc::new).collect());
        for (store, sku, available, at) in stock {
            marks.stock = marks.stock.max(at);
            ix.set_stock(&store, &sku, available);
        }
        for (sku, units, at) in sales {
            marks.sales = marks.sales.max(at);
            ix.set_sales(&sku, units);
        }
        let cap = now_ms() - REFRESH_OVERLAP_MS;
        marks.products = marks.products.min(cap);
        marks.stock = marks.stock.min(cap);
        marks.sales = marks.sales.min(cap);
        *self.write() = ix;
        *self.marks() = marks;
        Ok(())
    }

    /// Applies rows changed since the last look: products (from other instances or the
    /// CLI), stock from the `product.stock` consumer, sales from `product.sales`, and the
    /// category tree. Cached pages of changed products are dropped.
    pub async fn refresh(&self) -> Result<usize, CoreError> {
        let mut conn = self.conn().await?;
        let marks = {
            let m = self.marks();
            (m.products, m.stock, m.sales, m.categories)
        };
        let mut changed = 0;
        let cat_mark = category_mark(&mut conn).await?;
        if cat_mark != marks.3 {
            let tree = CategoryTree::new(store::categories(&mut conn).await?);
            self.rebuild_with_tree(tree);
            self.marks().categories = cat_mark;
            changed += 1;
        }
        let seen = store::versions_since(&mut conn, marks.0).await?;
        let wanted: Vec<String> = {
            let ix = self.read();
            seen.iter()
                .filter(|(id, version, deleted, _)| match ix.get(id) {
                    Some(known) => known.version != *version,
                    None => !deleted,
                })
                .map(|(id, ..)| id.clone())
                .collect()
        };
        let fresh = store::products_by_id(&mut conn, &wanted).await?;
        let stock = store::stock_since(&mut conn, marks.1).await?;
        let sales = store::sales_since(&mut conn, marks.2).await?;
        // The connection goes back before the cache (Redis, which may be slow) is told.
        drop(conn);
        self.advance(|m| &mut m.products, seen.iter().map(|r| r.3));
        changed += fresh.len();
        self.apply(&fresh).await;
        {
            let mut ix = self.write();
            for (store, sku, available, _) in &stock {
                ix.set_stock(store, sku, *available);
            }
            for (sku, units, _) in &sales {
                ix.set_sales(sku, *units);
            }
        }
        self.advance(|m| &mut m.stock, stock.iter().map(|r| r.3));
        self.advance(|m| &mut m.sales, sales.iter().map(|r| r.2));
        Ok(changed + stock.len() + sales.len())
    }

    /// Moves a watermark past the rows seen, but never past `now - overlap`: a row whose
    /// transaction committed late, with an older timestamp, is still read, and rows older
    /// than the window are not read again (nor is the last batch, once it is that old).
    fn advance(&self, field: impl Fn(&mut Marks) -> &mut i64, seen: impl Iterator<Item = i64>) {
        let mut m = self.marks();
        let mark = field(&mut m);
        let past_seen = seen.max().map_or(i64::MAX, |newest| newest.saturating_add(1));
        *mark = (*mark).max(past_seen.min(now_ms() - REFRESH_OVERLAP_MS));
    }

    /// Runs [`Self::refresh`] until `shutdown`.
    pub async fn run_refresher(self, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(self.cfg.refresh_every) => {}
            }
            if let Err(e) = self.refresh().await {
                tracing::warn!(error = %e, "catalogue index refresh failed; retrying");
            }
        }
    }

    fn rebuild_with_tree(&self, tree: CategoryTree) {
        let mut ix = self.write();
        ix.set_tree(tree);
    }

    /// Puts changed products into the index and drops their cached pages.
    async fn apply(&self, products: &[Product]) {
        if products.is_empty() {
            return;
        }
        {
            let mut ix = self.write();
            if products.len() >= REBUILD_AT {
                ix.upsert_many(products.iter().cloned().map(Arc::new).collect());
            } else {
                for p in products {
                    ix.upsert(Arc::new(p.clone()));
                }
            }
        }
        let keys: Vec<String> = products
            .iter()
            .flat_map(|p| [self.page_key(&p.id), self.page_key(&p.sku)])
            .collect();
        for chunk in keys.chunks(1000) {
            self.cache.invalidate(chunk).await;
        }
    }

    /// The cache key of a product page. It carries the category tree's generation, so a
    /// renamed or moved category (which changes every page's breadcrumbs below it) retires
    /// the old pages without finding them; they expire with their TTL.
    fn page_key(&self, id_or_sku: &str) -> String {
        let (n, m) = self.marks().categories;
        format!("product:{n}.{m}:{id_or_sku}")
    }

    /// A product page by id or sku. Shoppers (`include_hidden = false`) see active,
    /// undeleted products only. Served from the cache when it holds the page.
    pub async fn product(&self, id_or_sku: &str, include_hidden: bool) -> Result<serde_json::Value, CoreError> {
        let key = self.page_key(id_or_sku.trim());
        let page: serde_json::Value = match self.cache.get(&key).await {
            Some(hit) => serde_json::from_str(&hit).map_err(|e| CoreError::Internal(e.into()))?,
            None => {
                let mut conn = self.conn().await?;
                let p = store::product(&mut conn, id_or_sku.trim())
                    .await?
                    .ok_or_else(|| CoreError::NotFound("product".into()))?;
                let view = ProductView {
                    discount_percent: p.discount_percent(),
                    category_path: self.read().category_path(&p.category_id),
                    product: p,
                };
                let page = serde_json::to_value(&view).map_err(|e| CoreError::Internal(e.into()))?;
                // The connection goes back before the cache (Redis, maybe slow) is written.
                drop(conn);
                self.cache.put(&key, Arc::from(page.to_string().as_str())).await;
                page
            }
        };
        let visible = page["active"] == json!(true) && page["deleted_at"].is_null();
        if !visible && !include_hidden {
            return Err(CoreError::NotFound("product".into()));
        }
        Ok(page)
    }

    /// Available units at a store, from the stock replica (None when the store has never
    /// reported this sku).
    pub fn availability(&self, store: &str, sku: &str) -> Option<i64> {
        self.read().available(store, sku)
    }

    async fn load(&self, conn: &mut AnyConnection, id_or_sku: &str) -> Result<Product, CoreError> {
        store::product(conn, id_or_sku)
            .await?
            .ok_or_else(|| CoreError::NotFound("product".into()))
    }

    pub async fn create_product(&self, ctx: &RequestCtx, input: ProductInput) -> Result<Product, CoreError> {
        let tree = self.tree();
        let mut v = Validator::new();
        let draft = validate_product(&input, None, &tree, &mut v);
        v.finish()?;
        let draft = draft.ok_or_else(|| CoreError::validation("body", "is not a product"))?;
        let mut tx = self.db.begin().await?;
        if let Some(existing) = store::product(&mut tx, &draft.sku).await? {
            return Err(if existing.deleted_at.is_some() {
                CoreError::conflict(
                    "sku",
                    format!("belongs to deleted product {}; restore it instead", existing.id),
                )
            } else {
                CoreError::conflict("sku", format!("'{}' already exists", existing.sku))
            });
        }
        let now = now_ms();
        let p = build(new_id(), draft, 1, now, now);
        store::upsert_products(&mut tx, self.db.dialect(), std::slice::from_ref(&p))
            .await
            .map_err(|e| match e {
                CoreError::Database(db) if crate::error::is_unique_violation(&db) => {
                    CoreError::conflict("sku", format!("'{}' already exists", p.sku))
                }
                other => other,
            })?;
        outbox::append(&mut tx, &event(ProductCreated, &p, &ctx.request_id)).await?;
        tx.commit().await?;
        self.after_write(&p).await;
        Ok(p)
    }

    async fn after_write(&self, p: &Product) {
        self.apply(std::slice::from_ref(p)).await;
    }

    /// Changes some fields. `expected_version`, when given, must match (lost-update guard
    /// for two admins editing at once).
    pub async fn update_product(
        &self,
        ctx: &RequestCtx,
        id_or_sku: &str,
        input: ProductInput,
        expected_version: Option<i64>,
    ) -> Result<Product, CoreError> {
        let tree = self.tree();
        let mut tx = self.db.begin().await?;
        let current = self.load(&mut tx, id_or_sku).await?;
        if current.deleted_at.is_some() {
            return Err(CoreError::NotFound("product".into()));
        }
        if let Some(ev) = expected_version {
            if ev != current.version {
                return Err(CoreError::conflict(
                    "version",
                    format!(
                        "the product is at version {}, not {ev}; reload and retry",
                        current.version
                    ),
                ));
            }
        }
        let mut v = Validator::new();
        let draft = validate_product(&input, Some(&current), &tree, &mut v);
        v.finish()?;
        let draft = draft.ok_or_else(|| CoreError::validation("body", "is not a product"))?;
        if draft == ProductDraft::from_product(&current) {
            return Ok(current);
        }
        let now = now_ms().max(current.updated_at + 1);
        let p = build(current.id.clone(), draft, current.version + 1, current.created_at, now);
        let r = sqlx::query("UPDATE products SET version = version + 1, updated_at = ? WHERE id = ? AND version = ?")
            .bind(now)
            .bind(&p.id)
            .bind(current.version)
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() != 1 {
            return Err(CoreError::conflict(
                "version",
                "changed by someone else meanwhile; retry",
            ));
        }
        store::upsert_products(&mut tx, self.db.dialect(), std::slice::from_ref(&p)).await?;
        outbox::append(&mut tx, &event(ProductUpdated, &p, &ctx.request_id)).await?;
        tx.commit().await?;
        self.after_write(&p).await;
        Ok(p)
    }

    /// Soft-deletes: the product leaves search and shop pages; its sku stays reserved and
    /// admins can restore it.
    pub async fn delete_product(&self, ctx: &RequestCtx, id_or_sku: &str) -> Result<(), CoreError> {
        self.set_deleted(ctx, id_or_sku, true).await.map(|_| ())
    }

    pub async fn restore_product(&self, ctx: &RequestCtx, id_or_sku: &str) -> Result<Product, CoreError> {
        self.set_deleted(ctx, id_or_sku, false).await
    }

    async fn set_deleted(&self, ctx: &RequestCtx, id_or_sku: &str, delete: bool) -> Result<Product, CoreError> {
        let mut tx = self.db.begin().await?;
        let current = self.load(&mut tx, id_or_sku).await?;
        let now = now_ms().max(current.updated_at + 1);
        let changed = store::set_deleted(&mut tx, &current.id, delete.then_some(now), now).await?;
        if !changed {
            // already in the wanted state: idempotent
            if delete {
                return Ok(current);
            }
            return Err(CoreError::conflict("product", "is not deleted"));
        }
        let p = self.load(&mut tx, &current.id).await?;
        let env = if delete {
            event(ProductDeleted, &p, &ctx.request_id)
        } else {
            event(ProductUpdated, &p, &ctx.request_id)
        };
        outbox::append(&mut tx, &env).await?;
        tx.commit().await?;
        self.after_write(&p).await;
        Ok(p)
    }

    /// Runs a search. `category` may be an id or a slug.
    /// Whether a dark store takes orders now (the delivery service's load report):
    /// `{code, load: open|busy|paused, delay_minutes, message}`.
    pub async fn store_status(&self, store: &str) -> Result<StoreStatus, CoreError> {
        let mut conn = self.db.pool().acquire().await?;
        let (load, extra) = crate::delivery::events::store_load(&mut conn, store).await?;
        Ok(StoreStatus {
            code: store.to_owned(),
            taking_orders: load != "paused",
            message: crate::delivery::events::load_message(store, &load, extra),
            load,
            delay_minutes: extra,
        })
    }

    pub fn search(&self, mut params: SearchParams) -> Result<SearchPage, CoreError> {
        let ix = self.read();
        if let Some(c) = &params.category {
            match ix.tree().resolve(c) {
                Some(cat) => params.category = Some(cat.id.clone()),
                None => return Err(CoreError::validation("category", format!("no category '{c}'"))),
            }
        }
        ix.search(&params)
            .map_err(|SearchError::BadCursor(why)| CoreError::validation("cursor", why))
    }

    /// Up to `limit` products to show beside `id_or_sku`: those most often bought with it,
    /// then best sellers of its category, then best sellers at the store. With a store,
    /// only what it has in stock; never the product itself, inactive or deleted ones.
    pub async fn recommendations(
        &self,
        id_or_sku: &str,
        store: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<Recommendation>, bool), CoreError> {
        let limit = limit.clamp(1, 50);
        let (sku, category) = {
            let ix = self.read();
            let p = ix.get(id_or_sku).ok_or_else(|| CoreError::NotFound("product".into()))?;
            (p.sku.clone(), p.category_id.clone())
        };
        // The purchase history lives in the database; when it cannot answer quickly the
        // answer degrades to the category's best-sellers from the in-memory index.
        let history = async {
            let mut conn = self.conn().await?;
            let together = store::bought_with(&mut conn, &sku, 200).await?;
            let at_store = match store {
                Some(s) => store::popular_at(&mut conn, s, 500).await?,
                None => Vec::new(),
            };
            Ok::<_, CoreError>((together, at_store))
        };
        let (together, at_store, degraded) = match tokio::time::timeout(RECOMMENDATION_BUDGET, history).await {
            Ok(Ok((t, a))) => (t, a, false),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "purchase history unavailable: recommending best-sellers");
                metrics::counter!("nakku_recommendations_degraded_total").increment(1);
                (Vec::new(), Vec::new(), true)
            }
            Err(_) => {
                tracing::warn!("purchase history too slow: recommending best-sellers");
                metrics::counter!("nakku_recommendations_degraded_total").increment(1);
                (Vec::new(), Vec::new(), true)
            }
        };
        let ix = self.read();
        let mut taken: HashSet<String> = HashSet::from([sku.clone()]);
        let mut out = Vec::new();
        let usable = |p: &Product| p.active && store.is_none_or(|s| ix.available(s, &p.sku).unwrap_or(0) > 0);
        let push = |out: &mut Vec<Recommendation>, taken: &mut HashSet<String>, p: &Product, reason| {
            if out.len() < limit && usable(p) && taken.insert(p.sku.clone()) {
                out.push(Recommendation {
                    hit: ix.hit(p, store),
                    reason,
                });
            }
        };
        for (other, _) in &together {
            if let Some(p) = ix.get(other) {
                push(&mut out, &mut taken, p, "bought_together");
            }
        }
        if out.len() < limit {
            for p in ix.popular(Some(&category), store, &taken, limit) {
                push(&mut out, &mut taken, &p, "popular_in_category");
            }
        }
        if out.len() < limit {
            for s in &at_store {
                if let Some(p) = ix.get(s) {
                    push(&mut out, &mut taken, p, "popular_at_store");
                }
            }
        }
        Ok((out, degraded))
    }

    /// Best sellers, at a store (in stock there) and/or in a category subtree.
    pub async fn popular(
        &self,
        store: Option<&str>,
        category: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Hit>, CoreError> {
        let limit = limit.clamp(1, 100);
        let category = match category {
            Some(c) => Some(
                self.read()
                    .tree()
                    .resolve(c)
                    .map(|c| c.id.clone())
                    .ok_or_else(|| CoreError::validation("category", format!("no category '{c}'")))?,
            ),
            None => None,
        };
        let at_store = match store {
            Some(s) => store::popular_at(&mut *self.conn().await?, s, 1000).await?,
            None => Vec::new(),
        };
        let ix = self.read();
        let mut taken = HashSet::new();
        let mut out = Vec::new();
        for s in &at_store {
            let Some(p) = ix.get(s) else { continue };
            let in_cat = category.as_ref().is_none_or(|c| ix.tree().is_within(&p.category_id, c));
            let stocked = store.is_none_or(|st| ix.available(st, &p.sku).unwrap_or(0) > 0);
            if p.active && in_cat && stocked && out.len() < limit && taken.insert(p.sku.clone()) {
                out.push(ix.hit(p, store));
            }
        }
        if out.len() < limit {
            for p in ix.popular(category.as_deref(), store, &taken, limit - out.len()) {
                out.push(ix.hit(&p, store));
            }
        }
        Ok(out)
    }

    /// The refresher's product watermark: rows updated before it are not read again.
    pub fn product_watermark(&self) -> i64 {
        self.marks().products
    }

    /// Products in the index (for health and the dashboard).
    pub fn indexed(&self) -> usize {
        self.read().len()
    }
}

async fn category_mark(conn: &mut AnyConnection) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) AS n, COALESCE(MAX(updated_at), 0) AS m FROM categories")
        .fetch_one(conn)
        .await?;
    Ok((row.try_get("n")?, row.try_get("m")?))
}

fn flatten(f: &FieldErrors) -> Vec<String> {
    f.iter()
        .flat_map(|(k, msgs)| msgs.iter().map(move |m| format!("{k}: {m}")))
        .collect()
}
