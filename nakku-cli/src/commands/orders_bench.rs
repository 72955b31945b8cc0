//! `nakku bench orders`: the full order flow (cart → order → confirmed) through the
//! gateway, with every service, the outbox relays, the consumers and the saga running in
//! this process, beside the raw database ceiling: the same transactions as plain SQL on
//! the same databases, without HTTP, events or the saga, measured in the same run.
//!
//! Three measurements: the raw ceiling (closed loop, `--workers` at once); the flow at its
//! maximum (closed loop: orders/s until the last one is confirmed, placement p50/p99); and
//! the flow paced at half that maximum (placement p50/p99 under a steady load).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::config::{Secret, Settings};
use nakku_core::db::{migrate, Db};
use nakku_core::id::{new_id, now_ms};
use nakku_core::service::Service;
use nakku_server::{Application, CancellationToken};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::output::table;

#[derive(Debug, Args)]
pub struct Opts {
    /// Orders per measurement
    #[arg(long, default_value_t = 2000)]
    orders: usize,
    /// Concurrent shoppers
    #[arg(long, default_value_t = 32)]
    workers: usize,
    /// MySQL/MariaDB server (default: scratch SQLite files), e.g. mysql://root@127.0.0.1:3306;
    /// scratch databases are created on it and dropped after
    #[arg(long)]
    database_url: Option<String>,
    /// Simulated payment latency in milliseconds
    #[arg(long, default_value_t = 0)]
    payment_latency_ms: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    database: String,
    workers: usize,
    orders: usize,
    raw_orders_per_s: f64,
    flow_orders_per_s: f64,
    ratio: f64,
    placement_p50_ms: f64,
    placement_p99_ms: f64,
    half_rate_orders_per_s: f64,
    half_rate_placement_p50_ms: f64,
    half_rate_placement_p99_ms: f64,
    confirmed: i64,
    failed: i64,
}

const SECRET: &str = "bench-secret-bench-secret-bench-secret-01";
const STORE: &str = "BENCH-1";
const SKUS: usize = 16;

pub async fn run(o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(o.orders > 0 && o.workers > 0, "--orders and --workers must be positive");
    let scratch = tempfile::tempdir()?;
    let tag = &new_id().replace('-', "")[20..32];
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("NAKKU_DATA_DIR".into(), scratch.path().display().to_string());
    env.insert("NAKKU_JWT_SECRET".into(), SECRET.into());
    env.insert("NAKKU_BCRYPT_COST".into(), "4".into());
    env.insert("NAKKU_PAYMENT_LATENCY_MS".into(), o.payment_latency_ms.to_string());
    // Eight service databases: 8 × 16 connections stays under MariaDB's default limit of 151.
    env.insert("NAKKU_DB_MAX_CONNECTIONS".into(), "16".into());
    env.insert("NAKKU_STORE_CAPACITY".into(), "1000000".into());
    for svc in Service::ALL {
        env.insert(format!("NAKKU_{}_PORT", svc.env_name()), "0".into());
    }
    let mut dbs = Vec::new();
    if let Some(server) = &o.database_url {
        for svc in migrate::migrated_services() {
            let url = format!("{}/nakku_bench_{tag}_{}", server.trim_end_matches('/'), svc.name());
            env.insert(format!("NAKKU_{}_DATABASE_URL", svc.env_name()), url.clone());
            dbs.push(Secret::new(url));
        }
    }
    let settings = Settings::load(None, &env).context("bench settings")?;
    let result = measure(&settings, &o).await;
    for url in &dbs {
        nakku_core::db::drop_mysql_database(url).await.ok();
    }
    let report = result?;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut t = table(&["measure", "orders/s", "placement p50 ms", "placement p99 ms"]);
        t.add_row(vec![
            "raw SQL ceiling (same transactions, no HTTP/events)".into(),
            format!("{:.0}", report.raw_orders_per_s),
            "-".into(),
            "-".into(),
        ]);
        t.add_row(vec![
            "full flow, as fast as it goes".into(),
            format!("{:.0}", report.flow_orders_per_s),
            format!("{:.1}", report.placement_p50_ms),
            format!("{:.1}", report.placement_p99_ms),
        ]);
        t.add_row(vec![
            "full flow at half that rate".into(),
            format!("{:.0}", report.half_rate_orders_per_s),
            format!("{:.1}", report.half_rate_placement_p50_ms),
            format!("{:.1}", report.half_rate_placement_p99_ms),
        ]);
        println!("{t}");
        println!(
            "{} on {}, {} shoppers: flow/raw = {:.2}; {} confirmed, {} failed",
            report.orders, report.database, report.workers, report.ratio, report.confirmed, report.failed
        );
    }
    Ok(())
}

