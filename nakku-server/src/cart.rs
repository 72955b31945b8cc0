//! Cart service routes (port 8085): the shopper's cart per dark store, checkout pricing,
//! and sharing by link (read-only or collaborative).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use axum::Router;
use nakku_core::auth::JwtKeys;
use nakku_core::cart::{CartService, ItemInput, QuantityInput, ShareInput};
use nakku_core::inventory::Line;
use serde::Deserialize;

use crate::error::{ok, ApiError, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx, SvcState};

type St = State<SvcState<CartService>>;

pub fn router(svc: Arc<CartService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/cart", get(get_cart).delete(clear))
        .route("/api/v1/cart/items", post(add_item))
        .route("/api/v1/cart/items/{sku}", patch(set_quantity).delete(remove_item))
        .route("/api/v1/cart/lines", post(add_lines))
        .route("/api/v1/cart/checkout", get(checkout))
        .route("/api/v1/cart/share", post(share).delete(unshare))
        .route("/api/v1/cart/shared/{token}", get(shared))
        .route("/api/v1/cart/shared/{token}/copy", post(copy))
        .route("/api/v1/cart/shared/{token}/items", post(shared_add))
        .route(
            "/api/v1/cart/shared/{token}/items/{sku}",
            patch(shared_set).delete(shared_remove),
        )
        .with_state(SvcState { svc, jwt })
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct StoreQuery {
    store: Option<String>,
    address_id: Option<String>,
}

async fn get_cart(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.get(&auth.0.sub, q.store.as_deref()).await?))
}

async fn clear(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.clear(&ctx, &auth.0.sub, q.store.as_deref()).await?,
    ))
}

async fn add_item(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppJson(b): AppJson<ItemInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.add_item(&ctx, &auth.0.sub, b).await?))
}

async fn set_quantity(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(sku): Path<String>,
    AppJson(b): AppJson<QuantityInput>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.set_quantity(&ctx, &auth.0.sub, &sku, b).await?,
    ))
}

async fn remove_item(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(sku): Path<String>,
    AppQuery(q): AppQuery<StoreQuery>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.remove_item(&ctx, &auth.0.sub, &sku, q.store.as_deref()).await?,
    ))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct LinesInput {
    store: Option<String>,
    lines: Option<Vec<Line>>,
}

/// Several lines at once (reorder from another process).
async fn add_lines(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppJson(b): AppJson<LinesInput>) -> ApiResult {
    let store = b
        .store
        .ok_or_else(|| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "store", "is required"))?;
    let lines: Vec<(String, i64)> = b
        .lines
        .unwrap_or_default()
        .into_iter()
        .map(|l| (l.sku, l.quantity))
        .collect();
    Ok(ok(
        StatusCode::OK,
        s.svc.add_many(&ctx, &auth.0.sub, &store, &lines).await?,
    ))
}

async fn checkout(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult {
    let address = q
        .address_id
        .ok_or_else(|| ApiError::field(StatusCode::UNPROCESSABLE_ENTITY, "address_id", "is required"))?;
    Ok(ok(
        StatusCode::OK,
        s.svc.checkout(&ctx, &auth.0.sub, q.store.as_deref(), &address).await?,
    ))
}

async fn share(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShareInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.share(&auth.0.sub, b).await?))
}

async fn unshare(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<StoreQuery>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.unshare(&auth.0.sub, q.store.as_deref()).await?,
    ))
}

async fn shared(State(s): St, Path(token): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.shared(&token).await?))
}

async fn copy(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(token): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.copy_shared(&ctx, &auth.0.sub, &token).await?))
}

async fn shared_add(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(token): Path<String>,
    AppJson(b): AppJson<ItemInput>,
) -> ApiResult {
    let sku = b.sku.unwrap_or_default();
    Ok(ok(
        StatusCode::OK,
        s.svc
            .shared_change(&ctx, &auth.0.sub, &token, &sku, b.quantity, true)
            .await?,
    ))
}

async fn shared_set(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((token, sku)): Path<(String, String)>,
    AppJson(b): AppJson<QuantityInput>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc
            .shared_change(&ctx, &auth.0.sub, &token, &sku, b.quantity, false)
            .await?,
    ))
}

async fn shared_remove(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((token, sku)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc
            .shared_change(&ctx, &auth.0.sub, &token, &sku, Some(0), false)
            .await?,
    ))
}
