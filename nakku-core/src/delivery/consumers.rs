//! The delivery service's consumers: `delivery.orders` (a delivery and a pick per order,
//! released once confirmed, withdrawn if the order ends first) and `delivery.catalogue` (the
//! products and stock substitutions choose from). The stores replica (`delivery.stores`) is
//! the location service's [`crate::location::service::StoreReplica`].

use sqlx::{AnyConnection, Row};

use super::partners::DeliveryConfig;
use crate::db::text;
use crate::distance::haversine_km;
use crate::events::bus::BoxFut;
use crate::events::consumer::Handler;
use crate::events::{catalog, Envelope, Event};
use crate::id::now_ms;
use crate::order::events::{OrderCreated, OrderUpdated};
use crate::product::events::{product_change, PRODUCT_EVENTS};

/// `delivery.orders`: a delivery per order, released for assignment once confirmed and
/// withdrawn if the order is cancelled or fails first.
pub struct OrderFollower(pub DeliveryConfig);

impl Handler for OrderFollower {
    fn name(&self) -> &'static str {
        "delivery.orders"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        &[
            (catalog::ORDER_CREATED, OrderCreated::VERSION),
            (catalog::ORDER_UPDATED, OrderUpdated::VERSION),
        ]
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let now = now_ms();
            if env.event_type == catalog::ORDER_CREATED {
                let p = OrderCreated::from_envelope(env)?;
                sqlx::query(
                    "INSERT INTO deliveries (order_id, user_id, store, drop_lat, drop_lng, payment_kind, total_paise, status, slot_start, slot_end, created_at, updated_at) \
                     SELECT ?, ?, ?, ?, ?, ?, ?, 'awaiting', ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM deliveries WHERE order_id = ?)",
                )
                .bind(&p.order_id)
                .bind(&p.user_id)
                .bind(&p.store)
                .bind(p.address.lat)
                .bind(p.address.lng)
                .bind(&p.payment_kind)
                .bind(p.total_paise)
                .bind(p.slot.as_ref().and_then(|s| crate::id::parse_rfc3339_ms(&s.start)))
                .bind(p.slot.as_ref().and_then(|s| crate::id::parse_rfc3339_ms(&s.end)))
                .bind(now)
                .bind(now)
                .bind(&p.order_id)
                .execute(&mut *conn)
                .await?;
                super::fulfilment::create_pick(conn, &p).await?;
                return Ok(());
            }
            let p: OrderUpdated = env.decode()?;
            let id = p.order_id.as_str();
            match p.status.as_str() {
                "confirmed" => {
                    // The promise: pick and pack, then the road from the store to the door.
                    let at = env.occurred_ms()?;
                    let found = sqlx::query(
                        "SELECT s.lat AS slat, s.lng AS slng, d.drop_lat AS dlat, d.drop_lng AS dlng, d.slot_start AS slot_start, d.store AS store, \
                         d.slot_end AS slot_end FROM deliveries d \
                         JOIN stores s ON s.code = d.store AND s.deleted_at IS NULL WHERE d.order_id = ?",
                    )
                    .bind(id)
                    .fetch_optional(&mut *conn)
                    .await?;
                    let (mut promise, mut promised_by, mut assign_after) = (None, None, None);
                    if let Some(r) = found {
                        let km = haversine_km(
                            (r.try_get("slat")?, r.try_get("slng")?),
                            (r.try_get("dlat")?, r.try_get("dlng")?),
                        );
                        let store: String = text(&r, "store")?;
                        // A busy store promises later (its load's extra minutes).
                        let (_, delay) = super::events::store_load(&mut *conn, &store).await?;
                        let express =
                            crate::distance::eta_minutes(km, self.0.road_factor, self.0.speed_kmh, self.0.prep_minutes)
                                + delay;
                        match (
                            r.try_get::<Option<i64>, _>("slot_start")?,
                            r.try_get::<Option<i64>, _>("slot_end")?,
                        ) {
                            // Scheduled: promised by the slot's end; offered to partners so
                            // that it can reach the door as the slot opens (with 5 min spare).
                            (Some(start), Some(end)) => {
                                promised_by = Some(end);
                                promise = Some(((end - at) as f64 / 60_000.0).ceil() as i64);
                                assign_after = Some(start - (express + 5) * 60_000);
                            }
                            _ => {
                                promise = Some(express);
                                promised_by = Some(at + express * 60_000);
                            }
                        }
                    }
                    sqlx::query(
                        "UPDATE deliveries SET status = 'unassigned', confirmed_at = ?, promised_minutes = ?, promised_by = ?, \
                         assign_after = ?, updated_at = ? WHERE order_id = ? AND status = 'awaiting'",
                    )
                    .bind(at)
                    .bind(promise)
                    .bind(promised_by)
                    .bind(assign_after)
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    // Into the store's picking queue (a scheduled order shortly before its
                    // rider is sent: pick and pack time earlier).
                    let prep_ms = (self.0.prep_minutes * 60_000.0) as i64;
                    sqlx::query(
                        "UPDATE picks SET status = 'queued', queued_at = ?, pick_after = ?, updated_at = ? WHERE order_id = ? AND status = 'awaiting'",
                    )
                    .bind(at)
                    .bind(assign_after.map(|t| t - prep_ms))
                    .bind(now)
                    .bind(id)
                    .execute(conn)
                    .await?;
                }
                "cancelled" | "failed" => {
                    sqlx::query(
                        "UPDATE deliveries SET status = 'cancelled', partner_id = CASE WHEN status IN ('assigned', 'at_store') THEN NULL ELSE partner_id END, \
                         updated_at = ? WHERE order_id = ? AND status IN ('awaiting', 'unassigned', 'assigned', 'at_store')",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    sqlx::query(
                        "UPDATE picks SET status = 'cancelled', updated_at = ? WHERE order_id = ? AND status IN ('awaiting', 'queued', 'picking')",
                    )
                    .bind(now)
                    .bind(id)
                    .execute(&mut *conn)
                    .await?;
                    super::slots::release(conn, id).await?;
                }
                _ => {}
            }
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        // Deliveries are the service's own records, not a read model: a replay adds what is
        // missing and leaves the rest.
        Box::pin(async move {
            let _ = conn;
            Ok(())
        })
    }
}

