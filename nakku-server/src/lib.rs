//! Nakku's HTTP side: one axum router per service, the gateway, and the middleware they
//! share. A library first: embed it with [`Application::build`] and
//! [`Application::run_until_stopped`].

pub mod analytics;
pub mod answer;
pub mod api;
pub mod cart;
pub mod clients;
pub mod contract;
pub mod delivery;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod graphql;
pub mod graphql_ws;
pub mod health;
pub mod inventory;
pub mod live;
pub mod location;
pub mod metrics;
pub mod middleware;
pub mod notification;
pub mod openapi;
pub mod order;
pub mod payment;
pub mod product;
pub mod ratelimit;
pub mod startup;
pub mod statements;
pub mod telemetry;
pub mod tls;
pub mod upstream;
pub mod user;

pub use startup::{open_database, resolve_jwt_secret, Application};
pub use tokio_util::sync::CancellationToken;

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    tokio::spawn(async move {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut term) => {
                    tokio::select! {
                        _ = ctrl_c => {}
                        _ = term.recv() => {}
                    }
                }
                Err(_) => {
                    let _ = ctrl_c.await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
        tracing::info!("shutdown signal received");
        t.cancel();
    });
    token
}
