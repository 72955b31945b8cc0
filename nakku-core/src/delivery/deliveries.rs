//! Deliveries: one per order, created from `order.created` (the door) and released for
//! assignment by `order.updated` → confirmed; assigned to the best available partner of the
//! store; then picked up, out for delivery (`delivery.started`), and delivered with the
//! shopper's one-time code (`delivery.completed`) or failed (`delivery.failed`). The order
//! and payment services follow those events.
//!
//! Assignment ([`DeliveryService::assign_due`], run by every instance twice a second):
//! among partners of the order's store on shift with a fresh position who have not turned
//! this one down, first one whose batch is still at the store, has room, was started within
//! the batch window and has a door near this one (going the same way: one trip, the doors
//! in [`super::route`] order); else the free partner nearest to the store. A partner who
//! ends the shift, or goes silent past the offline limit, gives back what is assigned but
//! not yet picked up, and it is assigned again.

use rand::Rng;
use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use super::events::{DeliveryCompleted, DeliveryFailed, DeliveryScheduled, DeliveryStarted, DeliveryState};
pub use super::events::{Legs, Promise};
use super::partners::DeliveryService;
use crate::db::{opt_text, text};
use crate::distance::haversine_km;
use crate::error::CoreError;
use crate::events::{outbox, Envelope, Event};
use crate::id::{ms_to_rfc3339, now_ms};
use crate::service::Service;

#[path = "actions.rs"]
mod actions;
#[path = "assignment.rs"]
mod assignment;

/// Wrong codes allowed before the delivery locks (support takes over).
pub const MAX_OTP_ATTEMPTS: i64 = 5;

/// A partner this close to the store or the door has arrived (metres).
pub const GEOFENCE_M: f64 = 100.0;

/// Statuses of a delivery in a partner's hands.
const IN_HAND: &str = in_hand_sql!();

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ActionInput {
    pub otp: Option<String>,
    pub reason: Option<String>,
}

const COLS: &str = "order_id, user_id, store, drop_lat, drop_lng, payment_kind, total_paise, status, partner_id, otp, otp_attempts, \
                    failure_reason, promised_minutes, promised_by, breached, confirmed_at, assigned_at, arrived_store_at, picked_up_at, \
                    started_at, arrived_door_at, delivered_at, failed_at, created_at, updated_at, slot_start, slot_end";

/// The actions a partner takes on a delivery (`POST /deliveries/{order_id}/{action}`).
pub const ACTIONS: [&str; 5] = ["reject", "pickup", "start", "deliver", "fail"];

/// A partner's action on a delivery in `status`: the status it moves to and the column that
/// records when. Unknown actions are not found; an action the status does not allow is a
/// conflict naming both.
pub(super) fn action_move(status: &str, action: &str) -> Result<(&'static str, &'static str), CoreError> {
    use super::DeliveryStatus::*;
    let (from, to, time_col): (&[super::DeliveryStatus], _, &str) = match action {
        "reject" => (&[Assigned, AtStore], Unassigned, "updated_at"),
        "pickup" => (&[Assigned, AtStore], PickedUp, "picked_up_at"),
        "start" => (&[PickedUp], OutForDelivery, "started_at"),
        "deliver" => (&[OutForDelivery, AtDoor], Delivered, "delivered_at"),
        "fail" => (&[PickedUp, OutForDelivery, AtDoor], Failed, "failed_at"),
        _ => return Err(CoreError::NotFound("action".into())),
    };
    // An action moves from some of the statuses the table lets reach its target, never others.
    match super::DeliveryStatus::parse(status) {
        Some(s) if from.contains(&s) && s.can_become(to) => Ok((to.as_str(), time_col)),
        _ => Err(CoreError::conflict(
            "status",
            format!("a delivery that is {} cannot be {action}ed", status.replace('_', " ")),
        )),
    }
}

/// The shopper's code at the door, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum CodeCheck {
    /// [`MAX_OTP_ATTEMPTS`] wrong codes already: support completes the delivery.
    Locked,
    Missing,
    /// Wrong: counted, with this many tries left.
    Wrong {
        tries_left: i64,
    },
    Right,
}

