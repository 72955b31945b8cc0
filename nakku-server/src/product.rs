//! Product catalogue routes (port 8082): search, product pages, recommendations and the
//! category tree for everyone; product and category administration and bulk import for
//! admins (role from the access token, like the inventory service).

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRef, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::gateway::Access::{Admin, Public};
use nakku_core::product::search::{Hit, SearchPage, SearchParams, Sort};
use nakku_core::product::service::{CategoryPage, ImportReport, Recommendation};
use nakku_core::product::*;
use nakku_core::service::Service;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::answer::{created, ok, ApiResult, Deleted, Items, DELETED};
use crate::api::{Api, IF_MATCH};
use crate::error::ApiError;
use crate::extract::{verify_bearer, AppJson, AppQuery, AuthUser, Ctx};

#[derive(Clone)]
pub struct ProductState {
    pub svc: Arc<ProductService>,
    pub jwt: JwtKeys,
}

impl FromRef<ProductState> for JwtKeys {
    fn from_ref(s: &ProductState) -> JwtKeys {
        s.jwt.clone()
    }
}

/// The catalogue's endpoints.
pub fn api() -> Api<ProductState> {
    const PRODUCT: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    const CATEGORY: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    Api::new(Service::Product)
        .get("products", "searchProducts", Public, search)
        .post("products", "createProduct", Admin, create_product)
        .link("getProduct", PRODUCT)
        .link("updateProduct", PRODUCT)
        .link("deleteProduct", PRODUCT)
        .link("recommendProducts", PRODUCT)
        .post("products/import", "importProducts", Admin, import)
        .get("products/popular", "listPopularProducts", Public, popular)
        .get("products/{id}", "getProduct", Public, get_product)
        .patch("products/{id}", "updateProduct", Admin, update_product)
        .header(IF_MATCH)
        .delete("products/{id}", "deleteProduct", Admin, delete_product)
        .link("restoreProduct", &[("id", "$request.path.id")])
        .post("products/{id}/restore", "restoreProduct", Admin, restore_product)
        .get(
            "products/{id}/recommendations",
            "recommendProducts",
            Public,
            recommendations,
        )
        .get("categories", "listCategories", Public, category_tree)
        .post("categories", "createCategory", Admin, create_category)
        .link("getCategory", CATEGORY)
        .link("updateCategory", CATEGORY)
        .link("deleteCategory", CATEGORY)
        .get("categories/{id}", "getCategory", Public, get_category)
        .patch("categories/{id}", "updateCategory", Admin, update_category)
        .delete("categories/{id}", "deleteCategory", Admin, delete_category)
}

pub fn router(svc: Arc<ProductService>, jwt: JwtKeys, import_max_bytes: usize) -> Router {
    api()
        .body_limit("importProducts", import_max_bytes)
        .router()
        .with_state(ProductState { svc, jwt })
}

/// Whether the caller is an admin; anonymous callers are not, a bad token is a 401.
fn is_admin(s: &ProductState, headers: &HeaderMap) -> Result<bool, ApiError> {
    match headers.get(header::AUTHORIZATION) {
        None => Ok(false),
        Some(v) => Ok(verify_bearer(Some(v), &s.jwt)?.role == Role::Admin),
    }
}

fn list(raw: Option<&str>, lower: bool) -> Vec<String> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| if lower { x.to_lowercase() } else { x.to_owned() })
        .collect()
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct SearchQuery {
    #[param(max_length = 200)]
    q: Option<String>,
    category: Option<String>,
    brand: Option<String>,
    #[param(minimum = 0)]
    min_price: Option<i64>,
    #[param(minimum = 0)]
    max_price: Option<i64>,
    tags: Option<String>,
    #[param(schema_with = nakku_core::rules::store_code)]
    store: Option<String>,
    in_stock: Option<bool>,
    #[param(schema_with = nakku_core::product::search::sort_schema)]
    sort: Option<String>,
    #[param(minimum = 1, maximum = 100)]
    limit: Option<usize>,
    cursor: Option<String>,
    include_inactive: Option<bool>,
}

