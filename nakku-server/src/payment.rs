//! Payment service routes (port 8086): a shopper's saved methods and payments; refunds
//! for staff; and the calls the order saga makes when it runs in another process (charge,
//! cancel, cash settlement), which need the admin role (service tokens carry it).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::gateway::Access::{Admin, Signed};
use nakku_core::payment::{ChargeInput, MethodInput, MethodRef, Payment, PaymentMethod, PaymentService, RefundInput};
use nakku_core::service::Service;
use serde::Deserialize;

use crate::answer::{created, ok, ApiResult, Deleted, Page, DELETED};
use crate::api::Api;
use crate::extract::{AppJson, AuthUser, Ctx, SvcState};

type St = State<SvcState<PaymentService>>;

/// The payment service's endpoints.
pub fn api() -> Api<SvcState<PaymentService>> {
    const METHOD: &[(&str, &str)] = &[("id", "$response.body#/data/id")];
    const ORDER: &[(&str, &str)] = &[("order_id", "$response.body#/data/order_id")];
    Api::new(Service::Payment)
        .get("payments", "listPayments", Signed, list)
        .get("payments/methods", "listPaymentMethods", Signed, methods)
        .post("payments/methods", "savePaymentMethod", Signed, add_method)
        .link("getPaymentMethod", METHOD)
        .link("deletePaymentMethod", METHOD)
        .post("payments/methods/resolve", "resolvePaymentMethod", Signed, resolve)
        .get("payments/methods/{id}", "getPaymentMethod", Signed, method)
        .delete("payments/methods/{id}", "deletePaymentMethod", Signed, delete_method)
        .post("payments/charges", "createCharge", Admin, charge)
        .link("getOrderPayment", ORDER)
        .link("listRefunds", ORDER)
        .link("refundOrder", ORDER)
        .get("payments/orders/{order_id}", "getOrderPayment", Signed, for_order)
        .get("payments/orders/{order_id}/refunds", "listRefunds", Signed, refunds)
        .post("payments/orders/{order_id}/refunds", "refundOrder", Admin, refund)
        .post("payments/orders/{order_id}/cancel", "cancelPayment", Admin, cancel)
        .post(
            "payments/orders/{order_id}/settle-cod",
            "settleCashOnDelivery",
            Admin,
            settle_cod,
        )
}

pub fn router(svc: Arc<PaymentService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

async fn list(State(s): St, auth: AuthUser) -> ApiResult<Page<Payment>> {
    ok(Page::all(s.svc.list(&auth.0.sub, 50).await?))
}

async fn methods(State(s): St, auth: AuthUser) -> ApiResult<Page<PaymentMethod>> {
    ok(Page::all(s.svc.methods(&auth.0.sub).await?))
}

async fn add_method(State(s): St, auth: AuthUser, AppJson(b): AppJson<MethodInput>) -> ApiResult<PaymentMethod> {
    created(s.svc.add_method(&auth.0.sub, b).await?)
}

async fn method(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult<PaymentMethod> {
    ok(s.svc.method(&auth.0.sub, &id).await?)
}

async fn delete_method(State(s): St, auth: AuthUser, Path(id): Path<String>) -> ApiResult<Deleted> {
    s.svc.delete_method(&auth.0.sub, &id).await?;
    ok(DELETED)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub(crate) struct ResolveInput {
    #[schema(schema_with = nakku_core::payment::choice_schema, required = true)]
    payment_method: Option<String>,
}

async fn resolve(State(s): St, auth: AuthUser, AppJson(b): AppJson<ResolveInput>) -> ApiResult<MethodRef> {
    let raw = b.payment_method.unwrap_or_default();
    ok(s.svc.resolve_method(&auth.0.sub, &raw).await?)
}

async fn charge(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, AppJson(b): AppJson<ChargeInput>) -> ApiResult<Payment> {
    auth.require(Role::Admin)?;
    ok(s.svc.charge(&ctx, b).await?)
}

async fn for_order(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<Payment> {
    let p = s.svc.for_order(&order_id).await?;
    if p.user_id != auth.0.sub && !auth.is_staff() {
        return Err(nakku_core::CoreError::NotFound("payment".into()).into());
    }
    ok(p)
}

async fn refunds(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<RefundList> {
    let p = s.svc.for_order(&order_id).await?;
    if p.user_id != auth.0.sub && !auth.is_staff() {
        return Err(nakku_core::CoreError::NotFound("payment".into()).into());
    }
    let items = s.svc.refunds(&order_id).await?;
    ok(RefundList {
        payment: p,
        items,
        next_cursor: None,
    })
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
) -> ApiResult<Payment> {
    auth.require(Role::Admin)?;
    ok(s.svc.refund(&ctx, &order_id, b).await?)
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
) -> ApiResult<Payment> {
    auth.require(Role::Admin)?;
    let reason = b.reason.unwrap_or_else(|| "order cancelled".to_owned());
    ok(s.svc.cancel(&ctx, &order_id, &reason).await?)
}

async fn settle_cod(State(s): St, Ctx(ctx): Ctx, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<Payment> {
    auth.require(Role::Admin)?;
    ok(s.svc.settle_cod(&ctx, &order_id).await?)
}