impl CodeCheck {
    /// `given` against the delivery's code after `attempts` wrong ones.
    pub(super) fn of(attempts: i64, expected: Option<&str>, given: Option<&str>) -> CodeCheck {
        if attempts >= MAX_OTP_ATTEMPTS {
            return CodeCheck::Locked;
        }
        let given = given.map(str::trim).unwrap_or_default();
        if given.is_empty() {
            CodeCheck::Missing
        } else if Some(given) == expected {
            CodeCheck::Right
        } else {
            CodeCheck::Wrong {
                tries_left: MAX_OTP_ATTEMPTS - attempts - 1,
            }
        }
    }
}

/// Whether a partner can no longer be counted on: off shift, never sent a position, or
/// silent longer than `offline_after_ms`. Such a partner's deliveries not yet picked up go
/// back in the pool, and they are offered nothing new.
pub(super) fn partner_gone(on_shift: bool, position_at: Option<i64>, now: i64, offline_after_ms: i64) -> bool {
    !on_shift || position_at.is_none_or(|t| now - t > offline_after_ms)
}

/// Minutes between two optional times, to a tenth.
pub(super) fn minutes_between(a: Option<i64>, b: Option<i64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(((b - a) as f64 / 6_000.0).round() / 10.0),
        _ => None,
    }
}

/// The promise and each leg of a delivery, in minutes: confirmed → assigned (finding a
/// rider), → picked up (the rider reaching the store and the handover), → out for delivery,
/// → delivered (the ride), and the whole.
fn legs(r: &AnyRow) -> Result<Promise, sqlx::Error> {
    let t = |c: &str| r.try_get::<Option<i64>, _>(c);
    let (confirmed, assigned, picked, started, delivered) = (
        t("confirmed_at")?,
        t("assigned_at")?,
        t("picked_up_at")?,
        t("started_at")?,
        t("delivered_at")?,
    );
    let breached: Option<i64> = r.try_get("breached")?;
    Ok(Promise {
        promised_minutes: r.try_get("promised_minutes")?,
        promised_by: t("promised_by")?.map(ms_to_rfc3339),
        actual_minutes: minutes_between(confirmed, delivered),
        breached: breached.map(|b| b != 0),
        legs: Legs {
            assign: minutes_between(confirmed, assigned),
            pickup: minutes_between(assigned, picked),
            depart: minutes_between(picked, started),
            ride: minutes_between(started, delivered),
        },
    })
}