async fn search(
    State(s): State<ProductState>,
    headers: HeaderMap,
    AppQuery(q): AppQuery<SearchQuery>,
) -> ApiResult<SearchPage> {
    let mut v = nakku_core::error::Validator::new();
    let sort = match q.sort.as_deref() {
        Some(raw) => v.check("sort", Sort::parse(raw)).unwrap_or_default(),
        None => Sort::Relevance,
    };
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        v.add("limit", "must be from 1 to 100");
    }
    for (field, p) in [("min_price", q.min_price), ("max_price", q.max_price)] {
        if p.is_some_and(|p| p < 0) {
            v.add(field, "must not be negative");
        }
    }
    if let (Some(lo), Some(hi)) = (q.min_price, q.max_price) {
        if lo > hi {
            v.add("min_price", "must not exceed max_price");
        }
    }
    if q.q.as_deref().is_some_and(|x| x.chars().count() > 200) {
        v.add("q", "must be at most 200 characters");
    }
    let in_stock = q.in_stock.unwrap_or(false);
    if in_stock && q.store.is_none() {
        v.add("in_stock", "needs store: the dark store whose stock to check");
    }
    let include_inactive = q.include_inactive.unwrap_or(false);
    v.finish()?;
    if include_inactive && !is_admin(&s, &headers)? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "include_inactive needs the admin role",
        ));
    }
    let params = SearchParams {
        q: q.q.unwrap_or_default(),
        category: q.category.filter(|c| !c.trim().is_empty()),
        brands: list(q.brand.as_deref(), true),
        min_price: q.min_price,
        max_price: q.max_price,
        tags: list(q.tags.as_deref(), true),
        store: q.store.map(|st| st.trim().to_ascii_uppercase()),
        in_stock,
        include_inactive,
        sort,
        limit,
        cursor: q.cursor,
    };
    let store = params.store.clone();
    let started = std::time::Instant::now();
    let mut page = s.svc.search(params)?;
    metrics::histogram!("nakku_search_seconds").record(started.elapsed().as_secs_f64());
    // Browsing a store: say whether it takes orders now.
    if let Some(st) = store {
        page.store_status = Some(s.svc.store_status(&st).await?);
    }
    ok(page)
}

/// `GET /products/{id}`: the product page, with a store's availability and status when
/// `store=` is given.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProductPage {
    /// The cached page (a serialised `ProductView`).
    #[serde(flatten)]
    #[schema(value_type = nakku_core::product::service::ProductView)]
    product: serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability: Option<Availability>,
    #[serde(skip_serializing_if = "Option::is_none")]
    store_status: Option<nakku_core::product::service::StoreStatus>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Availability {
    store: String,
    available: i64,
    in_stock: bool,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct StoreQuery {
    #[param(schema_with = nakku_core::rules::store_code)]
    store: Option<String>,
    category: Option<String>,
    #[param(minimum = 1, maximum = 50)]
    limit: Option<usize>,
}

async fn get_product(
    State(s): State<ProductState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<StoreQuery>,
) -> ApiResult<ProductPage> {
    let admin = is_admin(&s, &headers)?;
    let product = s.svc.product(&id, admin).await?;
    let mut page = ProductPage {
        product,
        availability: None,
        store_status: None,
    };
    if let Some(store) = q.store.map(|st| st.trim().to_ascii_uppercase()) {
        let sku = page.product["sku"].as_str().unwrap_or_default().to_owned();
        let available = s.svc.availability(&store, &sku).unwrap_or(0);
        page.store_status = Some(s.svc.store_status(&store).await?);
        page.availability = Some(Availability {
            store,
            available,
            in_stock: available > 0,
        });
    }
    ok(page)
}

async fn create_product(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<ProductInput>,
) -> ApiResult<Product> {
    auth.require(Role::Admin)?;
    created(s.svc.create_product(&ctx, b).await?)
}

/// `If-Match: 3` (or `"3"`) makes the update conditional on the product's version.
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    match headers.get(header::IF_MATCH) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .map(|s| s.trim().trim_start_matches("W/").trim_matches('"'))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| ApiError::field(StatusCode::BAD_REQUEST, "If-Match", "must be a product version number")),
    }
}

