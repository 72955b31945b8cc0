//! The `analytics` consumer: every event that moves a figure, folded into the read models
//! of `migrations/*/analytics`. Times are the events' `occurred_at`, so a replay from the
//! beginning into an empty database rebuilds the same rows.

use sqlx::AnyConnection;

use crate::delivery::events::SlotUpdated;
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};
use crate::inventory::events::{BackInStock, LowStock, OutOfStock, StockUpdated};
use crate::order::events::{OrderCreated, OrderUpdated};
use crate::payment::events::PaymentRefunded;
use crate::product::events::{product_change, CategoryUpdated, ProductCreated, ProductUpdated};

pub const CONSUMER: &str = "analytics";

pub struct AnalyticsHandler;

/// The column that records when an order reached `status`, if analytics follows it.
fn stage_column(status: &str) -> Option<&'static str> {
    Some(match status {
        "stock_reserved" => "reserved_ms",
        "paid" => "paid_ms",
        "confirmed" => "confirmed_ms",
        "delivered" => "delivered_ms",
        "cancelled" => "cancelled_ms",
        "failed" => "failed_ms",
        _ => return None,
    })
}

async fn order_created(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    let p = OrderCreated::from_envelope(env)?;
    let at = env.occurred_ms()?;
    sqlx::query(
        "INSERT INTO a_orders (order_id, store, user_id, payment_kind, status, items_paise, total_paise, created_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&p.order_id)
    .bind(&p.store)
    .bind(&p.user_id)
    .bind(&p.payment_kind)
    .bind(&p.status)
    .bind(p.items_paise)
    .bind(p.total_paise)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    let mut fees: std::collections::BTreeMap<&str, i64> = std::collections::BTreeMap::new();
    for f in &p.fees {
        *fees.entry(f.code.as_str()).or_default() += f.paise;
    }
    for (code, paise) in fees {
        sqlx::query("INSERT INTO a_order_fees (order_id, code, paise) VALUES (?, ?, ?)")
            .bind(&p.order_id)
            .bind(code)
            .bind(paise)
            .execute(&mut *conn)
            .await?;
    }
    for l in &p.lines {
        sqlx::query("INSERT INTO a_order_lines (order_id, sku, quantity, line_paise) VALUES (?, ?, ?, ?)")
            .bind(&p.order_id)
            .bind(&l.sku)
            .bind(l.quantity)
            .bind(l.quantity * l.unit_price_paise)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn order_moved(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    let p: OrderUpdated = env.decode()?;
    let (id, status) = (p.order_id.as_str(), p.status.as_str());
    let at = env.occurred_ms()?;
    let Some(col) = stage_column(status) else {
        sqlx::query("UPDATE a_orders SET status = ? WHERE order_id = ?")
            .bind(status)
            .bind(id)
            .execute(&mut *conn)
            .await?;
        return Ok(());
    };
    // Why an order ended: the failure reason, else the note of the move (a cancellation's).
    let reason = match status {
        "cancelled" | "failed" => p
            .failure_reason
            .as_deref()
            .or(p.reason.as_deref())
            .map(|r| r.chars().take(500).collect::<String>()),
        _ => None,
    };
    // The first time counts: a stage is reached once.
    let r = sqlx::query(&format!(
        "UPDATE a_orders SET status = ?, {col} = COALESCE({col}, ?), end_reason = COALESCE(?, end_reason) WHERE order_id = ?"
    ))
    .bind(status)
    .bind(at)
    .bind(reason)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    anyhow::ensure!(
        r.rows_affected() == 1,
        "order {id} moved to {status} before analytics saw it created"
    );
    Ok(())
}

async fn refunded(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    // `refunded_paise` is the payment's running total: the largest seen wins.
    let r: PaymentRefunded = env.decode()?;
    let (order, total) = (&r.payment.order_id, r.payment.refunded_paise);
    let r = sqlx::query("UPDATE a_refunds SET refunded_paise = ? WHERE order_id = ? AND refunded_paise < ?")
        .bind(total)
        .bind(order)
        .bind(total)
        .execute(&mut *conn)
        .await?;
    if r.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO a_refunds (order_id, refunded_paise) SELECT ?, ? \
             WHERE NOT EXISTS (SELECT 1 FROM a_refunds WHERE order_id = ?)",
        )
        .bind(order)
        .bind(total)
        .bind(order)
        .execute(conn)
        .await?;
    }
    Ok(())
}

/// Replaces a dimension row (dialect-free: delete, then insert).
async fn replace(conn: &mut AnyConnection, table: &str, key: &str, values: &[&str]) -> Result<(), sqlx::Error> {
    sqlx::query(&format!("DELETE FROM {table} WHERE {key} = ?"))
        .bind(values[0])
        .execute(&mut *conn)
        .await?;
    let cols = match table {
        "a_products" => "sku, name, category_id",
        _ => "id, name",
    };
    let mut qb = sqlx::QueryBuilder::<sqlx::Any>::new(format!("INSERT INTO {table} ({cols}) VALUES "));
    crate::db::push_list(&mut qb, values.iter().copied());
    qb.build().execute(conn).await?;
    Ok(())
}

async fn stock(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    let level = match env.event_type.as_str() {
        catalog::INVENTORY_LOW_STOCK => env.decode::<LowStock>()?.0,
        catalog::INVENTORY_OUT_OF_STOCK => env.decode::<OutOfStock>()?.0,
        catalog::INVENTORY_BACK_IN_STOCK => env.decode::<BackInStock>()?.level,
        _ => env.decode::<StockUpdated>()?.0,
    };
    let (store, sku, available) = (level.store.as_str(), level.sku.as_str(), level.available);
    let at = env.occurred_ms()?;
    let open = |kind: &'static str| {
        sqlx::query(
            "INSERT INTO a_stock_alerts (store, sku, kind, available, opened_ms) SELECT ?, ?, ?, ?, ? \
             WHERE NOT EXISTS (SELECT 1 FROM a_stock_alerts WHERE store = ? AND sku = ? AND kind = ?)",
        )
        .bind(store)
        .bind(sku)
        .bind(kind)
        .bind(available)
        .bind(at)
        .bind(store)
        .bind(sku)
        .bind(kind)
    };
    let close = |kind: &'static str| {
        sqlx::query("DELETE FROM a_stock_alerts WHERE store = ? AND sku = ? AND kind = ?")
            .bind(store)
            .bind(sku)
            .bind(kind)
    };
    match env.event_type.as_str() {
        catalog::INVENTORY_LOW_STOCK => {
            open("low").execute(&mut *conn).await?;
        }
        catalog::INVENTORY_OUT_OF_STOCK => {
            open("out").execute(&mut *conn).await?;
        }
        catalog::INVENTORY_BACK_IN_STOCK => {
            close("out").execute(&mut *conn).await?;
        }
        _ => {
            // inventory.updated: a low alert closes once available is above the threshold
            // again (the inventory re-arms its alert then, without an event of its own).
            if available > level.low_threshold {
                close("low").execute(&mut *conn).await?;
            } else {
                sqlx::query("UPDATE a_stock_alerts SET available = ? WHERE store = ? AND sku = ?")
                    .bind(available)
                    .bind(store)
                    .bind(sku)
                    .execute(&mut *conn)
                    .await?;
            }
            if available > 0 {
                close("out").execute(&mut *conn).await?;
            }
        }
    }
    Ok(())
}

