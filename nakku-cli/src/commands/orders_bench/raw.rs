//! The raw database ceiling: the order flow's SQL as plain statements on the same
//! databases, without HTTP, events or the saga.

use super::*;

/// The service databases the raw ceiling writes and reads.
pub(super) struct Dbs {
    pub(super) order: Db,
    pub(super) inventory: Db,
    pub(super) payment: Db,
    pub(super) cart: Db,
    pub(super) user: Db,
    pub(super) location: Db,
}

/// The same SQL as the flow, as plain statements on the same databases: the transactions
/// (set the cart line; the order with its line and timeline; the reservation with its
/// conditional stock UPDATE, rows and ledger; the status moves; the payment initiated then
/// captured; the sale) and, with `reads`, the reads the services make around and inside
/// them (see [`raw_order`]). No HTTP, no outbox, relay or consumers, no saga lease.
pub(super) async fn raw_ceiling(dbs: &Arc<Dbs>, workers: usize, orders: usize, reads: bool) -> anyhow::Result<f64> {
    let wh: String = sqlx::query("SELECT id FROM warehouses WHERE code = ?")
        .bind(STORE)
        .fetch_one(dbs.inventory.pool())
        .await?
        .try_get("id")?;
    let address = sqlx::query("SELECT id, user_id FROM addresses LIMIT 1")
        .fetch_one(dbs.user.pool())
        .await?;
    let address = Arc::new((
        nakku_core::db::text(&address, "id")?,
        nakku_core::db::text(&address, "user_id")?,
    ));
    let tag = if reads { "r" } else { "w" };
    for w in 0..workers {
        let now = now_ms();
        let upsert = dbs.cart.dialect().upsert("id", &["updated_at"]);
        sqlx::query(&format!(
            "INSERT INTO carts (id, user_id, store, version, created_at, updated_at) VALUES (?, ?, ?, 1, ?, ?){upsert}"
        ))
        .bind(format!("raw-cart-{tag}{w}"))
        .bind(format!("raw-{tag}{w}"))
        .bind(STORE)
        .bind(now)
        .bind(now)
        .write_on(&dbs.cart)
        .await?;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..workers {
        let (dbs, wh, address, next) = (dbs.clone(), wh.clone(), address.clone(), next.clone());
        let total = orders;
        tasks.spawn(async move {
            let shopper = Shopper {
                cart_id: format!("raw-cart-{tag}{w}"),
                user_id: format!("raw-{tag}{w}"),
                address_id: address.0.clone(),
                address_user: address.1.clone(),
            };
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                raw_order(&dbs, &wh, &shopper, &format!("BENCH-{}", i % SKUS), reads).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(orders as f64 / start.elapsed().as_secs_f64())
}

struct Shopper {
    cart_id: String,
    user_id: String,
    address_id: String,
    address_user: String,
}

/// `read!(db, sql, binds...)`: one read (on the pool, or on a transaction's connection),
/// rows discarded.
macro_rules! read {
    (tx $conn:expr, $sql:expr $(, $b:expr)*) => {
        sqlx::query($sql)$(.bind($b))*.fetch_all(&mut *$conn).await?
    };
    ($db:expr, $sql:expr $(, $b:expr)*) => {
        sqlx::query($sql)$(.bind($b))*.fetch_all($db.pool()).await?
    };
}

/// A cart's lines with their prices and stock at its store, in one read: the cart's answer
/// and the checkout each read them so.
async fn raw_lines(cart: &Db, s: &Shopper) -> anyhow::Result<()> {
    read!(cart, nakku_core::cart::service::LINES_WITH_FACTS, STORE, &s.cart_id);
    Ok(())
}

/// The numbers of a store's skus after a change, read back in the change's transaction
/// (for the stock events).
async fn raw_numbers(conn: &mut sqlx::AnyConnection, wh: &str, sku: &str) -> anyhow::Result<()> {
    read!(tx conn, "SELECT sku, on_hand, reserved, low_threshold, low_alerted, out_alerted FROM stock WHERE warehouse_id = ? AND deleted_at IS NULL AND sku IN (?)", wh, sku);
    Ok(())
}

/// One order through the flow's SQL. The transactions are those of the flow, one order
/// each (the flow batches reservations and saga moves of concurrent orders); with `reads`,
/// the reads the services make around and inside them as the flow runs them now (read with
/// `nakku bench orders --explain`): the cart's line facts in one read, the cart's lines with
/// prices and stock in one read (its answer, the checkout), the checkout's idempotency
/// check, cart with its store's load, address and serving zone, the reservation's duplicate
/// check and the stock's numbers after each change, the reservation read (locked on MySQL)
/// before the sale. The saga carries the rows it wrote, the placed order and the captured
/// payment are answered from what was written, and the store comes from a cache: none of
/// those is read.
async fn raw_order(dbs: &Dbs, wh: &str, s: &Shopper, sku: &str, reads: bool) -> anyhow::Result<()> {
    let Dbs {
        order,
        inventory,
        payment,
        cart,
        user,
        location,
    } = dbs;
    let now = now_ms();
    let id = new_id();
    // The cart line, checked against the cart, the line, the product and its stock in one read.
    let mut tx = cart.begin().await?;
    if reads {
        read!(tx tx,
            "SELECT c.id, c.user_id, c.store, c.share_token, c.share_mode, c.version, \
             (SELECT quantity FROM cart_items i WHERE i.cart_id = c.id AND i.sku = ?) AS current_quantity, \
             p.product_id, p.name, p.unit, p.price_paise, p.mrp_paise, p.max_per_order, p.active, \
             (SELECT available FROM cart_stock WHERE store = ? AND sku = ?) AS available \
             FROM (SELECT 1 AS one) x LEFT JOIN carts c ON c.user_id = ? AND c.store = ? AND c.deleted_at IS NULL \
             LEFT JOIN cart_products p ON p.sku = ?",
            sku, STORE, sku, &s.user_id, STORE, sku
        );
    }
    let upsert = cart.dialect().upsert("cart_id, sku", &["quantity", "updated_at"]);
    sqlx::query(&format!("INSERT INTO cart_items (cart_id, sku, quantity, price_seen_paise, added_by, created_at, updated_at) VALUES (?, ?, 1, 25000, 'raw', ?, ?){upsert}"))
        .bind(&s.cart_id)
        .bind(sku)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE carts SET version = version + 1, updated_at = ? WHERE id = ?")
        .bind(now)
        .bind(&s.cart_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    if reads {
        // The cart as the answer shows it; then the checkout.
        raw_lines(cart, s).await?;
        read!(
            order,
            "SELECT id, request_hash FROM orders WHERE user_id = ? AND idem_key = ?",
            &s.user_id,
            &id
        );
        read!(cart, "SELECT id, user_id, store, share_token, share_mode, version, (SELECT COUNT(*) FROM active_orders a WHERE a.store = carts.store) AS store_load FROM carts WHERE user_id = ? AND store = ? AND deleted_at IS NULL", &s.user_id, STORE);
        raw_lines(cart, s).await?;
        read!(user, "SELECT id, user_id, label, line1, line2, city, pincode, lat, lng, is_default, serviceable, store_code, created_at, updated_at FROM addresses WHERE id = ? AND user_id = ? AND deleted_at IS NULL", &s.address_id, &s.address_user);
        read!(
            location,
            nakku_core::location::service::ZONES_AROUND,
            12.9716,
            12.9716,
            77.5946,
            77.5946
        );
    }
    // The order.
    let mut tx = order.begin().await?;
    sqlx::query(
        "INSERT INTO orders (id, user_id, store, status, payment_kind, substitution, address_id, address, quote, items_paise, fees_paise, total_paise, \
         currency, idem_key, request_hash, saga_state, step_started_at, next_attempt_at, created_at, updated_at) \
         VALUES (?, ?, ?, 'pending', 'upi', 'substitute', 'a', '{}', '{}', 25000, 1500, 26500, 'INR', ?, 'h', 'raw', ?, ?, ?, ?)",
    )
    .bind(&id)
    .bind(&s.user_id)
    .bind(STORE)
    .bind(&id)
    .bind(now)
    .bind(now + 3_600_000)
    .bind(now)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO order_lines (order_id, sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status, created_at, updated_at) VALUES (?, ?, 'p', 'n', 'u', 25000, 30000, 1, 25000, 'active', ?, ?)")
        .bind(&id)
        .bind(sku)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    raw_timeline(&mut tx, &id, "pending").await?;
    tx.commit().await?;

    // The reservation.
    let mut tx = inventory.begin().await?;
    if reads {
        read!(tx tx, "SELECT order_id FROM reservations WHERE order_id IN (?)", &id);
    }
    let r = sqlx::query("UPDATE stock SET reserved = reserved + 1, updated_at = ? WHERE warehouse_id = ? AND sku = ? AND on_hand - reserved >= 1")
        .bind(now)
        .bind(wh)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    anyhow::ensure!(r.rows_affected() == 1, "raw reservation found no stock");
    let rid = new_id();
    sqlx::query("INSERT INTO reservations (id, order_id, warehouse_id, status, expires_at, created_at, updated_at) VALUES (?, ?, ?, 'held', ?, ?, ?)")
        .bind(&rid)
        .bind(&id)
        .bind(wh)
        .bind(now + 600_000)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO reservation_lines (reservation_id, sku, quantity) VALUES (?, ?, 1)")
        .bind(&rid)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    raw_ledger(&mut tx, wh, sku, 0, 1, &id).await?;
    if reads {
        raw_numbers(&mut tx, wh, sku).await?;
    }
    tx.commit().await?;
    raw_status(order, &id, "stock_reserved").await?;

    // The payment.
    let pid = new_id();
    sqlx::query("INSERT INTO payments (id, order_id, user_id, kind, amount_paise, currency, status, provider, attempts, created_at, updated_at) VALUES (?, ?, 'raw', 'upi', 26500, 'INR', 'initiated', 'raw', 1, ?, ?)")
        .bind(&pid)
        .bind(&id)
        .bind(now)
        .bind(now)
        .write_on(payment)
        .await?;
    sqlx::query("UPDATE payments SET status = 'captured', captured_paise = amount_paise, updated_at = ? WHERE id = ? AND status = 'initiated'")
        .bind(now)
        .bind(&pid)
        .write_on(payment)
        .await?;
    raw_status(order, &id, "paid").await?;

    // The sale.
    let mut tx = inventory.begin().await?;
    if reads {
        // Locked on MySQL (the row, then its lines); on SQLite the write transaction is
        // the lock, and the row and lines are one read.
        match inventory.dialect().for_update() {
            "" => {
                read!(tx tx, "SELECT r.id, r.order_id, r.warehouse_id, r.status, r.reason, r.expires_at, r.created_at, r.updated_at, \
                 l.sku, l.quantity FROM reservations r LEFT JOIN reservation_lines l ON l.reservation_id = r.id \
                 WHERE r.order_id = ? AND r.deleted_at IS NULL ORDER BY l.sku", &id)
            }
            lock => {
                read!(tx tx, &format!("SELECT id, order_id, warehouse_id, status, reason, expires_at, created_at, updated_at FROM reservations \
                     WHERE order_id = ? AND deleted_at IS NULL{lock}"), &id);
                read!(tx tx, "SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY sku", &rid)
            }
        };
    }
    sqlx::query("UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1, updated_at = ? WHERE warehouse_id = ? AND sku = ? AND reserved >= 1")
        .bind(now)
        .bind(wh)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    raw_ledger(&mut tx, wh, sku, -1, -1, &id).await?;
    if reads {
        raw_numbers(&mut tx, wh, sku).await?;
    }
    sqlx::query("UPDATE reservations SET status = 'confirmed', updated_at = ? WHERE id = ? AND status = 'held'")
        .bind(now)
        .bind(&rid)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    raw_status(order, &id, "confirmed").await
}

async fn raw_timeline(conn: &mut sqlx::AnyConnection, id: &str, status: &str) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO order_timeline (id, order_id, status, note, actor, created_at) VALUES (?, ?, ?, 'raw', 'raw', ?)",
    )
    .bind(new_id())
    .bind(id)
    .bind(status)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

async fn raw_status(order: &Db, id: &str, status: &str) -> anyhow::Result<()> {
    let mut tx = order.begin().await?;
    sqlx::query("UPDATE orders SET status = ?, version = version + 1, updated_at = ? WHERE id = ?")
        .bind(status)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
    raw_timeline(&mut tx, id, status).await?;
    tx.commit().await?;
    Ok(())
}

async fn raw_ledger(
    conn: &mut sqlx::AnyConnection,
    wh: &str,
    sku: &str,
    on_hand: i64,
    reserved: i64,
    order_id: &str,
) -> anyhow::Result<()> {
    let now = now_ms();
    sqlx::query("INSERT INTO stock_ledger (id, warehouse_id, sku, on_hand_delta, reserved_delta, reason, ref_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'raw', ?, ?, ?)")
        .bind(new_id())
        .bind(wh)
        .bind(sku)
        .bind(on_hand)
        .bind(reserved)
        .bind(order_id)
        .bind(now)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}
