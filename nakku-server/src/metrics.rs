//! Prometheus metrics: one process-wide recorder; every series carries a `service` label,
//! so the `/metrics` of any service in an embedded process shows all of them.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Confirmation to the door: 5 minutes to 2 hours (quick commerce promises 10-30).
const DELIVERY_BUCKETS: [f64; 10] = [
    300.0, 600.0, 900.0, 1200.0, 1500.0, 1800.0, 2700.0, 3600.0, 5400.0, 7200.0,
];

const LATENCY_BUCKETS: [f64; 12] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// Installs the recorder on first use and returns its handle.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_duration_seconds".to_owned()), &LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full("nakku_delivery_time_seconds".to_owned()),
                    &DELIVERY_BUCKETS,
                )
            })
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        handle
    })
}

/// Puts the counters that alerts and dashboards compute `increase()` or `rate()` on at 0
/// when a service starts. A series that first appears at 1 shows Prometheus no increase,
/// so without this the first dead letter, saga failure or failed payment after a restart
/// would never alert. (The gateway's per-upstream series start in `upstream::Pool::new`.)
pub fn start_at_zero(svc: nakku_core::service::Service, consumers: &[&'static str]) {
    use nakku_core::service::Service;
    handle();
    for &c in consumers {
        metrics::counter!("nakku_consumer_dead_letters_total", "consumer" => c).increment(0);
        metrics::counter!("nakku_consumer_retries_total", "consumer" => c).increment(0);
        for outcome in ["applied", "duplicate"] {
            metrics::counter!("nakku_consumer_messages_total", "consumer" => c, "outcome" => outcome).increment(0);
        }
    }
    if svc != Service::Gateway {
        metrics::counter!("nakku_outbox_published_total", "service" => svc.name()).increment(0);
        metrics::counter!("nakku_outbox_publish_failures_total", "service" => svc.name()).increment(0);
    }
    match svc {
        Service::Order => {
            for step in nakku_core::order::saga::Step::ALL {
                metrics::counter!("nakku_saga_step_failures_total", "step" => step.name()).increment(0);
            }
            metrics::counter!("nakku_saga_compensations_total").increment(0);
            metrics::counter!("nakku_orders_placed_total").increment(0);
        }
        Service::Payment => {
            for outcome in ["captured", "failed"] {
                metrics::counter!("nakku_payments_total", "outcome" => outcome).increment(0);
            }
            metrics::counter!("nakku_refunds_total").increment(0);
        }
        Service::Inventory => {
            metrics::counter!("nakku_inventory_reservation_batch_failures_total").increment(0);
            for status in ["held", "failed"] {
                metrics::counter!("nakku_inventory_reservations_total", "status" => status).increment(0);
            }
        }
        Service::Product => {
            metrics::counter!("nakku_cache_errors_total").increment(0);
            for result in ["hit", "miss"] {
                metrics::counter!("nakku_cache_requests_total", "result" => result).increment(0);
            }
        }
        Service::Delivery => {
            // Registered without a sample: rendered with empty buckets until a delivery.
            let _ = metrics::histogram!("nakku_delivery_time_seconds");
            metrics::counter!("nakku_orders_packed_total").increment(0);
            metrics::counter!("nakku_slot_bookings_total").increment(0);
        }
        Service::Gateway => {
            for class in ["auth", "write", "read"] {
                metrics::counter!("nakku_rate_limited_total", "class" => class).increment(0);
            }
        }
        _ => {}
    }
}

/// A request's series: service, method, route and status.
#[derive(PartialEq, Eq, Hash)]
struct Series {
    service: &'static str,
    method: axum::http::Method,
    route: crate::middleware::RouteLabel,
    status: u16,
}

thread_local! {
    /// Each thread's handles of the series it has counted: making the four labels (five
    /// strings) and looking them up in the registry twice for every request cost the
    /// gateway a few percent of its CPU. The handles share the registry's series, so
    /// `/metrics` shows one count whichever thread counted. Bounded by the routes ×
    /// methods × statuses a service answers (an unknown path is one route, "unmatched").
    static SERIES: std::cell::RefCell<rustc_hash::FxHashMap<Series, (metrics::Counter, metrics::Histogram)>> =
        std::cell::RefCell::default();
}

/// Counts requests and records their latency per service, method, route and status.
pub async fn track(State(service): State<&'static str>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let route = crate::middleware::RouteLabel::of(&req);
    let resp = next.run(req).await;
    let key = Series {
        service,
        method,
        route,
        status: resp.status().as_u16(),
    };
    let elapsed = crate::middleware::elapsed_secs(start);
    let record = |(count, latency): &(metrics::Counter, metrics::Histogram)| {
        count.increment(1);
        latency.record(elapsed);
    };
    SERIES.with(|cell| {
        let Ok(mut series) = cell.try_borrow_mut() else {
            return record(&handles(&key));
        };
        match series.get(&key) {
            Some(h) => record(h),
            None => {
                let h = handles(&key);
                record(&h);
                series.insert(key, h);
            }
        }
    });
    resp
}

/// The registry's handles of a request's series.
fn handles(s: &Series) -> (metrics::Counter, metrics::Histogram) {
    handle();
    let labels = [
        ("service", s.service.to_owned()),
        ("method", s.method.to_string()),
        ("route", s.route.text()),
        ("status", s.status.to_string()),
    ];
    (
        metrics::counter!("nakku_http_requests_total", &labels),
        metrics::histogram!("nakku_http_request_duration_seconds", &labels[..3]),
    )
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle().render()).into_response()
}

/// Samples every second, until `stop`, the connections of each service's database pools:
/// `nakku_db_pool_connections{service,pool,state}` (`in_use`, `idle`) and
/// `nakku_db_pool_max_connections{service,pool}` (`pool`: `main`, or SQLite's one
/// `writer`). A pool with every connection in use minute after minute makes requests
/// queue for one, and fail with 503 past the 5 s acquire timeout (alert
/// `NakkuDbPoolSaturated`).
pub async fn sample_pools(
    dbs: Vec<(nakku_core::service::Service, nakku_core::db::Db)>,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.cancelled() => return,
        }
        for (svc, db) in &dbs {
            for (pool, in_use, idle, max) in db.pool_stats() {
                let labels = [("service", svc.name()), ("pool", pool)];
                metrics::gauge!("nakku_db_pool_connections", "service" => svc.name(), "pool" => pool, "state" => "in_use")
                    .set(f64::from(in_use));
                metrics::gauge!("nakku_db_pool_connections", "service" => svc.name(), "pool" => pool, "state" => "idle")
                    .set(f64::from(idle));
                metrics::gauge!("nakku_db_pool_max_connections", &labels).set(f64::from(max));
            }
        }
    }
}

/// Histogram upkeep; runs for the life of the process.
pub fn spawn_upkeep() {
    let h = handle().clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            tick.tick().await;
            h.run_upkeep();
        }
    });
}
