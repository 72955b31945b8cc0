//! `nakku bench gateway`: what the gateway costs. The same requests go straight to the
//! owning service, through Nakku's gateway, and through a minimal reverse proxy written
//! here on hyper (route by first path segment, forward, stream the answer back: no auth,
//! limits, retries, tracing or metrics), in alternating rounds of the same run, with the
//! same number of concurrent clients. The gateway and the proxy each run on a runtime of
//! their own, so the CPU time their threads spend (`/proc/self/task/*/schedstat`) is
//! theirs alone: reported per proxied request, with the gateway's ÷ the proxy's. Also the
//! throughput and the added p50 over the direct path.
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
    proxy_rps: f64,
    /// Gateway throughput ÷ direct throughput.
    ratio: f64,
    direct_p50_ms: f64,
    gateway_p50_ms: f64,
    proxy_p50_ms: f64,
    /// Gateway p50 − direct p50.
    added_p50_ms: f64,
    /// Minimal proxy p50 − direct p50.
    proxy_added_p50_ms: f64,
    direct_p99_ms: f64,
    gateway_p99_ms: f64,
    proxy_p99_ms: f64,
    /// CPU time of the gateway's threads per request through it, in microseconds.
    gateway_cpu_us: f64,
    /// The same for the minimal hyper proxy.
    proxy_cpu_us: f64,
    /// Gateway CPU per request ÷ minimal proxy CPU per request.
    cpu_ratio: f64,
    errors: usize,
}

#[derive(Debug, Serialize)]
struct Report {
    requests: usize,
    workers: usize,
    paths: Vec<Path>,
}

/// Thread names of the gateway's runtime and of the minimal proxy's (at most 15 bytes: the
/// kernel's limit, so they can be found again in `/proc`).
const GATEWAY_THREADS: &str = "bench-gateway";
const PROXY_THREADS: &str = "bench-proxy";

/// CPU time spent so far by this process's threads named `name` (`schedstat`: nanoseconds
/// on the CPU). Threads that have ended are not counted: both runtimes keep theirs.
fn cpu_of(name: &str) -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Duration::ZERO;
    };
    let mut ns = 0u64;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += stat
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Duration::from_nanos(ns)
}

/// A runtime of two worker threads named `name`: what the gateway (or the minimal proxy)
/// runs on, apart from the services and the clients.
fn runtime(name: &str) -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(name)
        .enable_all()
        .build()?)
}

