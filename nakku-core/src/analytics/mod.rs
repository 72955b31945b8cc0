//! Analytics (port 8090, nakku_analytics): read models fed by every event that moves a
//! business figure ([`handler`]), and the reports the admin API and the dashboard show.
//!
//! Figures over a time range count the orders *placed* in it (`[from, to)`), so an order's
//! later stages are credited to the period it was placed in, and a report for a closed
//! period stays the same while events keep arriving for other periods. Definitions:
//! GMV is the total (items and fees) of placed orders that were confirmed; net GMV
//! subtracts what was refunded on them; average order value is GMV per confirmed order.
//! Funnel stages: placed → stock reserved → payment secured (captured, or confirmed with
//! cash on delivery) → confirmed → delivered. Delivery time runs from placement to
//! delivery.

pub mod event_log;
pub mod handler;

use serde::{Deserialize, Serialize};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::db::{opt_text, text, Db};
use crate::error::CoreError;
use crate::id::{ms_to_rfc3339, now_ms};
pub use crate::stats::{p50_p90_minutes, Range, ReportQuery, DAY_MS, MAX_RANGE_DAYS, P50P90};

/// Points in the orders-per-minute series at most (wider ranges get wider buckets).
const MAX_POINTS: i64 = 240;

#[derive(Clone)]
pub struct AnalyticsService {
    db: Db,
}

/// A report query: its text and binds built together, so they cannot disagree.
type Sql = sqlx::QueryBuilder<'static, sqlx::Any>;

fn sql(head: impl Into<String>) -> Sql {
    sqlx::QueryBuilder::new(head)
}

/// Appends the condition over placed orders in the range (alias `o`), with its binds.
fn push_scope(q: &mut Sql, r: &Range) {
    q.push("o.created_ms >= ")
        .push_bind(r.from)
        .push(" AND o.created_ms < ")
        .push_bind(r.to);
    if let Some(s) = &r.store {
        q.push(" AND o.store = ").push_bind(s.clone());
    }
}

/// Runs a query and returns its rows.
async fn rows(db: &Db, mut q: Sql) -> Result<Vec<AnyRow>, CoreError> {
    Ok(q.build().fetch_all(db.pool()).await?)
}

