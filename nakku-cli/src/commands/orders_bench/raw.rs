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
/// captured; the sale) and, with `reads`, the reads the services make around them (the
/// cart, prices and stock as the cart shows them; the checkout's cart, address, zone, store
/// and load; the idempotency check; the order as answered; the saga's look at the order
/// before each step; the inventory's store, reservation and stock; the payment). No HTTP,
/// no outbox, relay or consumers, no saga lease.
pub(super) async fn raw_ceiling(dbs: &Arc<Dbs>, o: &Opts, reads: bool) -> anyhow::Result<f64> {
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
    for w in 0..o.workers {
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
    for w in 0..o.workers {
        let (dbs, wh, address, next) = (dbs.clone(), wh.clone(), address.clone(), next.clone());
        let total = o.orders;
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
    Ok(o.orders as f64 / start.elapsed().as_secs_f64())
}

struct Shopper {
    cart_id: String,
    user_id: String,
    address_id: String,
    address_user: String,
}

/// `read!(db, sql, binds...)`: one read on the pool, rows discarded.
macro_rules! read {
    ($db:expr, $sql:expr $(, $b:expr)*) => {
        sqlx::query($sql)$(.bind($b))*.fetch_all($db.pool()).await?
    };
}

/// The cart's prices and stock for its lines, as every cart view and checkout reads them.
async fn raw_prices(cart: &Db, sku: &str) -> anyhow::Result<()> {
    read!(cart, "SELECT sku, product_id, name, unit, price_paise, mrp_paise, max_per_order, active FROM cart_products WHERE sku IN (?)", sku);
    read!(
        cart,
        "SELECT sku, available FROM cart_stock WHERE store = ? AND sku IN (?)",
        STORE,
        sku
    );
    Ok(())
}

/// The cart row and its lines with their prices and stock.
async fn raw_cart(cart: &Db, s: &Shopper, sku: &str) -> anyhow::Result<()> {
    read!(cart, "SELECT id, user_id, store, share_token, share_mode, version FROM carts WHERE user_id = ? AND store = ? AND deleted_at IS NULL", &s.user_id, STORE);
    read!(
        cart,
        "SELECT sku, quantity, price_seen_paise FROM cart_items WHERE cart_id = ? ORDER BY created_at, sku",
        &s.cart_id
    );
    raw_prices(cart, sku).await
}

const ORDER_COLS: &str = "id, user_id, store, status, payment_kind, payment_method_id, total_paise, saga_state, cancel_requested, failure_reason, attempts, step_started_at";

async fn raw_look(order: &Db, id: &str) -> anyhow::Result<()> {
    read!(
        order,
        &format!("SELECT {ORDER_COLS} FROM orders WHERE id = ? AND deleted_at IS NULL"),
        id
    );
    Ok(())
}

/// The inventory's look at the store and the order's reservation before it moves stock.
async fn raw_stock_reads(inventory: &Db, wh: &str, id: &str, sku: &str) -> anyhow::Result<()> {
    read!(inventory, "SELECT id, code, name, city, lat, lng, opens_at, closes_at, active, created_at, updated_at FROM warehouses WHERE (id = ? OR code = ?) AND deleted_at IS NULL", STORE, STORE);
    read!(inventory, "SELECT id, order_id, warehouse_id, status, reason, expires_at, created_at, updated_at FROM reservations WHERE order_id = ? AND deleted_at IS NULL", id);
    read!(inventory, "SELECT sku, on_hand, reserved, low_threshold, low_alerted, out_alerted FROM stock WHERE warehouse_id = ? AND deleted_at IS NULL AND sku IN (?)", wh, sku);
    Ok(())
}

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
    // The cart line.
    if reads {
        read!(cart, "SELECT id, user_id, store, share_token, share_mode, version FROM carts WHERE user_id = ? AND store = ? AND deleted_at IS NULL", &s.user_id, STORE);
        read!(
            cart,
            "SELECT quantity FROM cart_items WHERE cart_id = ? AND sku = ?",
            &s.cart_id,
            sku
        );
        raw_prices(cart, sku).await?;
    }
    let mut tx = cart.begin().await?;
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
        read!(
            cart,
            "SELECT sku, quantity, price_seen_paise FROM cart_items WHERE cart_id = ? ORDER BY created_at, sku",
            &s.cart_id
        );
        raw_prices(cart, sku).await?;
        read!(
            order,
            "SELECT id, request_hash FROM orders WHERE user_id = ? AND idem_key = ?",
            &s.user_id,
            &id
        );
        raw_cart(cart, s, sku).await?;
        read!(user, "SELECT id, user_id, label, line1, line2, city, pincode, lat, lng, is_default, serviceable, store_code, created_at, updated_at FROM addresses WHERE id = ? AND user_id = ? AND deleted_at IS NULL", &s.address_id, &s.address_user);
        read!(location, "SELECT id, store_code, name, geometry, active, created_at, updated_at FROM zones WHERE deleted_at IS NULL AND active = 1 AND min_lat <= ? AND max_lat >= ? AND min_lng <= ? AND max_lng >= ?", 12.9716, 12.9716, 77.5946, 77.5946);
        read!(location, "SELECT id, code, name, lat, lng, opens_at, closes_at, active FROM stores WHERE code = ? AND deleted_at IS NULL", STORE);
        read!(cart, "SELECT COUNT(*) AS n FROM active_orders WHERE store = ?", STORE);
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
    if reads {
        // The order as answered; the saga's first look and the lines it reserves.
        read!(order, "SELECT id, user_id, store, status, payment_kind, payment_method_id, substitution, address, quote, items_paise, fees_paise, total_paise, refunded_paise, currency, note, saga_state, cancel_requested, failure_reason, last_error, attempts, step_started_at, next_attempt_at, version, created_at, updated_at FROM orders WHERE id = ? AND deleted_at IS NULL", &id);
        read!(order, "SELECT sku, product_id, name, unit, unit_price_paise, mrp_paise, quantity, line_total_paise, status FROM order_lines WHERE order_id = ? ORDER BY created_at, sku", &id);
        read!(
            order,
            "SELECT status, note, actor, created_at FROM order_timeline WHERE order_id = ? ORDER BY id",
            &id
        );
        raw_look(order, &id).await?;
        read!(
            order,
            "SELECT sku, quantity FROM order_lines WHERE order_id = ? AND status <> 'removed' ORDER BY sku",
            &id
        );
        raw_stock_reads(inventory, wh, &id, sku).await?;
    }

    // The reservation.
    let mut tx = inventory.begin().await?;
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
    tx.commit().await?;
    raw_status(order, &id, "stock_reserved").await?;

    // The payment.
    if reads {
        raw_look(order, &id).await?;
        read!(payment, "SELECT id, order_id, user_id, kind, method_id, amount_paise, currency, status, captured_paise, refunded_paise, provider, provider_ref, failure_reason, attempts, created_at, updated_at FROM payments WHERE order_id = ? AND deleted_at IS NULL", &id);
    }
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
    if reads {
        raw_look(order, &id).await?;
        raw_stock_reads(inventory, wh, &id, sku).await?;
        read!(
            inventory,
            "SELECT sku, quantity FROM reservation_lines WHERE reservation_id = ? ORDER BY sku",
            &rid
        );
    }
    let mut tx = inventory.begin().await?;
    sqlx::query("UPDATE stock SET on_hand = on_hand - 1, reserved = reserved - 1, updated_at = ? WHERE warehouse_id = ? AND sku = ? AND reserved >= 1")
        .bind(now)
        .bind(wh)
        .bind(sku)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE reservations SET status = 'confirmed', updated_at = ? WHERE id = ? AND status = 'held'")
        .bind(now)
        .bind(&rid)
        .execute(&mut *tx)
        .await?;
    raw_ledger(&mut tx, wh, sku, -1, -1, &id).await?;
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
