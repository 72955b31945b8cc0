//! Promise against actual per store (`GET /deliveries/performance`): how many deliveries
//! were late, and the p50/p90 of each leg from confirmation to the door, in and out of the
//! store.

use serde::Serialize;
use sqlx::Row;

use super::partners::DeliveryService;
use crate::db::text;
use crate::error::CoreError;
use crate::id::{ms_to_rfc3339, now_ms};

/// Promise against actual per store over a range.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Performance {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub items: Vec<StorePerformance>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StorePerformance {
    pub store: String,
    pub delivered: i64,
    pub with_promise: i64,
    pub late: i64,
    pub late_share: f64,
    pub promised_minutes: crate::stats::P50P90,
    pub actual_minutes: crate::stats::P50P90,
    pub legs: LegFigures,
    pub store_legs: StoreLegFigures,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LegFigures {
    pub assign: crate::stats::P50P90,
    pub pickup: crate::stats::P50P90,
    pub depart: crate::stats::P50P90,
    pub ride: crate::stats::P50P90,
}

/// In the store: waiting for a picker, picking, packing, handover to the rider.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoreLegFigures {
    pub queue: crate::stats::P50P90,
    pub pick: crate::stats::P50P90,
    pub pack: crate::stats::P50P90,
    pub handover: crate::stats::P50P90,
}

impl DeliveryService {
    /// Promise against actual per store for deliveries completed in a range (admins): how
    /// many, how many late, the promised and actual minutes, and each leg's p50/p90.
    pub async fn performance(&self, q: &crate::stats::ReportQuery) -> Result<Performance, CoreError> {
        let r = q.range(now_ms())?;
        let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(
            "SELECT d.store AS store, d.promised_minutes AS promised_minutes, d.breached AS breached, d.confirmed_at AS confirmed_at, \
             d.assigned_at AS assigned_at, d.picked_up_at AS picked_up_at, d.started_at AS started_at, d.delivered_at AS delivered_at, \
             k.started_at AS pick_started_at, k.picked_at AS picked_at, k.packed_at AS packed_at \
             FROM deliveries d LEFT JOIN picks k ON k.order_id = d.order_id \
             WHERE d.status = 'delivered' AND d.delivered_at >= ",
        );
        qb.push_bind(r.from).push(" AND d.delivered_at < ").push_bind(r.to);
        if let Some(s) = &r.store {
            qb.push(" AND d.store = ").push_bind(s.clone());
        }
        qb.push(" ORDER BY d.store");
        #[derive(Default)]
        struct Acc {
            delivered: i64,
            promised: i64,
            late: i64,
            promised_minutes: Vec<i64>,
            legs: [Vec<i64>; 5],
            /// In the store: waiting for a picker, picking, packing, handover to the rider.
            store: [Vec<i64>; 4],
        }
        let mut by: std::collections::BTreeMap<String, Acc> = Default::default();
        for row in qb.build().fetch_all(self.db().pool()).await? {
            let a = by.entry(text(&row, "store")?).or_default();
            a.delivered += 1;
            if let Some(b) = row.try_get::<Option<i64>, _>("breached")? {
                a.promised += 1;
                a.late += b;
            }
            if let Some(m) = row.try_get::<Option<i64>, _>("promised_minutes")? {
                a.promised_minutes.push(m * 60_000);
            }
            let t = |c: &str| row.try_get::<Option<i64>, _>(c);
            let times = [
                t("confirmed_at")?,
                t("assigned_at")?,
                t("picked_up_at")?,
                t("started_at")?,
                t("delivered_at")?,
            ];
            for (i, pair) in times.windows(2).enumerate() {
                if let (Some(x), Some(y)) = (pair[0], pair[1]) {
                    a.legs[i].push(y - x);
                }
            }
            if let (Some(x), Some(y)) = (times[0], times[4]) {
                a.legs[4].push(y - x);
            }
            let store_times = [
                t("confirmed_at")?,
                t("pick_started_at")?,
                t("picked_at")?,
                t("packed_at")?,
                t("picked_up_at")?,
            ];
            for (i, pair) in store_times.windows(2).enumerate() {
                if let (Some(x), Some(y)) = (pair[0], pair[1]) {
                    a.store[i].push(y - x);
                }
            }
        }
        let fig = |v: &mut Vec<i64>| crate::stats::p50_p90_minutes(v);
        let mut items = Vec::new();
        for (store, mut a) in by {
            let [assign, pickup, depart, ride, total] = &mut a.legs;
            let [queue, pick, pack, handover] = &mut a.store;
            items.push(StorePerformance {
                store,
                delivered: a.delivered,
                with_promise: a.promised,
                late: a.late,
                late_share: if a.promised > 0 {
                    (a.late as f64 / a.promised as f64 * 1000.0).round() / 1000.0
                } else {
                    0.0
                },
                promised_minutes: fig(&mut a.promised_minutes),
                actual_minutes: fig(total),
                legs: LegFigures {
                    assign: fig(assign),
                    pickup: fig(pickup),
                    depart: fig(depart),
                    ride: fig(ride),
                },
                store_legs: StoreLegFigures {
                    queue: fig(queue),
                    pick: fig(pick),
                    pack: fig(pack),
                    handover: fig(handover),
                },
            });
        }
        Ok(Performance {
            from: ms_to_rfc3339(r.from),
            to: ms_to_rfc3339(r.to),
            items,
        })
    }
}