/// The minimal reverse proxy the gateway is measured against: hyper's HTTP/1 server and
/// pooled client, the upstream chosen by the path's first segment under `/api/v1`, the
/// request and the answer passed through as they are.
async fn minimal_proxy(listener: tokio::net::TcpListener, routes: Arc<Vec<(&'static str, String)>>) {
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let client: Client<_, hyper::body::Incoming> = Client::builder(TokioExecutor::new()).build_http();
    while let Ok((stream, _)) = listener.accept().await {
        let (client, routes) = (client.clone(), routes.clone());
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let client = client.clone();
                let base = routes
                    .iter()
                    .find(|(prefix, _)| req.uri().path().starts_with(prefix))
                    .map(|(_, base)| base.clone());
                async move {
                    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
                    let target = base.map(|b| format!("{b}{pq}")).and_then(|u| u.parse().ok());
                    let Some(uri) = target else {
                        return Ok::<_, std::convert::Infallible>(status_only(hyper::StatusCode::NOT_FOUND));
                    };
                    *req.uri_mut() = uri;
                    req.headers_mut().remove(hyper::header::HOST);
                    Ok(match client.request(req).await {
                        Ok(resp) => resp.map(axum::body::Body::new),
                        Err(_) => status_only(hyper::StatusCode::BAD_GATEWAY),
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn status_only(code: hyper::StatusCode) -> hyper::Response<axum::body::Body> {
    let mut r = hyper::Response::new(axum::body::Body::empty());
    *r.status_mut() = code;
    r
}

/// Measured requests of one path: latencies, wall time, CPU time of its proxy's threads.
#[derive(Default)]
struct Tally {
    lat: Vec<Duration>,
    wall: Duration,
    cpu: Duration,
}

impl Tally {
    fn rps(&self) -> f64 {
        self.lat.len() as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    fn cpu_us(&self) -> f64 {
        (self.cpu.as_secs_f64() * 1e6 / self.lat.len().max(1) as f64 * 10.0).round() / 10.0
    }
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
    let services = [Service::User, Service::Location, Service::Product];
    for svc in &services {
        let db = Db::connect(&settings.database_url_for(*svc).context("db url")?, 1).await?;
        migrate::run(*svc, &db).await?;
        db.close().await;
    }
    let app = Application::build(&settings, &services).await?;
    let url = |s: Service| app.addr(s).map(|a| format!("http://{a}")).context("bound");
    let (user, location, product) = (url(Service::User)?, url(Service::Location)?, url(Service::Product)?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));

    // The gateway, on its own runtime, reaching the three services by URL as in production.
    let gateway_rt = runtime(GATEWAY_THREADS)?;
    for (svc, base) in [
        (Service::User, &user),
        (Service::Location, &location),
        (Service::Product, &product),
    ] {
        env.insert(format!("NAKKU_{}_URL", svc.env_name()), base.clone());
    }
    let gateway_settings = Settings::load(None, &env).context("gateway settings")?;
    let gateway_stop = stop.clone();
    let gateway = gateway_rt
        .spawn(async move {
            let app = Application::build(&gateway_settings, &[Service::Gateway]).await?;
            let addr = app.addr(Service::Gateway).context("gateway bound")?;
            tokio::spawn(app.run_until_stopped(gateway_stop));
            anyhow::Ok(format!("http://{addr}"))
        })
        .await??;
    // The minimal proxy, on its own runtime too.
    let proxy_rt = runtime(PROXY_THREADS)?;
    let routes = Arc::new(vec![
        ("/api/v1/users", user.clone()),
        ("/api/v1/locations", location.clone()),
        ("/api/v1/products", product.clone()),
    ]);
    let proxy = proxy_rt
        .spawn(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let addr = listener.local_addr()?;
            tokio::spawn(minimal_proxy(listener, routes));
            anyhow::Ok(format!("http://{addr}"))
        })
        .await??;

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
        // Direct, through the gateway, through the minimal proxy: whose threads to charge.
        let ways = [
            (&direct_base, None),
            (&gateway, Some(GATEWAY_THREADS)),
            (&proxy, Some(PROXY_THREADS)),
        ];
        let mut tally: [Tally; 3] = Default::default();
        let mut errors = 0;
        // Warm every path (connections, caches) before measuring.
        for (base, _) in ways {
            let (_, _, e) = round(&client, &format!("{base}{path}"), tok.as_deref(), 200, o.workers).await;
            errors += e;
        }
        for _ in 0..o.rounds {
            for (t, (base, threads)) in tally.iter_mut().zip(ways) {
                let cpu = threads.map(cpu_of);
                let (lat, wall, e) =
                    round(&client, &format!("{base}{path}"), tok.as_deref(), per_round, o.workers).await;
                if let (Some(before), Some(threads)) = (cpu, threads) {
                    t.cpu += cpu_of(threads).saturating_sub(before);
                }
                t.lat.extend(lat);
                t.wall += wall;
                errors += e;
            }
        }
        for t in &mut tally {
            t.lat.sort_unstable();
        }
        let [direct, through, minimal] = &tally;
        let (dp50, gp50, pp50) = (pct(&direct.lat, 0.5), pct(&through.lat, 0.5), pct(&minimal.lat, 0.5));
        let ms = |v: f64| (v * 1000.0).round() / 1000.0;
        paths.push(Path {
            endpoint: name.to_owned(),
            direct_rps: direct.rps().round(),
            gateway_rps: through.rps().round(),
            proxy_rps: minimal.rps().round(),
            ratio: (through.rps() / direct.rps().max(1e-9) * 1000.0).round() / 1000.0,
            direct_p50_ms: dp50,
            gateway_p50_ms: gp50,
            proxy_p50_ms: pp50,
            added_p50_ms: ms(gp50 - dp50),
            proxy_added_p50_ms: ms(pp50 - dp50),
            direct_p99_ms: pct(&direct.lat, 0.99),
            gateway_p99_ms: pct(&through.lat, 0.99),
            proxy_p99_ms: pct(&minimal.lat, 0.99),
            gateway_cpu_us: through.cpu_us(),
            proxy_cpu_us: minimal.cpu_us(),
            cpu_ratio: (through.cpu_us() / minimal.cpu_us().max(1e-9) * 100.0).round() / 100.0,
            errors,
        });
    }
    stop.cancel();
    server.await.ok();
    gateway_rt.shutdown_background();
    proxy_rt.shutdown_background();
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
        "proxy req/s",
        "direct p50 ms",
        "added p50 ms: gateway",
        "proxy",
        "gateway p99 ms",
        "CPU µs/req: gateway",
        "proxy",
        "÷",
        "errors",
    ]);
    for p in &report.paths {
        t.add_row(vec![
            p.endpoint.clone(),
            format!("{:.0}", p.direct_rps),
            format!("{:.0}", p.gateway_rps),
            format!("{:.0}", p.proxy_rps),
            format!("{:.3}", p.direct_p50_ms),
            format!("{:.3}", p.added_p50_ms),
            format!("{:.3}", p.proxy_added_p50_ms),
            format!("{:.3}", p.gateway_p99_ms),
            format!("{:.1}", p.gateway_cpu_us),
            format!("{:.1}", p.proxy_cpu_us),
            format!("{:.2}", p.cpu_ratio),
            p.errors.to_string(),
        ]);
    }
    println!("{t}");
    println!(
        "{} requests per endpoint and path, {} concurrent clients, the three paths' rounds alternating; targets: gateway CPU per request ≤ 1.3 × the minimal hyper proxy's, added p50 ≤ 0.5 ms",
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
