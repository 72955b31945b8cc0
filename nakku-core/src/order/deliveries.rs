//! `order.deliveries`: the order follows its delivery. `delivery.started` moves it to out
//! for delivery (through packed when the store did not record packing), `delivery.completed`
//! to delivered, and `delivery.failed` to failed with compensation, which the saga carries
//! out (what was paid is refunded, the goods go back on the shelf). `delivery.packed` moves
//! it to packed with what picking changed (missing items refunded, substitutes added); the
//! saga then applies the change to the stock and the payment.

use sqlx::{AnyConnection, Row};

use super::service::{apply_move, load_row, Move};
use crate::delivery::events::{DeliveryCompleted, DeliveryFailed, DeliveryPacked, DeliveryStarted};
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{Envelope, Event};

pub struct DeliveryFollower;

/// `delivery.packed`: a confirmed order becomes packed; what picking changed is written to
/// its lines and totals at once, and left for the saga to apply to stock and payment.
async fn packed(conn: &mut AnyConnection, p: DeliveryPacked) -> anyhow::Result<()> {
    let id = p.order_id.as_str();
    let Some(row) = load_row(conn, id).await? else {
        anyhow::bail!("order {id} is unknown to the order service");
    };
    if row.status != "confirmed" {
        return Ok(()); // a redelivery, or an order no longer in play
    }
    let (changes, refund) = (&p.changes, p.refund_paise);
    let now = crate::id::now_ms();
    let mut notes = Vec::new();
    for c in changes {
        let (sku, missing) = (c.sku.as_str(), c.missing);
        let line = sqlx::query("SELECT quantity, unit_price_paise FROM order_lines WHERE order_id = ? AND sku = ?")
            .bind(id)
            .bind(sku)
            .fetch_optional(&mut *conn)
            .await?;
        let Some(line) = line else { continue };
        let (quantity, price): (i64, i64) = (line.try_get("quantity")?, line.try_get("unit_price_paise")?);
        let left = quantity - missing.min(quantity);
        if left == 0 {
            sqlx::query("UPDATE order_lines SET status = 'short', updated_at = ? WHERE order_id = ? AND sku = ?")
                .bind(now)
                .bind(id)
                .bind(sku)
                .execute(&mut *conn)
                .await?;
        } else {
            sqlx::query("UPDATE order_lines SET quantity = ?, line_total_paise = ?, updated_at = ? WHERE order_id = ? AND sku = ?")
                .bind(left)
                .bind(left * price)
                .bind(now)
                .bind(id)
                .bind(sku)
                .execute(&mut *conn)
                .await?;
        }
        let s = c.substitute.as_ref();
        match (
            s.map(|s| s.sku.as_str()),
            s.and_then(|s| s.quantity),
            s.and_then(|s| s.unit_price_paise),
        ) {
            (Some(sub), Some(n), Some(sp)) if n > 0 => {
                let name = s.and_then(|s| s.name.as_deref()).unwrap_or(sub);
                sqlx::query(
                    "INSERT INTO order_lines (order_id, sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status, created_at, updated_at) \
                     VALUES (?, ?, '', ?, '', ?, ?, ?, ?, 'substitute', ?, ?)",
                )
                .bind(id)
                .bind(sub)
                .bind(name)
                .bind(sp)
                .bind(sp)
                .bind(n)
                .bind(n * sp)
                .bind(now)
                .bind(now)
                .execute(&mut *conn)
                .await?;
                notes.push(format!("{missing} × {sku} not found, {n} × {name} instead"));
            }
            _ => notes.push(format!("{missing} × {sku} not found")),
        }
    }
    if !changes.is_empty() {
        let adjustment = serde_json::json!({"changes": changes, "refund_paise": refund, "picker_id": p.picker_id});
        sqlx::query(
            "UPDATE orders SET adjustment = ?, items_paise = items_paise - ?, total_paise = total_paise - ?, updated_at = ? \
             WHERE id = ? AND adjustment IS NULL",
        )
        .bind(adjustment.to_string())
        .bind(refund)
        .bind(refund)
        .bind(now)
        .bind(id)
        .execute(&mut *conn)
        .await?;
    }
    let note = if notes.is_empty() {
        "picked and packed".to_owned()
    } else {
        format!("picked and packed: {}", notes.join("; "))
    };
    let m = Move {
        from: "confirmed",
        to: "packed",
        // With changes, the saga runs again to apply them to stock and payment.
        saga: if changes.is_empty() { "done" } else { "running" },
        note: &note,
        actor: "picking",
        failure: None,
    };
    apply_move(conn, &row, &m).await?;
    Ok(())
}

const ACTOR: &str = "delivery";

impl Handler for DeliveryFollower {
    fn name(&self) -> &'static str {
        "order.deliveries"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (DeliveryPacked::TYPE, DeliveryPacked::VERSION),
            (DeliveryStarted::TYPE, DeliveryStarted::VERSION),
            (DeliveryCompleted::TYPE, DeliveryCompleted::VERSION),
            (DeliveryFailed::TYPE, DeliveryFailed::VERSION),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            // The step, and why it failed when it did.
            let (state, reason) = match env.event_type.as_str() {
                DeliveryPacked::TYPE => return packed(conn, env.decode()?).await,
                DeliveryStarted::TYPE => (env.decode::<DeliveryStarted>()?.0, None),
                DeliveryCompleted::TYPE => (env.decode::<DeliveryCompleted>()?.delivery, None),
                DeliveryFailed::TYPE => {
                    let f: DeliveryFailed = env.decode()?;
                    (f.delivery, f.reason)
                }
                other => anyhow::bail!("order.deliveries does not handle {other}"),
            };
            let id = state.order_id.as_str();
            // At most three moves (confirmed → packed → out for delivery → delivered).
            for _ in 0..3 {
                let Some(row) = load_row(conn, id).await? else {
                    anyhow::bail!("order {id} is unknown to the order service");
                };
                // A saga still applying picking changes keeps running beside these moves.
                let busy = row.saga_state == "running";
                let failure;
                let (to, saga, note, fail): (&str, &str, &str, Option<&str>) =
                    match (env.event_type.as_str(), row.status.as_str()) {
                        // The rider had the goods: the order was packed, whatever the store recorded.
                        (DeliveryStarted::TYPE | DeliveryFailed::TYPE, "confirmed") => {
                            ("packed", "done", "packed and handed to the rider", None)
                        }
                        (DeliveryStarted::TYPE, "packed") => ("out_for_delivery", "done", "out for delivery", None),
                        (DeliveryCompleted::TYPE, "confirmed") => {
                            ("packed", "done", "packed and handed to the rider", None)
                        }
                        (DeliveryCompleted::TYPE, "packed") => ("out_for_delivery", "done", "out for delivery", None),
                        (DeliveryCompleted::TYPE, "out_for_delivery") => {
                            ("delivered", "done", "delivered; the shopper's code matched", None)
                        }
                        (DeliveryFailed::TYPE, "packed" | "out_for_delivery") => {
                            failure = format!("delivery failed: {}", reason.as_deref().unwrap_or("no reason given"));
                            ("failed", "compensating", failure.as_str(), Some(failure.as_str()))
                        }
                        // Already there (a redelivery), or an order no longer in play.
                        _ => return Ok(()),
                    };
                let m = Move {
                    from: &row.status,
                    to,
                    saga: if busy && saga == "done" { "keep" } else { saga },
                    note,
                    actor: ACTOR,
                    failure: fail,
                };
                apply_move(conn, &row, &m).await?;
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        // Orders are records, not a read model: nothing to empty.
        Box::pin(async move {
            let _ = conn;
            Ok(())
        })
    }
}