/// `delivery.catalogue`: what substitutions choose from — products (price, category, brand,
/// active) and the units each store has.
pub struct CatalogueReplica;

impl Handler for CatalogueReplica {
    fn name(&self) -> &'static str {
        "delivery.catalogue"
    }

    fn handles(&self) -> &'static [(&'static str, u32)] {
        const EVENTS: [(&str, u32); 4] = [
            PRODUCT_EVENTS[0],
            PRODUCT_EVENTS[1],
            PRODUCT_EVENTS[2],
            (
                catalog::INVENTORY_UPDATED,
                crate::inventory::events::StockUpdated::VERSION,
            ),
        ];
        &EVENTS
    }

    fn handle<'a>(&'a self, conn: &'a mut AnyConnection, env: &'a Envelope) -> BoxFut<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if env.event_type == catalog::INVENTORY_UPDATED {
                // The same stock replica the catalogue keeps.
                return crate::inventory::events::apply_stock_event(conn, "f_stock", env).await;
            }
            let Some((p, active)) = product_change(env)? else {
                anyhow::bail!("delivery.catalogue does not handle {}", env.event_type);
            };
            let (sku, version) = (p.sku.as_str(), p.version);
            let stored: Option<i64> = sqlx::query("SELECT version FROM f_products WHERE sku = ?")
                .bind(sku)
                .fetch_optional(&mut *conn)
                .await?
                .map(|r| r.try_get("version"))
                .transpose()?;
            if stored.is_some_and(|v| v > version) {
                return Ok(()); // an older event arriving late
            }
            sqlx::query("DELETE FROM f_products WHERE sku = ?")
                .bind(sku)
                .execute(&mut *conn)
                .await?;
            sqlx::query(
                "INSERT INTO f_products (sku, name, brand, category_id, price_paise, active, version) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(sku)
            .bind(&p.name)
            .bind(&p.brand)
            .bind(&p.category_id)
            .bind(p.price_paise)
            .bind(i64::from(active))
            .bind(version)
            .execute(conn)
            .await?;
            Ok(())
        })
    }

    fn reset<'a>(&'a self, conn: &'a mut AnyConnection) -> BoxFut<'a, Result<(), sqlx::Error>> {
        Box::pin(async move {
            sqlx::query("DELETE FROM f_products").execute(&mut *conn).await?;
            sqlx::query("DELETE FROM f_stock").execute(&mut *conn).await?;
            Ok(())
        })
    }
}
