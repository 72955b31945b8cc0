//! Order service routes (port 8084): placing with an `Idempotency-Key`, history, the full
//! order with its saga state and timeline, cancellation, line removal, reorder, and the
//! status moves of staff and delivery partners.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{delete, get, post};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::order::{CancelInput, ListQuery, OrderService, PlaceInput, StatusInput};

use crate::error::{ok, ApiError, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx, SvcState};

type St = State<SvcState<OrderService>>;

pub fn router(svc: Arc<OrderService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/orders", get(list).post(place))
        .route("/api/v1/orders/{id}", get(get_order))
        .route("/api/v1/orders/{id}/cancel", post(cancel))
        .route("/api/v1/orders/{id}/lines/{sku}", delete(remove_line))
        .route("/api/v1/orders/{id}/reorder", post(reorder))
        .route("/api/v1/orders/{id}/status", post(set_status))
        .with_state(SvcState { svc, jwt })
}

async fn place(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    headers: HeaderMap,
    AppJson(b): AppJson<PlaceInput>,
) -> ApiResult {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (order, replayed) = s.svc.place(&ctx, &auth.0.sub, key, b).await?;
    let mut res = ok(if replayed { StatusCode::OK } else { StatusCode::CREATED }, order);
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(res)
}

async fn list(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ListQuery>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.list(&auth.0.sub, auth.is_staff(), q).await?))
}

async fn get_order(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.get(&auth.0.sub, auth.is_staff(), &id).await?))
}

/// The body (`{"reason": ...}`) is optional.
async fn cancel(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult {
    let input: CancelInput = if body.iter().all(u8::is_ascii_whitespace) {
        CancelInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    Ok(ok(
        StatusCode::OK,
        s.svc.cancel(&ctx, &auth.0.sub, auth.is_staff(), &id, input).await?,
    ))
}

async fn remove_line(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((id, sku)): Path<(String, String)>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.remove_line(&ctx, &auth.0.sub, auth.is_staff(), &id, &sku).await?,
    ))
}

async fn reorder(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.reorder(&ctx, &auth.0.sub, &id).await?))
}

async fn set_status(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
    AppJson(b): AppJson<StatusInput>,
) -> ApiResult {
    if auth.0.role != Role::Admin && auth.0.role != Role::DeliveryPartner {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin or delivery_partner role required",
        ));
    }
    let actor = format!("{}:{}", auth.0.role.as_str(), auth.0.sub);
    Ok(ok(StatusCode::OK, s.svc.set_status(&ctx, &actor, &id, b).await?))
}
