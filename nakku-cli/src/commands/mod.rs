pub mod api;
pub mod bench;
pub mod catalogue_bench;
pub mod chaos;
pub mod config;
pub mod dashboard;
pub mod events;
pub mod events_bench;
pub mod gateway_bench;
pub mod inventory_bench;
pub mod live_bench;
pub mod migrate;
pub mod orders_bench;
pub mod products;
pub mod seed;
pub mod serve;
pub mod simulate;
pub mod up;
pub mod users;
pub mod verify;

/// The gateway a client command talks to: `--url`, else this machine's gateway port; no
/// trailing slash.
pub fn gateway_url(settings: &nakku_core::config::Settings, url: Option<&str>) -> String {
    url.map(str::to_owned)
        .unwrap_or_else(|| {
            format!(
                "http://127.0.0.1:{}",
                settings.port(nakku_core::service::Service::Gateway)
            )
        })
        .trim_end_matches('/')
        .to_owned()
}
