//! `nakku bench gateway`: what the gateway costs. The same requests go straight to the
//! owning service and through the gateway, in alternating rounds of the same run, with the
//! same number of concurrent clients; reported as the throughput ratio and the added p50.
//! Three requests: a public one that touches no database (`GET /locations/distance`, so the
//! gateway's share is as large as it gets), a signed-in one reading the database
//! (`GET /users/me`: the token is checked by the gateway and again by the service), and a
//! catalogue search over the demo catalogue (`GET /products?q=…`: a request doing the kind
//! of work shoppers' requests do).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use nakku_core::config::Settings;
use nakku_core::db::{migrate, Db};
use nakku_core::service::Service;
use nakku_core::stats::percentile;
use nakku_server::{Application, CancellationToken};
use serde::Serialize;

use crate::output::table;

#[derive(Debug, Args)]
pub struct Opts {
    /// Requests per endpoint and path (direct, through the gateway)
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients
    #[arg(long, default_value_t = 16)]
    workers: usize,
    /// Rounds per path, alternating direct and gateway (the requests are split over them)
    #[arg(long, default_value_t = 4)]
    rounds: usize,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Path {
    endpoint: String,
    direct_rps: f64,
    gateway_rps: f64,
    /// Gateway throughput ÷ direct throughput.
    ratio: f64,
    direct_p50_ms: f64,
    gateway_p50_ms: f64,
    added_p50_ms: f64,
    direct_p99_ms: f64,
    gateway_p99_ms: f64,
    errors: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    requests: usize,
    workers: usize,
    paths: Vec<Path>,
}

pub async fn run(o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.requests >= 100 && o.workers >= 1 && o.rounds >= 1,
        "--requests must be at least 100, --workers and --rounds at least 1"
    );
    let scratch = tempfile::tempdir()?;
    let mut env: HashMap<String, String> = HashMap::new();
    env.insert("NAKKU_DATA_DIR".into(), scratch.path().display().to_string());
    env.insert(
        "NAKKU_JWT_SECRET".into(),
        "bench-secret-bench-secret-bench-secret-00".into(),
    );
    env.insert("NAKKU_BCRYPT_COST".into(), "4".into());
    env.insert("NAKKU_LOG".into(), "warn".into());
    for class in ["AUTH", "WRITE", "READ"] {
        env.insert(format!("NAKKU_RATE_LIMIT_{class}_PER_MINUTE"), "0".into());
    }
    for svc in Service::ALL {
        env.insert(format!("NAKKU_{}_PORT", svc.env_name()), "0".into());
    }
    let settings = Settings::load(None, &env).context("bench settings")?;
    // The process's log filter was set from the operator's settings at start-up: lower it
    // for the measurement (a log line per request would be measured too).
    nakku_server::telemetry::set_filter(&settings.log_filter);
    let services = [Service::Gateway, Service::User, Service::Location, Service::Product];
    for svc in services.iter().filter(|s| **s != Service::Gateway) {
        let db = Db::connect(&settings.database_url_for(*svc).context("db url")?, 1).await?;
        migrate::run(*svc, &db).await?;
        db.close().await;
    }
    let app = Application::build(&settings, &services).await?;
    let url = |s: Service| app.addr(s).map(|a| format!("http://{a}")).context("bound");
    let (gateway, user, location) = (url(Service::Gateway)?, url(Service::User)?, url(Service::Location)?);
    let product = url(Service::Product)?;
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(o.workers * 2)
        .build()?;
    let reg = client
        .post(format!("{user}/api/v1/auth/register"))
        .json(&serde_json::json!({"email": "bench@example.com", "phone": "9876501234", "password": "bench-pass-1", "name": "Bench"}))
        .send()
        .await?;
    anyhow::ensure!(
        reg.status().is_success(),
        "registering the bench user: {}",
        reg.status()
    );
    let token = reg.json::<serde_json::Value>().await?["data"]["access_token"]
        .as_str()
        .context("access token")?
        .to_owned();

    load_catalogue(&client, &product, &settings).await?;

