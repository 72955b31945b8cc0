//! `GET /health`: real dependency checks. 200 when every check passes, otherwise 503
//! with the failing dependencies named.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use nakku_core::db::Db;
use nakku_core::events::bus::EventBus;
use serde_json::{json, Map, Value};
use tokio_util::sync::CancellationToken;

use crate::answer::envelope;
use crate::error::ApiError;

/// One thing a service depends on.
#[derive(Clone)]
pub enum Check {
    /// The service's own database (a `SELECT 1` round trip).
    Database(Db),
    /// A service behind the gateway: its instances as the gateway's health checks and
    /// circuit breakers see them. Reported, never failing the gateway's own health: a
    /// service down makes the gateway degraded, not down.
    Upstream {
        name: String,
        svc: nakku_core::service::Service,
        pool: Arc<crate::upstream::Pool>,
        client: reqwest::Client,
    },
    /// The event bus (embedded log or Kafka brokers).
    Bus(Arc<dyn EventBus>),
    /// The outbox backlog: reported, never failing on its own (a stuck relay shows as a
    /// growing `oldest_age_ms`, and the bus check says why).
    Outbox(Db),
    /// The catalogue's index size and its cache (Redis or in-process): reported, never
    /// failing (a Redis outage only sends reads to the database).
    Catalogue(Arc<nakku_core::product::ProductService>),
}

impl Check {
    fn name(&self) -> String {
        match self {
            Check::Database(_) => "database".to_owned(),
            Check::Upstream { name, .. } => name.clone(),
            Check::Bus(_) => "event_bus".to_owned(),
            Check::Outbox(_) => "outbox".to_owned(),
            Check::Catalogue(_) => "catalogue".to_owned(),
        }
    }