/// Everything the dashboard shows for a range.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Summary {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub store: Option<String>,
    pub orders: Totals,
    pub orders_per_minute: Series,
    pub cancellation_reasons: Vec<ReasonCount>,
    pub failure_reasons: Vec<ReasonCount>,
    pub delivery_minutes: DeliveryMinutes,
    pub top_products: Vec<TopProduct>,
    pub top_categories: Vec<TopCategory>,
    /// Fee income by kind, largest first.
    #[serde(default)]
    pub fees: Vec<FeeIncome>,
    pub stock_alerts_open: AlertCounts,
    pub slot_utilisation: SlotFigure,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Totals {
    pub placed: i64,
    pub confirmed: i64,
    pub delivered: i64,
    pub cancelled: i64,
    pub failed: i64,
    pub gmv_paise: i64,
    pub refunded_paise: i64,
    pub net_gmv_paise: i64,
    pub average_order_paise: i64,
    pub funnel: Vec<FunnelStage>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FunnelStage {
    /// `placed`, `stock_reserved`, `payment_secured`, `confirmed`, `delivered`.
    pub stage: String,
    pub orders: i64,
}

/// Orders placed per bucket, every bucket present.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Series {
    pub bucket_minutes: i64,
    pub points: Vec<SeriesPoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeriesPoint {
    #[schema(format = DateTime)]
    pub at: String,
    pub orders: i64,
    pub per_minute: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReasonCount {
    pub reason: String,
    pub orders: i64,
}

/// Placement to delivery, overall and per store.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryMinutes {
    pub all: DeliveryFigures,
    pub by_store: std::collections::BTreeMap<String, DeliveryFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DeliveryFigures {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub delivered: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopProduct {
    pub sku: String,
    pub name: Option<String>,
    pub units: i64,
    pub revenue_paise: i64,
    pub orders: i64,
}

/// Fee income of one kind (`delivery`, `small_cart`, `surge`; `unspecified` for orders whose
/// event did not itemise its fees) from the confirmed orders of a range.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FeeIncome {
    pub code: String,
    pub paise: i64,
    /// Orders that paid it.
    pub orders: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopCategory {
    pub category_id: Option<String>,
    pub name: Option<String>,
    pub units: i64,
    pub revenue_paise: i64,
}

/// Open stock alerts by kind, overall and per store.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AlertCounts {
    pub low: i64,
    pub out: i64,
    pub by_store: std::collections::BTreeMap<String, LowOut>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LowOut {
    pub low: i64,
    pub out: i64,
}

/// Delivery slots booked against capacity.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotFigure {
    pub slots: i64,
    pub capacity: i64,
    pub booked: i64,
    pub full_slots: i64,
    /// Booked ÷ capacity, to a thousandth; none without capacity.
    pub utilisation: Option<f64>,
}

struct SlotUse {
    overall: SlotFigure,
    by_store: std::collections::BTreeMap<String, SlotFigure>,
}

/// Per-store figures for a range.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoresReport {
    #[schema(format = DateTime)]
    pub from: String,
    #[schema(format = DateTime)]
    pub to: String,
    pub items: Vec<StoreFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StoreFigures {
    pub store: String,
    pub placed: i64,
    pub confirmed: i64,
    pub cancelled: i64,
    pub failed: i64,
    pub delivered: i64,
    pub gmv_paise: i64,
    pub net_gmv_paise: i64,
    pub average_order_paise: i64,
    pub delivery_minutes: Option<DeliveryFigures>,
    pub stock_alerts_open: LowOut,
    pub slot_utilisation: Option<SlotFigure>,
}

/// Open stock alerts, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockAlerts {
    pub items: Vec<StockAlert>,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StockAlert {
    pub store: String,
    pub sku: String,
    pub name: Option<String>,
    /// `low` or `out`.
    pub kind: String,
    pub available: i64,
    #[schema(format = DateTime)]
    pub opened_at: String,
}

/// Sums as whole numbers on both backends (MySQL's SUM is DECIMAL, which `Any` cannot read).
fn sum(expr: &str) -> String {
    format!("CAST(COALESCE(SUM({expr}), 0) AS SIGNED)")
}

fn count_when(cond: &str) -> String {
    sum(&format!("CASE WHEN {cond} THEN 1 ELSE 0 END"))
}

/// The order figures of a report, over placed orders matching `cond` (the columns and the
/// FROM clause; totals and per-store breakdowns add their grouping).
/// The order figures over the range (`SELECT ` and any grouping column already pushed).
fn push_figures(q: &mut Sql, r: &Range) {
    q.push(format!(
        "COUNT(*) AS placed, {reserved} AS reserved, {secured} AS secured, {confirmed} AS confirmed, {delivered} AS delivered, \
         {cancelled} AS cancelled, {failed} AS failed, {gmv} AS gmv, {refunded} AS refunded FROM a_orders o \
         LEFT JOIN a_refunds f ON f.order_id = o.order_id WHERE ",
        reserved = count_when("o.reserved_ms IS NOT NULL"),
        secured = count_when("(o.paid_ms IS NOT NULL OR (o.payment_kind = 'cod' AND o.confirmed_ms IS NOT NULL))"),
        confirmed = count_when("o.confirmed_ms IS NOT NULL"),
        delivered = count_when("o.delivered_ms IS NOT NULL"),
        cancelled = count_when("o.cancelled_ms IS NOT NULL"),
        failed = count_when("o.failed_ms IS NOT NULL"),
        gmv = sum("CASE WHEN o.confirmed_ms IS NOT NULL THEN o.total_paise ELSE 0 END"),
        refunded = sum("CASE WHEN o.confirmed_ms IS NOT NULL THEN COALESCE(f.refunded_paise, 0) ELSE 0 END"),
    ));
    push_scope(q, r);
}

impl AnalyticsService {
    pub fn new(db: Db) -> Self {
        AnalyticsService { db }
    }

    /// Everything the dashboard shows for a range.
    pub async fn summary(&self, q: &ReportQuery) -> Result<Summary, CoreError> {
        let r = q.range(now_ms())?;
        let totals = self.totals(&r).await?;
        let series = self.orders_per_minute(&r).await?;
        let delivery = self.delivery_times(&r).await?;
        let slots = self.slot_utilisation(&r).await?;
        Ok(Summary {
            from: ms_to_rfc3339(r.from),
            to: ms_to_rfc3339(r.to),
            store: r.store.clone(),
            orders: totals,
            orders_per_minute: series,
            cancellation_reasons: self.reasons(&r, "cancelled_ms").await?,
            failure_reasons: self.reasons(&r, "failed_ms").await?,
            delivery_minutes: delivery,
            top_products: self.top_products(&r).await?,
            top_categories: self.top_categories(&r).await?,
            fees: self.fee_income(&r).await?,
            stock_alerts_open: self.alert_counts(r.store.as_deref()).await?,
            slot_utilisation: slots.overall,
        })
    }

    /// Fee income of the range's confirmed orders, by kind, largest first.
    async fn fee_income(&self, r: &Range) -> Result<Vec<FeeIncome>, CoreError> {
        let mut q = sql(format!(
            "SELECT f.code AS code, {income} AS income, COUNT(*) AS orders \
             FROM a_order_fees f JOIN a_orders o ON o.order_id = f.order_id WHERE ",
            income = sum("f.paise"),
        ));
        push_scope(&mut q, r);
        q.push(" AND o.confirmed_ms IS NOT NULL GROUP BY f.code ORDER BY income DESC, code");
        let mut out = Vec::new();
        for row in rows(&self.db, q).await? {
            out.push(FeeIncome {
                code: text(&row, "code")?,
                paise: row.try_get("income")?,
                orders: row.try_get("orders")?,
            });
        }
        Ok(out)
    }

    /// Booked against capacity of the delivery slots starting in the range, overall and
    /// per store (`utilisation` = booked ÷ capacity, to a thousandth; null without capacity).
    async fn slot_utilisation(&self, r: &Range) -> Result<SlotUse, CoreError> {
        let mut q = sql("SELECT store, COUNT(*) AS slots, CAST(COALESCE(SUM(capacity), 0) AS SIGNED) AS capacity, \
                       CAST(COALESCE(SUM(booked), 0) AS SIGNED) AS booked, CAST(COALESCE(SUM(CASE WHEN booked >= capacity THEN 1 ELSE 0 END), 0) AS SIGNED) AS full_slots \
                       FROM a_slots WHERE slot_start >= ");
        q.push_bind(r.from).push(" AND slot_start < ").push_bind(r.to);
        if let Some(st) = &r.store {
            q.push(" AND store = ").push_bind(st.clone());
        }
        q.push(" GROUP BY store ORDER BY store");
        let figure = |slots: i64, capacity: i64, booked: i64, full: i64| SlotFigure {
            slots,
            capacity,
            booked,
            full_slots: full,
            utilisation: (capacity > 0).then(|| (booked as f64 / capacity as f64 * 1000.0).round() / 1000.0),
        };
        let (mut ts, mut tc, mut tb, mut tf) = (0, 0, 0, 0);
        let mut by_store = std::collections::BTreeMap::new();
        for row in rows(&self.db, q).await? {
            let n = |c: &str| row.try_get::<i64, _>(c);
            let (slots, capacity, booked, full) = (n("slots")?, n("capacity")?, n("booked")?, n("full_slots")?);
            (ts, tc, tb, tf) = (ts + slots, tc + capacity, tb + booked, tf + full);
            by_store.insert(text(&row, "store")?, figure(slots, capacity, booked, full));
        }
        Ok(SlotUse {
            overall: figure(ts, tc, tb, tf),
            by_store,
        })
    }

    /// Per-store figures for a range: orders, GMV, cancellations, delivery times, alerts.
    pub async fn stores(&self, q: &ReportQuery) -> Result<StoresReport, CoreError> {
        let r = q.range(now_ms())?;
        let mut q = sql("SELECT o.store AS store, ");
        push_figures(&mut q, &r);
        q.push(" GROUP BY o.store ORDER BY o.store");
        let delivery = self.delivery_times(&r).await?;
        let alerts = self.alert_counts(r.store.as_deref()).await?;
        let slots = self.slot_utilisation(&r).await?;
        let mut out = Vec::new();
        for row in rows(&self.db, q).await? {
            let store = text(&row, "store")?;
            let confirmed: i64 = row.try_get("confirmed")?;
            let gmv: i64 = row.try_get("gmv")?;
            let refunded: i64 = row.try_get("refunded")?;
            out.push(StoreFigures {
                placed: row.try_get("placed")?,
                confirmed,
                cancelled: row.try_get("cancelled")?,
                failed: row.try_get("failed")?,
                delivered: row.try_get("delivered")?,
                gmv_paise: gmv,
                net_gmv_paise: gmv - refunded,
                average_order_paise: if confirmed > 0 { gmv / confirmed } else { 0 },
                delivery_minutes: delivery.by_store.get(&store).cloned(),
                stock_alerts_open: alerts.by_store.get(&store).cloned().unwrap_or_default(),
                slot_utilisation: slots.by_store.get(&store).cloned(),
                store,
            });
        }
        Ok(StoresReport {
            from: ms_to_rfc3339(r.from),
            to: ms_to_rfc3339(r.to),
            items: out,
        })
    }

    /// Open stock alerts, oldest first, with the product's name when known.
    pub async fn stock_alerts(&self, q: &ReportQuery) -> Result<StockAlerts, CoreError> {
        let r = q.range(now_ms())?;
        let mut q = sql(
            "SELECT a.store AS store, a.sku AS sku, a.kind AS kind, a.available AS available, a.opened_ms AS opened_ms, p.name AS name \
             FROM a_stock_alerts a LEFT JOIN a_products p ON p.sku = a.sku",
        );
        if let Some(s) = &r.store {
            q.push(" WHERE a.store = ").push_bind(s.clone());
        }
        q.push(" ORDER BY a.opened_ms, a.store, a.sku, a.kind LIMIT 500");
        let mut items = Vec::new();
        for row in rows(&self.db, q).await? {
            items.push(StockAlert {
                store: text(&row, "store")?,
                sku: text(&row, "sku")?,
                name: opt_text(&row, "name")?,
                kind: text(&row, "kind")?,
                available: row.try_get("available")?,
                opened_at: ms_to_rfc3339(row.try_get("opened_ms")?),
            });
        }
        Ok(StockAlerts { items })
    }

    async fn totals(&self, r: &Range) -> Result<Totals, CoreError> {
        let mut q = sql("SELECT ");
        push_figures(&mut q, r);
        let rows = rows(&self.db, q).await?;
        let row = rows
            .first()
            .ok_or_else(|| CoreError::Internal(anyhow::anyhow!("an aggregate returned no row")))?;
        let n = |c: &str| row.try_get::<i64, _>(c);
        let (confirmed, gmv, refunded) = (n("confirmed")?, n("gmv")?, n("refunded")?);
        let stage = |stage: &str, orders: i64| FunnelStage {
            stage: stage.to_owned(),
            orders,
        };
        Ok(Totals {
            placed: n("placed")?,
            confirmed,
            delivered: n("delivered")?,
            cancelled: n("cancelled")?,
            failed: n("failed")?,
            gmv_paise: gmv,
            refunded_paise: refunded,
            net_gmv_paise: gmv - refunded,
            average_order_paise: if confirmed > 0 { gmv / confirmed } else { 0 },
            funnel: vec![
                stage("placed", n("placed")?),
                stage("stock_reserved", n("reserved")?),
                stage("payment_secured", n("secured")?),
                stage("confirmed", confirmed),
                stage("delivered", n("delivered")?),
            ],
        })
    }

    /// Orders placed per bucket (a minute, or wider so that a range has at most
    /// [`MAX_POINTS`] points), every bucket present, with the rate per minute.
    async fn orders_per_minute(&self, r: &Range) -> Result<Series, CoreError> {
        let span = r.to - r.from;
        let bucket = ((span / MAX_POINTS).max(60_000) + 59_999) / 60_000 * 60_000;
        let mut q = sql("SELECT o.created_ms - ((o.created_ms - ");
        q.push_bind(r.from)
            .push(") % ")
            .push_bind(bucket)
            .push(") AS b, COUNT(*) AS n FROM a_orders o WHERE ");
        push_scope(&mut q, r);
        q.push(" GROUP BY b ORDER BY b");
        let counts: std::collections::HashMap<i64, i64> = rows(&self.db, q)
            .await?
            .iter()
            .map(|row| Ok((row.try_get::<i64, _>("b")?, row.try_get::<i64, _>("n")?)))
            .collect::<Result<_, sqlx::Error>>()?;
        let per = (bucket / 60_000) as f64;
        let mut points = Vec::new();
        let mut t = r.from;
        while t < r.to {
            let n = counts.get(&t).copied().unwrap_or(0);
            points.push(SeriesPoint {
                at: ms_to_rfc3339(t),
                orders: n,
                per_minute: (n as f64 / per * 100.0).round() / 100.0,
            });
            t += bucket;
        }
        Ok(Series {
            bucket_minutes: bucket / 60_000,
            points,
        })
    }

    async fn reasons(&self, r: &Range, stage: &str) -> Result<Vec<ReasonCount>, CoreError> {
        let mut q =
            sql("SELECT COALESCE(o.end_reason, '(none given)') AS reason, COUNT(*) AS n FROM a_orders o WHERE ");
        push_scope(&mut q, r);
        q.push(format!(
            " AND o.{stage} IS NOT NULL GROUP BY COALESCE(o.end_reason, '(none given)') ORDER BY n DESC, reason LIMIT "
        ))
        .push_bind(r.limit);
        let mut out = Vec::new();
        for row in rows(&self.db, q).await? {
            out.push(ReasonCount {
                reason: text(&row, "reason")?,
                orders: row.try_get("n")?,
            });
        }
        Ok(out)
    }

    /// Placement to delivery, p50 and p90 in minutes, overall and per store.
    async fn delivery_times(&self, r: &Range) -> Result<DeliveryMinutes, CoreError> {
        let mut q = sql("SELECT o.store AS store, o.delivered_ms - o.created_ms AS d FROM a_orders o WHERE ");
        push_scope(&mut q, r);
        q.push(" AND o.delivered_ms IS NOT NULL");
        let mut all = Vec::new();
        let mut by: std::collections::BTreeMap<String, Vec<i64>> = Default::default();
        for row in rows(&self.db, q).await? {
            let d: i64 = row.try_get("d")?;
            all.push(d);
            by.entry(text(&row, "store")?).or_default().push(d);
        }
        let figures = |v: &mut Vec<i64>| {
            let f = p50_p90_minutes(v);
            DeliveryFigures {
                p50: f.p50,
                p90: f.p90,
                delivered: v.len(),
            }
        };
        let by_store = by.iter_mut().map(|(k, v)| (k.clone(), figures(v))).collect();
        Ok(DeliveryMinutes {
            all: figures(&mut all),
            by_store,
        })
    }

    async fn top_products(&self, r: &Range) -> Result<Vec<TopProduct>, CoreError> {
        let mut q = sql(format!(
            "SELECT l.sku AS sku, MAX(p.name) AS name, {units} AS units, {revenue} AS revenue, COUNT(*) AS orders \
             FROM a_order_lines l JOIN a_orders o ON o.order_id = l.order_id LEFT JOIN a_products p ON p.sku = l.sku WHERE ",
            units = sum("l.quantity"),
            revenue = sum("l.line_paise"),
        ));
        push_scope(&mut q, r);
        q.push(" AND o.confirmed_ms IS NOT NULL GROUP BY l.sku ORDER BY units DESC, revenue DESC, sku LIMIT ")
            .push_bind(r.limit);
        let mut out = Vec::new();
        for row in rows(&self.db, q).await? {
            out.push(TopProduct {
                sku: text(&row, "sku")?,
                name: opt_text(&row, "name")?,
                units: row.try_get("units")?,
                revenue_paise: row.try_get("revenue")?,
                orders: row.try_get("orders")?,
            });
        }
        Ok(out)
    }

    async fn top_categories(&self, r: &Range) -> Result<Vec<TopCategory>, CoreError> {
        let mut q = sql(format!(
            "SELECT COALESCE(p.category_id, '') AS category_id, MAX(c.name) AS name, {units} AS units, {revenue} AS revenue \
             FROM a_order_lines l JOIN a_orders o ON o.order_id = l.order_id LEFT JOIN a_products p ON p.sku = l.sku \
             LEFT JOIN a_categories c ON c.id = p.category_id WHERE ",
            units = sum("l.quantity"),
            revenue = sum("l.line_paise"),
        ));
        push_scope(&mut q, r);
        q.push(
            " AND o.confirmed_ms IS NOT NULL GROUP BY COALESCE(p.category_id, '') ORDER BY units DESC, revenue DESC, category_id LIMIT ",
        )
        .push_bind(r.limit);
        let mut out = Vec::new();
        for row in rows(&self.db, q).await? {
            let id = text(&row, "category_id")?;
            out.push(TopCategory {
                category_id: (!id.is_empty()).then_some(id),
                name: opt_text(&row, "name")?,
                units: row.try_get("units")?,
                revenue_paise: row.try_get("revenue")?,
            });
        }
        Ok(out)
    }

    /// Open alerts by kind, overall and per store (alerts are a current state, not ranged).
    async fn alert_counts(&self, store: Option<&str>) -> Result<AlertCounts, CoreError> {
        let mut q = sql("SELECT store, kind, COUNT(*) AS n FROM a_stock_alerts");
        if let Some(s) = store {
            q.push(" WHERE store = ").push_bind(s.to_owned());
        }
        q.push(" GROUP BY store, kind ORDER BY store, kind");
        let (mut low, mut out) = (0i64, 0i64);
        let mut by: std::collections::BTreeMap<String, LowOut> = Default::default();
        for row in rows(&self.db, q).await? {
            let n: i64 = row.try_get("n")?;
            let kind = text(&row, "kind")?;
            let entry = by.entry(text(&row, "store")?).or_default();
            if kind == "low" {
                entry.low = n;
                low += n;
            } else {
                entry.out = n;
                out += n;
            }
        }
        Ok(AlertCounts { low, out, by_store: by })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_default_to_a_day_and_refuse_nonsense() {
        let now = 10 * DAY_MS;
        let r = ReportQuery::default().range(now).unwrap();
        assert_eq!((r.from, r.to, r.limit), (9 * DAY_MS, now, 10));
        let bad = ReportQuery {
            from: Some("2026-11-27".into()),
            to: Some("2026-11-26".into()),
            store: Some("no spaces!".into()),
            limit: Some(0),
        };
        let CoreError::Validation(f) = bad.range(now).unwrap_err() else {
            panic!("not a validation error")
        };
        assert!(
            f.contains_key("from") && f.contains_key("store") && f.contains_key("limit"),
            "{f:?}"
        );
        let day = ReportQuery {
            from: Some("2026-11-26".into()),
            to: Some("2026-11-26".into()),
            ..Default::default()
        };
        let r = day.range(now).unwrap();
        assert_eq!(r.to - r.from, DAY_MS, "a date range includes the whole last day");
    }
}
