//! Delivery service routes (port 8087): the delivery partners' own endpoints (profile,
//! shift, location pings, their track, their deliveries in visiting order, the moves of a
//! delivery), the delivery as its shopper follows it, and the admins' list of partners.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::Router;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::delivery::capacity::StoreLoad;
use nakku_core::delivery::deliveries::{ActionInput, ActionResult, DeliveryView, InHand};
use nakku_core::delivery::fulfilment::{BinsInput, BinsSet, LineInput, PickList, Picker, PickerInput};
use nakku_core::delivery::partners::{Partner, PartnerQuery, Ping, PingInput, Position, ProfileInput, ShiftInput};
use nakku_core::delivery::performance::Performance;
use nakku_core::delivery::slots::{BookInput, CapacityInput, Released, SlotCapacity, SlotList, SlotQuery};
use nakku_core::delivery::DeliveryService;
use nakku_core::gateway::Access::{Admin, DeliveryPartner as Partners, Signed};
use nakku_core::ports::SlotBooking;
use nakku_core::service::Service;
use serde::Deserialize;

use crate::answer::{ok, ApiResult, Items};
use crate::api::Api;
use crate::extract::{AppJson, AppQuery, AuthUser, SvcState};
use crate::live::{Events, Feed, MaybeUpgrade, Socket};

type St = State<SvcState<DeliveryService>>;

/// The delivery service's endpoints.
pub fn api() -> Api<SvcState<DeliveryService>> {
    const ORDER: &[(&str, &str)] = &[("order_id", "$response.body#/data/order_id")];
    const PICKS: &[(&str, &str)] = &[("order_id", "$response.body#/data/order_id")];
    Api::new(Service::Delivery)
        .get("deliveries/partners", "listPartners", Admin, list)
        .get("deliveries/partners/me", "getMyPartnerProfile", Partners, me)
        .put("deliveries/partners/me", "setMyPartnerProfile", Partners, set_profile)
        .post("deliveries/partners/me/shift", "setMyShift", Partners, shift)
        .post("deliveries/partners/me/location", "reportMyLocation", Partners, ping)
        .get("deliveries/partners/me/track", "getMyRoute", Partners, track)
        .get("deliveries/partners/me/deliveries", "listMyDeliveries", Partners, mine)
        .get("deliveries/performance", "getDeliveryPerformance", Admin, performance)
        .get("deliveries/slots", "listSlots", Signed, slots)
        .post("deliveries/slots/bookings", "bookSlot", Admin, book)
        .link("releaseSlot", ORDER)
        .post(
            "deliveries/slots/bookings/{order_id}/release",
            "releaseSlot",
            Admin,
            release_slot,
        )
        .put("deliveries/stores/{store}/slots", "setStoreSlots", Admin, set_capacity)
        .put("deliveries/stores/{store}/bins", "setStoreBins", Admin, set_bins)
        .get("deliveries/stores/{store}/load", "getStoreLoad", Signed, load)
        .get("deliveries/pickers/me", "getMyPickerProfile", Signed, picker_me)
        .post("deliveries/pickers/me/shift", "setMyPickingShift", Signed, picker_shift)
        .get("deliveries/pickers/me/picks", "listMyPicks", Signed, my_picks)
        .put("deliveries/pickers/{user_id}", "setPicker", Admin, register_picker)
        .get("deliveries/picks/{order_id}", "getPickList", Signed, pick_list)
        .link("packOrder", PICKS)
        .post(
            "deliveries/picks/{order_id}/lines/{sku}",
            "recordPickedLine",
            Signed,
            record_line,
        )
        .post("deliveries/picks/{order_id}/pack", "packOrder", Signed, pack)
        .get("deliveries", "listDeliveries", Signed, by_orders)
        .get("deliveries/{order_id}", "trackDelivery", Signed, view)
        .get("deliveries/{order_id}/stream", "streamDelivery", Signed, stream)
        .get("deliveries/{order_id}/live", "liveDelivery", Signed, live)
        .post("deliveries/{order_id}/{action}", "advanceDelivery", Partners, act)
        .body::<ActionInput>()
}

pub fn router(svc: Arc<DeliveryService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

async fn me(State(s): St, auth: AuthUser) -> ApiResult<Partner> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.me(&auth.0.sub).await?)
}

