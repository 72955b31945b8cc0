//! `nakku verify`: the promises checked in the databases themselves, after an incident, a
//! deployment or a fault test — no order left half-way, stock equal to its ledger and never
//! negative or over-reserved, each payment keeping what its order says and at most one per
//! order, every outbox drained, no dead letter unexplained. Reads the services' databases
//! (the deployment's settings: SQLite files or MySQL), changes nothing; exits 2 when a
//! promise is broken, naming what.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nakku_core::config::Settings;
use nakku_core::db::Db;
use nakku_core::service::Service;
use serde::Serialize;
use sqlx::Row;

use nakku_core::db::migrate;

#[derive(Debug, Args)]
pub struct Opts {
    /// Look again until every promise holds or this long has passed (events still on their
    /// way settle: a payment follows its order through the bus), e.g. 60s
    #[arg(long, value_parser = super::simulate::parse_duration, default_value = "0s")]
    wait: Duration,
    /// Print the findings as JSON
    #[arg(long)]
    json: bool,
}

/// One promise and what the databases say about it.
#[derive(Debug, Serialize)]
pub struct Finding {
    pub promise: &'static str,
    pub ok: bool,
    /// What was checked, or what is wrong (the first few cases by id).
    pub detail: String,
}

/// Every finding, and whether all hold.
#[derive(Debug, Serialize)]
pub struct Report {
    pub ok: bool,
    pub findings: Vec<Finding>,
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    let report = check_until_ok(settings, o.wait).await?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut t = crate::output::table(&["promise", "result", "detail"]);
        for f in &report.findings {
            t.add_row(vec![
                f.promise.to_owned(),
                if f.ok { "ok" } else { "BROKEN" }.to_owned(),
                f.detail.clone(),
            ]);
        }
        println!("{t}");
    }
    let broken: Vec<&str> = report.findings.iter().filter(|f| !f.ok).map(|f| f.promise).collect();
    anyhow::ensure!(broken.is_empty(), "broken: {}", broken.join("; "));
    Ok(())
}

