//! Delivery partners: accounts with the `delivery_partner` role, with a profile (name,
//! vehicle, home dark store), shifts, and location pings (rate-limited; the last position
//! is kept on the partner, a trimmed history beside it).
//!
//! A partner's state: `off_shift`; `available` (on shift, position fresh); `offline` (on
//! shift, but no ping for [`DeliveryConfig::offline_after_ms`]).

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{text, Db};
use crate::error::{CoreError, Validator};
use crate::id::{ms_to_rfc3339, now_ms};

pub const VEHICLES: [&str; 4] = ["bicycle", "scooter", "motorbike", "ev"];

#[derive(Debug, Clone)]
pub struct DeliveryConfig {
    /// Pings closer together than this are refused with 429.
    pub ping_every_ms: i64,
    /// An on-shift partner silent this long is offline.
    pub offline_after_ms: i64,
    /// Positions kept per partner (and never older than a day).
    pub history_keep: i64,
    /// Road distance per straight-line distance, and riders' speed, for ETAs and routes.
    pub road_factor: f64,
    pub speed_kmh: f64,
    /// Minutes to pick and pack, part of every promise.
    pub prep_minutes: f64,
    /// Batching: deliveries per partner at most, how far apart their doors may be, and how
    /// long after the first assignment a batch stays open (the rider is still at the store).
    pub max_batch: usize,
    pub batch_radius_km: f64,
    pub batch_window_ms: i64,
    /// Delivery slots: length, default orders per slot, days offered, and how far ahead of
    /// now the first one starts.
    pub slot_minutes: i64,
    pub slot_capacity: i64,
    pub slot_days: i64,
    pub slot_lead_minutes: i64,
    /// Capacity per five minutes: orders a picker on shift picks and packs, and orders a
    /// rider on shift takes (batches included).
    pub picks_per_picker: i64,
    pub orders_per_rider: i64,
}

impl DeliveryConfig {
    /// From the settings' ETA figures (the location service promises with the same ones).
    pub fn from_settings(s: &crate::config::Settings) -> DeliveryConfig {
        DeliveryConfig {
            road_factor: s.eta_road_factor,
            speed_kmh: s.rider_speed_kmh,
            prep_minutes: s.prep_minutes,
            slot_minutes: s.slot_minutes,
            slot_capacity: s.slot_capacity,
            orders_per_rider: s.orders_per_rider,
            picks_per_picker: s.picks_per_picker,
            ..Default::default()
        }
    }
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            ping_every_ms: 2_000,
            offline_after_ms: 120_000,
            history_keep: 500,
            road_factor: 1.4,
            speed_kmh: 20.0,
            prep_minutes: 4.0,
            max_batch: 3,
            batch_radius_km: 1.5,
            batch_window_ms: 180_000,
            slot_minutes: 60,
            slot_capacity: 20,
            slot_days: 2,
            slot_lead_minutes: 60,
            picks_per_picker: 5,
            orders_per_rider: 5,
        }
    }
}

#[derive(Clone)]
pub struct DeliveryService {
    db: Db,
    cfg: DeliveryConfig,
    /// The reads of open live feeds, gathered (see [`DeliveryService::follow`]); started
    /// on first use.
    pub(super) followed: std::sync::OnceLock<crate::gather::Gather<super::deliveries::Followed>>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ProfileInput {
    #[schema(schema_with = crate::rules::text::<100>)]
    pub name: Option<String>,
    #[schema(schema_with = vehicle_schema)]
    pub vehicle: Option<String>,
    #[schema(schema_with = crate::rules::store_code)]
    pub home_store: Option<String>,
}

/// The states a partner list filters by.
pub const PARTNER_STATES: [&str; 3] = ["off_shift", "available", "offline"];

fn partner_state_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&PARTNER_STATES)
}

fn vehicle_schema() -> utoipa::openapi::schema::Object {
    crate::rules::one_of(&VEHICLES)
}

