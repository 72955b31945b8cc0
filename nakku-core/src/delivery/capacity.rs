//! Store capacity: orders confirmed in the last window against what the riders and
//! pickers on shift can take in one. Past the cap a store's promises stretch (`busy`, extra
//! minutes); far past it the store stops taking orders for a while (`paused`). The load is
//! published as `delivery.store.load` for the location service and the catalogue.

use serde::Serialize;
use sqlx::Row;

use super::events::StoreLoadChanged;
use super::partners::DeliveryService;
use crate::db::text;
use crate::error::CoreError;
use crate::events::{outbox, Envelope};
use crate::id::{ms_to_rfc3339, now_ms};
use crate::service::Service;

/// The window capacity is measured over.
pub const WINDOW_MS: i64 = 5 * 60_000;

/// A store's load as last computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Load {
    pub status: &'static str,
    pub orders_window: i64,
    pub capacity: i64,
    pub extra_minutes: i64,
}

/// The load of a store given its orders in the window and its capacity for one window
/// (`None`: nobody on shift, not capped).
pub fn load_of(orders: i64, capacity: Option<i64>) -> Load {
    let Some(cap) = capacity.filter(|c| *c > 0) else {
        return Load {
            status: "open",
            orders_window: orders,
            capacity: 0,
            extra_minutes: 0,
        };
    };
    let (status, extra) = if orders < cap {
        ("open", 0)
    } else if orders * 2 < cap * 3 {
        // Each order beyond the cap waits its share of a window.
        let over = orders - cap + 1;
        ("busy", (over * WINDOW_MS / 60_000 + cap - 1) / cap)
    } else {
        ("paused", 0)
    };
    Load {
        status,
        orders_window: orders,
        capacity: cap,
        extra_minutes: extra,
    }
}

/// A store's load now: orders confirmed in the window against what its staff can handle.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreLoad {
    pub store: String,
    /// `open`, `busy` or `paused`.
    pub status: String,
    pub orders_window: i64,
    pub capacity: i64,
    pub extra_minutes: i64,
    pub window_minutes: i64,
    /// When the status last changed (none for a store never measured).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