/// [`check`] again every second until every promise holds or `wait` has passed.
pub async fn check_until_ok(settings: &Settings, wait: Duration) -> anyhow::Result<Report> {
    let deadline = Instant::now() + wait;
    loop {
        let report = check(settings).await?;
        if report.ok || Instant::now() >= deadline {
            return Ok(report);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Reads every service's database once.
pub async fn check(settings: &Settings) -> anyhow::Result<Report> {
    let mut dbs = Vec::new();
    for svc in migrate::migrated_services() {
        dbs.push((svc, nakku_server::open_database(settings, svc).await?));
    }
    let db = |s: Service| dbs.iter().find(|(svc, _)| *svc == s).map(|(_, db)| db);
    let mut findings = Vec::new();
    if let Some(orders) = db(Service::Order) {
        findings.push(orders_settled(orders).await?);
        if let Some(payments) = db(Service::Payment) {
            findings.extend(payments_match(orders, payments).await?);
        }
    }
    if let Some(inventory) = db(Service::Inventory) {
        findings.push(stock_reconciles(inventory).await?);
    }
    findings.push(outboxes_drained(&dbs).await?);
    findings.push(no_dead_letters(&dbs).await?);
    for (_, db) in dbs {
        db.close().await;
    }
    Ok(Report {
        ok: findings.iter().all(|f| f.ok),
        findings,
    })
}

/// A few ids, and how many more.
fn some(ids: &[String]) -> String {
    let shown: Vec<&str> = ids.iter().take(5).map(String::as_str).collect();
    match ids.len().saturating_sub(shown.len()) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

async fn orders_settled(db: &Db) -> anyhow::Result<Finding> {
    let rows = sqlx::query(
        "SELECT id, status, saga_state FROM orders WHERE deleted_at IS NULL \
         AND (saga_state <> 'done' OR status NOT IN ('delivered', 'cancelled', 'failed')) ORDER BY created_at",
    )
    .fetch_all(db.pool())
    .await
    .context("reading orders")?;
    let total: i64 = sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE deleted_at IS NULL")
        .fetch_one(db.pool())
        .await?
        .try_get("n")?;
    let mut open = Vec::new();
    for r in &rows {
        let (id, status, saga): (String, String, String) =
            (r.try_get("id")?, r.try_get("status")?, r.try_get("saga_state")?);
        open.push(format!("{id} ({status}, saga {saga})"));
    }
    Ok(Finding {
        promise: "every order settled (delivered, cancelled or failed; saga done)",
        ok: open.is_empty(),
        detail: if open.is_empty() {
            format!("{total} orders, all settled")
        } else {
            format!("{} of {total} not settled: {}", open.len(), some(&open))
        },
    })
}

/// What an order's payment should keep: the total less refunds once the money is taken
/// (paid online and not failed or cancelled, or cash at a delivered door), else nothing.
pub(super) fn expected_kept(status: &str, kind: &str, total: i64, refunded: i64) -> i64 {
    match status {
        "failed" | "cancelled" => 0,
        "delivered" => total - refunded,
        _ if kind == "cod" => 0,
        _ => total - refunded,
    }
}

async fn payments_match(orders: &Db, payments: &Db) -> anyhow::Result<Vec<Finding>> {
    let doubles =
        sqlx::query("SELECT order_id FROM payments WHERE deleted_at IS NULL GROUP BY order_id HAVING COUNT(*) > 1")
            .fetch_all(payments.pool())
            .await
            .context("reading payments")?
            .iter()
            .map(|r| r.try_get::<String, _>("order_id"))
            .collect::<Result<Vec<_>, _>>()?;
    let kept: std::collections::HashMap<String, i64> =
        sqlx::query("SELECT order_id, captured_paise - refunded_paise AS kept FROM payments WHERE deleted_at IS NULL")
            .fetch_all(payments.pool())
            .await?
            .iter()
            .map(|r| Ok((r.try_get::<String, _>("order_id")?, r.try_get::<i64, _>("kept")?)))
            .collect::<Result<_, sqlx::Error>>()?;
    let rows = sqlx::query(
        "SELECT id, status, payment_kind, total_paise, refunded_paise FROM orders \
         WHERE deleted_at IS NULL AND saga_state = 'done'",
    )
    .fetch_all(orders.pool())
    .await?;
    let mut wrong = Vec::new();
    for r in &rows {
        let (id, status, kind): (String, String, String) =
            (r.try_get("id")?, r.try_get("status")?, r.try_get("payment_kind")?);
        let expected = expected_kept(&status, &kind, r.try_get("total_paise")?, r.try_get("refunded_paise")?);
        let has = kept.get(&id).copied().unwrap_or(0);
        if has != expected {
            wrong.push(format!("{id} ({status}) keeps {has} paise, expected {expected}"));
        }
    }
    Ok(vec![
        Finding {
            promise: "at most one payment per order (no double charge)",
            ok: doubles.is_empty(),
            detail: if doubles.is_empty() {
                format!("{} payments, one per order", kept.len())
            } else {
                format!("{} orders with more than one: {}", doubles.len(), some(&doubles))
            },
        },
        Finding {
            promise: "each payment keeps what its order says",
            ok: wrong.is_empty(),
            detail: if wrong.is_empty() {
                format!("{} settled orders checked", rows.len())
            } else {
                format!("{} of {}: {}", wrong.len(), rows.len(), some(&wrong))
            },
        },
    ])
}

async fn stock_reconciles(db: &Db) -> anyhow::Result<Finding> {
    let mut conn = db.pool().acquire().await?;
    let stores = sqlx::query("SELECT id, code FROM warehouses WHERE deleted_at IS NULL")
        .fetch_all(&mut *conn)
        .await
        .context("reading stores")?;
    let mut wrong = Vec::new();
    for s in &stores {
        let (id, code): (String, String) = (s.try_get("id")?, s.try_get("code")?);
        for (sku, on_hand, ledger_on_hand, reserved, ledger_reserved) in
            nakku_core::inventory::store::reconcile(&mut conn, &id).await?
        {
            wrong.push(format!(
                "{code}/{sku}: on hand {on_hand} (ledger {ledger_on_hand}), reserved {reserved} (ledger {ledger_reserved})"
            ));
        }
    }
    let bad = sqlx::query(
        "SELECT w.code AS code, s.sku AS sku, s.on_hand AS on_hand, s.reserved AS reserved FROM stock s \
         JOIN warehouses w ON w.id = s.warehouse_id WHERE s.on_hand < 0 OR s.reserved < 0 OR s.reserved > s.on_hand",
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in &bad {
        let (code, sku): (String, String) = (r.try_get("code")?, r.try_get("sku")?);
        let (on_hand, reserved): (i64, i64) = (r.try_get("on_hand")?, r.try_get("reserved")?);
        wrong.push(format!("{code}/{sku}: on hand {on_hand}, reserved {reserved}"));
    }
    Ok(Finding {
        promise: "stock equals its ledger; nothing negative or over-reserved (no oversell)",
        ok: wrong.is_empty(),
        detail: if wrong.is_empty() {
            format!("{} stores reconcile", stores.len())
        } else {
            format!("{} lines: {}", wrong.len(), some(&wrong))
        },
    })
}

async fn outboxes_drained(dbs: &[(Service, Db)]) -> anyhow::Result<Finding> {
    let mut waiting = Vec::new();
    for (svc, db) in dbs {
        let b = nakku_core::events::relay::backlog(db).await?;
        if b.unpublished > 0 {
            waiting.push(format!("{svc}: {} unpublished", b.unpublished));
        }
    }
    Ok(Finding {
        promise: "every outbox drained (no event left unpublished)",
        ok: waiting.is_empty(),
        detail: if waiting.is_empty() {
            format!("{} services' outboxes empty", dbs.len())
        } else {
            waiting.join("; ")
        },
    })
}

async fn no_dead_letters(dbs: &[(Service, Db)]) -> anyhow::Result<Finding> {
    let mut letters = Vec::new();
    for (_, db) in dbs {
        for d in nakku_core::events::dlq::list(db, None, false).await? {
            letters.push(format!(
                "{} {} ({})",
                d.consumer,
                d.event_type.unwrap_or_else(|| "(malformed)".into()),
                d.error.chars().take(80).collect::<String>()
            ));
        }
    }
    Ok(Finding {
        promise: "no dead letter (every event applied)",
        ok: letters.is_empty(),
        detail: if letters.is_empty() {
            "none".to_owned()
        } else {
            format!("{}: {} — see `nakku events dlq list`", letters.len(), some(&letters))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payment_keeps_the_total_less_refunds_once_the_money_is_taken() {
        assert_eq!(expected_kept("confirmed", "upi", 500, 0), 500);
        assert_eq!(expected_kept("delivered", "upi", 500, 120), 380);
        assert_eq!(expected_kept("delivered", "cod", 500, 0), 500);
        assert_eq!(
            expected_kept("out_for_delivery", "cod", 500, 0),
            0,
            "cash is taken at the door"
        );
        for s in ["failed", "cancelled"] {
            assert_eq!(expected_kept(s, "card", 500, 0), 0);
        }
    }
}