/// A slot's capacity and bookings as last reported (an older report never overwrites a
/// newer one, whatever order they arrive in).
async fn slot(conn: &mut AnyConnection, env: &Envelope) -> anyhow::Result<()> {
    let s: SlotUpdated = env.decode()?;
    let (store, start, end, capacity, booked) = (s.store.as_str(), s.start, s.end, s.capacity, s.booked);
    let at = env.occurred_ms()?;
    let r = sqlx::query(
        "UPDATE a_slots SET slot_end = ?, capacity = ?, booked = ?, seen_ms = ? WHERE store = ? AND slot_start = ? AND seen_ms <= ?",
    )
    .bind(end)
    .bind(capacity)
    .bind(booked)
    .bind(at)
    .bind(store)
    .bind(start)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    if r.rows_affected() == 0 {
        sqlx::query(
            "INSERT INTO a_slots (store, slot_start, slot_end, capacity, booked, seen_ms) SELECT ?, ?, ?, ?, ?, ? \
             WHERE NOT EXISTS (SELECT 1 FROM a_slots WHERE store = ? AND slot_start = ?)",
        )
        .bind(store)
        .bind(start)
        .bind(end)
        .bind(capacity)
        .bind(booked)
        .bind(at)
        .bind(store)
        .bind(start)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

impl Handler for AnalyticsHandler {
    fn name(&self) -> &'static str {
        CONSUMER
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (catalog::ORDER_CREATED, OrderCreated::VERSION),
            (catalog::ORDER_UPDATED, OrderUpdated::VERSION),
            (catalog::PAYMENT_REFUNDED, PaymentRefunded::VERSION),
            (catalog::PRODUCT_CREATED, ProductCreated::VERSION),
            (catalog::PRODUCT_UPDATED, ProductUpdated::VERSION),
            (catalog::CATEGORY_UPDATED, CategoryUpdated::VERSION),
            (catalog::INVENTORY_UPDATED, StockUpdated::VERSION),
            (catalog::INVENTORY_LOW_STOCK, LowStock::VERSION),
            (catalog::INVENTORY_OUT_OF_STOCK, OutOfStock::VERSION),
            (catalog::INVENTORY_BACK_IN_STOCK, BackInStock::VERSION),
            (catalog::DELIVERY_SLOT_UPDATED, SlotUpdated::VERSION),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match env.event_type.as_str() {
                catalog::ORDER_CREATED => order_created(conn, env).await,
                catalog::ORDER_UPDATED => order_moved(conn, env).await,
                catalog::PAYMENT_REFUNDED => refunded(conn, env).await,
                catalog::PRODUCT_CREATED | catalog::PRODUCT_UPDATED => {
                    let Some((p, _)) = product_change(env)? else {
                        anyhow::bail!("not a product event: {}", env.event_type);
                    };
                    replace(conn, "a_products", "sku", &[&p.sku, &p.name, &p.category_id]).await?;
                    Ok(())
                }
                catalog::CATEGORY_UPDATED => {
                    let c = env.decode::<CategoryUpdated>()?.category;
                    replace(conn, "a_categories", "id", &[&c.id, &c.name]).await?;
                    Ok(())
                }
                catalog::DELIVERY_SLOT_UPDATED => slot(conn, env).await,
                _ => stock(conn, env).await,
            }
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            for t in [
                "a_orders",
                "a_order_lines",
                "a_order_fees",
                "a_products",
                "a_categories",
                "a_stock_alerts",
                "a_refunds",
                "a_slots",
            ] {
                sqlx::query(&format!("DELETE FROM {t}")).execute(&mut *conn).await?;
            }
            Ok(())
        })
    }
}
