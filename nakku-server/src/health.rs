//! `GET /health`: real dependency checks. 200 when every check passes, otherwise 503
//! with the failing dependencies named.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use nakku_core::db::Db;
use serde_json::{json, Map, Value};

use crate::error::{ok, ApiError};

/// One thing a service depends on.
#[derive(Clone, Debug)]
pub enum Check {
    /// The service's own database (a `SELECT 1` round trip).
    Database(Db),
    /// Another service, by its `/health` (used by the gateway).
    Upstream {
        name: String,
        base_url: String,
        client: reqwest::Client,
    },
}

impl Check {
    fn name(&self) -> String {
        match self {
            Check::Database(_) => "database".to_owned(),
            Check::Upstream { name, .. } => name.clone(),
        }
    }

    async fn run(&self) -> Result<(), String> {
        let fut = async {
            match self {
                Check::Database(db) => db.ping().await.map_err(|e| format!("{e:#}")),
                Check::Upstream { base_url, client, .. } => {
                    let r = client
                        .get(format!("{base_url}/health"))
                        .send()
                        .await
                        .map_err(|e| e.to_string())?;
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("reports {}", r.status()))
                    }
                }
            }
        };
        match tokio::time::timeout(Duration::from_secs(3), fut).await {
            Ok(r) => r,
            Err(_) => Err("timed out after 3s".to_owned()),
        }
    }
}

#[derive(Clone)]
pub struct HealthState {
    pub service: &'static str,
    pub checks: Arc<Vec<Check>>,
}

pub fn router(service: &'static str, checks: Vec<Check>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/metrics", get(crate::metrics::render))
        .with_state(HealthState {
            service,
            checks: Arc::new(checks),
        })
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
            Ok(()) => json!({"status": "up", "latency_ms": (ms * 10.0).round() / 10.0}),
            Err(e) => {
                down.push(name.clone());
                json!({"status": "down", "error": e})
            }
        };
        checks.insert(name, v);
    }
    if down.is_empty() {
        Ok(ok(
            StatusCode::OK,
            json!({"status": "ok", "service": st.service, "checks": Value::Object(checks)}),
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
