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
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::gateway::Access::{Admin, Public, Signed};
use nakku_core::inventory::*;
use nakku_core::service::Service;
use serde::Deserialize;

use crate::answer::{created, ok, Answer, ApiResult, Deleted, Page, DELETED};
use crate::api::Api;
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

/// The inventory service's endpoints.
pub fn api() -> Api<InventoryState> {
    const STORE: &[(&str, &str)] = &[("store", "$response.body#/data/id")];
    const STOCK: &[(&str, &str)] = &[
        ("store", "$response.body#/data/store"),
        ("sku", "$response.body#/data/sku"),
    ];
    const RESERVATION: &[(&str, &str)] = &[("order_id", "$response.body#/data/order_id")];
    Api::new(Service::Inventory)
        .get("inventory/stores", "listStores", Admin, list_stores)
        .post("inventory/stores", "createStore", Admin, create_store)
        .link("getStore", STORE)
        .link("updateStore", STORE)
        .link("listStock", STORE)
        .link("listLowStock", STORE)
        .link("reconcileStore", STORE)
        .get("inventory/stores/{store}", "getStore", Admin, get_store)
        .patch("inventory/stores/{store}", "updateStore", Admin, update_store)
        .delete("inventory/stores/{store}", "deleteStore", Admin, delete_store)
        .get("inventory/stores/{store}/stock", "listStock", Public, stock)
        .get("inventory/stores/{store}/stock/{sku}", "getStock", Public, stock_item)
        .put("inventory/stores/{store}/stock/{sku}", "setStock", Admin, set_threshold)
        .post(
            "inventory/stores/{store}/stock/{sku}/restock",
            "restock",
            Admin,
            restock,
        )
        .link("getStock", STOCK)
        .link("getStockLedger", STOCK)
        .link("adjustStock", STOCK)
        .post(
            "inventory/stores/{store}/stock/{sku}/adjust",
            "adjustStock",
            Admin,
            adjust,
        )
        .get(
            "inventory/stores/{store}/stock/{sku}/ledger",
            "getStockLedger",
            Admin,
            ledger,
        )
        .post(
            "inventory/stores/{store}/stock/{sku}/watch",
            "watchStock",
            Signed,
            watch,
        )
        .get("inventory/stores/{store}/low-stock", "listLowStock", Admin, low_stock)
        .get("inventory/stores/{store}/reconcile", "reconcileStore", Admin, reconcile)
        .post("inventory/reservations", "reserveStock", Admin, reserve)
        .link("getReservation", RESERVATION)
        .link("confirmReservation", RESERVATION)
        .link("releaseReservation", RESERVATION)
        .get(
            "inventory/reservations/{order_id}",
            "getReservation",
            Admin,
            get_reservation,
        )
        .post(
            "inventory/reservations/{order_id}/confirm",
            "confirmReservation",
            Admin,
            confirm,
        )
        .post(
            "inventory/reservations/{order_id}/release",
            "releaseReservation",
            Admin,
            release,
        )
        .body::<ReleaseInput>()
        .post(
            "inventory/reservations/{order_id}/lines/{sku}/return",
            "returnReservedLine",
            Admin,
            return_line,
        )
        .post(
            "inventory/reservations/{order_id}/picked",
            "recordPickedStock",
            Admin,
            picked,
        )
}

pub fn router(svc: Arc<InventoryService>, jwt: JwtKeys) -> Router {
    api().router().with_state(InventoryState { svc, jwt })
}

async fn list_stores(State(s): State<InventoryState>, auth: AuthUser) -> ApiResult<Page<Warehouse>> {
    auth.require(Role::Admin)?;
    ok(Page::all(s.svc.list_warehouses().await?))
}

async fn create_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<WarehouseInput>,
) -> ApiResult<Warehouse> {
    auth.require(Role::Admin)?;
    created(s.svc.create_warehouse(&ctx, b).await?)
}

async fn get_store(State(s): State<InventoryState>, auth: AuthUser, Path(store): Path<String>) -> ApiResult<Warehouse> {
    auth.require(Role::Admin)?;
    ok(s.svc.warehouse(&store).await?)
}

async fn update_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<WarehouseInput>,
) -> ApiResult<Warehouse> {
    auth.require(Role::Admin)?;
    ok(s.svc.update_warehouse(&ctx, &store, b).await?)
}

