//! `nakku bench orders`: the full order flow (cart → order → confirmed) through the
//! gateway, with the services of the flow (`--all-services`: every service), their outbox
//! relays, consumers and the saga running in this process, beside the raw database
//! ceiling: the same SQL on the same databases without HTTP and events, measured in the
//! same run.
//!
//! Four measurements: the raw ceilings, with and without the reads (closed loop,
//! `--workers` at once); the flow at its
//! maximum (closed loop: orders/s until the last one is confirmed, placement p50/p99); and
//! the flow paced at half that maximum (placement p50/p99 under a steady load).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::config::{Secret, Settings};
use nakku_core::db::{migrate, Db, WriteOn};
use nakku_core::id::{new_id, now_ms};
use nakku_core::service::Service;
use nakku_core::stats::percentile;
use nakku_server::{Application, CancellationToken};
use serde::Serialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::output::table;

mod raw;

use raw::*;

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
    /// Also run the services downstream of the flow in this process (analytics,
    /// notifications, delivery), which consume every order's events too
    #[arg(long)]
    all_services: bool,
    /// Also list each statement the counted pass ran, per service, with how often per order
    #[arg(long)]
    explain: bool,
    #[arg(long)]
    json: bool,
}

/// The services of the cart → order → confirmed flow (and the gateway in front): every
/// one but those downstream of it.
fn flow_services() -> Vec<Service> {
    Service::IMPLEMENTED
        .into_iter()
        .filter(|s| !matches!(s, Service::Analytics | Service::Notification | Service::Delivery))
        .collect()
}

#[derive(Debug, Serialize)]
struct Report {
    database: String,
    workers: usize,
    orders: usize,
    all_services: bool,
    /// The transactions alone, without the reads around them.
    raw_writes_orders_per_s: f64,
    /// The same SQL as the flow (transactions and reads): the ceiling the ratio is against.
    raw_orders_per_s: f64,
    /// Statements per order of that ceiling (transaction control not counted), beside the
    /// flow's in `per_order`.
    raw_statements_per_order: f64,
    flow_orders_per_s: f64,
    ratio: f64,
    writes_ratio: f64,
    placement_p50_ms: f64,
    placement_p99_ms: f64,
    half_rate_orders_per_s: f64,
    half_rate_placement_p50_ms: f64,
    half_rate_placement_p99_ms: f64,
    confirmed: i64,
    failed: i64,
    /// Orders of the counted pass (a flow at full speed with statement counting on).
    counted_orders: usize,
    /// Per service: statements (transaction control not counted) and write transactions per
    /// order, in the counted pass. Everything the services ran meanwhile is charged to the
    /// orders, background polling included.
    per_order: std::collections::BTreeMap<&'static str, PerOrder>,
    /// With `--explain`: every statement of the counted pass, per order, by service.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    statements: Vec<StatementCount>,
}

#[derive(Debug, Serialize)]
struct StatementCount {
    service: &'static str,
    per_order: f64,
    statement: String,
}

#[derive(Debug, Serialize)]
struct PerOrder {
    statements: f64,
    transactions: f64,
}

