//! The cart's read models, fed by events: prices and limits (`cart.products` ←
//! product.*), stock per store (`cart.stock` ← inventory.updated) and orders in progress
//! per store (`cart.orders` ← order.*, which also takes ordered lines out of the cart).

use sqlx::{AnyConnection, Row};

use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};
use crate::id::now_ms;
use crate::order::events::{OrderCancelled, OrderCompleted, OrderCreated, OrderUpdated};
use crate::product::events::{product_change, PRODUCT_EVENTS};

pub struct ProductReplica;

impl Handler for ProductReplica {
    fn name(&self) -> &'static str {
        "cart.products"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &PRODUCT_EVENTS
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let Some((p, active)) = product_change(env)? else {
                anyhow::bail!("cart.products does not handle {}", env.event_type);
            };
            let (sku, version, price, mrp) = (p.sku.as_str(), p.version, p.price_paise, p.mrp_paise);
            let stored: Option<i64> = sqlx::query("SELECT version FROM cart_products WHERE sku = ?")
                .bind(sku)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("version"))
                .transpose()?;
            match stored {
                Some(v) if v > version => return Ok(()), // an older change arriving late
                Some(_) => {
                    sqlx::query(
                        "UPDATE cart_products SET product_id = ?, name = ?, unit = ?, price_paise = ?, mrp_paise = ?, max_per_order = ?, active = ?, version = ?, updated_at = ? WHERE sku = ?",
                    )
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.unit)
                    .bind(price)
                    .bind(mrp)
                    .bind(p.max_per_order)
                    .bind(i32::from(active))
                    .bind(version)
                    .bind(now_ms())
                    .bind(sku)
                    .execute(&mut *conn)
                    .await?;
                }
                None => {
                    sqlx::query(
                        "INSERT INTO cart_products (sku, product_id, name, unit, price_paise, mrp_paise, max_per_order, active, version, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    )
                    .bind(sku)
                    .bind(&p.id)
                    .bind(&p.name)
                    .bind(&p.unit)
                    .bind(price)
                    .bind(mrp)
                    .bind(p.max_per_order)
                    .bind(i32::from(active))
                    .bind(version)
                    .bind(now_ms())
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM cart_products").execute(conn).await?;
            Ok(())
        })
    }
}

pub struct StockReplica;

impl Handler for StockReplica {
    fn name(&self) -> &'static str {
        "cart.stock"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[(
            catalog::INVENTORY_UPDATED,
            crate::inventory::events::StockUpdated::VERSION,
        )]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(crate::inventory::events::apply_stock_event(conn, "cart_stock", env))
    }

    fn latest_wins(&self, env: &Envelope) -> Option<(String, i64)> {
        crate::inventory::events::stock_event_key(env)
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM cart_stock").execute(conn).await?;
            Ok(())
        })
    }
}

/// Order statuses after which an order no longer loads its store.
pub const RELEASED_STATUSES: [&str; 4] = ["out_for_delivery", "delivered", "cancelled", "failed"];

pub struct OrderFollower;

impl Handler for OrderFollower {
    fn name(&self) -> &'static str {
        "cart.orders"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (catalog::ORDER_CREATED, OrderCreated::VERSION),
            (catalog::ORDER_UPDATED, OrderUpdated::VERSION),
            (catalog::ORDER_CANCELLED, OrderCancelled::VERSION),
            (catalog::ORDER_COMPLETED, OrderCompleted::VERSION),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if env.event_type != catalog::ORDER_CREATED {
                // `order.cancelled` and `order.completed` carry the same payload.
                let p: OrderUpdated = match env.event_type.as_str() {
                    catalog::ORDER_CANCELLED => env.decode::<OrderCancelled>()?.0,
                    catalog::ORDER_COMPLETED => env.decode::<OrderCompleted>()?.0,
                    _ => env.decode()?,
                };
                if RELEASED_STATUSES.contains(&p.status.as_str()) || env.event_type != catalog::ORDER_UPDATED {
                    sqlx::query("DELETE FROM active_orders WHERE order_id = ?")
                        .bind(&p.order_id)
                        .execute(&mut *conn)
                        .await?;
                }
                return Ok(());
            }
            let p = OrderCreated::from_envelope(env)?;
            let (order_id, store, user_id) = (&p.order_id, &p.store, &p.user_id);
            sqlx::query("INSERT INTO active_orders (order_id, store, created_at) VALUES (?, ?, ?)")
                .bind(order_id)
                .bind(store)
                .bind(now_ms())
                .execute(&mut *conn)
                .await?;
            // The ordered units leave the cart; anything added since stays. (The cart's id is
            // read first, without a lock: naming the cart by a subquery in the DELETE would
            // lock its row before the lines on MySQL, the opposite of a shopper's change,
            // which writes the line and then the cart — a deadlock under load.)
            let Some(cart) = sqlx::query("SELECT id FROM carts WHERE user_id = ? AND store = ? AND deleted_at IS NULL")
                .bind(user_id)
                .bind(store)
                .fetch_optional(&mut *conn)
                .await?
            else {
                return Ok(());
            };
            let cart_id = crate::db::text(&cart, "id")?;
            let placed_at = env.occurred_ms()?;
            for l in &p.lines {
                let (sku, qty) = (&l.sku, l.quantity);
                // Lines changed after the order was placed are the shopper's new wishes: kept.
                let gone = sqlx::query(
                    "DELETE FROM cart_items WHERE cart_id = ? AND sku = ? AND quantity <= ? AND updated_at <= ?",
                )
                .bind(&cart_id)
                .bind(sku)
                .bind(qty)
                .bind(placed_at)
                .execute(&mut *conn)
                .await?;
                if gone.rows_affected() > 0 {
                    continue; // the whole line was ordered: nothing left to take off
                }
                sqlx::query("UPDATE cart_items SET quantity = quantity - ? WHERE cart_id = ? AND sku = ? AND quantity > ? AND updated_at <= ?")
                    .bind(qty)
                    .bind(&cart_id)
                    .bind(sku)
                    .bind(qty)
                    .bind(placed_at)
                    .execute(&mut *conn)
                    .await?;
            }
            let left: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cart_items WHERE cart_id = ?")
                .bind(&cart_id)
                .fetch_one(&mut *conn)
                .await?
                .try_get("n")?;
            if left == 0 {
                super::service::clear_cart(
                    conn,
                    &cart_id,
                    user_id,
                    store,
                    &format!("order {order_id} placed"),
                    order_id,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM active_orders").execute(conn).await?;
            Ok(())
        })
    }
}