async fn set_profile(State(s): St, auth: AuthUser, AppJson(b): AppJson<ProfileInput>) -> ApiResult<Partner> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.set_profile(&auth.0.sub, b).await?)
}

async fn shift(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShiftInput>) -> ApiResult<Partner> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.set_shift(&auth.0.sub, b).await?)
}

async fn ping(State(s): St, auth: AuthUser, AppJson(b): AppJson<PingInput>) -> ApiResult<Ping> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.ping(&auth.0.sub, b).await?)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct TrackQuery {
    limit: Option<i64>,
}

async fn track(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<TrackQuery>) -> ApiResult<Items<Position>> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.track(&auth.0.sub, q.limit.unwrap_or(100)).await?)
}

async fn list(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<PartnerQuery>) -> ApiResult<Items<Partner>> {
    auth.require(Role::Admin)?;
    ok(s.svc.list(&q).await?)
}

async fn mine(State(s): St, auth: AuthUser) -> ApiResult<InHand> {
    auth.require(Role::DeliveryPartner)?;
    ok(s.svc.my_deliveries(&auth.0.sub).await?)
}

async fn view(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<DeliveryView> {
    ok(s.svc.view(&auth.0.sub, auth.is_staff(), &order_id).await?)
}

/// `?order_ids=`: orders whose deliveries to show.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub(crate) struct ByOrders {
    /// Order ids, comma-separated (1 to 100).
    #[param(min_length = 1, pattern = r"^[^,\s]+(,[^,\s]+){0,99}$")]
    order_ids: String,
}

/// The most orders one `GET /deliveries?order_ids=` asks about.
const MAX_ORDERS: usize = 100;

/// The deliveries of several orders at once, as `trackDelivery` shows each (the caller's
/// own, a partner's, any for staff; an order with none yet, or not the caller's, is left
/// out): what a page of orders shows its deliveries with, in two statements.
async fn by_orders(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ByOrders>) -> ApiResult<Items<DeliveryView>> {
    let ids: Vec<String> = q
        .order_ids
        .split(',')
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map(str::to_owned)
        .collect();
    if ids.is_empty() || ids.len() > MAX_ORDERS {
        return Err(crate::error::ApiError::field(
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            "order_ids",
            format!("give 1 to {MAX_ORDERS} order ids, comma-separated"),
        ));
    }
    ok(Items::new(s.svc.views(&auth.0.sub, auth.is_staff(), &ids).await?))
}