    /// Ok with details to show, or the reason it is down.
    async fn run(&self) -> Result<Value, String> {
        let fut = async {
            match self {
                Check::Database(db) => db.ping().await.map(|_| json!({})).map_err(|e| format!("{e:#}")),
                Check::Upstream { svc, pool, client, .. } => {
                    pool.probe(*svc, client).await;
                    let cfg = *pool.config();
                    let list = pool.instances(*svc);
                    let up = list
                        .iter()
                        .any(|i| i.healthy() && i.state(&cfg) != crate::upstream::State::Open);
                    let instances: Vec<Value> = list
                        .iter()
                        .map(|i| json!({"url": i.base_url, "healthy": i.healthy(), "circuit": i.state(&cfg).name(), "in_flight": i.in_flight()}))
                        .collect();
                    Ok(json!({"status": if up { "up" } else { "down" }, "instances": instances}))
                }
                Check::Bus(bus) => bus
                    .ping()
                    .await
                    .map(|_| json!({"kind": bus.kind()}))
                    .map_err(|e| e.to_string()),
                Check::Outbox(db) => nakku_core::events::relay::backlog(db)
                    .await
                    .map(|b| json!({"unpublished": b.unpublished, "oldest_age_ms": b.oldest_age_ms}))
                    .or_else(|e| Ok(json!({"status": "unknown", "error": e.to_string()}))),
                Check::Catalogue(svc) => {
                    let cache = match svc.cache().ping().await {
                        Ok(()) => json!({"kind": svc.cache().kind(), "status": "up"}),
                        Err(e) => json!({"kind": svc.cache().kind(), "status": "down", "error": e.to_string()}),
                    };
                    Ok(json!({"indexed_products": svc.indexed(), "cache": cache}))
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(3), fut).await {
            Ok(r) => r,
            Err(_) => Err("timed out after 3s".to_owned()),
        }
    }
}

/// What `/readyz` requires before the service takes traffic.
#[derive(Clone)]
pub enum Ready {
    /// The database answers, with every migration of the service applied.
    Database(Db, nakku_core::service::Service),
    /// The event bus has answered since start. Only a start-up gate: once it has, a broker
    /// outage leaves the service ready (`/health` shows it down) — writes go on into the
    /// outbox and are published when the broker is back, while failing every service's
    /// readiness would take the whole API out of its load balancers for a broker outage.
    Bus(Arc<dyn EventBus>, Arc<AtomicBool>),
    /// Every consumer of the service has joined its group (flags set by
    /// [`nakku_core::events::consumer::Consumer::run_reporting`]).
    Consumers(Vec<(&'static str, Arc<AtomicBool>)>),
    /// The catalogue's search index (loaded before the service serves: reported).
    Catalogue(Arc<nakku_core::product::ProductService>),
    /// The gateway: a route to every service, and an instance of each seen healthy since
    /// start. Only a start-up gate: a service that goes down later makes the gateway
    /// degraded (`/health`, 503s for that service's paths), not unready — taking every
    /// gateway out of rotation would turn one service's outage into a total one.
    Routes(Arc<crate::upstream::Pool>),
}

impl Ready {
    async fn run(&self) -> Result<Value, String> {
        match self {
            Ready::Database(db, svc) => {
                db.ping().await.map_err(|e| format!("database: {e:#}"))?;
                match nakku_core::db::migrate::pending(*svc, db).await {
                    Ok(0) => Ok(json!({"migrations": "applied"})),
                    Ok(n) => Err(format!("database: {n} pending migration(s)")),
                    Err(e) => Err(format!("database: {e:#}")),
                }
            }
            Ready::Bus(bus, seen) => match bus.ping().await {
                Ok(()) => {
                    seen.store(true, Ordering::Release);
                    Ok(json!({"kind": bus.kind()}))
                }
                Err(e) if seen.load(Ordering::Acquire) => Ok(json!({
                    "kind": bus.kind(),
                    "status": "down",
                    "error": e.to_string(),
                    "note": "answered since start: events wait in the outbox",
                })),
                Err(e) => Err(format!("event bus: {e}")),
            },
            Ready::Consumers(list) => {
                let waiting: Vec<&str> = list
                    .iter()
                    .filter(|(_, joined)| !joined.load(Ordering::Acquire))
                    .map(|(name, _)| *name)
                    .collect();
                if waiting.is_empty() {
                    Ok(json!({"subscribed": list.len()}))
                } else {
                    Err(format!("consumers not subscribed yet: {}", waiting.join(", ")))
                }
            }
            Ready::Catalogue(svc) => Ok(json!({"indexed_products": svc.indexed()})),
            Ready::Routes(pool) => {
                let mut routed = Vec::new();
                let mut unserved = Vec::new();
                for (svc, list) in pool.services() {
                    routed.push(svc.name());
                    if !list.iter().any(|i| i.seen()) {
                        unserved.push(svc.name());
                    }
                }
                if routed.is_empty() {
                    Err("no service to route to".to_owned())
                } else if !unserved.is_empty() {
                    Err(format!(
                        "no healthy instance of: {} (none seen since start)",
                        unserved.join(", ")
                    ))
                } else {
                    Ok(json!({"routes": routed}))
                }
            }
        }
    }

    fn name(&self) -> &'static str {
        match self {
            Ready::Database(..) => "database",
            Ready::Bus(..) => "event_bus",
            Ready::Consumers(_) => "consumers",
            Ready::Catalogue(_) => "catalogue",
            Ready::Routes(_) => "routes",
        }
    }
}

/// The probes' state: what readiness needs, and whether the process is shutting down
/// (then `/readyz` fails at once, while requests are still served).
#[derive(Clone)]
pub struct Probes {
    pub ready: Vec<Ready>,
    pub draining: CancellationToken,
}

#[derive(Clone)]
pub struct HealthState {
    pub service: &'static str,
    pub checks: Arc<Vec<Check>>,
    pub probes: Arc<Probes>,
    /// The gateway's `/metrics` is for the operator's network only: `Some(trusted proxy
    /// hops)` answers it only to callers from loopback or private addresses (the client's
    /// address behind trusted proxies), 404 to others. `None`: to anyone (services, which
    /// are not exposed, and a gateway with `NAKKU_METRICS_PUBLIC=true`).
    pub metrics_guard: Option<usize>,
}

/// `/health` (for people: every dependency, with details), `/livez` (the process answers;
/// never checks a dependency, so a database outage does not get the pod restarted),
/// `/readyz` (take traffic or not), and `/metrics`.
pub fn router(service: &'static str, checks: Vec<Check>, probes: Probes, metrics_guard: Option<usize>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(HealthState {
            service,
            checks: Arc::new(checks),
            probes: Arc::new(probes),
            metrics_guard,
        })
}

async fn metrics(
    State(st): State<HealthState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(hops) = st.metrics_guard {
        let client = crate::gateway::client_ip(peer.ip(), headers.get("x-forwarded-for"), hops);
        let inside = client.parse::<std::net::IpAddr>().is_ok_and(is_internal);
        if !inside {
            // As if there were nothing here: traffic and error rates are not for outsiders.
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no route for GET /metrics"));
        }
    }
    Ok(crate::metrics::render().await)
}

/// Loopback, private (RFC 1918, IPv6 unique local) or link-local: the operator's network.
pub fn is_internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
        std::net::IpAddr::V6(v6) => {
            v6.is_loopback()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_internal(std::net::IpAddr::V4(v4)))
        }
    }
}