async fn update_product(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    headers: HeaderMap,
    Path(id): Path<String>,
    AppJson(b): AppJson<ProductInput>,
) -> ApiResult<Product> {
    auth.require(Role::Admin)?;
    let expected = if_match(&headers)?;
    ok(s.svc.update_product(&ctx, &id, b, expected).await?)
}

async fn delete_product(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Deleted> {
    auth.require(Role::Admin)?;
    s.svc.delete_product(&ctx, &id).await?;
    ok(DELETED)
}

async fn restore_product(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Product> {
    auth.require(Role::Admin)?;
    ok(s.svc.restore_product(&ctx, &id).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
struct ImportQuery {
    partial: Option<bool>,
}

async fn import(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    headers: HeaderMap,
    AppQuery(q): AppQuery<ImportQuery>,
    body: Bytes,
) -> ApiResult<ImportReport> {
    auth.require(Role::Admin)?;
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let json = import::is_json(ct, &body);
    let partial = q.partial.unwrap_or(false);
    let report = s.svc.import(&ctx, &body, json, partial).await?;
    if !report.imported {
        let mut fields = nakku_core::error::FieldErrors::new();
        for f in &report.failed {
            fields.insert(format!("line {}", f.line), f.errors.clone());
        }
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{} of {} rows have problems; nothing was imported (fix them, or add ?partial=true to import the good rows only)",
                report.failed.len(),
                report.rows
            ),
        );
        err.fields = Some(fields);
        err.extra = Some(json!({"report": report}));
        return Err(err);
    }
    ok(report)
}

async fn popular(State(s): State<ProductState>, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult<Items<Hit>> {
    let store = q.store.map(|st| st.trim().to_ascii_uppercase());
    let items = s
        .svc
        .popular(store.as_deref(), q.category.as_deref(), q.limit.unwrap_or(20))
        .await?;
    ok(Items::new(items))
}

async fn recommendations(
    State(s): State<ProductState>,
    Path(id): Path<String>,
    AppQuery(q): AppQuery<StoreQuery>,
) -> ApiResult<Recommendations> {
    let store = q.store.map(|st| st.trim().to_ascii_uppercase());
    let (items, degraded) = s
        .svc
        .recommendations(&id, store.as_deref(), q.limit.unwrap_or(10))
        .await?;
    // Degraded: the purchase history did not answer; these are the category's best-sellers.
    let degraded = if degraded {
        vec!["recommendations".to_owned()]
    } else {
        Vec::new()
    };
    ok(Recommendations { items, degraded })
}

/// Products bought with this one, best first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Recommendations {
    items: Vec<Recommendation>,
    /// `["recommendations"]` when the purchase history did not answer and these are the
    /// category's best-sellers instead; empty otherwise.
    degraded: Vec<String>,
}

async fn category_tree(State(s): State<ProductState>) -> ApiResult<Items<CategoryNode>> {
    ok(Items::new(s.svc.category_tree()))
}

async fn get_category(State(s): State<ProductState>, Path(id): Path<String>) -> ApiResult<CategoryPage> {
    ok(s.svc.category(&id)?)
}

async fn create_category(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<CategoryInput>,
) -> ApiResult<Category> {
    auth.require(Role::Admin)?;
    created(s.svc.create_category(&ctx, b).await?)
}

async fn update_category(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
    AppJson(b): AppJson<CategoryInput>,
) -> ApiResult<Category> {
    auth.require(Role::Admin)?;
    ok(s.svc.update_category(&ctx, &id, b).await?)
}

async fn delete_category(
    State(s): State<ProductState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
) -> ApiResult<Deleted> {
    auth.require(Role::Admin)?;
    s.svc.delete_category(&ctx, &id).await?;
    ok(DELETED)
}
