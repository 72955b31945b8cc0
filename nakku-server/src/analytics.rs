//! Analytics service routes (port 8090): the reports behind the operators' dashboard, for
//! admins. Every report takes `?from=&to=` (RFC 3339 times or `YYYY-MM-DD` dates; default
//! the last 24 hours) and `?store=`; lists take `?limit=` (1-100, default 10). The event
//! log (`/analytics/events`) is the dashboard's live tail and the support view's timelines.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use nakku_core::analytics::event_log::EventQuery;
use nakku_core::analytics::{AnalyticsService, ReportQuery};
use nakku_core::auth::{JwtKeys, Role};

use crate::error::{ok, ApiResult};
use crate::extract::{AppQuery, AuthUser, SvcState};

type St = State<SvcState<AnalyticsService>>;

pub fn router(svc: Arc<AnalyticsService>, jwt: JwtKeys) -> Router {
    Router::new()
        .route("/api/v1/analytics/summary", get(summary))
        .route("/api/v1/analytics/stores", get(stores))
        .route("/api/v1/analytics/stock-alerts", get(stock_alerts))
        .route("/api/v1/analytics/events", get(events))
        .with_state(SvcState { svc, jwt })
}

async fn summary(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.summary(&q).await?))
}

async fn stores(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.stores(&q).await?))
}

async fn stock_alerts(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.stock_alerts(&q).await?))
}

async fn events(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<EventQuery>) -> ApiResult {
    auth.require(Role::Admin)?;
    Ok(ok(StatusCode::OK, s.svc.events(&q).await?))
}
