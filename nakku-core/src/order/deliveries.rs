//! `order.deliveries`: the order follows its delivery. `delivery.started` moves it to out
//! for delivery (through packed when the store did not record packing), `delivery.completed`
//! to delivered, and `delivery.failed` to failed with compensation, which the saga carries
//! out (what was paid is refunded, the goods go back on the shelf).

use sqlx::AnyConnection;

use super::service::{apply_move, load_row, Move};
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope};

pub struct DeliveryFollower;

const ACTOR: &str = "delivery";

impl Handler for DeliveryFollower {
    fn name(&self) -> &'static str {
        "order.deliveries"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (catalog::DELIVERY_STARTED, 1),
            (catalog::DELIVERY_COMPLETED, 1),
            (catalog::DELIVERY_FAILED, 1),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let id = env.payload["order_id"]
                .as_str()
                .ok_or_else(|| anyhow::anyhow!("order_id missing"))?;
            // At most three moves (confirmed → packed → out for delivery → delivered).
            for _ in 0..3 {
                let Some(row) = load_row(conn, id).await? else {
                    anyhow::bail!("order {id} is unknown to the order service");
                };
                let failure;
                let (to, saga, note, fail): (&str, &str, &str, Option<&str>) =
                    match (env.event_type.as_str(), row.status.as_str()) {
                        // The rider had the goods: the order was packed, whatever the store recorded.
                        (catalog::DELIVERY_STARTED | catalog::DELIVERY_FAILED, "confirmed") => {
                            ("packed", "done", "packed and handed to the rider", None)
                        }
                        (catalog::DELIVERY_STARTED, "packed") => ("out_for_delivery", "done", "out for delivery", None),
                        (catalog::DELIVERY_COMPLETED, "confirmed") => {
                            ("packed", "done", "packed and handed to the rider", None)
                        }
                        (catalog::DELIVERY_COMPLETED, "packed") => {
                            ("out_for_delivery", "done", "out for delivery", None)
                        }
                        (catalog::DELIVERY_COMPLETED, "out_for_delivery") => {
                            ("delivered", "done", "delivered; the shopper's code matched", None)
                        }
                        (catalog::DELIVERY_FAILED, "packed" | "out_for_delivery") => {
                            failure = format!(
                                "delivery failed: {}",
                                env.payload["reason"].as_str().unwrap_or("no reason given")
                            );
                            ("failed", "compensating", failure.as_str(), Some(failure.as_str()))
                        }
                        // Already there (a redelivery), or an order no longer in play.
                        _ => return Ok(()),
                    };
                let m = Move {
                    from: &row.status,
                    to,
                    saga,
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