async fn delete_store(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(store): Path<String>,
) -> ApiResult<Deleted> {
    auth.require(Role::Admin)?;
    s.svc.delete_warehouse(&ctx, &store).await?;
    ok(DELETED)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct SkusQuery {
    /// 1 to 200 skus, separated by commas.
    #[param(value_type = String, pattern = "^[A-Za-z0-9._-]{1,64}(,[A-Za-z0-9._-]{1,64}){0,199}$", required = true)]
    skus: Option<String>,
}

async fn stock(
    State(s): State<InventoryState>,
    Path(store): Path<String>,
    AppQuery(q): AppQuery<SkusQuery>,
) -> ApiResult<Page<StockLevel>> {
    let skus: Vec<String> = q
        .skus
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    ok(Page::all(s.svc.stock_for(&store, &skus).await?))
}

async fn stock_item(
    State(s): State<InventoryState>,
    Path((store, sku)): Path<(String, String)>,
) -> ApiResult<StockLevel> {
    ok(s.svc.stock_item(&store, &sku).await?)
}

async fn set_threshold(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<ThresholdInput>,
) -> ApiResult<StockLevel> {
    auth.require(Role::Admin)?;
    ok(s.svc.set_threshold(&ctx, &store, &sku, b).await?)
}

async fn restock(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<RestockInput>,
) -> ApiResult<StockLevel> {
    auth.require(Role::Admin)?;
    ok(s.svc.restock(&ctx, &auth.0.sub, &store, &sku, b).await?)
}

async fn adjust(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppJson(b): AppJson<AdjustInput>,
) -> ApiResult<StockLevel> {
    auth.require(Role::Admin)?;
    ok(s.svc.adjust(&ctx, &auth.0.sub, &store, &sku, b).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct PageQuery {
    cursor: Option<String>,
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
}

async fn ledger(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
    AppQuery(q): AppQuery<PageQuery>,
) -> ApiResult<Page<LedgerEntry>> {
    auth.require(Role::Admin)?;
    let limit = q.limit.unwrap_or(100);
    let mut items = s.svc.ledger(&store, &sku, q.cursor.as_deref(), limit).await?;
    let next = (items.len() as i64 == limit)
        .then(|| items.last().map(|e| e.id.clone()))
        .flatten();
    items.truncate(limit as usize);
    ok(Page {
        items,
        next_cursor: next,
    })
}

async fn watch(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path((store, sku)): Path<(String, String)>,
) -> ApiResult<Watch> {
    created(s.svc.watch(&auth.0.sub, &store, &sku).await?)
}

async fn low_stock(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path(store): Path<String>,
) -> ApiResult<Page<StockLevel>> {
    auth.require(Role::Admin)?;
    ok(Page::all(s.svc.low_stock(&store).await?))
}

async fn reconcile(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path(store): Path<String>,
) -> ApiResult<Reconciliation> {
    auth.require(Role::Admin)?;
    ok(s.svc.reconcile(&store).await?)
}

async fn reserve(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<ReserveInput>,
) -> ApiResult<Reservation> {
    auth.require(Role::Admin)?;
    let r = s.svc.reserve(&ctx, b).await?;
    let status = if r.status == "held" {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(Answer::new(status, r))
}

async fn get_reservation(
    State(s): State<InventoryState>,
    auth: AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult<Reservation> {
    auth.require(Role::Admin)?;
    ok(s.svc.get_reservation(&order_id).await?)
}

async fn confirm(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
) -> ApiResult<Reservation> {
    auth.require(Role::Admin)?;
    ok(s.svc.confirm(&ctx, &order_id).await?)
}

async fn release(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Reservation> {
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
    ok(r)
}

async fn return_line(
    State(s): State<InventoryState>,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((order_id, sku)): Path<(String, String)>,
) -> ApiResult<Returned> {
    auth.require(Role::Admin)?;
    s.svc.return_line(&ctx, &order_id, &sku).await?;
    ok(Returned { returned: sku })
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
) -> ApiResult<Applied> {
    auth.require(Role::Admin)?;
    s.svc.picked(&ctx, &order_id, &b.short, &b.add).await?;
    ok(Applied {
        order_id,
        applied: true,
    })
}

/// What picking found is applied to the order's stock (once; a repeat changes nothing).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Applied {
    order_id: String,
    applied: bool,
}

/// A line's units back on the shelf.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Returned {
    /// The sku returned.
    returned: String,
}
