//! Analytics service routes (port 8090): the reports behind the operators' dashboard, for
//! admins. Every report takes `?from=&to=` (RFC 3339 times or `YYYY-MM-DD` dates; default
//! the last 24 hours) and `?store=`; lists take `?limit=` (1-100, default 10). The event
//! log (`/analytics/events`) is the dashboard's live tail and the support view's timelines.

use std::sync::Arc;

use axum::extract::State;
use axum::Router;
use nakku_core::analytics::event_log::{EventPage, EventQuery};
use nakku_core::analytics::{AnalyticsService, ReportQuery, StockAlerts, StoresReport, Summary};
use nakku_core::auth::{JwtKeys, Role};
use nakku_core::gateway::Access::Admin;
use nakku_core::service::Service;

use crate::answer::{ok, ApiResult};
use crate::api::Api;
use crate::extract::{AppQuery, AuthUser, SvcState};

type St = State<SvcState<AnalyticsService>>;

/// The analytics service's endpoints.
pub fn api() -> Api<SvcState<AnalyticsService>> {
    Api::new(Service::Analytics)
        .get("analytics/summary", "getAnalyticsSummary", Admin, summary)
        .get("analytics/stores", "getStoreAnalytics", Admin, stores)
        .get("analytics/stock-alerts", "getStockAlerts", Admin, stock_alerts)
        .get("analytics/events", "listEvents", Admin, events)
}

pub fn router(svc: Arc<AnalyticsService>, jwt: JwtKeys) -> Router {
    api().router().with_state(SvcState { svc, jwt })
}

async fn summary(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult<Summary> {
    auth.require(Role::Admin)?;
    ok(s.svc.summary(&q).await?)
}

async fn stores(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult<StoresReport> {
    auth.require(Role::Admin)?;
    ok(s.svc.stores(&q).await?)
}

async fn stock_alerts(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<ReportQuery>) -> ApiResult<StockAlerts> {
    auth.require(Role::Admin)?;
    ok(s.svc.stock_alerts(&q).await?)
}

async fn events(State(s): St, auth: AuthUser, AppQuery(q): AppQuery<EventQuery>) -> ApiResult<EventPage> {
    auth.require(Role::Admin)?;
    ok(s.svc.events(&q).await?)
}