impl DeliveryService {
    /// Recomputes every store's load and publishes the ones that changed status or stretch.
    pub async fn update_loads(&self) -> Result<usize, CoreError> {
        let now = now_ms();
        let since = now - WINDOW_MS;
        let stores: Vec<String> = sqlx::query("SELECT code FROM stores WHERE deleted_at IS NULL")
            .fetch_all(self.db().pool())
            .await?
            .iter()
            .map(|r| text(r, "code"))
            .collect::<Result<_, _>>()?;
        let mut changed = 0;
        // Stores by load status, for the `nakku_stores` gauge (an alert when stores pause).
        let mut by_status = [("open", 0u32), ("busy", 0), ("paused", 0)];
        for store in stores {
            let count = |sql: &'static str, since: Option<i64>| {
                let store = store.clone();
                async move {
                    let mut q = sqlx::query(sql).bind(store);
                    if let Some(t) = since {
                        q = q.bind(t);
                    }
                    let r = q.fetch_one(self.db().pool()).await?;
                    Ok::<i64, CoreError>(r.try_get::<i64, _>("n")?)
                }
            };
            let orders = count(
                "SELECT COUNT(*) AS n FROM deliveries WHERE store = ? AND confirmed_at >= ?",
                Some(since),
            )
            .await?;
            let pickers = count(
                "SELECT COUNT(*) AS n FROM pickers WHERE store = ? AND on_shift = 1 AND deleted_at IS NULL",
                None,
            )
            .await?;
            let riders = count(
                "SELECT COUNT(*) AS n FROM partners WHERE home_store = ? AND on_shift = 1 AND deleted_at IS NULL AND position_at >= ?",
                Some(now - self.cfg().offline_after_ms),
            )
            .await?;
            let caps: Vec<i64> = [
                (pickers > 0).then(|| pickers * self.cfg().picks_per_picker),
                (riders > 0).then(|| riders * self.cfg().orders_per_rider),
            ]
            .into_iter()
            .flatten()
            .collect();
            let load = load_of(orders, caps.into_iter().min());
            if let Some((_, n)) = by_status.iter_mut().find(|(s, _)| *s == load.status) {
                *n += 1;
            }
            let old =
                sqlx::query("SELECT status, extra_minutes, orders_window, capacity FROM store_load WHERE store = ?")
                    .bind(&store)
                    .fetch_optional(self.db().pool())
                    .await?;
            let same = match &old {
                Some(o) => {
                    text(o, "status")? == load.status && o.try_get::<i64, _>("extra_minutes")? == load.extra_minutes
                }
                None => load.status == "open",
            };
            // Nothing moved: no write (this runs every second for every store).
            let unchanged = match &old {
                Some(o) => {
                    same && o.try_get::<i64, _>("orders_window")? == load.orders_window
                        && o.try_get::<i64, _>("capacity")? == load.capacity
                }
                None => false,
            };
            if unchanged {
                continue;
            }
            let mut tx = self.db().begin().await?;
            if old.is_some() {
                sqlx::query(
                    "UPDATE store_load SET status = ?, orders_window = ?, capacity = ?, extra_minutes = ?, \
                     changed_at = CASE WHEN status <> ? THEN ? ELSE changed_at END, updated_at = ? WHERE store = ?",
                )
                .bind(load.status)
                .bind(load.orders_window)
                .bind(load.capacity)
                .bind(load.extra_minutes)
                .bind(load.status)
                .bind(now)
                .bind(now)
                .bind(&store)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query(
                    "INSERT INTO store_load (store, status, orders_window, capacity, extra_minutes, changed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(&store)
                .bind(load.status)
                .bind(load.orders_window)
                .bind(load.capacity)
                .bind(load.extra_minutes)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
            if !same {
                let changed_to = StoreLoadChanged {
                    store: store.clone(),
                    status: load.status.to_owned(),
                    extra_minutes: load.extra_minutes,
                    orders_window: load.orders_window,
                    capacity: load.capacity,
                    window_minutes: WINDOW_MS / 60_000,
                };
                outbox::append(&mut tx, &Envelope::of(Service::Delivery, &store, &store, &changed_to)).await?;
                changed += 1;
            }
            tx.commit().await?;
        }
        for (status, n) in by_status {
            metrics::gauge!("nakku_stores", "load" => status).set(f64::from(n));
        }
        Ok(changed)
    }

    /// `GET /deliveries/stores/{store}/load`: the store's load now.
    pub async fn load(&self, store: &str) -> Result<StoreLoad, CoreError> {
        let r = sqlx::query("SELECT status, orders_window, capacity, extra_minutes, changed_at, updated_at FROM store_load WHERE store = ?")
            .bind(store)
            .fetch_optional(self.db().pool())
            .await?;
        Ok(match r {
            Some(r) => StoreLoad {
                store: store.to_owned(),
                status: text(&r, "status")?,
                orders_window: r.try_get("orders_window")?,
                capacity: r.try_get("capacity")?,
                extra_minutes: r.try_get("extra_minutes")?,
                window_minutes: WINDOW_MS / 60_000,
                since: Some(ms_to_rfc3339(r.try_get("changed_at")?)),
                updated_at: Some(ms_to_rfc3339(r.try_get("updated_at")?)),
            },
            None => {
                self.store_resource(store).await?;
                StoreLoad {
                    store: store.to_owned(),
                    status: "open".to_owned(),
                    orders_window: 0,
                    capacity: 0,
                    extra_minutes: 0,
                    window_minutes: WINDOW_MS / 60_000,
                    since: None,
                    updated_at: None,
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_promise_stretches_then_the_store_pauses() {
        assert_eq!(load_of(50, None).status, "open", "nobody on shift: not capped");
        assert_eq!(load_of(9, Some(10)).status, "open");
        let busy = load_of(10, Some(10));
        assert_eq!((busy.status, busy.extra_minutes), ("busy", 1));
        let busier = load_of(14, Some(10));
        assert_eq!((busier.status, busier.extra_minutes), ("busy", 3));
        assert_eq!(load_of(15, Some(10)).status, "paused");
        assert_eq!(load_of(2, Some(1)).status, "paused");
        assert_eq!(load_of(1, Some(1)).extra_minutes, 5);
    }

    fn load(pairs: &[(&str, &str)]) -> Result<crate::config::Settings, crate::config::ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::config::Settings::load(None, &env)
    }

    #[test]
    fn the_store_capacity_cap_is_the_operators_to_set() {
        let s = load(&[("NAKKU_ORDERS_PER_RIDER", "40"), ("NAKKU_PICKS_PER_PICKER", "12")]).unwrap();
        let d = crate::delivery::DeliveryConfig::from_settings(&s);
        assert_eq!((d.orders_per_rider, d.picks_per_picker), (40, 12));
        let d = crate::delivery::DeliveryConfig::from_settings(&load(&[]).unwrap());
        assert_eq!((d.orders_per_rider, d.picks_per_picker), (5, 5));
        assert!(
            load(&[("NAKKU_ORDERS_PER_RIDER", "0")]).is_err(),
            "a store with no capacity at all"
        );
    }
}
