//! Consumers that feed the catalogue's read models from inventory events:
//! `product.stock` keeps available units per sku per store (`inventory.updated`), and
//! `product.sales` counts units sold and skus bought together (`inventory.confirmed`, sent
//! when an order's payment confirms its reservation). Search and recommendations read both.

use std::collections::BTreeSet;

use sqlx::AnyConnection;

use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};
use crate::id::now_ms;
use crate::inventory::events::{apply_stock_event, StockConfirmed, StockUpdated};

/// Skus of one order taken into co-purchase counts (an order of 200 lines would otherwise
/// write 40,000 pairs).
pub const MAX_PAIRED_SKUS: usize = 40;

pub struct StockReplica;

impl Handler for StockReplica {
    fn name(&self) -> &'static str {
        "product.stock"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(catalog::INVENTORY_UPDATED, StockUpdated::VERSION)]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(apply_stock_event(conn, "store_stock", env))
    }

    fn latest_wins(&self, env: &Envelope) -> Option<(String, i64)> {
        crate::inventory::events::stock_event_key(env)
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM store_stock").execute(conn).await?;
            Ok(())
        })
    }
}

pub struct SalesRecorder;

impl Handler for SalesRecorder {
    fn name(&self) -> &'static str {
        "product.sales"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(catalog::INVENTORY_CONFIRMED, StockConfirmed::VERSION)]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let sold: StockConfirmed = env.decode()?;
            let store = sold.store.as_str();
            let now = now_ms();
            let mut skus = BTreeSet::new();
            for l in &sold.lines {
                let (sku, qty) = (l.sku.as_str(), l.quantity);
                let updated = sqlx::query(
                    "UPDATE product_sales SET units = units + ?, orders = orders + 1, updated_at = ? WHERE store = ? AND sku = ?",
                )
                .bind(qty)
                .bind(now)
                .bind(store)
                .bind(sku)
                .execute(&mut *conn)
                .await?;
                if updated.rows_affected() == 0 {
                    sqlx::query(
                        "INSERT INTO product_sales (store, sku, units, orders, updated_at) VALUES (?, ?, ?, 1, ?)",
                    )
                    .bind(store)
                    .bind(sku)
                    .bind(qty)
                    .bind(now)
                    .execute(&mut *conn)
                    .await?;
                }
                skus.insert(sku.to_owned());
            }
            let skus: Vec<String> = skus.into_iter().take(MAX_PAIRED_SKUS).collect();
            for a in &skus {
                for b in &skus {
                    if a == b {
                        continue;
                    }
                    let updated =
                        sqlx::query("UPDATE co_purchases SET orders = orders + 1 WHERE sku = ? AND other_sku = ?")
                            .bind(a)
                            .bind(b)
                            .execute(&mut *conn)
                            .await?;
                    if updated.rows_affected() == 0 {
                        sqlx::query("INSERT INTO co_purchases (sku, other_sku, orders) VALUES (?, ?, 1)")
                            .bind(a)
                            .bind(b)
                            .execute(&mut *conn)
                            .await?;
                    }
                }
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM product_sales").execute(&mut *conn).await?;
            sqlx::query("DELETE FROM co_purchases").execute(conn).await?;
            Ok(())
        })
    }
}