fn accuracy_schema() -> utoipa::openapi::schema::Object {
    crate::rules::number(0.0, 10_000.0)
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ShiftInput {
    #[schema(value_type = bool, required = true)]
    pub on: Option<bool>,
}

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PingInput {
    #[schema(schema_with = crate::rules::latitude, required = true)]
    pub lat: Option<f64>,
    #[schema(schema_with = crate::rules::longitude, required = true)]
    pub lng: Option<f64>,
    #[schema(schema_with = accuracy_schema)]
    pub accuracy_m: Option<f64>,
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
pub struct PartnerQuery {
    #[param(schema_with = crate::rules::store_code)]
    pub store: Option<String>,
    #[param(schema_with = partner_state_schema)]
    pub state: Option<String>,
}

const COLS: &str = concat!(
    "user_id, name, vehicle, home_store, on_shift, shift_started_at, lat, lng, position_at, created_at, updated_at, ",
    "(SELECT COUNT(*) FROM deliveries d WHERE d.partner_id = partners.user_id AND d.status IN ",
    in_hand_sql!(),
    ") AS in_hand"
);

impl DeliveryService {
    pub fn new(db: Db, cfg: DeliveryConfig) -> Self {
        DeliveryService {
            db,
            cfg,
            followed: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub(super) fn cfg(&self) -> &DeliveryConfig {
        &self.cfg
    }

    pub(super) fn route_config(&self) -> super::route::RouteConfig {
        super::route::RouteConfig {
            road_factor: self.cfg.road_factor,
            speed_kmh: self.cfg.speed_kmh,
            handover_minutes: 2.0,
        }
    }

    fn state(&self, on_shift: bool, position_at: Option<i64>, now: i64) -> &'static str {
        if !on_shift {
            "off_shift"
        } else if super::deliveries::partner_gone(on_shift, position_at, now, self.cfg.offline_after_ms) {
            "offline"
        } else {
            "available"
        }
    }

    fn partner_view(&self, r: &AnyRow, now: i64) -> Result<Partner, CoreError> {
        let on_shift = r.try_get::<i64, _>("on_shift")? != 0;
        let position_at: Option<i64> = r.try_get("position_at")?;
        let lat: Option<f64> = r.try_get("lat")?;
        let lng: Option<f64> = r.try_get("lng")?;
        let shift_started: Option<i64> = r.try_get("shift_started_at")?;
        Ok(Partner {
            user_id: text(r, "user_id")?,
            name: text(r, "name")?,
            vehicle: text(r, "vehicle")?,
            home_store: text(r, "home_store")?,
            on_shift,
            shift_started_at: shift_started.map(ms_to_rfc3339),
            state: self.state(on_shift, position_at, now).to_owned(),
            deliveries_in_hand: r.try_get("in_hand")?,
            position: match (lat, lng, position_at) {
                (Some(lat), Some(lng), Some(at)) => Some(Position {
                    lat,
                    lng,
                    at: ms_to_rfc3339(at),
                }),
                _ => None,
            },
            created_at: ms_to_rfc3339(r.try_get("created_at")?),
            updated_at: ms_to_rfc3339(r.try_get("updated_at")?),
        })
    }

    async fn row(&self, user_id: &str) -> Result<Option<AnyRow>, CoreError> {
        Ok(sqlx::query(&format!(
            "SELECT {COLS} FROM partners WHERE user_id = ? AND deleted_at IS NULL"
        ))
        .bind(user_id)
        .fetch_optional(self.db.pool())
        .await?)
    }

    /// The caller's partner profile.
    pub async fn me(&self, user_id: &str) -> Result<Partner, CoreError> {
        let r = self.row(user_id).await?.ok_or_else(no_profile)?;
        self.partner_view(&r, now_ms())
    }

    /// Creates or changes the caller's profile; the home store must be a known, active store.
    pub async fn set_profile(&self, user_id: &str, input: ProfileInput) -> Result<Partner, CoreError> {
        let existing = self.row(user_id).await?;
        let mut v = Validator::new();
        let name = match input.name {
            Some(n) => v.check("name", crate::rules::parse_text(&n, 100)),
            None if existing.is_none() => v.required("name", None::<String>),
            None => None,
        };
        let vehicle = match input.vehicle {
            Some(x) if VEHICLES.contains(&x.as_str()) => Some(x),
            Some(_) => {
                v.add("vehicle", format!("must be one of {}", VEHICLES.join(", ")));
                None
            }
            None if existing.is_none() => v.required("vehicle", None::<String>),
            None => None,
        };
        let store = match input.home_store {
            Some(s) => v.check("home_store", crate::rules::parse_code(&s)),
            None if existing.is_none() => v.required("home_store", None::<String>),
            None => None,
        };
        v.finish()?;
        if let Some(code) = &store {
            let known = sqlx::query("SELECT 1 AS x FROM stores WHERE code = ? AND active = 1 AND deleted_at IS NULL")
                .bind(code)
                .fetch_optional(self.db.pool())
                .await?
                .is_some();
            if !known {
                return Err(CoreError::validation(
                    "home_store",
                    format!("no open dark store {code}"),
                ));
            }
        }
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        if existing.is_none() {
            sqlx::query(
                "INSERT INTO partners (user_id, name, vehicle, home_store, on_shift, created_at, updated_at) VALUES (?, ?, ?, ?, 0, ?, ?)",
            )
            .bind(user_id)
            .bind(name.unwrap_or_default())
            .bind(vehicle.unwrap_or_default())
            .bind(store.unwrap_or_default())
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        } else {
            for (col, val) in [("name", name), ("vehicle", vehicle), ("home_store", store)] {
                if let Some(val) = val {
                    sqlx::query(&format!(
                        "UPDATE partners SET {col} = ?, updated_at = ? WHERE user_id = ?"
                    ))
                    .bind(val)
                    .bind(now)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        self.me(user_id).await
    }

    /// Starts or ends the caller's shift.
    pub async fn set_shift(&self, user_id: &str, input: ShiftInput) -> Result<Partner, CoreError> {
        let on = input
            .on
            .ok_or_else(|| CoreError::validation("on", "is required (true or false)"))?;
        self.row(user_id).await?.ok_or_else(no_profile)?;
        let now = now_ms();
        let sql = if on {
            "UPDATE partners SET on_shift = 1, shift_started_at = CASE WHEN on_shift = 1 THEN shift_started_at ELSE ? END, updated_at = ? WHERE user_id = ?"
        } else {
            "UPDATE partners SET on_shift = 0, shift_started_at = NULL, updated_at = ? WHERE user_id = ?"
        };
        let mut q = sqlx::query(sql);
        if on {
            q = q.bind(now);
        }
        use crate::db::WriteOn;
        q.bind(now).bind(user_id).write_on(&self.db).await?;
        if !on {
            self.release_partner(user_id).await?;
        }
        self.me(user_id).await
    }

    /// Records where the caller is. At most one ping per `ping_every_ms` (429 with
    /// Retry-After otherwise); only on shift.
    pub async fn ping(&self, user_id: &str, input: PingInput) -> Result<Ping, CoreError> {
        let mut v = Validator::new();
        let lat = v.required("lat", input.lat);
        let lng = v.required("lng", input.lng);
        if lat.is_some_and(|x| !(-90.0..=90.0).contains(&x) || !x.is_finite()) {
            v.add("lat", "must be from -90 to 90");
        }
        if lng.is_some_and(|x| !(-180.0..=180.0).contains(&x) || !x.is_finite()) {
            v.add("lng", "must be from -180 to 180");
        }
        if input.accuracy_m.is_some_and(|a| !(0.0..=10_000.0).contains(&a)) {
            v.add("accuracy_m", "must be from 0 to 10000 metres");
        }
        v.finish()?;
        let (Some(lat), Some(lng)) = (lat, lng) else {
            return Err(CoreError::validation("lat", "is required"));
        };
        let now = now_ms();
        let mut tx = self.db.begin().await?;
        let r = sqlx::query("SELECT on_shift, position_at FROM partners WHERE user_id = ? AND deleted_at IS NULL")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(no_profile)?;
        if r.try_get::<i64, _>("on_shift")? == 0 {
            return Err(CoreError::conflict(
                "on_shift",
                "start a shift before sending positions",
            ));
        }
        if let Some(last) = r.try_get::<Option<i64>, _>("position_at")? {
            let wait = self.cfg.ping_every_ms - (now - last);
            if wait > 0 {
                return Err(CoreError::TooManyRequests {
                    message: format!("one position every {} ms", self.cfg.ping_every_ms),
                    retry_after_secs: ((wait + 999) / 1000) as u64,
                });
            }
        }
        sqlx::query("UPDATE partners SET lat = ?, lng = ?, position_at = ?, updated_at = ? WHERE user_id = ?")
            .bind(lat)
            .bind(lng)
            .bind(now)
            .bind(now)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("INSERT INTO partner_positions (partner_id, at, lat, lng, accuracy_m) VALUES (?, ?, ?, ?, ?)")
            .bind(user_id)
            .bind(now)
            .bind(lat)
            .bind(lng)
            .bind(input.accuracy_m)
            .execute(&mut *tx)
            .await?;
        self.geofence(&mut tx, user_id, (lat, lng), now).await?;
        // Trim: the newest `history_keep` positions of the last day stay.
        let cutoff: Option<i64> =
            sqlx::query("SELECT at FROM partner_positions WHERE partner_id = ? ORDER BY at DESC LIMIT 1 OFFSET ?")
                .bind(user_id)
                .bind(self.cfg.history_keep)
                .fetch_optional(&mut *tx)
                .await?
                .map(|r| r.try_get("at"))
                .transpose()?;
        let oldest_kept = cutoff.map_or(now - 86_400_000, |c| (c + 1).max(now - 86_400_000));
        sqlx::query("DELETE FROM partner_positions WHERE partner_id = ? AND at < ?")
            .bind(user_id)
            .bind(oldest_kept)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Ping {
            lat,
            lng,
            at: ms_to_rfc3339(now),
            next_after_ms: self.cfg.ping_every_ms,
        })
    }

    /// The caller's recent positions, newest first.
    pub async fn track(&self, user_id: &str, limit: i64) -> Result<Items<Position>, CoreError> {
        let rows =
            sqlx::query("SELECT at, lat, lng FROM partner_positions WHERE partner_id = ? ORDER BY at DESC LIMIT ?")
                .bind(user_id)
                .bind(limit.clamp(1, 500))
                .fetch_all(self.db.pool())
                .await?;
        let mut items = Vec::new();
        for r in &rows {
            items.push(Position {
                at: ms_to_rfc3339(r.try_get("at")?),
                lat: r.try_get("lat")?,
                lng: r.try_get("lng")?,
            });
        }
        Ok(Items { items })
    }

    /// Partners, for admins: by home store and state.
    pub async fn list(&self, q: &PartnerQuery) -> Result<Items<Partner>, CoreError> {
        let mut v = Validator::new();
        let store = q
            .store
            .as_deref()
            .and_then(|s| v.check("store", crate::rules::parse_code(s)));
        if let Some(s) = &q.state {
            if !PARTNER_STATES.contains(&s.as_str()) {
                v.add("state", "must be off_shift, available or offline");
            }
        }
        v.finish()?;
        let mut qb =
            sqlx::QueryBuilder::<sqlx::Any>::new(format!("SELECT {COLS} FROM partners WHERE deleted_at IS NULL"));
        if let Some(s) = &store {
            qb.push(" AND home_store = ").push_bind(s.clone());
        }
        qb.push(" ORDER BY home_store, name LIMIT 1000");
        let now = now_ms();
        let mut items = Vec::new();
        for r in qb.build().fetch_all(self.db.pool()).await? {
            let p = self.partner_view(&r, now)?;
            if q.state.as_deref().is_none_or(|s| p.state == s) {
                items.push(p);
            }
        }
        Ok(Items { items })
    }
}

/// A delivery partner as admins and the partner see them.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Partner {
    pub user_id: String,
    pub name: String,
    /// `bicycle`, `scooter`, `motorbike` or `ev`.
    pub vehicle: String,
    pub home_store: String,
    pub on_shift: bool,
    #[schema(format = DateTime)]
    pub shift_started_at: Option<String>,
    /// `off_shift`, `available` (on shift, pinged recently) or `offline`.
    pub state: String,
    /// Deliveries assigned to the partner and not yet handed over or failed.
    pub deliveries_in_hand: i64,
    pub position: Option<Position>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
}

/// Where a partner was, and when.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Position {
    pub lat: f64,
    pub lng: f64,
    #[schema(format = DateTime)]
    pub at: String,
}

/// A recorded position and when the next may be sent.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ping {
    pub lat: f64,
    pub lng: f64,
    #[schema(format = DateTime)]
    pub at: String,
    pub next_after_ms: i64,
}

/// A list without pages: `{items}`.
pub use crate::list::Items;

fn no_profile() -> CoreError {
    CoreError::NotFound("partner profile (create it with PUT /api/v1/deliveries/partners/me)".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    #[tokio::test]
    async fn the_position_history_is_trimmed_to_the_newest() {
        let dir = std::env::temp_dir().join(format!("nakku-partners-{}", crate::id::new_id()));
        let db = Db::connect(&Secret::new(format!("sqlite://{}/d.db", dir.display())), 2)
            .await
            .unwrap();
        crate::db::migrate::run(crate::service::Service::Delivery, &db)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO stores (id, code, name, lat, lng, opens_at, closes_at, active, created_at, updated_at) \
             VALUES ('s1', 'S-1', 'One', 12.9, 77.6, '00:00', '00:00', 1, 0, 0)",
        )
        .execute(db.pool())
        .await
        .unwrap();
        let svc = DeliveryService::new(
            db.clone(),
            DeliveryConfig {
                ping_every_ms: 0,
                history_keep: 3,
                ..Default::default()
            },
        );
        let profile = ProfileInput {
            name: Some("Ravi".into()),
            vehicle: Some("ev".into()),
            home_store: Some("S-1".into()),
        };
        svc.set_profile("p1", profile).await.unwrap();
        svc.set_shift("p1", ShiftInput { on: Some(true) }).await.unwrap();
        for i in 0..5 {
            let ping = PingInput {
                lat: Some(12.9 + f64::from(i) / 1000.0),
                lng: Some(77.6),
                accuracy_m: None,
            };
            svc.ping("p1", ping).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
        let track = svc.track("p1", 100).await.unwrap();
        let lats: Vec<i64> = track.items.iter().map(|p| (p.lat * 1000.0).round() as i64).collect();
        assert_eq!(lats, [12_904, 12_903, 12_902], "the newest three, newest first");
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