async fn measure(settings: &Settings, o: &Opts) -> anyhow::Result<Report> {
    for svc in migrate::migrated_services() {
        let db = Db::connect(&settings.database_url_for(svc).context("db url")?, 1).await?;
        migrate::run(svc, &db).await?;
        db.close().await;
    }
    let app = Application::build(settings, &[]).await?;
    let gateway = format!("http://{}", app.addr(Service::Gateway).context("gateway")?);
    let db = |s| app.db(s).cloned().context("service database");
    let (order_db, inventory_db, payment_db, cart_db) = (
        db(Service::Order)?,
        db(Service::Inventory)?,
        db(Service::Payment)?,
        db(Service::Cart)?,
    );
    let database = order_db.display_url().to_owned();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let result = async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(o.workers * 2)
            .build()?;
        let shoppers = setup(&http, &gateway, o).await?;
        let raw = raw_ceiling(&order_db, &inventory_db, &payment_db, &cart_db, o).await?;
        let (max, p50, p99) = flow(&http, &gateway, &order_db, &shoppers, o, None).await?;
        let (half, hp50, hp99) = flow(&http, &gateway, &order_db, &shoppers, o, Some(max / 2.0)).await?;
        let count = |status: &'static str| {
            let db = order_db.clone();
            async move {
                sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE status = ? AND saga_state <> 'raw'")
                    .bind(status)
                    .fetch_one(db.pool())
                    .await
                    .and_then(|r| r.try_get::<i64, _>("n"))
            }
        };
        anyhow::Ok(Report {
            database,
            workers: o.workers,
            orders: o.orders,
            raw_orders_per_s: raw.round(),
            flow_orders_per_s: max.round(),
            ratio: (max / raw * 100.0).round() / 100.0,
            placement_p50_ms: p50,
            placement_p99_ms: p99,
            half_rate_orders_per_s: half.round(),
            half_rate_placement_p50_ms: hp50,
            half_rate_placement_p99_ms: hp99,
            confirmed: count("confirmed").await?,
            failed: count("failed").await?,
        })
    }
    .await;
    stop.cancel();
    server.await.ok();
    result
}