/// A delivery as its shopper, partner or an admin sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DeliveryView {
    pub order_id: String,
    pub store: String,
    /// `unassigned`, `assigned`, `at_store`, `picked_up`, `out_for_delivery`, `at_door`,
    /// `delivered`, `failed` or `cancelled`.
    pub status: String,
    pub partner: Option<PartnerRef>,
    /// Minutes to the door from where the partner is (while in hand).
    pub eta_minutes: Option<i64>,
    /// The code the shopper gives the partner at the door (the shopper only, until done).
    pub otp: Option<String>,
    pub failure_reason: Option<String>,
    pub slot: Option<crate::order::events::SlotWindow>,
    pub promise: Promise,
    pub times: Times,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PartnerRef {
    pub user_id: String,
    pub name: String,
    pub vehicle: String,
    pub position: Option<super::partners::Position>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Times {
    #[schema(format = DateTime)]
    pub confirmed_at: Option<String>,
    #[schema(format = DateTime)]
    pub assigned_at: Option<String>,
    #[schema(format = DateTime)]
    pub arrived_store_at: Option<String>,
    #[schema(format = DateTime)]
    pub picked_up_at: Option<String>,
    #[schema(format = DateTime)]
    pub started_at: Option<String>,
    #[schema(format = DateTime)]
    pub arrived_door_at: Option<String>,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    #[schema(format = DateTime)]
    pub failed_at: Option<String>,
}

/// A partner's deliveries in hand and the route through their doors.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InHand {
    pub items: Vec<InHandItem>,
    /// None until the partner has sent a position.
    pub route: Option<RouteView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InHandItem {
    pub order_id: String,
    pub status: String,
    pub store: String,
    pub drop: Point,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Point {
    pub lat: f64,
    pub lng: f64,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteView {
    pub total_road_km: f64,
    pub legs: Vec<RouteLeg>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RouteLeg {
    pub order_id: String,
    pub road_km: f64,
    pub eta_minutes: f64,
}

/// What a partner's move left: the delivery, or (after `reject`) that it is back in the pool.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ActionResult {
    Delivery(Box<DeliveryView>),
    Rejected {
        order_id: String,
        status: String,
        rejected: bool,
    },
}

struct DeliveryRow {
    order_id: String,
    user_id: String,
    store: String,
    status: String,
    partner_id: Option<String>,
    otp: Option<String>,
    otp_attempts: i64,
    payment_kind: String,
    total_paise: i64,
}

/// Who may see a delivery: its shopper, its partner, staff.
fn visible(d: &DeliveryRow, user_id: &str, admin: bool) -> bool {
    d.user_id == user_id || admin || d.partner_id.as_deref() == Some(user_id)
}

const PARTNER_COLS: &str = "user_id, name, vehicle, lat, lng, position_at";

/// A delivery as a live feed reads it: the view as its shopper sees it, with who may see
/// it (see [`DeliveryService::follow`]).
#[derive(Debug, Clone)]
pub struct Followed {
    view: DeliveryView,
    owner: String,
    rider: Option<String>,
}

/// What a delivery's view shows of its partner.
#[derive(Debug, Clone)]
struct PartnerFacts {
    name: String,
    vehicle: String,
    /// Where the partner is (the ETA's start), and as shown (with when it was reported).
    coords: Option<(f64, f64)>,
    position: Option<super::partners::Position>,
}

fn partner_of(p: &AnyRow) -> Result<PartnerFacts, sqlx::Error> {
    let (lat, lng): (Option<f64>, Option<f64>) = (p.try_get("lat")?, p.try_get("lng")?);
    let at: Option<i64> = p.try_get("position_at")?;
    Ok(PartnerFacts {
        name: text(p, "name")?,
        vehicle: text(p, "vehicle")?,
        coords: lat.zip(lng),
        position: match (lat, lng, at) {
            (Some(lat), Some(lng), Some(at)) => Some(super::partners::Position {
                lat,
                lng,
                at: ms_to_rfc3339(at),
            }),
            _ => None,
        },
    })
}

fn row_of(r: &AnyRow) -> Result<DeliveryRow, sqlx::Error> {
    Ok(DeliveryRow {
        order_id: text(r, "order_id")?,
        user_id: text(r, "user_id")?,
        store: text(r, "store")?,
        status: text(r, "status")?,
        partner_id: opt_text(r, "partner_id")?,
        otp: opt_text(r, "otp")?,
        otp_attempts: r.try_get("otp_attempts")?,
        payment_kind: text(r, "payment_kind")?,
        total_paise: r.try_get("total_paise")?,
    })
}

impl DeliveryRow {
    /// The delivery as a step event carries it, in the status the step moved it to.
    fn state(&self, status: &str) -> DeliveryState {
        DeliveryState {
            order_id: self.order_id.clone(),
            user_id: self.user_id.clone(),
            store: self.store.clone(),
            partner_id: self.partner_id.clone(),
            payment_kind: self.payment_kind.clone(),
            total_paise: self.total_paise,
            status: status.to_owned(),
        }
    }
}

async fn emit<E: Event>(conn: &mut AnyConnection, order_id: &str, payload: &E) -> Result<(), sqlx::Error> {
    outbox::append(conn, &Envelope::of(Service::Delivery, order_id, order_id, payload)).await
}

/// An optional millisecond time column as RFC 3339.
pub(super) fn ms(r: &AnyRow, col: &str) -> Result<Option<String>, sqlx::Error> {
    Ok(r.try_get::<Option<i64>, _>(col)?.map(ms_to_rfc3339))
}

impl DeliveryService {
    async fn delivery(&self, conn: &mut AnyConnection, order_id: &str) -> Result<Option<AnyRow>, CoreError> {
        Ok(sqlx::query(&format!(
            "SELECT {COLS} FROM deliveries WHERE order_id = ? AND deleted_at IS NULL"
        ))
        .bind(order_id)
        .fetch_optional(conn)
        .await?)
    }

    /// The delivery as its shopper, its partner or an admin sees it (only the shopper sees
    /// the code), with the partner's position and an ETA to the door.
    pub async fn view(&self, user_id: &str, admin: bool, order_id: &str) -> Result<DeliveryView, CoreError> {
        self.views(user_id, admin, &[order_id.to_owned()])
            .await?
            .pop()
            .ok_or_else(|| CoreError::NotFound("delivery".into()))
    }

    /// The deliveries of `order_ids` the caller may see (as [`Self::view`]; the others, and
    /// orders without a delivery yet, are left out), in two statements whatever their
    /// number: what a page of orders shows its deliveries with.
    pub async fn views(
        &self,
        user_id: &str,
        admin: bool,
        order_ids: &[String],
    ) -> Result<Vec<DeliveryView>, CoreError> {
        let mut out = Vec::new();
        for (r, d, partner) in self
            .rows_with_partners(order_ids, |d| visible(d, user_id, admin))
            .await?
        {
            out.push(self.view_of(&r, d, partner, user_id)?);
        }
        Ok(out)
    }

    /// The delivery of `order_id` as [`Self::view`] shows it, for a live feed that asks
    /// every second: the asks of every feed of this process within 25 ms are answered by
    /// one read of all their deliveries (two statements for up to 500), instead of two
    /// statements per feed per second.
    pub async fn follow(&self, user_id: &str, admin: bool, order_id: &str) -> Result<DeliveryView, CoreError> {
        let gather = self.followed.get_or_init(|| {
            let svc = self.clone();
            crate::gather::Gather::feeds("deliveries", move |ids| {
                let svc = svc.clone();
                async move {
                    let mut found = std::collections::HashMap::new();
                    for (r, d, partner) in svc.rows_with_partners(&ids, |_| true).await? {
                        let (owner, rider) = (d.user_id.clone(), d.partner_id.clone());
                        // As its shopper sees it (the code shown); others get it without.
                        let view = svc.view_of(&r, d, partner, &owner)?;
                        found.insert(view.order_id.clone(), Followed { view, owner, rider });
                    }
                    Ok(found)
                }
            })
        });
        let f = gather
            .get(order_id)
            .await?
            .filter(|f| f.owner == user_id || admin || f.rider.as_deref() == Some(user_id))
            .ok_or_else(|| CoreError::NotFound("delivery".into()))?;
        let mut view = f.view;
        if f.owner != user_id {
            view.otp = None;
        }
        Ok(view)
    }

    /// The deliveries of `order_ids` that `keep` keeps, with their partners' facts: two
    /// statements whatever their number.
    async fn rows_with_partners(
        &self,
        order_ids: &[String],
        keep: impl Fn(&DeliveryRow) -> bool,
    ) -> Result<Vec<(AnyRow, DeliveryRow, Option<PartnerFacts>)>, CoreError> {
        if order_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.db().pool().acquire().await?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!(
            "SELECT {COLS} FROM deliveries WHERE deleted_at IS NULL AND order_id IN "
        ));
        crate::db::push_list(&mut qb, order_ids);
        let mut seen = Vec::new();
        for r in qb.build().fetch_all(&mut *conn).await? {
            let d = row_of(&r)?;
            if keep(&d) {
                seen.push((r, d));
            }
        }
        let mut partner_ids: Vec<&str> = seen.iter().filter_map(|(_, d)| d.partner_id.as_deref()).collect();
        partner_ids.sort_unstable();
        partner_ids.dedup();
        let mut partners = std::collections::HashMap::new();
        if !partner_ids.is_empty() {
            let mut qb =
                sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {PARTNER_COLS} FROM partners WHERE user_id IN "));
            crate::db::push_list(&mut qb, partner_ids.iter().copied());
            for p in qb.build().fetch_all(&mut *conn).await? {
                partners.insert(text(&p, "user_id")?, partner_of(&p)?);
            }
        }
        Ok(seen
            .into_iter()
            .map(|(r, d)| {
                let partner = d.partner_id.as_ref().and_then(|pid| partners.get(pid)).cloned();
                (r, d, partner)
            })
            .collect())
    }

    /// A delivery's view from its row and its partner's (name, vehicle, position).
    fn view_of(
        &self,
        r: &AnyRow,
        d: DeliveryRow,
        partner: Option<PartnerFacts>,
        viewer: &str,
    ) -> Result<DeliveryView, CoreError> {
        let shopper = d.user_id == viewer;
        let (lat, lng): (f64, f64) = (r.try_get("drop_lat")?, r.try_get("drop_lng")?);
        let mut eta = None;
        let partner = match (&d.partner_id, partner) {
            (Some(pid), Some(p)) => {
                if let Some(at) = p.coords {
                    if ["assigned", "at_store", "picked_up", "out_for_delivery", "at_door"].contains(&d.status.as_str())
                    {
                        let km = haversine_km(at, (lat, lng)) * self.cfg().road_factor;
                        eta = Some((km / self.cfg().speed_kmh * 60.0).ceil() as i64);
                    }
                }
                Some(PartnerRef {
                    user_id: pid.clone(),
                    name: p.name,
                    vehicle: p.vehicle,
                    position: p.position,
                })
            }
            _ => None,
        };
        let slot = match (
            r.try_get::<Option<i64>, _>("slot_start")?,
            r.try_get::<Option<i64>, _>("slot_end")?,
        ) {
            (Some(a), Some(b)) => Some(crate::order::events::SlotWindow {
                start: ms_to_rfc3339(a),
                end: ms_to_rfc3339(b),
            }),
            _ => None,
        };
        let open = !["delivered", "failed", "cancelled"].contains(&d.status.as_str());
        Ok(DeliveryView {
            otp: if shopper && open { d.otp.clone() } else { None },
            failure_reason: opt_text(r, "failure_reason")?,
            slot,
            promise: legs(r)?,
            times: Times {
                confirmed_at: ms(r, "confirmed_at")?,
                assigned_at: ms(r, "assigned_at")?,
                arrived_store_at: ms(r, "arrived_store_at")?,
                picked_up_at: ms(r, "picked_up_at")?,
                started_at: ms(r, "started_at")?,
                arrived_door_at: ms(r, "arrived_door_at")?,
                delivered_at: ms(r, "delivered_at")?,
                failed_at: ms(r, "failed_at")?,
            },
            order_id: d.order_id,
            store: d.store,
            status: d.status,
            partner,
            eta_minutes: eta,
        })
    }

    /// The caller's deliveries in hand, in the order to visit (from the store or where the
    /// partner is), with an ETA per door.
    pub async fn my_deliveries(&self, partner_id: &str) -> Result<InHand, CoreError> {
        let mut conn = self.db().pool().acquire().await?;
        let rows = sqlx::query(&format!(
            "SELECT {COLS} FROM deliveries WHERE partner_id = ? AND status IN {IN_HAND} ORDER BY assigned_at"
        ))
        .bind(partner_id)
        .fetch_all(&mut *conn)
        .await?;
        let p = sqlx::query("SELECT lat, lng FROM partners WHERE user_id = ?")
            .bind(partner_id)
            .fetch_optional(&mut *conn)
            .await?;
        let start = match p.map(|p| (p.try_get::<Option<f64>, _>("lat"), p.try_get::<Option<f64>, _>("lng"))) {
            Some((Ok(Some(a)), Ok(Some(b)))) => Some((a, b)),
            _ => None,
        };
        let mut stops = Vec::new();
        let mut items = Vec::new();
        for r in &rows {
            let id = text(r, "order_id")?;
            stops.push(super::route::Stop {
                id: id.clone(),
                lat: r.try_get("drop_lat")?,
                lng: r.try_get("drop_lng")?,
            });
            items.push(InHandItem {
                order_id: id,
                status: text(r, "status")?,
                store: text(r, "store")?,
                drop: Point {
                    lat: r.try_get("drop_lat")?,
                    lng: r.try_get("drop_lng")?,
                },
            });
        }
        let route = start.map(|s| super::route::plan(s, &stops, self.route_config()));
        Ok(InHand {
            items,
            route: route.map(|r| RouteView {
                total_road_km: r.total_road_km,
                legs: r
                    .legs
                    .into_iter()
                    .map(|l| RouteLeg {
                        order_id: l.id,
                        road_km: l.road_km,
                        eta_minutes: l.eta_minutes,
                    })
                    .collect(),
            }),
        })
    }
}

/// A partner's actions, the code at the door and the silent partner, without a database.
#[cfg(test)]
mod tests {
    use super::*;

    const STATUSES: [&str; 8] = [
        "unassigned",
        "assigned",
        "at_store",
        "picked_up",
        "out_for_delivery",
        "at_door",
        "delivered",
        "failed",
    ];

    #[test]
    fn each_action_moves_only_from_the_statuses_it_is_for() {
        let table: [(&str, &[&str], &str); 5] = [
            ("reject", &["assigned", "at_store"], "unassigned"),
            ("pickup", &["assigned", "at_store"], "picked_up"),
            ("start", &["picked_up"], "out_for_delivery"),
            ("deliver", &["out_for_delivery", "at_door"], "delivered"),
            ("fail", &["picked_up", "out_for_delivery", "at_door"], "failed"),
        ];
        for (action, from, to) in table {
            for status in STATUSES {
                match action_move(status, action) {
                    Ok((got, _)) => {
                        assert!(from.contains(&status), "{action} from {status} must be refused");
                        assert_eq!(got, to, "{action} from {status}");
                    }
                    Err(CoreError::Conflict { .. }) => {
                        assert!(!from.contains(&status), "{action} from {status} must be allowed")
                    }
                    Err(e) => panic!("{action} from {status}: {e:?}"),
                }
            }
        }
    }

    #[test]
    fn a_rejected_delivery_goes_back_in_the_pool_before_pickup_only() {
        assert_eq!(action_move("assigned", "reject").unwrap().0, "unassigned");
        assert_eq!(action_move("at_store", "reject").unwrap().0, "unassigned");
        let e = action_move("picked_up", "reject").unwrap_err().to_string();
        assert!(e.contains("a delivery that is picked up cannot be rejected"), "{e}");
    }

    #[test]
    fn an_unknown_action_is_not_found() {
        for action in ["", "cancel", "Deliver", "delivered"] {
            assert!(
                matches!(action_move("assigned", action), Err(CoreError::NotFound(_))),
                "{action:?}"
            );
        }
    }

    #[test]
    fn the_right_code_delivers_whatever_the_spacing() {
        assert_eq!(CodeCheck::of(0, Some("0427"), Some("0427")), CodeCheck::Right);
        assert_eq!(CodeCheck::of(4, Some("0427"), Some(" 0427 ")), CodeCheck::Right);
    }

    #[test]
    fn a_missing_code_is_asked_for_and_not_counted() {
        for given in [None, Some(""), Some("   ")] {
            assert_eq!(CodeCheck::of(0, Some("0427"), given), CodeCheck::Missing, "{given:?}");
        }
    }

    #[test]
    fn wrong_codes_count_down_then_lock_even_against_the_right_one() {
        let mut attempts = 0;
        let mut left = Vec::new();
        while let CodeCheck::Wrong { tries_left } = CodeCheck::of(attempts, Some("0427"), Some("1111")) {
            left.push(tries_left);
            attempts += 1;
        }
        assert_eq!(left, [4, 3, 2, 1, 0]);
        assert_eq!(attempts, MAX_OTP_ATTEMPTS);
        assert_eq!(CodeCheck::of(attempts, Some("0427"), Some("0427")), CodeCheck::Locked);
        assert_eq!(CodeCheck::of(attempts, Some("0427"), None), CodeCheck::Locked);
    }

    #[test]
    fn a_delivery_without_a_code_cannot_be_delivered_by_guessing() {
        assert!(matches!(CodeCheck::of(0, None, Some("0000")), CodeCheck::Wrong { .. }));
    }

    #[test]
    fn a_partner_is_gone_when_off_shift_never_seen_or_silent_past_the_limit() {
        let (now, limit) = (1_000_000, 120_000);
        assert!(!partner_gone(true, Some(now), now, limit), "just pinged");
        assert!(
            !partner_gone(true, Some(now - limit), now, limit),
            "silent exactly the limit"
        );
        assert!(
            partner_gone(true, Some(now - limit - 1), now, limit),
            "silent past the limit"
        );
        assert!(partner_gone(true, None, now, limit), "on shift, never sent a position");
        assert!(partner_gone(false, Some(now), now, limit), "off shift, however fresh");
    }
}
