//! Order service routes (port 8084): placing with an `Idempotency-Key`, history, the full
//! order with its saga state and timeline, cancellation, line removal, reorder, and the
//! status moves of staff and delivery partners.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::cart::service::CartView;
use nakku_core::gateway::Access::{Signed, Staff};
use nakku_core::order::{CancelInput, ListQuery, OrderPage, OrderService, OrderView, PlaceInput, StatusInput};
use nakku_core::service::Service;

use crate::answer::{ok, Answer, ApiResult};
use crate::api::{Api, IDEMPOTENCY_KEY};
use crate::error::ApiError;
use crate::extract::{AppJson, AppQuery, AuthUser, Ctx, SvcState};
use crate::live::{Events, Feed, MaybeUpgrade, Socket};

type St = State<SvcState<OrderService>>;

/// The order service's endpoints.
pub fn api() -> Api<SvcState<OrderService>> {
    const ORDER: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    const ORDER_ID: &[(&str, &str)] = &[("order_id", "$response.body#/data/id")];
    Api::new(Service::Order)
        .get("orders", "listOrders", Signed, list)
        .post("orders", "placeOrder", Signed, place)
        .header(IDEMPOTENCY_KEY)
        .replays()
        .link("getOrder", ORDER)
        .link("cancelOrder", ORDER)
        .link("reorder", ORDER)
        .link("trackDelivery", ORDER_ID)
        .link("getOrderPayment", ORDER_ID)
        .get("orders/{id}", "getOrder", Signed, get_order)
        .get("orders/{id}/stream", "streamOrder", Signed, stream)
        .get("orders/{id}/live", "liveOrder", Signed, live)
        .post("orders/{id}/cancel", "cancelOrder", Signed, cancel)
        .body::<CancelInput>()
        .delete("orders/{id}/lines/{sku}", "removeOrderLine", Signed, remove_line)
        .post("orders/{id}/reorder", "reorder", Signed, reorder)
        .post("orders/{id}/status", "moveOrder", Staff, set_status)
}

pub fn router(svc: Arc<OrderService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

async fn place(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    headers: HeaderMap,
    AppJson(b): AppJson<PlaceInput>,
) -> ApiResult<OrderView> {
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok());
    let (order, replayed) = s.svc.place(&ctx, &auth.0.sub, key, b).await?;
    if replayed {
        return Ok(Answer::new(StatusCode::OK, order).header(
            HeaderName::from_static("idempotent-replayed"),
            HeaderValue::from_static("true"),
        ));
    }
    Ok(Answer::new(StatusCode::CREATED, order))
}

async fn list(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ListQuery>) -> ApiResult<OrderPage> {
    ok(s.svc.list(&auth.0.sub, auth.is_staff(), q).await?)
}

async fn get_order(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult<OrderView> {
    ok(s.svc.get(&auth.0.sub, auth.is_staff(), &id).await?)
}

/// Server-sent events: the order (`event: order`) whenever it changes (status, timeline,
/// ETA, refunds), until delivered, cancelled or failed (see [`crate::live`]).
async fn stream(State(s): St, auth: AuthUser, Path(id): Path<String>) -> Result<Events<OrderView>, ApiError> {
    Ok(Events::new(feed(&s.svc, &auth, id).await?))
}

/// The same views over a WebSocket (the gateway proxies the upgrade).
async fn live(
    State(s): St,
    auth: AuthUser,
    Path(id): Path<String>,
    ws: MaybeUpgrade,
) -> Result<Socket<OrderView>, ApiError> {
    Socket::new(ws, feed(&s.svc, &auth, id).await?)
}

/// The order `id` followed for its caller: refused at once (404) for anyone who may not
/// see it.
async fn feed(svc: &Arc<OrderService>, auth: &AuthUser, id: String) -> Result<Feed, ApiError> {
    let (svc, user, staff) = (svc.clone(), auth.0.sub.clone(), auth.is_staff());
    let read: crate::live::Read = Arc::new(move || {
        let (svc, user, id) = (svc.clone(), user.clone(), id.clone());
        Box::pin(async move {
            let o = svc.follow(&user, staff, &id).await?;
            serde_json::to_value(o).map_err(|e| nakku_core::CoreError::Internal(e.into()))
        })
    });
    let ended = |v: &serde_json::Value| matches!(v["status"].as_str(), Some("delivered" | "cancelled" | "failed"));
    Feed::open("order", &auth.0, ended, read).await
}

/// The body (`{"reason": ...}`) is optional.
async fn cancel(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<OrderView> {
    let input: CancelInput = if body.iter().all(u8::is_ascii_whitespace) {
        CancelInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    ok(s.svc.cancel(&ctx, &auth.0.sub, auth.is_staff(), &id, input).await?)
}

async fn remove_line(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path((id, sku)): Path<(String, String)>,
) -> ApiResult<OrderView> {
    ok(s.svc.remove_line(&ctx, &auth.0.sub, auth.is_staff(), &id, &sku).await?)
}

async fn reorder(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Reordered> {
    ok(Reordered(s.svc.reorder(&ctx, &auth.0.sub, &id).await?))
}

/// The shopper's cart after a reorder, as the cart service answered it (in this process
/// or over HTTP).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = CartView)]
pub struct Reordered(serde_json::Value);

async fn set_status(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(id): Path<String>,
    AppJson(b): AppJson<StatusInput>,
) -> ApiResult<OrderView> {
    if auth.0.role != Role::Admin && auth.0.role != Role::DeliveryPartner {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin or delivery_partner role required",
        ));
    }
    let actor = format!("{}:{}", auth.0.role.as_str(), auth.0.sub);
    ok(s.svc.set_status(&ctx, &actor, &id, b).await?)
}