const SECRET: &str = "bench-secret-bench-secret-bench-secret-01";
const STORE: &str = "BENCH-1";
const SKUS: usize = 16;
/// The row of `per_order` summing the services' databases.
const TOTAL: &str = "total (service databases)";
/// Orders of the pass that counts statements (at most `--orders`).
const COUNTED_ORDERS: usize = 500;
/// Orders of the raw ceiling's pass that counts its statements (at most `--orders`).
const RAW_COUNTED_ORDERS: usize = 100;

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
    env.insert("NAKKU_LOG".into(), "warn".into());
    // A few hundred simulated shoppers from one address: the gateway's limits would measure
    // themselves, not the flow.
    for class in ["AUTH", "WRITE", "READ"] {
        env.insert(format!("NAKKU_RATE_LIMIT_{class}_PER_MINUTE"), "0".into());
    }
    for svc in Service::ALL {
        env.insert(format!("NAKKU_{}_PORT", svc.env_name()), "0".into());
    }
    // A TLS database (`?ssl-mode=VERIFY_IDENTITY`) may need the operator's CA bundle.
    if let Ok(ca) = std::env::var("NAKKU_TLS_CA_FILE") {
        env.insert("NAKKU_TLS_CA_FILE".into(), ca);
    }
    let mut dbs = Vec::new();
    if let Some(server) = &o.database_url {
        let (base, query) = match server.split_once('?') {
            Some((b, q)) => (b, format!("?{q}")),
            None => (server.as_str(), String::new()),
        };
        for svc in migrate::migrated_services() {
            let url = format!("{}/nakku_bench_{tag}_{}{query}", base.trim_end_matches('/'), svc.name());
            env.insert(format!("NAKKU_{}_DATABASE_URL", svc.env_name()), url.clone());
            dbs.push(Secret::new(match env.get("NAKKU_TLS_CA_FILE") {
                Some(ca) => nakku_core::config::with_ssl_ca(&url, std::path::Path::new(ca)),
                None => url.clone(),
            }));
        }
    }
    let settings = Settings::load(None, &env).context("bench settings")?;
    // The live log filter came from the operator's settings at start-up: a line per request
    // would be measured too.
    nakku_server::telemetry::set_filter(&settings.log_filter);
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
            "raw ceiling: the same SQL (transactions and reads), no HTTP/events".into(),
            format!("{:.0}", report.raw_orders_per_s),
            "-".into(),
            "-".into(),
        ]);
        t.add_row(vec![
            "raw ceiling, transactions only (no reads)".into(),
            format!("{:.0}", report.raw_writes_orders_per_s),
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
        let mut per = table(&["service", "statements per order", "write transactions per order"]);
        // The services, then the event log and anything unattributed, then the total.
        let mut rows: Vec<_> = report.per_order.iter().collect();
        rows.sort_by_key(|(svc, _)| match **svc {
            TOTAL => 2,
            s if s.parse::<Service>().is_ok() => 0,
            _ => 1,
        });
        for (svc, p) in rows {
            per.add_row(vec![
                svc.to_string(),
                format!("{:.1}", p.statements),
                format!("{:.1}", p.transactions),
            ]);
        }
        println!("{per}");
        println!(
            "(counted over {} more orders at full speed; BEGIN/COMMIT not counted as statements; \
             the raw ceiling's same SQL: {:.1} per order)",
            report.counted_orders, report.raw_statements_per_order
        );
        if !report.statements.is_empty() {
            let mut t = table(&["service", "per order", "statement"]);
            for s in &report.statements {
                t.add_row(vec![
                    s.service.to_string(),
                    format!("{:.2}", s.per_order),
                    s.statement.clone(),
                ]);
            }
            println!("{t}");
        }
        println!(
            "{} on {}, {} shoppers: flow/raw = {:.2} (against transactions only: {:.2}); {} confirmed, {} failed",
            report.orders,
            report.database,
            report.workers,
            report.ratio,
            report.writes_ratio,
            report.confirmed,
            report.failed
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
    let services = if o.all_services { Vec::new() } else { flow_services() };
    let app = Application::build(settings, &services).await?;
    let gateway = format!("http://{}", app.addr(Service::Gateway).context("gateway")?);
    let db = |s| app.db(s).cloned().context("service database");
    let dbs = Arc::new(Dbs {
        order: db(Service::Order)?,
        inventory: db(Service::Inventory)?,
        payment: db(Service::Payment)?,
        cart: db(Service::Cart)?,
        user: db(Service::User)?,
        location: db(Service::Location)?,
    });
    let order_db = dbs.order.clone();
    let database = order_db.display_url().to_owned();
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let result = async {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(o.workers * 2)
            .build()?;
        let shoppers = setup(&http, &gateway, o).await?;
        let raw_writes = raw_ceiling(&dbs, o.workers, o.orders, false).await?;
        let raw = raw_ceiling(&dbs, o.workers, o.orders, true).await?;
        let (max, p50, p99) = flow(&http, &gateway, &order_db, &shoppers, o.orders, None, "max").await?;
        let (half, hp50, hp99) = flow(&http, &gateway, &order_db, &shoppers, o.orders, Some(max / 2.0), "half").await?;
        // Counting has a cost of its own (each statement's event is built), so it gets a
        // pass of its own, after the timed ones.
        let counted_orders = o.orders.min(COUNTED_ORDERS);
        anyhow::ensure!(
            nakku_server::statements::installed(),
            "statement counting needs the process's tracing layer"
        );
        nakku_server::statements::start();
        let counted = flow(&http, &gateway, &order_db, &shoppers, counted_orders, None, "counted").await;
        let nakku_server::statements::Counted { tallies, texts } = nakku_server::statements::stop();
        counted?;
        // The raw ceiling's own statements, counted the same way in a short pass of its own
        // (outside any service's span: unattributed), so what it replays can be set beside
        // what the flow runs.
        let raw_counted = o.orders.min(RAW_COUNTED_ORDERS);
        nakku_server::statements::start();
        let raw_pass = raw_ceiling(&dbs, o.workers, raw_counted, true).await;
        let raw_tally = nakku_server::statements::stop()
            .tallies
            .get(nakku_server::statements::UNATTRIBUTED)
            .copied()
            .unwrap_or_default();
        raw_pass?;
        let raw_statements_per_order = (raw_tally.statements as f64 / raw_counted as f64 * 10.0).round() / 10.0;
        let per = |n: u64| (n as f64 / counted_orders as f64 * 10.0).round() / 10.0;
        let mut per_order: std::collections::BTreeMap<&'static str, PerOrder> = tallies
            .iter()
            .map(|(svc, t)| {
                (
                    *svc,
                    PerOrder {
                        statements: per(t.statements),
                        transactions: per(t.transactions),
                    },
                )
            })
            .collect();
        // The services' databases; the embedded event log's file is the bus's (on Kafka
        // those are broker calls), shown apart.
        let of_services = || {
            tallies
                .iter()
                .filter(|(svc, _)| svc.parse::<Service>().is_ok())
                .map(|(_, t)| *t)
        };
        per_order.insert(
            TOTAL,
            PerOrder {
                statements: per(of_services().map(|t| t.statements).sum()),
                transactions: per(of_services().map(|t| t.transactions).sum()),
            },
        );
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
            all_services: o.all_services,
            raw_writes_orders_per_s: raw_writes.round(),
            raw_orders_per_s: raw.round(),
            raw_statements_per_order,
            flow_orders_per_s: max.round(),
            ratio: (max / raw * 100.0).round() / 100.0,
            writes_ratio: (max / raw_writes * 100.0).round() / 100.0,
            placement_p50_ms: p50,
            placement_p99_ms: p99,
            half_rate_orders_per_s: half.round(),
            half_rate_placement_p50_ms: hp50,
            half_rate_placement_p99_ms: hp99,
            confirmed: count("confirmed").await?,
            failed: count("failed").await?,
            counted_orders,
            per_order,
            statements: if o.explain {
                let mut v: Vec<StatementCount> = texts
                    .into_iter()
                    .map(|((service, statement), n)| StatementCount {
                        service,
                        per_order: (n as f64 / counted_orders as f64 * 100.0).round() / 100.0,
                        statement,
                    })
                    .collect();
                v.sort_by(|a, b| a.service.cmp(b.service).then(b.per_order.total_cmp(&a.per_order)));
                v
            } else {
                Vec::new()
            },
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
    // Four runs of `--orders` (two raw, two flows) and the counted passes (up to 600
    // orders), however unevenly they fall on the skus.
    let per_sku = (5 * o.orders + 10) as i64;
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
    total: usize,
    pace: Option<f64>,
    pass: &'static str,
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
                    .header("idempotency-key", format!("bench-{pass}-{w}-{i}"))
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
    let target = done_before + total as i64;
    wait(600, "every saga to finish", async || {
        done(order_db).await.is_ok_and(|n| n >= target)
    })
    .await?;
    let rate = total as f64 / start.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let pct = |p: f64| percentile(&latencies, p).map_or(0.0, |v| (v * 10.0).round() / 10.0);
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
