//! Delivery service routes (port 8087): the delivery partners' own endpoints (profile,
//! shift, location pings, their track, their deliveries in visiting order, the moves of a
//! delivery), the delivery as its shopper follows it, and the admins' list of partners.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::delivery::deliveries::ActionInput;
use nakku_core::delivery::fulfilment::{BinsInput, LineInput, PickerInput};
use nakku_core::delivery::partners::{PartnerQuery, PingInput, ProfileInput, ShiftInput};
use nakku_core::delivery::slots::{BookInput, CapacityInput, SlotQuery};
use nakku_core::delivery::DeliveryService;
use serde::Deserialize;

use crate::error::{ok, ApiResult};
use crate::extract::{AppJson, AppQuery, AuthUser, SvcState};

type St = State<SvcState<DeliveryService>>;

pub fn router(svc: Arc<DeliveryService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/deliveries/partners", get(list))
        .route("/api/v1/deliveries/partners/me", get(me).put(set_profile))
        .route("/api/v1/deliveries/partners/me/shift", post(shift))
        .route("/api/v1/deliveries/partners/me/location", post(ping))
        .route("/api/v1/deliveries/partners/me/track", get(track))
        .route("/api/v1/deliveries/partners/me/deliveries", get(mine))
        .route("/api/v1/deliveries/performance", get(performance))
        .route("/api/v1/deliveries/slots", get(slots))
        .route("/api/v1/deliveries/slots/bookings", post(book))
        .route(
            "/api/v1/deliveries/slots/bookings/{order_id}/release",
            post(release_slot),
        )
        .route("/api/v1/deliveries/stores/{store}/slots", put(set_capacity))
        .route("/api/v1/deliveries/stores/{store}/bins", put(set_bins))
        .route("/api/v1/deliveries/stores/{store}/load", get(load))
        .route("/api/v1/deliveries/pickers/me", get(picker_me))
        .route("/api/v1/deliveries/pickers/me/shift", post(picker_shift))
        .route("/api/v1/deliveries/pickers/me/picks", get(my_picks))
        .route("/api/v1/deliveries/pickers/{user_id}", put(register_picker))
        .route("/api/v1/deliveries/picks/{order_id}", get(pick_list))
        .route("/api/v1/deliveries/picks/{order_id}/lines/{sku}", post(record_line))
        .route("/api/v1/deliveries/picks/{order_id}/pack", post(pack))
        .route("/api/v1/deliveries/{order_id}", get(view))
        .route("/api/v1/deliveries/{order_id}/stream", get(stream))
        .route("/api/v1/deliveries/{order_id}/{action}", post(act))
        .with_state(SvcState { svc, jwt })
}

async fn me(State(s): St, auth: AuthUser) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(StatusCode::OK, s.svc.me(&auth.0.sub).await?))
}

async fn set_profile(State(s): St, auth: AuthUser, AppJson(b): AppJson<ProfileInput>) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(StatusCode::OK, s.svc.set_profile(&auth.0.sub, b).await?))
}

async fn shift(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShiftInput>) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(StatusCode::OK, s.svc.set_shift(&auth.0.sub, b).await?))
}

async fn ping(State(s): St, auth: AuthUser, AppJson(b): AppJson<PingInput>) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(StatusCode::OK, s.svc.ping(&auth.0.sub, b).await?))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct TrackQuery {
    limit: Option<i64>,
}

async fn track(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<TrackQuery>) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(
        StatusCode::OK,
        s.svc.track(&auth.0.sub, q.limit.unwrap_or(100)).await?,
    ))
}

async fn list(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<PartnerQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.list(&q).await?))
}

async fn mine(State(s): St, auth: AuthUser) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    Ok(ok(StatusCode::OK, s.svc.my_deliveries(&auth.0.sub).await?))
}

async fn view(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.view(&auth.0.sub, auth.is_staff(), &order_id).await?,
    ))
}

/// `reject`, `pickup`, `start`, `deliver` (`{"otp": "1234"}`) or `fail` (`{"reason": ...}`).
/// The body is optional for the moves that need nothing.
async fn act(
    State(s): St,
    auth: AuthUser,
    Path((order_id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult {
    auth.require(Role::DeliveryPartner)?;
    let input: ActionInput = if body.is_empty() {
        ActionInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    Ok(ok(
        StatusCode::OK,
        s.svc.act(&auth.0.sub, &order_id, &action, input).await?,
    ))
}

/// The store's delivery slots with room (`?store=`; admins may add `all=true`).
async fn slots(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<SlotQuery>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.slots(auth.is_staff(), q).await?))
}

/// Books a slot for an order (the order service, while placing it).
async fn book(State(s): St, auth: AuthUser, AppJson(b): AppJson<BookInput>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.book_input(b).await?))
}

