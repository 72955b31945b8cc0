//! Inventory service routes (port 8083): dark stores, live stock, restocks and
//! adjustments, the ledger, low-stock lists, back-in-stock requests and reservations.
//!
//! Reading stock is public (shoppers browse before signing in). Store administration and
//! stock movements need the `admin` role; reservations are for the order saga and admins.
//! Roles come from the access token (this service cannot see the user database), so a
//! demoted admin keeps access until the token expires (15 minutes by default).

use std::sync::Arc;

use axum::extract::{FromRef, Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::inventory::*;
use serde::Deserialize;
use serde_json::json;

use crate::error::{ok, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx};

#[derive(Clone)]
pub struct InventoryState {
    pub svc: Arc<InventoryService>,
    pub jwt: JwtKeys,
}

impl FromRef<InventoryState> for JwtKeys {
    fn from_ref(s: &InventoryState) -> JwtKeys {
        s.jwt.clone()
    }
}

pub fn router(svc: Arc<InventoryService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/inventory/stores", get(list_stores).post(create_store))
        .route(
            "/api/v1/inventory/stores/{store}",
            get(get_store).patch(update_store).delete(delete_store),
        )
        .route("/api/v1/inventory/stores/{store}/stock", get(stock))
        .route(
            "/api/v1/inventory/stores/{store}/stock/{sku}",
            get(stock_item).put(set_threshold),
        )
        .route("/api/v1/inventory/stores/{store}/stock/{sku}/restock", post(restock))
        .route("/api/v1/inventory/stores/{store}/stock/{sku}/adjust", post(adjust))
        .route("/api/v1/inventory/stores/{store}/stock/{sku}/ledger", get(ledger))
        .route("/api/v1/inventory/stores/{store}/stock/{sku}/watch", post(watch))
        .route("/api/v1/inventory/stores/{store}/low-stock", get(low_stock))
        .route("/api/v1/inventory/stores/{store}/reconcile", get(reconcile))
        .route("/api/v1/inventory/reservations", post(reserve))
        .route("/api/v1/inventory/reservations/{order_id}", get(get_reservation))
        .route("/api/v1/inventory/reservations/{order_id}/confirm", post(confirm))
        .route("/api/v1/inventory/reservations/{order_id}/release", post(release))
        .route(
            "/api/v1/inventory/reservations/{order_id}/lines/{sku}/return",
            post(return_line),
        )
        .route("/api/v1/inventory/reservations/{order_id}/picked", post(picked))
        .with_state(InventoryState { svc, jwt })
}

async fn list_stores(State(s): State<InventoryState>, auth: AuthUser) -> ApiResult {
    auth.require(Role::Admin)?;
    let items = s.svc.list_warehouses().await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn create_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<WarehouseInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::CREATED, s.svc.create_warehouse(&ctx, b).await?))
}

async fn get_store(State(s): State<InventoryState>, auth: AuthUser, Path(store): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.warehouse(&store).await?))
}

async fn update_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<WarehouseInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.update_warehouse(&ctx, &store, b).await?))
}

async fn delete_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(store): Path<String>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    s.svc.delete_warehouse(&ctx, &store).await?;
    Ok(ok(StatusCode::OK, json!({"deleted": true})))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct SkusQuery {
    skus: Option<String>,
}

async fn stock(
    State(s): State<InventoryState>,
    Path(store): Path<String>,
    AppQuery(q): AppQuery<SkusQuery>,
) -> ApiResult {
    let skus: Vec<String> = q
        .skus
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let items = s.svc.stock_for(&store, &skus).await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn stock_item(State(s): State<InventoryState>, Path((store, sku)): Path<(String, String)>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.stock_item(&store, &sku).await?))
}

async fn set_threshold(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<ThresholdInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.set_threshold(&ctx, &store, &sku, b).await?))
}

async fn restock(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<RestockInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(
        StatusCode::OK,
        s.svc.restock(&ctx, &auth.0.sub, &store, &sku, b).await?,
    ))
}

async fn adjust(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<AdjustInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(
        StatusCode::OK,
        s.svc.adjust(&ctx, &auth.0.sub, &store, &sku, b).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    limit: Option<i64>,
}

async fn ledger(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let limit = q.limit.unwrap_or(100);
    let mut items = s.svc.ledger(&store, &sku, q.cursor.as_deref(), limit).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|e| e.id.clone()))
        .flatten();
    items.truncate(limit as usize);
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": next})))
}

async fn watch(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(StatusCode::CREATED, s.svc.watch(&auth.0.sub, &store, &sku).await?))
}

async fn low_stock(State(s): State<InventoryState>, auth: AuthUser, Path(store): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    let items = s.svc.low_stock(&store).await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn reconcile(State(s): State<InventoryState>, auth: AuthUser, Path(store): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.reconcile(&store).await?))
}

async fn reserve(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<ReserveInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let r = s.svc.reserve(&ctx, b).await?;
    let status = if r.status == "held" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(ok(status, r))
}

async fn get_reservation(State(s): State<InventoryState>, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.get_reservation(&order_id).await?))
}

async fn confirm(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.confirm(&ctx, &order_id).await?))
}

async fn release(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    auth.require(Role::Admin)?;
    // The body is optional: `{"reason": "..."}` or nothing.
    let input: ReleaseInput = if body.iter().all(u8::is_ascii_whitespace) {
        ReleaseInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    let reason = input.reason.unwrap_or_else(|| "released by an admin".to_owned());
    let r = if input.block == Some(true) {
        s.svc.release_or_block(&ctx, &order_id, &reason).await?
    } else {
        s.svc
            .release(
                &ctx,
                &order_id,
                &reason,
                nakku_core::inventory::ReservationStatus::Released,
            )
            .await?
    };
    Ok(ok(StatusCode::OK, r))
}

async fn return_line(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((order_id, sku)): Path<(String, String)>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    s.svc.return_line(&ctx, &order_id, &sku).await?;
    Ok(ok(StatusCode::OK, Returned { returned: sku }))
}

#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub(crate) struct PickedInput {
    #[serde(default)]
    short: Vec<nakku_core::inventory::Line>,
    #[serde(default)]
    add: Vec<nakku_core::inventory::Line>,
}

/// What picking found for a sold order (the order service's saga): `{short: [{sku,
/// quantity}], add: [{sku, quantity}]}`, applied once per order.
async fn picked(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
    AppJson(b): AppJson<PickedInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    s.svc.picked(&ctx, &order_id, &b.short, &b.add).await?;
    Ok(ok(StatusCode::OK, json!({"order_id": order_id, "applied": true})))
}

/// A line's units back on the shelf.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Returned {
    /// The sku returned.
    returned: String,
}
