//! Cart service routes (port 8085): the shopper's cart per dark store, checkout pricing,
//! and sharing by link (read-only or collaborative).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::cart::service::CartView;
use nakku_core::cart::{CartService, ItemInput, QuantityInput, Quote, ShareInput};
use nakku_core::gateway::Access::{Public, Signed};
use nakku_core::inventory::Line;
use nakku_core::rules;
use nakku_core::service::Service;
use serde::Deserialize;

use crate::answer::{ok, ApiResult};
use crate::api::Api;
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx, SvcState};

type St = State<SvcState<CartService>>;

/// The cart service's endpoints.
pub fn api() -> Api<SvcState<CartService>> {
    const SHARED: &[(&str, &str)] = &[("token", "$response.body#/data/share/token")];
    Api::new(Service::Cart)
        .get("cart", "getCart", Signed, get_cart)
        .delete("cart", "clearCart", Signed, clear)
        .post("cart/items", "addCartItem", Signed, add_item)
        .patch("cart/items/{sku}", "updateCartItem", Signed, set_quantity)
        .delete("cart/items/{sku}", "removeCartItem", Signed, remove_item)
        .post("cart/lines", "addCartLines", Signed, add_lines)
        .get("cart/checkout", "getCheckoutQuote", Signed, checkout)
        .post("cart/share", "shareCart", Signed, share)
        .link("getSharedCart", SHARED)
        .link("copySharedCart", SHARED)
        .link("addSharedCartItem", SHARED)
        .delete("cart/share", "stopSharingCart", Signed, unshare)
        .get("cart/shared/{token}", "getSharedCart", Public, shared)
        .post("cart/shared/{token}/copy", "copySharedCart", Signed, copy)
        .post("cart/shared/{token}/items", "addSharedCartItem", Signed, shared_add)
        .patch(
            "cart/shared/{token}/items/{sku}",
            "updateSharedCartItem",
            Signed,
            shared_set,
        )
        .delete(
            "cart/shared/{token}/items/{sku}",
            "removeSharedCartItem",
            Signed,
            shared_remove,
        )
}

pub fn router(svc: Arc<CartService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct StoreQuery {
    #[param(schema_with = rules::store_code)]
    store: Option<String>,
}

/// `GET /cart/checkout`: the cart (default: the most recent) delivered to a saved address.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct CheckoutQuery {
    #[param(schema_with = rules::store_code)]
    store: Option<String>,
    #[param(value_type = String, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", required = true)]
    address_id: Option<String>,
}

async fn get_cart(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult<CartView> {
    ok(s.svc.get(&auth.0.sub, q.store.as_deref()).await?)
}

async fn clear(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult<CartView> {
    ok(s.svc.clear(&ctx, &auth.0.sub, q.store.as_deref()).await?)
}

async fn add_item(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppJson(b): AppJson<ItemInput>) -> ApiResult<CartView> {
    ok(s.svc.add_item(&ctx, &auth.0.sub, b).await?)
}

async fn set_quantity(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(sku): Path<String>,
    AppJson(b): AppJson<QuantityInput>,
) -> ApiResult<CartView> {
    ok(s.svc.set_quantity(&ctx, &auth.0.sub, &sku, b).await?)
}

async fn remove_item(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(sku): Path<String>,
    AppQuery(q): AppQuery<StoreQuery>,
) -> ApiResult<CartView> {
    ok(s.svc.remove_item(&ctx, &auth.0.sub, &sku, q.store.as_deref()).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct LinesInput {
    #[schema(schema_with = rules::store_code, required = true)]
    store: Option<String>,
    #[schema(value_type = Vec<Line>, min_items = 1, required = true)]
    lines: Option<Vec<Line>>,
}

/// Several lines at once (reorder from another process).
async fn add_lines(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppJson(b): AppJson<LinesInput>,
) -> ApiResult<CartView> {
    let store = b
        .store
        .ok_or_else(|| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "store", "is required"))?;
    let lines: Vec<(String, i64)> = b
        .lines
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect();
    ok(s.svc.add_many(&ctx, &auth.0.sub, &store, &lines).await?)
}

async fn checkout(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    AppQuery(q): AppQuery<CheckoutQuery>,
) -> ApiResult<Quote> {
    let address = q
        .address_id
        .ok_or_else(|| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "address_id", "is required"))?;
    ok(s.svc.checkout(&ctx, &auth.0.sub, q.store.as_deref(), &address).await?)
}

async fn share(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShareInput>) -> ApiResult<CartView> {
    ok(s.svc.share(&auth.0.sub, b).await?)
}

async fn unshare(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult<CartView> {
    ok(s.svc.unshare(&auth.0.sub, q.store.as_deref()).await?)
}

async fn shared(State(s): St, Path(token): Path<String>) -> ApiResult<CartView> {
    ok(s.svc.shared(&token).await?)
}

async fn copy(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(token): Path<String>) -> ApiResult<CartView> {
    ok(s.svc.copy_shared(&ctx, &auth.0.sub, &token).await?)
}

async fn shared_add(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(token): Path<String>,
    AppJson(b): AppJson<ItemInput>,
) -> ApiResult<CartView> {
    let sku = b.sku.unwrap_or_default();
    ok(s.svc
        .shared_change(&ctx, &auth.0.sub, &token, &sku, b.quantity, true)
        .await?)
}

async fn shared_set(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((token, sku)): Path<(String, String)>,
    AppJson(b): AppJson<QuantityInput>,
) -> ApiResult<CartView> {
    ok(s.svc
        .shared_change(&ctx, &auth.0.sub, &token, &sku, b.quantity, false)
        .await?)
}

async fn shared_remove(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((token, sku)): Path<(String, String)>,
) -> ApiResult<CartView> {
    ok(s.svc
        .shared_change(&ctx, &auth.0.sub, &token, &sku, Some(0), false)
        .await?)
}