async fn release_slot(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.release_slot(&order_id).await?))
}

/// A store's orders per slot (admins).
async fn set_capacity(
    State(s): St,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<CapacityInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.set_capacity(&store, b).await?))
}

/// Registers an account as a picker at a store (admins).
async fn register_picker(
    State(s): St,
    auth: AuthUser,
    Path(user_id): Path<String>,
    AppJson(b): AppJson<PickerInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.register_picker(&user_id, b).await?))
}

async fn picker_me(State(s): St, auth: AuthUser) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.picker(&auth.0.sub).await?))
}

async fn picker_shift(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShiftInput>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.picker_shift(&auth.0.sub, b.on).await?))
}

async fn my_picks(State(s): St, auth: AuthUser) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.my_picks(&auth.0.sub).await?))
}

/// Where skus sit in a store (admins): `{"bins": {"SKU": "A-01-2"}}`.
async fn set_bins(
    State(s): St,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<BinsInput>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.set_bins(&store, b).await?))
}

/// A store's load against its capacity (open, busy, paused).
async fn load(State(s): St, _auth: AuthUser, Path(store): Path<String>) -> ApiResult {
    Ok(ok(StatusCode::OK, s.svc.load(&store).await?))
}

async fn pick_list(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.pick_list(&auth.0.sub, auth.is_staff(), &order_id).await?,
    ))
}

/// What the picker found for a line: `{"picked": n, "substitute_sku"?: "..."}`.
async fn record_line(
    State(s): St,
    auth: AuthUser,
    Path((order_id, sku)): Path<(String, String)>,
    AppJson(b): AppJson<LineInput>,
) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc
            .record_line(&auth.0.sub, auth.is_staff(), &order_id, &sku, b)
            .await?,
    ))
}

async fn pack(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult {
    Ok(ok(
        StatusCode::OK,
        s.svc.pack(&auth.0.sub, auth.is_staff(), &order_id).await?,
    ))
}

/// Promise against actual per store (admins); `?from=&to=&store=` as the analytics reports.
async fn performance(
    State(s): St,
    auth: AuthUser,
    AppQuery(q): AppQuery<nakku_core::analytics::ReportQuery>,
) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.performance(&q).await?))
}

/// Server-sent events: the tracking view (`event: delivery`) whenever it changes (status,
/// partner, position, ETA), checked every second; ends after a final status. Proxied as a
/// stream by the gateway.
async fn stream(
    State(s): St,
    auth: AuthUser,
    Path(order_id): Path<String>,
) -> Result<
    axum::response::sse::Sse<
        impl futures_util::Stream<Item = Result<axum::response::sse::Event, std::convert::Infallible>>,
    >,
    crate::error::ApiError,
> {
    use axum::response::sse::{Event, KeepAlive, Sse};
    let staff = auth.is_staff();
    let user = auth.0.sub.clone();
    // Refused at once (404) for anyone who may not follow this delivery.
    let first = view_json(&s.svc, &user, staff, &order_id).await?;
    struct St8 {
        svc: Arc<DeliveryService>,
        user: String,
        staff: bool,
        order_id: String,
        next: Option<serde_json::Value>,
        last: Option<serde_json::Value>,
        done: bool,
    }
    let start = St8 {
        svc: s.svc.clone(),
        user,
        staff,
        order_id,
        next: Some(first),
        last: None,
        done: false,
    };
    let events = futures_util::stream::unfold(start, |mut st| async move {
        if st.done {
            return None;
        }
        loop {
            let view = match st.next.take() {
                Some(v) => Ok(v),
                None => {
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    view_json(&st.svc, &st.user, st.staff, &st.order_id).await
                }
            };
            let v = match view {
                Ok(v) => v,
                Err(e) => {
                    st.done = true;
                    let ev = Event::default().event("error").data(e.to_string());
                    return Some((Ok(ev), st));
                }
            };
            if st.last.as_ref() == Some(&v) {
                continue;
            }
            st.done = matches!(v["status"].as_str(), Some("delivered" | "failed" | "cancelled"));
            let ev = Event::default().event("delivery").data(v.to_string());
            st.last = Some(v);
            return Some((Ok(ev), st));
        }
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

/// The view as JSON, to compare one second's with the next.
async fn view_json(
    svc: &DeliveryService,
    user: &str,
    staff: bool,
    order_id: &str,
) -> Result<serde_json::Value, nakku_core::CoreError> {
    let v = svc.view(user, staff, order_id).await?;
    serde_json::to_value(v).map_err(|e| nakku_core::CoreError::Internal(e.into()))
}