/// `reject`, `pickup`, `start`, `deliver` (`{"otp": "1234"}`) or `fail` (`{"reason": ...}`).
/// The body is optional for the moves that need nothing.
async fn act(
    State(s): St,
    auth: AuthUser,
    Path((order_id, action)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<ActionResult> {
    auth.require(Role::DeliveryPartner)?;
    let input: ActionInput = if body.is_empty() {
        ActionInput::default()
    } else {
        crate::extract::parse_json(&body)?
    };
    ok(s.svc.act(&auth.0.sub, &order_id, &action, input).await?)
}

/// The store's delivery slots with room (`?store=`; admins may add `all=true`).
async fn slots(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<SlotQuery>) -> ApiResult<SlotList> {
    ok(s.svc.slots(auth.is_staff(), q).await?)
}

/// Books a slot for an order (the order service, while placing it).
async fn book(State(s): St, auth: AuthUser, AppJson(b): AppJson<BookInput>) -> ApiResult<SlotBooking> {
    auth.require(Role::Admin)?;
    ok(s.svc.book_input(b).await?)
}

async fn release_slot(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<Released> {
    auth.require(Role::Admin)?;
    ok(s.svc.release_slot(&order_id).await?)
}

/// A store's orders per slot (admins).
async fn set_capacity(
    State(s): St,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<CapacityInput>,
) -> ApiResult<SlotCapacity> {
    auth.require(Role::Admin)?;
    ok(s.svc.set_capacity(&store, b).await?)
}

/// Registers an account as a picker at a store (admins).
async fn register_picker(
    State(s): St,
    auth: AuthUser,
    Path(user_id): Path<String>,
    AppJson(b): AppJson<PickerInput>,
) -> ApiResult<Picker> {
    auth.require(Role::Admin)?;
    ok(s.svc.register_picker(&user_id, b).await?)
}

async fn picker_me(State(s): St, auth: AuthUser) -> ApiResult<Picker> {
    ok(s.svc.picker(&auth.0.sub).await?)
}

async fn picker_shift(State(s): St, auth: AuthUser, AppJson(b): AppJson<ShiftInput>) -> ApiResult<Picker> {
    ok(s.svc.picker_shift(&auth.0.sub, b.on).await?)
}

async fn my_picks(State(s): St, auth: AuthUser) -> ApiResult<Items<PickList>> {
    ok(s.svc.my_picks(&auth.0.sub).await?)
}

/// Where skus sit in a store (admins): `{"bins": {"SKU": "A-01-2"}}`.
async fn set_bins(
    State(s): St,
    auth: AuthUser,
    Path(store): Path<String>,
    AppJson(b): AppJson<BinsInput>,
) -> ApiResult<BinsSet> {
    auth.require(Role::Admin)?;
    ok(s.svc.set_bins(&store, b).await?)
}

/// A store's load against its capacity (open, busy, paused).
async fn load(State(s): St, _auth: AuthUser, Path(store): Path<String>) -> ApiResult<StoreLoad> {
    ok(s.svc.load(&store).await?)
}

async fn pick_list(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<PickList> {
    ok(s.svc.pick_list(&auth.0.sub, auth.is_staff(), &order_id).await?)
}

/// What the picker found for a line: `{"picked": n, "substitute_sku"?: "..."}`.
async fn record_line(
    State(s): St,
    auth: AuthUser,
    Path((order_id, sku)): Path<(String, String)>,
    AppJson(b): AppJson<LineInput>,
) -> ApiResult<PickList> {
    ok(s.svc
        .record_line(&auth.0.sub, auth.is_staff(), &order_id, &sku, b)
        .await?)
}

async fn pack(State(s): St, auth: AuthUser, Path(order_id): Path<String>) -> ApiResult<PickList> {
    ok(s.svc.pack(&auth.0.sub, auth.is_staff(), &order_id).await?)
}

/// Promise against actual per store (admins); `?from=&to=&store=` as the analytics reports.
async fn performance(
    State(s): St,
    auth: AuthUser,
    AppQuery(q): AppQuery<nakku_core::analytics::ReportQuery>,
) -> ApiResult<Performance> {
    auth.require(Role::Admin)?;
    ok(s.svc.performance(&q).await?)
}

/// Server-sent events: the tracking view (`event: delivery`) whenever it changes (status,
/// partner, position, ETA), until a final status (see [`crate::live`]). Proxied as a
/// stream by the gateway.
async fn stream(
    State(s): St,
    auth: AuthUser,
    Path(order_id): Path<String>,
) -> Result<Events<DeliveryView>, crate::error::ApiError> {
    Ok(Events::new(feed(&s.svc, &auth, order_id).await?))
}

/// The same views over a WebSocket (for clients without GraphQL; the gateway proxies the
/// upgrade).
async fn live(
    State(s): St,
    auth: AuthUser,
    Path(order_id): Path<String>,
    ws: MaybeUpgrade,
) -> Result<Socket<DeliveryView>, crate::error::ApiError> {
    Socket::new(ws, feed(&s.svc, &auth, order_id).await?)
}

/// The delivery of `order_id` followed for its caller: refused at once (404) for anyone
/// who may not follow it.
async fn feed(svc: &Arc<DeliveryService>, auth: &AuthUser, order_id: String) -> Result<Feed, crate::error::ApiError> {
    let (svc, user, staff) = (svc.clone(), auth.0.sub.clone(), auth.is_staff());
    let read: crate::live::Read = Arc::new(move || {
        let (svc, user, order_id) = (svc.clone(), user.clone(), order_id.clone());
        Box::pin(async move { view_json(&svc, &user, staff, &order_id).await })
    });
    let ended = |v: &serde_json::Value| matches!(v["status"].as_str(), Some("delivered" | "failed" | "cancelled"));
    Feed::open("delivery", &auth.0, ended, read).await
}

/// The view as JSON, to compare one second's with the next.
async fn view_json(
    svc: &DeliveryService,
    user: &str,
    staff: bool,
    order_id: &str,
) -> Result<serde_json::Value, nakku_core::CoreError> {
    let v = svc.follow(user, staff, order_id).await?;
    serde_json::to_value(v).map_err(|e| nakku_core::CoreError::Internal(e.into()))
}
