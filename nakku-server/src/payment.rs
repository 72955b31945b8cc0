//! Payment service routes (port 8086): a shopper's saved methods and payments; refunds
//! for staff; and the calls the order saga makes when it runs in another process (charge,
//! cancel, cash settlement), which need the admin role (service tokens carry it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::payment::{ChargeInput, MethodInput, PaymentService, RefundInput};
use serde::Deserialize;
use serde_json::json;

use crate::error::{ok, ApiResult};
use crate::extract::{AppJson, AuthUser, Ctx, SvcState};

type St = State<SvcState<PaymentService>>;

pub fn router(svc: Arc<PaymentService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/payments", get(list))
        .route("/api/v1/payments/methods", get(methods).post(add_method))
        .route("/api/v1/payments/methods/resolve", post(resolve))
        .route("/api/v1/payments/methods/{id}", get(method).delete(delete_method))
        .route("/api/v1/payments/charges", post(charge))
        .route("/api/v1/payments/orders/{order_id}", get(for_order))
        .route("/api/v1/payments/orders/{order_id}/refunds", get(refunds).post(refund))
        .route("/api/v1/payments/orders/{order_id}/cancel", post(cancel))
        .route("/api/v1/payments/orders/{order_id}/settle-cod", post(settle_cod))
        .with_state(SvcState { svc, jwt })
}

async fn list(State(s): St, auth: AuthUser) -> ApiResult {
    let items = s.svc.list(&auth.0.sub, 50).await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn methods(State(s): St, auth: AuthUser) -> ApiResult {
    let items = s.svc.methods(&auth.0.sub).await?;
    Ok(ok(StatusCode::OK, json!({"items": items, "next_cursor": null})))
}

async fn add_method(State(s): St, auth: AuthUser, AppJson(b): AppJson<MethodInput>) -> ApiResult {
    Ok(ok(StatusCode::CREATED, s.svc.add_method(&auth.0.sub, b).await?))
}

async fn method(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.method(&auth.0.sub, &id).await?))
}

async fn delete_method(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult {
    s.svc.delete_method(&auth.0.sub, &id).await?;
    Ok(ok(StatusCode::OK, json!({"deleted": true})))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ResolveInput {
    payment_method: Option<String>,
}

async fn resolve(State(s): St, auth: AuthUser, AppJson(b): AppJson<ResolveInput>) -> ApiResult {
    let raw = b.payment_method.unwrap_or_default();
    Ok(ok(StatusCode::OK, s.svc.resolve_method(&auth.0.sub, &raw).await?))
}

async fn charge(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppJson(b): AppJson<ChargeInput>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.charge(&ctx, b).await?))
}

async fn for_order(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    let p = s.svc.for_order(&order_id).await?;
    if p.user_id != auth.0.sub && !auth.is_staff() {
        return Err(nakku_core::CoreError::NotFound("payment".into()).into());
    }
    Ok(ok(StatusCode::OK, p))
}

async fn refunds(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    let p = s.svc.for_order(&order_id).await?;
    if p.user_id != auth.0.sub && !auth.is_staff() {
        return Err(nakku_core::CoreError::NotFound("payment".into()).into());
    }
    let items = s.svc.refunds(&order_id).await?;
    Ok(ok(
        StatusCode::OK,
        RefundList {
            payment: p,
            items,
            next_cursor: None,
        },
    ))
}

/// An order's payment and its refunds.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct RefundList {
    payment: nakku_core::payment::Payment,
    items: Vec<nakku_core::payment::Refund>,
    next_cursor: Option<String>,
}

async fn refund(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
    AppJson(b): AppJson<RefundInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.refund(&ctx, &order_id, b).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ReasonInput {
    reason: Option<String>,
}

async fn cancel(
    State(s): St,
    Ctx(ctx): Ctx,
    auth: AuthUser,
    Path(order_id): Path<String>,
    AppJson(b): AppJson<ReasonInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    let reason = b.reason.unwrap_or_else(|| "order cancelled".to_owned());
    Ok(ok(StatusCode::OK, s.svc.cancel(&ctx, &order_id, &reason).await?))
}

async fn settle_cod(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.settle_cod(&ctx, &order_id).await?))
}