    let distance = "/api/v1/locations/distance?from_lat=12.97&from_lng=77.59&to_lat=12.93&to_lng=77.62";
    let cases = [
        (
            "GET /locations/distance (public, no database)",
            location.clone(),
            distance,
            None,
        ),
        (
            "GET /users/me (signed in, database read)",
            user.clone(),
            "/api/v1/users/me",
            Some(token.clone()),
        ),
        (
            "GET /products?q=masala chips (search, 3,162 products)",
            product.clone(),
            "/api/v1/products?q=masala%20chips&limit=20",
            None,
        ),
    ];
    let mut paths = Vec::new();
    for (name, direct_base, path, tok) in cases {
        let per_round = (o.requests / o.rounds).max(1);
        let (mut d_lat, mut g_lat) = (Vec::new(), Vec::new());
        let (mut d_time, mut g_time) = (Duration::ZERO, Duration::ZERO);
        let mut errors = 0;
        // Warm both paths (connections, caches) before measuring.
        for base in [&direct_base, &gateway] {
            let (_, _, e) = round(&client, &format!("{base}{path}"), tok.as_deref(), 200, o.workers).await;
            errors += e;
        }
        for _ in 0..o.rounds {
            let (lat, t, e) = round(
                &client,
                &format!("{direct_base}{path}"),
                tok.as_deref(),
                per_round,
                o.workers,
            )
            .await;
            d_lat.extend(lat);
            d_time += t;
            errors += e;
            let (lat, t, e) = round(
                &client,
                &format!("{gateway}{path}"),
                tok.as_deref(),
                per_round,
                o.workers,
            )
            .await;
            g_lat.extend(lat);
            g_time += t;
            errors += e;
        }
        d_lat.sort_unstable();
        g_lat.sort_unstable();
        let rps = |n: usize, t: Duration| n as f64 / t.as_secs_f64().max(1e-9);
        let (direct_rps, gateway_rps) = (rps(d_lat.len(), d_time), rps(g_lat.len(), g_time));
        let (dp50, gp50) = (pct(&d_lat, 0.5), pct(&g_lat, 0.5));
        paths.push(Path {
            endpoint: name.to_owned(),
            direct_rps: direct_rps.round(),
            gateway_rps: gateway_rps.round(),
            ratio: (gateway_rps / direct_rps * 1000.0).round() / 1000.0,
            direct_p50_ms: dp50,
            gateway_p50_ms: gp50,
            added_p50_ms: ((gp50 - dp50) * 1000.0).round() / 1000.0,
            direct_p99_ms: pct(&d_lat, 0.99),
            gateway_p99_ms: pct(&g_lat, 0.99),
            errors,
        });
    }
    stop.cancel();
    server.await.ok();
    let report = Report {
        requests: o.requests,
        workers: o.workers,
        paths,
    };
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let mut t = table(&[
        "endpoint",
        "direct req/s",
        "gateway req/s",
        "ratio",
        "direct p50 ms",
        "gateway p50 ms",
        "added p50 ms",
        "direct p99 ms",
        "gateway p99 ms",
        "errors",
    ]);
    for p in &report.paths {
        t.add_row(vec![
            p.endpoint.clone(),
            format!("{:.0}", p.direct_rps),
            format!("{:.0}", p.gateway_rps),
            format!("{:.2}", p.ratio),
            format!("{:.3}", p.direct_p50_ms),
            format!("{:.3}", p.gateway_p50_ms),
            format!("{:.3}", p.added_p50_ms),
            format!("{:.3}", p.direct_p99_ms),
            format!("{:.3}", p.gateway_p99_ms),
            p.errors.to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "{} requests per endpoint and path, {} concurrent clients, direct and gateway rounds alternating; target: ratio ≥ 0.90 and added p50 < 1 ms",
        report.requests, report.workers
    );
    Ok(())
}

/// `n` requests to `url` from `workers` clients: latencies, wall time, errors.
async fn round(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    n: usize,
    workers: usize,
) -> (Vec<Duration>, Duration, usize) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (client, url, token, next) = (client.clone(), url.to_owned(), token.map(str::to_owned), next.clone());
        set.spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                let t = Instant::now();
                let mut rb = client.get(&url);
                if let Some(tok) = &token {
                    rb = rb.bearer_auth(tok);
                }
                match rb.send().await {
                    Ok(r) if r.status().is_success() => {
                        // Read the body: a client does.
                        if r.bytes().await.is_err() {
                            errors += 1;
                        }
                        lat.push(t.elapsed());
                    }
                    _ => errors += 1,
                }
            }
            (lat, errors)
        });
    }
    let mut lat = Vec::with_capacity(n);
    let mut errors = 0;
    while let Some(Ok((l, e))) = set.join_next().await {
        lat.extend(l);
        errors += e;
    }
    (lat, started.elapsed(), errors)
}

/// Nearest-rank percentile in milliseconds, to a microsecond.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    percentile(sorted, p).map_or(0.0, |d| (d.as_secs_f64() * 1e6).round() / 1000.0)
}

/// The demo catalogue (categories, then products by bulk import) in the product service.
async fn load_catalogue(client: &reqwest::Client, product: &str, settings: &Settings) -> anyhow::Result<()> {
    let jwt = nakku_core::auth::JwtKeys::new(&nakku_server::resolve_jwt_secret(settings)?, 3600);
    let (admin, _) = jwt.issue("bench-admin", nakku_core::auth::Role::Admin)?;
    for cat in super::seed::rows(super::seed::CATEGORIES) {
        let slug = &cat["slug"];
        let mut body = serde_json::json!({"name": cat["name"], "slug": slug});
        if !cat["parent"].is_empty() {
            body["parent"] = serde_json::json!(cat["parent"]);
        }
        let r = client
            .post(format!("{product}/api/v1/categories"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "category {slug}: {}", r.status());
    }
    let r = client
        .post(format!("{product}/api/v1/products/import"))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(super::seed::PRODUCTS)
        .send()
        .await?;
    anyhow::ensure!(r.status().is_success(), "catalogue import: {}", r.status());
    Ok(())
}
