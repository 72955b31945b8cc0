//! Logging and tracing. Logs: JSON lines on stderr (or human-readable with
//! `log_format = "pretty"`), each carrying the fields of the current span (request_id,
//! service, user_id, and `trace_id` when tracing is on).
//!
//! Tracing: with `otlp_endpoint` set, spans are exported over OTLP/HTTP (protobuf) to an
//! OpenTelemetry collector, sampled at `trace_sample_ratio` for new traces (a caller's
//! `traceparent` decision is followed), and [`nakku_core::trace`] starts carrying the
//! context across HTTP calls and events. Without it no OpenTelemetry layer is installed.

use std::sync::OnceLock;
use std::time::Duration;

use nakku_core::config::{LogFormat, Settings};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{filter, reload, EnvFilter};

/// Swaps the log filter (see [`set_filter`]).
type Reload = Box<dyn Fn(EnvFilter) -> Result<(), reload::Error> + Send + Sync>;

static FILTER: OnceLock<Reload> = OnceLock::new();

/// The installed tracing pipeline; [`Tracing::shutdown`] sends what is still queued.
#[must_use = "call shutdown() before exit, or spans still queued are lost"]
pub struct Tracing {
    provider: Option<SdkTracerProvider>,
}

impl Tracing {
    /// Exports the spans still queued and stops the exporter (waits up to 5 s).
    pub async fn shutdown(self) {
        if let Some(p) = self.provider {
            // The exporter's thread sends through this runtime, so wait off its workers.
            let _ = tokio::task::spawn_blocking(move || {
                if let Err(e) = p.shutdown_with_timeout(Duration::from_secs(5)) {
                    eprintln!("tracing: spans still queued at exit were not all sent: {e}");
                }
            })
            .await;
        }
    }
}

/// Installs the global subscriber once (later calls install nothing and export nothing).
/// `process` names this process in traces (`service.name`; `OTEL_SERVICE_NAME` wins).
/// Must run inside the Tokio runtime when `otlp_endpoint` is set: the exporter sends
/// through it.
pub fn init(settings: &Settings, process: &str) -> anyhow::Result<Tracing> {
    // The log filter is the log's alone: `NAKKU_LOG=warn` quiets the log, not the traces.
    let filter = EnvFilter::try_new(&settings.log_filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let provider = match &settings.otlp_endpoint {
        Some(endpoint) => Some(provider(settings, endpoint, process)?),
        None => None,
    };
    // Traces get Nakku's spans (info and up) and, as span events, its warnings and errors;
    // not every log line, which would double the cost of each for little.
    let otel = provider.as_ref().map(|p| {
        tracing_opentelemetry::layer()
            .with_tracer(p.tracer("nakku"))
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_filter(filter::filter_fn(|m| {
                m.target().starts_with("nakku")
                    && if m.is_span() {
                        *m.level() <= tracing::Level::INFO
                    } else {
                        *m.level() <= tracing::Level::WARN
                    }
            }))
    });
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let installed = match settings.log_format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(otel)
            .with(crate::statements::layer())
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_filter(filter),
            )
            .try_init(),
        LogFormat::Pretty => tracing_subscriber::registry()
            .with(otel)
            .with(crate::statements::layer())
            .with(fmt.with_filter(filter))
            .try_init(),
    };
    if installed.is_err() {
        return Ok(Tracing { provider: None });
    }
    crate::statements::mark_installed();
    let _ = FILTER.set(Box::new(move |f| handle.reload(f)));
    if provider.is_some() {
        nakku_core::trace::enable();
    }
    Ok(Tracing { provider })
}

fn provider(settings: &Settings, endpoint: &str, process: &str) -> anyhow::Result<SdkTracerProvider> {
    let runtime = tokio::runtime::Handle::try_current()
        .map_err(|_| anyhow::anyhow!("tracing: the OTLP exporter needs the async runtime"))?;
    let client = nakku_core::tls::ExtraRoots::from_settings(settings)?.http_client(Duration::from_secs(10))?;
    let url = if endpoint.ends_with("/v1/traces") {
        endpoint.to_owned()
    } else {
        format!("{endpoint}/v1/traces")
    };
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(url)
        .with_http_client(OnRuntime { client, runtime })
        .build()?;
    let name = std::env::var("OTEL_SERVICE_NAME").unwrap_or_else(|_| process.to_owned());
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.trace_sample_ratio,
        ))))
        .with_resource(Resource::builder().with_service_name(name).build())
        .build())
}

/// The exporter's HTTP client: our reqwest (rustls, the platform's roots plus
/// `tls_ca_file`). The SDK exports from its own thread, outside the runtime, so each
/// request runs as a task on the runtime and the exporter waits for its result.
#[derive(Debug)]
struct OnRuntime {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for OnRuntime {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let client = self.client.clone();
        let (parts, body) = request.into_parts();
        let sent = self.runtime.spawn(async move {
            let res = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let status = res.status();
            let headers = res.headers().clone();
            let body = res.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = sent.await??;
        let mut response = Response::builder().status(status).body(body)?;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Changes what is logged from now on (for example quieter while `nakku seed` sends
/// thousands of requests through its own in-process services).
pub fn set_filter(filter: &str) {
    if let (Some(reload), Ok(f)) = (FILTER.get(), EnvFilter::try_new(filter)) {
        let _ = reload(f);
    }
}
