//! Logging: JSON lines on stderr (or human-readable with `log_format = "pretty"`), each
//! carrying the fields of the current span (request_id, service, user_id).

use std::sync::OnceLock;

use nakku_core::config::LogFormat;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter, Registry};

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the global subscriber once; later calls do nothing.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(filter)
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::registry().with(filter).with(fmt).try_init(),
    };
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Changes what is logged from now on (for example quieter while `nakku seed` sends
/// thousands of requests through its own in-process services).
pub fn set_filter(filter: &str) {
    if let (Some(handle), Ok(f)) = (FILTER.get(), EnvFilter::try_new(filter)) {
        let _ = handle.reload(f);
    }
}