async fn livez(State(st): State<HealthState>) -> Response {
    envelope(StatusCode::OK, json!({"status": "alive", "service": st.service}))
}

async fn readyz(State(st): State<HealthState>) -> Result<Response, ApiError> {
    let not_ready = |reasons: Vec<String>, checks: Map<String, Value>| {
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {}", reasons.join("; ")),
        );
        e.extra =
            Some(json!({"data": {"status": "not_ready", "service": st.service, "checks": Value::Object(checks)}}));
        e
    };
    if st.probes.draining.is_cancelled() {
        return Err(not_ready(vec!["shutting down".to_owned()], Map::new()));
    }
    let mut set = tokio::task::JoinSet::new();
    for r in st.probes.ready.iter() {
        let r = r.clone();
        set.spawn(async move {
            let out = match tokio::time::timeout(Duration::from_secs(2), r.run()).await {
                Ok(out) => out,
                Err(_) => Err(format!("{}: no answer within 2 s", r.name())),
            };
            (r.name(), out)
        });
    }
    let mut checks = Map::new();
    let mut reasons = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, out) = joined.map_err(ApiError::internal)?;
        match out {
            Ok(v) => checks.insert(name.to_owned(), v),
            Err(why) => {
                reasons.push(why.clone());
                checks.insert(name.to_owned(), json!({"status": "down", "error": why}))
            }
        };
    }
    if reasons.is_empty() {
        Ok(envelope(
            StatusCode::OK,
            json!({"status": "ready", "service": st.service, "checks": Value::Object(checks)}),
        ))
    } else {
        reasons.sort();
        Err(not_ready(reasons, checks))
    }
}

async fn health(State(st): State<HealthState>) -> Result<Response, ApiError> {
    let mut set = tokio::task::JoinSet::new();
    for c in st.checks.iter() {
        let c = c.clone();
        set.spawn(async move {
            let start = Instant::now();
            let r = c.run().await;
            (c.name(), r, start.elapsed().as_secs_f64() * 1000.0)
        });
    }
    let mut checks = Map::new();
    let mut down = Vec::new();
    while let Some(joined) = set.join_next().await {
        let (name, r, ms) = joined.map_err(ApiError::internal)?;
        let v = match r {
            Ok(mut details) => {
                if details.get("status").is_none() {
                    details["status"] = json!("up");
                }
                details["latency_ms"] = json!((ms * 10.0).round() / 10.0);
                details
            }
            Err(e) => {
                down.push(name.clone());
                json!({"status": "down", "error": e})
            }
        };
        checks.insert(name, v);
    }
    // Reported dependencies that are down (the gateway's services) degrade, not fail.
    let degraded: Vec<String> = checks
        .iter()
        .filter(|(_, v)| v["status"] == "down")
        .map(|(k, _)| k.clone())
        .collect();
    if down.is_empty() {
        Ok(envelope(
            StatusCode::OK,
            json!({"status": if degraded.is_empty() { "ok" } else { "degraded" }, "degraded": degraded,
                   "service": st.service, "checks": Value::Object(checks)}),
        ))
    } else {
        tracing::warn!(down = ?down, "health check failed");
        let mut e = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("unhealthy: {} down", down.join(", ")),
        );
        e.extra = Some(json!({"data": {"status": "down", "service": st.service, "checks": Value::Object(checks)}}));
        Err(e)
    }
}