/// A store with a zone, products with plenty of stock, and one shopper per worker with an
/// address there; waits until the cart has the products' prices and stock.
async fn setup(http: &reqwest::Client, gw: &str, o: &Opts) -> anyhow::Result<Vec<(String, String)>> {
    let jwt = JwtKeys::new(&Secret::new(SECRET), 3600);
    let (admin, _) = jwt.issue("bench-admin", Role::Admin)?;
    let call = async |method: reqwest::Method, path: &str, token: &str, body: Value| -> anyhow::Result<Value> {
        let r = http
            .request(method, format!("{gw}/api/v1{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await?;
        anyhow::ensure!(status.is_success(), "{path}: {status} {v}");
        Ok(v["data"].clone())
    };
    use reqwest::Method as M;
    call(M::POST, "/inventory/stores", &admin, json!({"code": STORE, "name": "Bench", "city": "Bengaluru", "lat": 12.975, "lng": 77.60, "opens_at": "00:00", "closes_at": "00:00"})).await?;
    let zone = json!({"store": STORE, "name": "Bench", "geometry": {"type": "Polygon", "coordinates": [[[77.55, 12.93], [77.65, 12.93], [77.65, 13.03], [77.55, 13.03], [77.55, 12.93]]]}});
    wait(30, "the location service to learn of the store", async || {
        call(M::POST, "/locations/zones", &admin, zone.clone()).await.is_ok()
    })
    .await?;
    call(M::POST, "/categories", &admin, json!({"name": "Bench"})).await?;
    // Three runs of `--orders`, however unevenly they fall on the skus.
    let per_sku = (3 * o.orders + 10) as i64;
    for i in 0..SKUS {
        let sku = format!("BENCH-{i}");
        call(M::POST, "/products", &admin, json!({"sku": sku, "name": format!("Bench item {i}"), "brand": "Bench", "category": "bench", "unit": "1 pc", "mrp_paise": 30000, "price_paise": 25000})).await?;
        call(
            M::POST,
            &format!("/inventory/stores/{STORE}/stock/{sku}/restock"),
            &admin,
            json!({"quantity": per_sku}),
        )
        .await?;
    }
    let mut shoppers = Vec::new();
    for w in 0..o.workers {
        let r = call(M::POST, "/auth/register", "", json!({"email": format!("bench{w}@example.com"), "phone": format!("96{w:08}"), "password": "bench-pass-123", "name": format!("Bench {w}")})).await?;
        let token = r["access_token"].as_str().context("token")?.to_owned();
        let a = call(M::POST, "/users/me/addresses", &token, json!({"label": "Home", "line1": "1 MG Road", "city": "Bengaluru", "pincode": "560001", "lat": 12.9716, "lng": 77.5946})).await?;
        shoppers.push((token, a["id"].as_str().context("address id")?.to_owned()));
    }
    let (token, _) = &shoppers[0];
    let last = format!("BENCH-{}", SKUS - 1);
    wait(60, "the cart to learn of the products", async || {
        call(
            M::POST,
            "/cart/items",
            token,
            json!({"sku": last, "quantity": 1, "store": STORE}),
        )
        .await
        .is_ok()
    })
    .await?;
    call(M::DELETE, "/cart", token, json!({})).await?;
    Ok(shoppers)
}

async fn wait(secs: u64, what: &str, mut ok: impl AsyncFnMut() -> bool) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// The full flow: each shopper sets one unit in the cart and places the order; the clock
/// stops when the last order's saga is done. `pace` spaces placements to that rate.
async fn flow(
    http: &reqwest::Client,
    gw: &str,
    order_db: &Db,
    shoppers: &[(String, String)],
    o: &Opts,
    pace: Option<f64>,
) -> anyhow::Result<(f64, f64, f64)> {
    let done_before = done(order_db).await?;
    let start = Instant::now();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for (w, (token, address)) in shoppers.iter().enumerate() {
        let (http, gw, token, address, next) = (
            http.clone(),
            gw.to_owned(),
            token.clone(),
            address.clone(),
            next.clone(),
        );
        let total = o.orders;
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                if let Some(rate) = pace {
                    let due = start + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                // One sku per shopper: the cart holds just that line, set to one unit, so every
                // order is one unit whatever the cart's clean-up (by event) has done yet.
                let sku = format!("BENCH-{}", w % SKUS);
                let r = http
                    .patch(format!("{gw}/api/v1/cart/items/{sku}"))
                    .bearer_auth(&token)
                    .json(&json!({"quantity": 1, "store": STORE}))
                    .send()
                    .await?;
                if r.status() == 404 {
                    let r = http
                        .post(format!("{gw}/api/v1/cart/items"))
                        .bearer_auth(&token)
                        .json(&json!({"sku": sku, "quantity": 1, "store": STORE}))
                        .send()
                        .await?;
                    anyhow::ensure!(r.status().is_success(), "add to cart: {}", r.status());
                } else {
                    anyhow::ensure!(
                        r.status().is_success(),
                        "set quantity: {} {}",
                        r.status(),
                        r.text().await.unwrap_or_default()
                    );
                }
                let t = Instant::now();
                let r = http
                    .post(format!("{gw}/api/v1/orders"))
                    .bearer_auth(&token)
                    .header("idempotency-key", format!("bench-{}-{w}-{i}", pace.is_some()))
                    .json(&json!({"address_id": address, "payment_method": "upi", "store": STORE}))
                    .send()
                    .await?;
                let status = r.status();
                latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                anyhow::ensure!(
                    status.is_success(),
                    "place order: {status} {}",
                    r.text().await.unwrap_or_default()
                );
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(r) = tasks.join_next().await {
        latencies.extend(r??);
    }
    let target = done_before + o.orders as i64;
    wait(600, "every saga to finish", async || {
        done(order_db).await.is_ok_and(|n| n >= target)
    })
    .await?;
    let rate = o.orders as f64 / start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize)
            .saturating_sub(1)
            .min(latencies.len() - 1);
        (latencies[i] * 10.0).round() / 10.0
    };
    Ok((rate, pct(0.50), pct(0.99)))
}

async fn done(db: &Db) -> anyhow::Result<i64> {
    Ok(
        sqlx::query("SELECT COUNT(*) AS n FROM orders WHERE saga_state = 'done'")
            .fetch_one(db.pool())
            .await?
            .try_get("n")?,
    )
}

/// The same writes as the flow, as plain SQL on the same databases: set the cart line; the
/// order with its line and timeline; the reservation (conditional stock UPDATE, rows,
/// ledger); the status moves; the payment initiated then captured; the sale. No HTTP, no
/// outbox, no relay or consumers, no saga bookkeeping beyond the status columns.
async fn raw_ceiling(order: &Db, inventory: &Db, payment: &Db, cart: &Db, o: &Opts) -> anyhow::Result<f64> {
    let wh: String = sqlx::query("SELECT id FROM warehouses WHERE code = ?")
        .bind(STORE)
        .fetch_one(inventory.pool())
        .await?
        .try_get("id")?;
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..o.workers {
        let (order, inventory, payment, cart, wh, next) = (
            order.clone(),
            inventory.clone(),
            payment.clone(),
            cart.clone(),
            wh.clone(),
            next.clone(),
        );
        let total = o.orders;
        tasks.spawn(async move {
            let cart_id = format!("raw-cart-{w}");
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total {
                    break;
                }
                raw_order(
                    &order,
                    &inventory,
                    &payment,
                    &cart,
                    &wh,
                    &cart_id,
                    &format!("BENCH-{}", i % SKUS),
                )
                .await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(r) = tasks.join_next().await {
        r??;
    }
    Ok(o.orders as f64 / start.elapsed().as_secs_f64())
}

#[allow(clippy::too_many_arguments)]
async fn raw_order(
    order: &Db,
    inventory: &Db,
    payment: &Db,
    cart: &Db,
    wh: &str,
    cart_id: &str,
    sku: &str,
) -> anyhow::Result<()> {
    let now = now_ms();
    let id = new_id();
    let upsert = cart.dialect().upsert("cart_id, sku", &["quantity", "updated_at"]);
    sqlx::query(&format!("INSERT INTO cart_items (cart_id, sku, quantity, price_seen_paise, added_by, created_at, updated_at) VALUES (?, ?, 1, 25000, 'raw', ?, ?){upsert}"))
        .bind(cart_id)
        .bind(sku)
        .bind(now)
        .bind(now)
        .execute(cart.pool())
        .await?;
    let mut tx = order.begin().await?;
    sqlx::query(
        "INSERT INTO orders (id, user_id, store, status, payment_kind, substitution, address_id, address, quote, items_paise, fees_paise, total_paise, \
         currency, idem_key, request_hash, saga_state, step_started_at, next_attempt_at, created_at, updated_at) \
         VALUES (?, 'raw', ?, 'pending', 'upi', 'substitute', 'a', '{}', '{}', 25000, 1500, 26500, 'INR', ?, 'h', 'raw', ?, ?, ?, ?)",
    )
    .bind(&id)
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

    let pid = new_id();
    sqlx::query("INSERT INTO payments (id, order_id, user_id, kind, amount_paise, currency, status, provider, attempts, created_at, updated_at) VALUES (?, ?, 'raw', 'upi', 26500, 'INR', 'initiated', 'raw', 1, ?, ?)")
        .bind(&pid)
        .bind(&id)
        .bind(now)
        .bind(now)
        .execute(payment.pool())
        .await?;
    sqlx::query("UPDATE payments SET status = 'captured', captured_paise = amount_paise, updated_at = ? WHERE id = ? AND status = 'initiated'")
        .bind(now)
        .bind(&pid)
        .execute(payment.pool())
        .await?;
    raw_status(order, &id, "paid").await?;

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
