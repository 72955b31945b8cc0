//! Settings: defaults < optional `nakku.toml` < `NAKKU_*` environment < CLI flags.
//!
//! Keys are flat (`user_database_url` in the file, `NAKKU_USER_DATABASE_URL` in the
//! environment) so that one name works everywhere. Every value is parsed here, once; a bad
//! one stops start-up with an error naming the key, where it came from and what is expected.
//! We parse by hand rather than with the `config` crate because its errors name serde paths,
//! not the environment variable the operator actually set.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::service::Service;

/// A value that must not be printed (passwords in URLs, the JWT secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Pretty,
}

/// Which event bus carries events between services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusKind {
    /// The embedded durable log in the data directory.
    Embedded,
    Kafka,
}

/// A configuration error: which key, from where, what was wrong.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key} (from {origin}) = {value:?}: expected {expected}")]
pub struct ConfigError {
    pub key: String,
    pub origin: String,
    pub value: String,
    pub expected: String,
}

/// Everything Nakku reads at start-up. Build it with [`Settings::load`].
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    /// `mysql://user:pass@host:port` server URL; each service uses `nakku_<svc>` on it.
    pub database_url: Option<Secret>,
    /// Full per-service database URLs (`NAKKU_<SVC>_DATABASE_URL`).
    pub service_database_urls: BTreeMap<Service, Secret>,
    pub host: IpAddr,
    pub ports: BTreeMap<Service, u16>,
    /// Where the gateway finds a service that does not run in this process (`NAKKU_<SVC>_URL`).
    /// Several instances: base URLs separated by commas (the gateway balances over them;
    /// service-to-service calls use the first).
    pub upstream_urls: BTreeMap<Service, String>,
    /// Gateway: requests per minute per caller (0 = off) for sign-in, writes and reads.
    pub rate_limit_auth_per_minute: u32,
    pub rate_limit_write_per_minute: u32,
    pub rate_limit_read_per_minute: u32,
    /// Gateway circuit breaker: consecutive failures that open it, seconds it stays open.
    pub breaker_failures: u32,
    pub breaker_open_secs: u64,
    /// Gateway CORS: allowed origins, comma-separated, `*` for any, empty for none.
    pub cors_origins: String,
    /// Gateway: proxies in front that append to `X-Forwarded-For` (0: the TCP peer is the
    /// client; 1: the last address in the header is, as a load balancer appends it).
    pub trusted_proxy_hops: u32,
    /// Gateway: serve `/metrics` to anyone (default: loopback and private addresses only).
    pub metrics_public: bool,
    pub jwt_secret: Option<Secret>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub bcrypt_cost: u32,
    pub request_timeout_secs: u64,
    pub body_limit_bytes: usize,
    pub shutdown_grace_secs: u64,
    /// After SIGTERM: seconds `/readyz` fails while requests are still accepted.
    pub shutdown_delay_secs: u64,
    pub db_max_connections: u32,
    pub log_format: LogFormat,
    pub log_filter: String,
    /// OpenTelemetry: the OTLP/HTTP collector (`http://collector:4318`); none = no tracing.
    pub otlp_endpoint: Option<String>,
    /// Share of new traces recorded (0.0-1.0); a caller's sampled decision is followed.
    pub trace_sample_ratio: f64,
    pub event_bus: BusKind,
    pub kafka_brokers: String,
    pub event_topic_prefix: String,
    pub kafka_partitions: i32,
    pub consumer_max_attempts: u32,
    pub relay_batch_size: usize,
    pub relay_poll_ms: u64,
    pub reservation_ttl_secs: i64,
    pub eta_road_factor: f64,
    pub rider_speed_kmh: f64,
    pub prep_minutes: f64,
    /// Delivery slots: their length, and orders per slot per store unless an admin set one.
    pub slot_minutes: i64,
    pub slot_capacity: i64,
    /// Redis for the catalogue cache; `None` keeps an in-process cache.
    pub redis_url: Option<Secret>,
    pub catalogue_refresh_ms: u64,
    pub cache_ttl_secs: u64,
    pub import_max_bytes: usize,
    /// Checkout pricing rules (cart service), all money in paise.
    pub pricing: Pricing,
    /// The payment simulator: latency, share of declined charges, seed.
    pub payment_latency_ms: u64,
    pub payment_failure_rate: f64,
    pub payment_seed: u64,
    /// SMTP relay for email notifications (unset: emails go to the log).
    pub smtp_url: Option<Secret>,
    pub mail_from: String,
    /// HTTP webhooks for SMS and push notifications (unset: to the log).
    pub sms_webhook_url: Option<String>,
    pub push_webhook_url: Option<String>,
    /// Shoppers' local time, minutes east of UTC (quiet hours are local).
    pub notify_utc_offset_minutes: i64,
    pub notify_max_attempts: i64,
    /// How long the analytics service keeps every event for the dashboard's tail and the
    /// support view's order timelines.
    pub event_log_hours: i64,
    /// How long a saga step may go unanswered before the order is compensated.
    pub saga_step_timeout_secs: u64,
    /// Extra trusted CA certificates (PEM), on top of the platform's roots, for every
    /// outgoing TLS connection: databases, Redis, HTTP upstreams and webhooks, SMTP, Kafka.
    pub tls_ca_file: Option<PathBuf>,
    /// The gateway serves HTTPS (HTTP/1.1 and HTTP/2) with this certificate chain and key.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    /// How often the gateway looks for a rotated certificate.
    pub tls_reload_secs: u64,
    /// A previous JWT secret still accepted for verification (key rotation).
    pub jwt_previous_secret: Option<Secret>,
    /// Kafka connection security.
    pub kafka: KafkaSecurity,
    /// Bearer tokens sent to the SMS and push webhooks.
    pub sms_webhook_token: Option<Secret>,
    pub push_webhook_token: Option<Secret>,
}

/// How Nakku authenticates to Kafka and encrypts the connection.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KafkaSecurity {
    /// plaintext, ssl, sasl_plaintext or sasl_ssl.
    pub security_protocol: KafkaProtocol,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (SASL protocols only).
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// CA certificates for the brokers' certificates (default: `tls_ca_file`, then the
    /// platform's roots).
    pub ssl_ca_file: Option<PathBuf>,
    /// Any other librdkafka property, `name=value` pairs separated by `;`.
    pub properties: Vec<(String, String)>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum KafkaProtocol {
    #[default]
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl KafkaProtocol {
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaProtocol::Plaintext => "plaintext",
            KafkaProtocol::Ssl => "ssl",
            KafkaProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaProtocol::SaslSsl => "sasl_ssl",
        }
    }
    pub fn uses_tls(self) -> bool {
        matches!(self, KafkaProtocol::Ssl | KafkaProtocol::SaslSsl)
    }
    pub fn uses_sasl(self) -> bool {
        matches!(self, KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl)
    }
}

/// Checkout pricing rules: delivery fee by distance, small-cart fee below a minimum order
/// value, surge fee when the store is at capacity, per-item quantity limit.
#[derive(Debug, Clone, PartialEq)]
pub struct Pricing {
    pub min_order_paise: i64,
    pub small_cart_fee_paise: i64,
    pub delivery_base_fee_paise: i64,
    pub delivery_base_km: f64,
    pub delivery_per_km_paise: i64,
    /// Delivery is free from this item total up (0: never free).
    pub free_delivery_above_paise: i64,
    pub surge_fee_paise: i64,
    /// Orders in progress at a store from which the surge fee applies.
    pub store_capacity: i64,
    /// Most units of one product per order when the product sets no limit.
    pub max_per_item: i64,
}

impl Default for Pricing {
    fn default() -> Self {
        Pricing {
            min_order_paise: 19_900,
            small_cart_fee_paise: 2_500,
            delivery_base_fee_paise: 1_500,
            delivery_base_km: 2.0,
            delivery_per_km_paise: 800,
            free_delivery_above_paise: 49_900,
            surge_fee_paise: 2_000,
            store_capacity: 40,
            max_per_item: 10,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            data_dir: PathBuf::from("./nakku-data"),
            database_url: None,
            service_database_urls: BTreeMap::new(),
            host: IpAddr::from([127, 0, 0, 1]),
            ports: Service::ALL.into_iter().map(|s| (s, s.default_port())).collect(),
            upstream_urls: BTreeMap::new(),
            rate_limit_auth_per_minute: 30,
            rate_limit_write_per_minute: 300,
            rate_limit_read_per_minute: 1200,
            breaker_failures: 5,
            breaker_open_secs: 10,
            cors_origins: "*".to_owned(),
            trusted_proxy_hops: 0,
            metrics_public: false,
            jwt_secret: None,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            bcrypt_cost: 12,
            request_timeout_secs: 30,
            body_limit_bytes: 1024 * 1024,
            shutdown_grace_secs: 30,
            shutdown_delay_secs: 0,
            db_max_connections: 10,
            log_format: LogFormat::Json,
            log_filter: "info".to_owned(),
            otlp_endpoint: None,
            trace_sample_ratio: 1.0,
            event_bus: BusKind::Embedded,
            kafka_brokers: "127.0.0.1:9092".to_owned(),
            event_topic_prefix: "nakku".to_owned(),
            kafka_partitions: 6,
            consumer_max_attempts: 5,
            relay_batch_size: 2000,
            relay_poll_ms: 20,
            reservation_ttl_secs: 600,
            eta_road_factor: 1.4,
            rider_speed_kmh: 20.0,
            prep_minutes: 4.0,
            slot_minutes: 60,
            slot_capacity: 20,
            redis_url: None,
            catalogue_refresh_ms: 500,
            cache_ttl_secs: 300,
            import_max_bytes: 64 * 1024 * 1024,
            pricing: Pricing::default(),
            payment_latency_ms: 0,
            payment_failure_rate: 0.0,
            payment_seed: 1,
            smtp_url: None,
            mail_from: "Nakku <orders@nakku.local>".to_owned(),
            sms_webhook_url: None,
            push_webhook_url: None,
            notify_utc_offset_minutes: 330,
            notify_max_attempts: 5,
            event_log_hours: 48,
            saga_step_timeout_secs: 30,
            tls_ca_file: None,
            tls_cert_file: None,
            tls_key_file: None,
            tls_reload_secs: 10,
            jwt_previous_secret: None,
            kafka: KafkaSecurity::default(),
            sms_webhook_token: None,
            push_webhook_token: None,
        }
    }
}

/// One documented configuration key (used for parsing, for unknown-key detection and in
/// `nakku config` output).
pub struct KeyDoc {
    pub key: String,
    pub default: String,
    pub meaning: String,
}

/// Every key Nakku understands, with its default and meaning.
pub fn documented_keys() -> Vec<KeyDoc> {
    let d = Settings::default();
    let mut keys = vec![
        doc(
            "data_dir",
            "./nakku-data",
            "directory for SQLite files, the event log and the generated JWT secret",
        ),
        doc(
            "database_url",
            "(unset: SQLite)",
            "MySQL/MariaDB server URL mysql://user:pass@host:port; each service uses database nakku_<svc> on it",
        ),
        doc("host", "127.0.0.1", "address every service listens on"),
        doc(
            "jwt_secret",
            "(generated in embedded mode)",
            "HS256 signing secret, at least 32 bytes; required when database_url is set",
        ),
        doc(
            "access_token_ttl_secs",
            &d.access_token_ttl_secs.to_string(),
            "lifetime of access JWTs",
        ),
        doc(
            "refresh_token_ttl_secs",
            &d.refresh_token_ttl_secs.to_string(),
            "lifetime of refresh tokens",
        ),
        doc(
            "bcrypt_cost",
            &d.bcrypt_cost.to_string(),
            "bcrypt work factor for passwords (4-31)",
        ),
        doc(
            "request_timeout_secs",
            &d.request_timeout_secs.to_string(),
            "a request taking longer gets 408",
        ),
        doc(
            "body_limit_bytes",
            &d.body_limit_bytes.to_string(),
            "larger request bodies get 413",
        ),
        doc(
            "shutdown_grace_secs",
            &d.shutdown_grace_secs.to_string(),
            "how long in-flight requests may finish after SIGINT/SIGTERM",
        ),
        doc(
            "shutdown_delay_secs",
            &d.shutdown_delay_secs.to_string(),
            "after SIGINT/SIGTERM, seconds /readyz fails while requests are still accepted (for load balancers to stop sending)",
        ),
        doc(
            "db_max_connections",
            &d.db_max_connections.to_string(),
            "connection pool size per service database",
        ),
        doc("log_format", "json", "json (one JSON object a line) or pretty"),
        doc(
            "log",
            "info",
            "log filter in tracing's EnvFilter syntax, e.g. info,nakku_server=debug",
        ),
        doc(
            "otlp_endpoint",
            "",
            "OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318); empty: no traces exported",
        ),
        doc(
            "trace_sample_ratio",
            &d.trace_sample_ratio.to_string(),
            "share of new traces recorded when otlp_endpoint is set (0.0-1.0); a caller's traceparent decision is kept",
        ),
        doc("event_bus", "embedded", "embedded (durable log in data_dir) or kafka"),
        doc(
            "kafka_brokers",
            &d.kafka_brokers,
            "Kafka bootstrap servers, comma-separated",
        ),
        doc(
            "event_topic_prefix",
            &d.event_topic_prefix,
            "topics are <prefix>.<domain>, e.g. nakku.user",
        ),
        doc(
            "kafka_partitions",
            &d.kafka_partitions.to_string(),
            "partitions of each topic Nakku creates",
        ),
        doc(
            "consumer_max_attempts",
            &d.consumer_max_attempts.to_string(),
            "handler attempts before a message is dead-lettered",
        ),
        doc(
            "relay_batch_size",
            &d.relay_batch_size.to_string(),
            "outbox rows the relay publishes per batch",
        ),
        doc(
            "relay_poll_ms",
            &d.relay_poll_ms.to_string(),
            "how often an idle relay looks for new outbox rows",
        ),
        doc(
            "reservation_ttl_secs",
            &d.reservation_ttl_secs.to_string(),
            "seconds a stock reservation holds before it is released automatically",
        ),
        doc(
            "eta_road_factor",
            &d.eta_road_factor.to_string(),
            "road distance ÷ straight-line distance, for delivery ETAs",
        ),
        doc(
            "rider_speed_kmh",
            &d.rider_speed_kmh.to_string(),
            "average rider speed for delivery ETAs",
        ),
        doc(
            "prep_minutes",
            &d.prep_minutes.to_string(),
            "minutes to pick and pack an order, added to every ETA",
        ),
        doc(
            "rate_limit_auth_per_minute",
            &d.rate_limit_auth_per_minute.to_string(),
            "gateway: register/login/refresh requests per minute per IP (0 = off)",
        ),
        doc(
            "rate_limit_write_per_minute",
            &d.rate_limit_write_per_minute.to_string(),
            "gateway: writes per minute per user (or IP when anonymous; 0 = off)",
        ),
        doc(
            "rate_limit_read_per_minute",
            &d.rate_limit_read_per_minute.to_string(),
            "gateway: reads per minute per user (or IP when anonymous; 0 = off)",
        ),
        doc(
            "breaker_failures",
            &d.breaker_failures.to_string(),
            "gateway: consecutive failures of an upstream instance that open its circuit",
        ),
        doc(
            "breaker_open_secs",
            &d.breaker_open_secs.to_string(),
            "gateway: seconds an open circuit refuses before a trial request",
        ),
        doc(
            "trusted_proxy_hops",
            &d.trusted_proxy_hops.to_string(),
            "gateway: proxies in front appending to X-Forwarded-For (0: use the TCP peer's address)",
        ),
        doc(
            "metrics_public",
            "false",
            "gateway: serve /metrics to any caller (default: loopback and private addresses only, the client's behind trusted proxies)",
        ),
        doc(
            "cors_origins",
            &d.cors_origins,
            "gateway: origins allowed by CORS, comma-separated; `*` any, empty none",
        ),
        doc(
            "slot_minutes",
            &d.slot_minutes.to_string(),
            "length of a delivery slot (15-240 minutes)",
        ),
        doc(
            "slot_capacity",
            &d.slot_capacity.to_string(),
            "orders per delivery slot per store, unless an admin set the store's",
        ),
        doc(
            "redis_url",
            "(unset: in-process cache)",
            "Redis for the catalogue cache, e.g. redis://127.0.0.1:6379/0",
        ),
        doc(
            "catalogue_refresh_ms",
            &d.catalogue_refresh_ms.to_string(),
            "how often each catalogue instance picks up products, stock and sales changed elsewhere",
        ),
        doc(
            "cache_ttl_secs",
            &d.cache_ttl_secs.to_string(),
            "lifetime of a cached product page (changes invalidate it sooner)",
        ),
        doc(
            "import_max_bytes",
            &d.import_max_bytes.to_string(),
            "largest product import file accepted over HTTP",
        ),
        doc(
            "min_order_paise",
            &d.pricing.min_order_paise.to_string(),
            "item total below which the small-cart fee applies",
        ),
        doc(
            "small_cart_fee_paise",
            &d.pricing.small_cart_fee_paise.to_string(),
            "fee on carts below min_order_paise",
        ),
        doc(
            "delivery_base_fee_paise",
            &d.pricing.delivery_base_fee_paise.to_string(),
            "delivery fee up to delivery_base_km of road distance",
        ),
        doc(
            "delivery_base_km",
            &d.pricing.delivery_base_km.to_string(),
            "road kilometres covered by the base delivery fee",
        ),
        doc(
            "delivery_per_km_paise",
            &d.pricing.delivery_per_km_paise.to_string(),
            "delivery fee per road kilometre (started) beyond delivery_base_km",
        ),
        doc(
            "free_delivery_above_paise",
            &d.pricing.free_delivery_above_paise.to_string(),
            "item total from which delivery is free (0: never)",
        ),
        doc(
            "surge_fee_paise",
            &d.pricing.surge_fee_paise.to_string(),
            "fee added while the store has store_capacity or more orders in progress",
        ),
        doc(
            "store_capacity",
            &d.pricing.store_capacity.to_string(),
            "orders in progress per store from which the surge fee applies",
        ),
        doc(
            "max_per_item",
            &d.pricing.max_per_item.to_string(),
            "most units of one product per order when the product sets no limit",
        ),
        doc(
            "payment_latency_ms",
            &d.payment_latency_ms.to_string(),
            "simulated payment provider: milliseconds per charge",
        ),
        doc(
            "payment_failure_rate",
            &d.payment_failure_rate.to_string(),
            "simulated payment provider: share of charges declined (0 to 1)",
        ),
        doc(
            "smtp_url",
            "(unset: emails to the log)",
            "SMTP relay for email notifications, smtp://[user:password@]host[:port]",
        ),
        doc("mail_from", &d.mail_from, "sender of notification emails"),
        doc(
            "sms_webhook_url",
            "(unset: SMS to the log)",
            "HTTP endpoint that sends SMS: receives {id, channel, to, title, body} as JSON",
        ),
        doc(
            "push_webhook_url",
            "(unset: push to the log)",
            "HTTP endpoint that sends push notifications (same JSON, to = device tokens)",
        ),
        doc(
            "notify_utc_offset_minutes",
            &d.notify_utc_offset_minutes.to_string(),
            "shoppers' local time as minutes east of UTC (330 = India); quiet hours are local",
        ),
        doc(
            "event_log_hours",
            &d.event_log_hours.to_string(),
            "how long the analytics service keeps every event (the dashboard's event tail and order timelines)",
        ),
        doc(
            "notify_max_attempts",
            &d.notify_max_attempts.to_string(),
            "sends tried before a notification is dead-lettered",
        ),
        doc(
            "payment_seed",
            &d.payment_seed.to_string(),
            "simulated payment provider: seed; the same seed declines the same orders",
        ),
        doc(
            "saga_step_timeout_secs",
            &d.saga_step_timeout_secs.to_string(),
            "seconds a reservation or payment may go unanswered before the order is compensated",
        ),
        doc(
            "tls_ca_file",
            "(unset: the platform's roots)",
            "PEM file of extra CA certificates trusted by every outgoing TLS connection (databases, Redis, HTTPS, SMTP, Kafka)",
        ),
        doc(
            "tls_cert_file",
            "(unset: plain HTTP)",
            "gateway: PEM certificate chain; with tls_key_file the gateway serves HTTPS with HTTP/2",
        ),
        doc("tls_key_file", "(unset)", "gateway: PEM private key of tls_cert_file"),
        doc(
            "tls_reload_secs",
            &d.tls_reload_secs.to_string(),
            "gateway: how often the certificate files are checked for a rotated certificate",
        ),
        doc(
            "jwt_previous_secret",
            "(unset)",
            "a previous HS256 secret still accepted when verifying tokens, during a key rotation",
        ),
        doc(
            "kafka_security_protocol",
            "plaintext",
            "plaintext, ssl, sasl_plaintext or sasl_ssl (TLS and SASL need a build with the kafka-tls feature)",
        ),
        doc(
            "kafka_sasl_mechanism",
            "(unset)",
            "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512, for the sasl_ protocols",
        ),
        doc("kafka_sasl_username", "(unset)", "SASL user name"),
        doc("kafka_sasl_password", "(unset)", "SASL password"),
        doc(
            "kafka_ssl_ca_file",
            "(unset: tls_ca_file)",
            "PEM file of the CA certificates that signed the brokers' certificates",
        ),
        doc(
            "kafka_properties",
            "(unset)",
            "any other librdkafka property: name=value pairs separated by `;`",
        ),
        doc(
            "sms_webhook_token",
            "(unset)",
            "sent to the SMS webhook as Authorization: Bearer <token>",
        ),
        doc(
            "push_webhook_token",
            "(unset)",
            "sent to the push webhook as Authorization: Bearer <token>",
        ),
    ];
    for svc in Service::ALL {
        let n = svc.name();
        keys.push(doc(
            &format!("{n}_port"),
            &svc.default_port().to_string(),
            &format!("port of the {n} service"),
        ));
        if svc != Service::Gateway {
            keys.push(doc(
                &format!("{n}_database_url"),
                "(derived)",
                &format!(
                    "full database URL of the {n} service (mysql://.../db or sqlite://path), overriding database_url"
                ),
            ));
            keys.push(doc(
                &format!("{n}_url"),
                "(in-process)",
                &format!("base URL where the gateway reaches the {n} service when it runs elsewhere"),
            ));
        }
    }
    keys
}

fn doc(key: &str, default: &str, meaning: &str) -> KeyDoc {
    KeyDoc {
        key: key.to_owned(),
        default: default.to_owned(),
        meaning: meaning.to_owned(),
    }
}

/// A raw value and where it came from, before parsing.
struct Raw {
    value: String,
    origin: String,
    key_as_given: String,
}

impl Settings {
    /// Loads settings from the optional file and the given environment.
    ///
    /// `config_file`: an explicit path must exist; without one, `./nakku.toml` is read when
    /// present. `env` is passed in (rather than read here) so tests can supply their own.
    pub fn load(config_file: Option<&Path>, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        let mut raw: HashMap<String, Raw> = HashMap::new();
        let known: Vec<String> = documented_keys().into_iter().map(|k| k.key).collect();

        let explicit = config_file
            .map(Path::to_path_buf)
            .or_else(|| env.get("NAKKU_CONFIG").map(PathBuf::from));
        let file = match explicit {
            Some(p) => Some((p, true)),
            None => Some((PathBuf::from("nakku.toml"), false)),
        };
        if let Some((path, required)) = file {
            read_file(&path, required, &known, &mut raw)?;
        }
        for key in &known {
            let var = format!("NAKKU_{}", key.to_ascii_uppercase());
            let file_var = format!("{var}_FILE");
            match (env.get(&var), env.get(&file_var)) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError {
                        key: file_var,
                        origin: "environment".to_owned(),
                        value: String::new(),
                        expected: format!("either {var} or {var}_FILE, not both"),
                    })
                }
                (Some(v), None) => {
                    raw.insert(
                        key.clone(),
                        Raw {
                            value: v.clone(),
                            origin: "environment".to_owned(),
                            key_as_given: var,
                        },
                    );
                }
                (None, Some(path)) => {
                    let value = read_secret_file(Path::new(path), &file_var, "environment")?;
                    raw.insert(
                        key.clone(),
                        Raw {
                            value,
                            origin: format!("file {path} named by {file_var}"),
                            key_as_given: file_var,
                        },
                    );
                }
                (None, None) => {}
            }
        }
        check_unknown_variables(env, &known)?;
        Settings::from_raw(raw)
    }

    fn from_raw(mut raw: HashMap<String, Raw>) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        if let Some(r) = raw.remove("data_dir") {
            if r.value.trim().is_empty() {
                return Err(bad(&r, "a directory path"));
            }
            s.data_dir = PathBuf::from(r.value);
        }
        if let Some(r) = raw.remove("database_url") {
            validate_server_url(&r)?;
            s.database_url = Some(Secret(r.value));
        }
        if let Some(r) = raw.remove("host") {
            s.host = r
                .value
                .parse()
                .map_err(|_| bad(&r, "an IP address such as 127.0.0.1 or 0.0.0.0"))?;
        }
        if let Some(r) = raw.remove("jwt_secret") {
            if r.value.len() < 32 {
                return Err(ConfigError {
                    value: "***".to_owned(),
                    ..bad(&r, "a secret of at least 32 bytes")
                });
            }
            s.jwt_secret = Some(Secret(r.value));
        }
        parse_num(
            &mut raw,
            "access_token_ttl_secs",
            1,
            86_400,
            &mut s.access_token_ttl_secs,
        )?;
        parse_num(
            &mut raw,
            "refresh_token_ttl_secs",
            60,
            365 * 86_400,
            &mut s.refresh_token_ttl_secs,
        )?;
        parse_num(&mut raw, "bcrypt_cost", 4, 31, &mut s.bcrypt_cost)?;
        parse_num(&mut raw, "request_timeout_secs", 1, 3600, &mut s.request_timeout_secs)?;
        parse_num(&mut raw, "body_limit_bytes", 1024, 1 << 30, &mut s.body_limit_bytes)?;
        parse_num(&mut raw, "shutdown_grace_secs", 0, 3600, &mut s.shutdown_grace_secs)?;
        parse_num(&mut raw, "shutdown_delay_secs", 0, 300, &mut s.shutdown_delay_secs)?;
        parse_num(&mut raw, "db_max_connections", 1, 1000, &mut s.db_max_connections)?;
        if let Some(r) = raw.remove("log_format") {
            s.log_format = match r.value.to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "pretty" | "text" => LogFormat::Pretty,
                _ => return Err(bad(&r, "json or pretty")),
            };
        }
        if let Some(r) = raw.remove("log") {
            s.log_filter = r.value;
        }
        if let Some(r) = raw.remove("otlp_endpoint") {
            let v = r.value.trim();
            if v.is_empty() {
                s.otlp_endpoint = None;
            } else if (v.starts_with("http://") || v.starts_with("https://")) && v.parse::<reqwest::Url>().is_ok() {
                s.otlp_endpoint = Some(v.trim_end_matches('/').to_owned());
            } else {
                return Err(bad(
                    &r,
                    "an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318",
                ));
            }
        }
        parse_decimal(&mut raw, "trace_sample_ratio", 0.0, 1.0, &mut s.trace_sample_ratio)?;
        if let Some(r) = raw.remove("event_bus") {
            s.event_bus = match r.value.to_ascii_lowercase().as_str() {
                "embedded" => BusKind::Embedded,
                "kafka" => BusKind::Kafka,
                _ => return Err(bad(&r, "embedded or kafka")),
            };
        }
        if let Some(r) = raw.remove("kafka_brokers") {
            let ok = r.value.split(',').all(|b| {
                b.trim()
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            });
            if !ok {
                return Err(bad(&r, "host:port[,host:port...]"));
            }
            s.kafka_brokers = r.value;
        }
        if let Some(r) = raw.remove("event_topic_prefix") {
            let ok = !r.value.is_empty()
                && r.value.len() <= 100
                && r.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Err(bad(&r, "letters, digits, '.', '_' or '-' (a Kafka topic name)"));
            }
            s.event_topic_prefix = r.value;
        }
        parse_num(&mut raw, "kafka_partitions", 1, 1000, &mut s.kafka_partitions)?;
        parse_num(&mut raw, "consumer_max_attempts", 1, 100, &mut s.consumer_max_attempts)?;
        parse_num(&mut raw, "relay_batch_size", 1, 10_000, &mut s.relay_batch_size)?;
        parse_num(&mut raw, "relay_poll_ms", 1, 60_000, &mut s.relay_poll_ms)?;
        parse_num(&mut raw, "reservation_ttl_secs", 1, 86_400, &mut s.reservation_ttl_secs)?;
        parse_decimal(&mut raw, "eta_road_factor", 1.0, 5.0, &mut s.eta_road_factor)?;
        parse_decimal(&mut raw, "rider_speed_kmh", 1.0, 120.0, &mut s.rider_speed_kmh)?;
        parse_decimal(&mut raw, "prep_minutes", 0.0, 120.0, &mut s.prep_minutes)?;
        parse_num(&mut raw, "slot_minutes", 15, 240, &mut s.slot_minutes)?;
        parse_num(&mut raw, "slot_capacity", 0, 10_000, &mut s.slot_capacity)?;
        if let Some(r) = raw.remove("redis_url") {
            if !(r.value.starts_with("redis://") || r.value.starts_with("rediss://")) {
                return Err(ConfigError {
                    value: redact_url(&r.value),
                    ..bad(&r, "a redis:// or rediss:// URL")
                });
            }
            s.redis_url = Some(Secret(r.value));
        }
        parse_num(
            &mut raw,
            "catalogue_refresh_ms",
            10,
            60_000,
            &mut s.catalogue_refresh_ms,
        )?;
        parse_num(&mut raw, "cache_ttl_secs", 1, 86_400, &mut s.cache_ttl_secs)?;
        parse_num(&mut raw, "import_max_bytes", 1024, 1 << 30, &mut s.import_max_bytes)?;
        let p = &mut s.pricing;
        let money = 10_000_000; // ₹1 lakh: a fee above that is a typo
        parse_num(&mut raw, "min_order_paise", 0, money, &mut p.min_order_paise)?;
        parse_num(&mut raw, "small_cart_fee_paise", 0, money, &mut p.small_cart_fee_paise)?;
        parse_num(
            &mut raw,
            "delivery_base_fee_paise",
            0,
            money,
            &mut p.delivery_base_fee_paise,
        )?;
        parse_decimal(&mut raw, "delivery_base_km", 0.0, 100.0, &mut p.delivery_base_km)?;
        parse_num(
            &mut raw,
            "delivery_per_km_paise",
            0,
            money,
            &mut p.delivery_per_km_paise,
        )?;
        parse_num(
            &mut raw,
            "free_delivery_above_paise",
            0,
            money,
            &mut p.free_delivery_above_paise,
        )?;
        parse_num(&mut raw, "surge_fee_paise", 0, money, &mut p.surge_fee_paise)?;
        parse_num(&mut raw, "store_capacity", 1, 1_000_000, &mut p.store_capacity)?;
        parse_num(&mut raw, "max_per_item", 1, 1000, &mut p.max_per_item)?;
        parse_num(&mut raw, "payment_latency_ms", 0, 60_000, &mut s.payment_latency_ms)?;
        parse_decimal(&mut raw, "payment_failure_rate", 0.0, 1.0, &mut s.payment_failure_rate)?;
        parse_num(&mut raw, "payment_seed", 0, u64::MAX, &mut s.payment_seed)?;
        if let Some(r) = raw.remove("smtp_url") {
            if !(r.value.starts_with("smtp://") || r.value.starts_with("smtps://")) {
                return Err(ConfigError {
                    value: redact_url(&r.value),
                    ..bad(&r, "an smtp:// or smtps:// URL")
                });
            }
            s.smtp_url = Some(Secret(r.value));
        }
        if let Some(r) = raw.remove("mail_from") {
            if !r.value.contains('@') {
                return Err(bad(&r, "a mailbox such as Nakku <orders@example.com>"));
            }
            s.mail_from = r.value;
        }
        for (key, slot) in [
            ("sms_webhook_url", &mut s.sms_webhook_url),
            ("push_webhook_url", &mut s.push_webhook_url),
        ] {
            if let Some(r) = raw.remove(key) {
                if !(r.value.starts_with("http://") || r.value.starts_with("https://")) {
                    return Err(bad(&r, "an http:// or https:// URL"));
                }
                *slot = Some(r.value);
            }
        }
        parse_num(
            &mut raw,
            "notify_utc_offset_minutes",
            -720,
            840,
            &mut s.notify_utc_offset_minutes,
        )?;
        parse_num(&mut raw, "notify_max_attempts", 1, 100, &mut s.notify_max_attempts)?;
        parse_num(&mut raw, "event_log_hours", 1, 2_160, &mut s.event_log_hours)?;
        parse_num(
            &mut raw,
            "rate_limit_auth_per_minute",
            0,
            1_000_000,
            &mut s.rate_limit_auth_per_minute,
        )?;
        parse_num(
            &mut raw,
            "rate_limit_write_per_minute",
            0,
            1_000_000,
            &mut s.rate_limit_write_per_minute,
        )?;
        parse_num(
            &mut raw,
            "rate_limit_read_per_minute",
            0,
            1_000_000,
            &mut s.rate_limit_read_per_minute,
        )?;
        parse_num(&mut raw, "breaker_failures", 1, 1_000, &mut s.breaker_failures)?;
        parse_num(&mut raw, "breaker_open_secs", 1, 3_600, &mut s.breaker_open_secs)?;
        parse_num(&mut raw, "trusted_proxy_hops", 0, 5, &mut s.trusted_proxy_hops)?;
        if let Some(r) = raw.remove("metrics_public") {
            s.metrics_public = match r.value.trim().to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" => true,
                "false" | "0" | "no" => false,
                _ => return Err(bad(&r, "true or false")),
            };
        }
        if let Some(r) = raw.remove("cors_origins") {
            let ok = r.value.trim().is_empty()
                || r.value.trim() == "*"
                || r.value
                    .split(',')
                    .map(str::trim)
                    .all(|o| o.starts_with("http://") || o.starts_with("https://"));
            if !ok {
                return Err(bad(
                    &r,
                    "`*`, empty, or origins like https://admin.example.com separated by commas",
                ));
            }
            s.cors_origins = r.value.trim().to_owned();
        }
        parse_num(
            &mut raw,
            "saga_step_timeout_secs",
            1,
            3600,
            &mut s.saga_step_timeout_secs,
        )?;
        parse_tls(&mut raw, &mut s)?;
        parse_kafka_security(&mut raw, &mut s.kafka)?;
        for (key, slot) in [
            ("sms_webhook_token", &mut s.sms_webhook_token),
            ("push_webhook_token", &mut s.push_webhook_token),
        ] {
            if let Some(r) = raw.remove(key) {
                if r.value.is_empty() || r.value.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(ConfigError {
                        value: "***".to_owned(),
                        ..bad(&r, "a token without spaces or control characters")
                    });
                }
                *slot = Some(Secret(r.value));
            }
        }
        for svc in Service::ALL {
            let n = svc.name();
            if let Some(port) = s.ports.get_mut(&svc) {
                parse_num(&mut raw, &format!("{n}_port"), 0, 65_535, port)?;
            }
            if let Some(r) = raw.remove(&format!("{n}_database_url")) {
                validate_database_url(&r)?;
                s.service_database_urls.insert(svc, Secret(r.value));
            }
            if let Some(r) = raw.remove(&format!("{n}_url")) {
                let mut urls = Vec::new();
                for part in r.value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let v = part.trim_end_matches('/');
                    if !(v.starts_with("http://") || v.starts_with("https://")) || v.len() < 10 {
                        return Err(bad(&r, "http:// or https:// base URLs, separated by commas"));
                    }
                    urls.push(v.to_owned());
                }
                if urls.is_empty() {
                    return Err(bad(&r, "http:// or https:// base URLs, separated by commas"));
                }
                s.upstream_urls.insert(svc, urls.join(","));
            }
        }
        Ok(s)
    }

    /// The base URLs configured for a service (`NAKKU_<SVC>_URL`, comma-separated).
    pub fn upstream_list(&self, svc: Service) -> Vec<String> {
        self.upstream_urls
            .get(&svc)
            .map(|v| v.split(',').map(str::to_owned).collect())
            .unwrap_or_default()
    }

    /// The first base URL of a service, for service-to-service calls.
    pub fn upstream_first(&self, svc: Service) -> Option<String> {
        self.upstream_list(svc).into_iter().next()
    }

    /// The database URL of a service: its own override, else `database_url` plus
    /// `/nakku_<svc>`, else a SQLite file in the data directory.
    pub fn database_url_for(&self, svc: Service) -> Option<Secret> {
        let url = self.database_url_without_ca(svc)?;
        Some(match &self.tls_ca_file {
            Some(ca) => Secret(with_ssl_ca(url.expose(), ca)),
            None => url,
        })
    }

    fn database_url_without_ca(&self, svc: Service) -> Option<Secret> {
        let db_name = svc.database_name()?;
        if let Some(url) = self.service_database_urls.get(&svc) {
            return Some(url.clone());
        }
        if let Some(server) = &self.database_url {
            let (base, query) = match server.expose().split_once('?') {
                Some((b, q)) => (b, Some(q)),
                None => (server.expose(), None),
            };
            let mut url = format!("{}/{db_name}", base.trim_end_matches('/'));
            if let Some(q) = query {
                url.push('?');
                url.push_str(q);
            }
            return Some(Secret(url));
        }
        let path = self.data_dir.join(format!("{db_name}.db"));
        Some(Secret(format!("sqlite://{}", path.display())))
    }

    /// Path of the embedded event log.
    pub fn event_log_path(&self) -> PathBuf {
        self.data_dir.join("nakku_events.db")
    }

    /// True when every service database is a SQLite file (the embedded topology).
    pub fn is_embedded(&self) -> bool {
        self.database_url.is_none()
            && self
                .service_database_urls
                .values()
                .all(|u| u.expose().starts_with("sqlite:"))
    }

    pub fn port(&self, svc: Service) -> u16 {
        self.ports.get(&svc).copied().unwrap_or(svc.default_port())
    }
}

fn read_file(path: &Path, required: bool, known: &[String], raw: &mut HashMap<String, Raw>) -> Result<(), ConfigError> {
    let origin = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(ConfigError {
                key: "config".to_owned(),
                origin: "--config / NAKKU_CONFIG".to_owned(),
                value: origin,
                expected: format!("a readable TOML file ({e})"),
            })
        }
    };
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| ConfigError {
        key: "config".to_owned(),
        origin: origin.clone(),
        value: String::new(),
        expected: format!("valid TOML: {}", e.message()),
    })?;
    for (key, value) in table {
        let value = match value {
            toml::Value::String(s) => s,
            other => other.to_string(),
        };
        if known.contains(&key) {
            raw.insert(
                key.clone(),
                Raw {
                    value,
                    origin: origin.clone(),
                    key_as_given: key,
                },
            );
            continue;
        }
        // `jwt_secret_file = "/run/secrets/jwt"`: the value is read from that file.
        if let Some(base) = key.strip_suffix("_file").filter(|b| known.iter().any(|k| k == b)) {
            let secret = read_secret_file(Path::new(&value), &key, &origin)?;
            raw.insert(
                base.to_owned(),
                Raw {
                    value: secret,
                    origin: format!("file {value} named by {key} in {origin}"),
                    key_as_given: key.clone(),
                },
            );
            continue;
        }
        return Err(ConfigError {
            expected: format!(
                "a known key{} (see the README's configuration table)",
                closest(&key, known.iter().map(String::as_str))
                    .map(|k| format!(": did you mean {k}?"))
                    .unwrap_or_default()
            ),
            key,
            origin,
            value,
        });
    }
    Ok(())
}

/// Reads a setting's value from a file (the Docker and Kubernetes secrets convention): the
/// whole file, without its trailing newline.
fn read_secret_file(path: &Path, key: &str, origin: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
        key: key.to_owned(),
        origin: origin.to_owned(),
        value: path.display().to_string(),
        expected: format!("a readable file ({e})"),
    })?;
    Ok(text.trim_end_matches(['\n', '\r']).to_owned())
}

/// Environment variables starting `NAKKU_` that are not settings but are read by the CLI
/// or the test suite.
const OTHER_VARIABLES: [&str; 3] = ["NAKKU_CONFIG", "NAKKU_TOKEN", "NAKKU_PASSWORD"];

/// A mistyped variable would silently do nothing (`NAKKU_LOG_FILTER` for `NAKKU_LOG`):
/// every `NAKKU_*` variable must be a setting, a setting's `_FILE`, or one of
/// [`OTHER_VARIABLES`]; the test suite's `NAKKU_TEST_*` are left alone.
fn check_unknown_variables(env: &HashMap<String, String>, known: &[String]) -> Result<(), ConfigError> {
    let vars: Vec<String> = known
        .iter()
        .map(|k| format!("NAKKU_{}", k.to_ascii_uppercase()))
        .chain(OTHER_VARIABLES.iter().map(|v| (*v).to_owned()))
        .collect();
    let mut unknown: Vec<&String> = env
        .keys()
        .filter(|name| name.starts_with("NAKKU_") && !name.starts_with("NAKKU_TEST_"))
        .filter(|name| {
            let base = name.strip_suffix("_FILE").unwrap_or(name);
            !vars.iter().any(|v| v == *name || v == base)
        })
        .collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => Err(ConfigError {
            key: (*name).clone(),
            origin: "environment".to_owned(),
            value: "(not shown)".to_owned(),
            expected: format!(
                "a known setting{} (see the README's configuration table)",
                closest(name, vars.iter().map(String::as_str))
                    .map(|k| format!(": did you mean {k}?"))
                    .unwrap_or_default()
            ),
        }),
    }
}

/// The known name closest to a mistyped one, when one is close enough to be a likely typo.
fn closest<'a>(name: &str, known: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    known
        .map(|k| (strsim::jaro_winkler(name, k), k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn parse_tls(raw: &mut HashMap<String, Raw>, s: &mut Settings) -> Result<(), ConfigError> {
    for (key, slot) in [
        ("tls_ca_file", &mut s.tls_ca_file),
        ("tls_cert_file", &mut s.tls_cert_file),
        ("kafka_ssl_ca_file", &mut s.kafka.ssl_ca_file),
    ] {
        if let Some(r) = raw.remove(key) {
            *slot = Some(pem_file(&r, "CERTIFICATE")?);
        }
    }
    if let Some(r) = raw.remove("tls_key_file") {
        s.tls_key_file = Some(pem_file(&r, "PRIVATE KEY")?);
    }
    if s.tls_cert_file.is_some() != s.tls_key_file.is_some() {
        return Err(ConfigError {
            key: "NAKKU_TLS_CERT_FILE / NAKKU_TLS_KEY_FILE".to_owned(),
            origin: "settings".to_owned(),
            value: String::new(),
            expected: "both set (HTTPS) or neither (plain HTTP)".to_owned(),
        });
    }
    parse_num(raw, "tls_reload_secs", 1, 86_400, &mut s.tls_reload_secs)?;
    if let Some(r) = raw.remove("jwt_previous_secret") {
        if r.value.len() < 32 {
            return Err(ConfigError {
                value: "***".to_owned(),
                ..bad(&r, "a secret of at least 32 bytes")
            });
        }
        s.jwt_previous_secret = Some(Secret(r.value));
    }
    Ok(())
}

/// A PEM file that exists and holds at least one block of the given kind (`CERTIFICATE`,
/// or `PRIVATE KEY`, which also matches `RSA PRIVATE KEY` and `EC PRIVATE KEY`).
fn pem_file(r: &Raw, kind: &str) -> Result<PathBuf, ConfigError> {
    let expected = |why: String| format!("a readable PEM file with a {kind} ({why})");
    let text = std::fs::read_to_string(&r.value).map_err(|e| bad(r, &expected(e.to_string())))?;
    let has = text.lines().any(|l| l.starts_with("-----BEGIN ") && l.contains(kind));
    if !has {
        return Err(bad(r, &expected(format!("no -----BEGIN …{kind}----- block found"))));
    }
    Ok(PathBuf::from(&r.value))
}

fn parse_kafka_security(raw: &mut HashMap<String, Raw>, k: &mut KafkaSecurity) -> Result<(), ConfigError> {
    if let Some(r) = raw.remove("kafka_security_protocol") {
        k.security_protocol = match r.value.to_ascii_lowercase().as_str() {
            "plaintext" => KafkaProtocol::Plaintext,
            "ssl" => KafkaProtocol::Ssl,
            "sasl_plaintext" => KafkaProtocol::SaslPlaintext,
            "sasl_ssl" => KafkaProtocol::SaslSsl,
            _ => return Err(bad(&r, "plaintext, ssl, sasl_plaintext or sasl_ssl")),
        };
    }
    if let Some(r) = raw.remove("kafka_sasl_mechanism") {
        let m = r.value.to_ascii_uppercase();
        if !matches!(m.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") {
            return Err(bad(&r, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"));
        }
        k.sasl_mechanism = Some(m);
    }
    if let Some(r) = raw.remove("kafka_sasl_username") {
        k.sasl_username = Some(r.value);
    }
    if let Some(r) = raw.remove("kafka_sasl_password") {
        k.sasl_password = Some(Secret(r.value));
    }
    if let Some(r) = raw.remove("kafka_properties") {
        let mut props = Vec::new();
        for pair in r.value.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some((name, value)) if !name.trim().is_empty() => {
                    props.push((name.trim().to_owned(), value.trim().to_owned()))
                }
                _ => {
                    return Err(ConfigError {
                        value: "(not shown: it may hold a secret)".to_owned(),
                        ..bad(&r, "librdkafka properties as name=value pairs separated by `;`")
                    })
                }
            }
        }
        k.properties = props;
    }
    if k.security_protocol.uses_sasl() {
        let missing = [
            ("NAKKU_KAFKA_SASL_MECHANISM", k.sasl_mechanism.is_none()),
            ("NAKKU_KAFKA_SASL_USERNAME", k.sasl_username.is_none()),
            ("NAKKU_KAFKA_SASL_PASSWORD", k.sasl_password.is_none()),
        ];
        if let Some((name, _)) = missing.iter().find(|(_, m)| *m) {
            return Err(ConfigError {
                key: (*name).to_owned(),
                origin: "settings".to_owned(),
                value: String::new(),
                expected: format!(
                    "set, since NAKKU_KAFKA_SECURITY_PROTOCOL is {}",
                    k.security_protocol.as_str()
                ),
            });
        }
    }
    Ok(())
}

fn bad(r: &Raw, expected: &str) -> ConfigError {
    ConfigError {
        key: r.key_as_given.clone(),
        origin: r.origin.clone(),
        value: r.value.clone(),
        expected: expected.to_owned(),
    }
}

fn parse_num<T>(raw: &mut HashMap<String, Raw>, key: &str, min: T, max: T, out: &mut T) -> Result<(), ConfigError>
where
    T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
{
    if let Some(r) = raw.remove(key) {
        let expected = format!("a whole number from {min} to {max}");
        let v: T = r.value.trim().parse().map_err(|_| bad(&r, &expected))?;
        if v < min || v > max {
            return Err(bad(&r, &expected));
        }
        *out = v;
    }
    Ok(())
}

fn parse_decimal(
    raw: &mut HashMap<String, Raw>,
    key: &str,
    min: f64,
    max: f64,
    out: &mut f64,
) -> Result<(), ConfigError> {
    if let Some(r) = raw.remove(key) {
        let expected = format!("a number from {min} to {max}");
        let v: f64 = r.value.trim().parse().map_err(|_| bad(&r, &expected))?;
        if !v.is_finite() || v < min || v > max {
            return Err(bad(&r, &expected));
        }
        *out = v;
    }
    Ok(())
}

fn redacted(r: &Raw) -> String {
    redact_url(&r.value)
}

/// Hides the password in a URL (`mysql://root:***@host`).
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

fn validate_server_url(r: &Raw) -> Result<(), ConfigError> {
    let expected = "a server URL mysql://user:pass@host:port with no database name (each service adds nakku_<svc>)";
    let v = &r.value;
    let rest = v
        .strip_prefix("mysql://")
        .or_else(|| v.strip_prefix("mariadb://"))
        .ok_or_else(|| ConfigError {
            value: redacted(r),
            ..bad(r, expected)
        })?;
    let before_query = rest.split('?').next().unwrap_or_default();
    let host_part = before_query.rsplit('@').next().unwrap_or_default();
    if host_part.is_empty() || host_part.trim_end_matches('/').contains('/') {
        return Err(ConfigError {
            value: redacted(r),
            ..bad(r, expected)
        });
    }
    Ok(())
}

fn validate_database_url(r: &Raw) -> Result<(), ConfigError> {
    let v = &r.value;
    let ok = if let Some(rest) = v.strip_prefix("mysql://").or_else(|| v.strip_prefix("mariadb://")) {
        let before_query = rest.split('?').next().unwrap_or_default();
        let after_at = before_query.rsplit('@').next().unwrap_or_default();
        matches!(after_at.split_once('/'), Some((host, db)) if !host.is_empty() && is_db_name(db))
    } else if let Some(path) = v.strip_prefix("sqlite://").or_else(|| v.strip_prefix("sqlite:")) {
        !path.split('?').next().unwrap_or_default().is_empty()
    } else {
        false
    };
    if ok {
        Ok(())
    } else {
        Err(ConfigError {
            value: redacted(r),
            ..bad(
                r,
                "mysql://user:pass@host:port/database (letters, digits, _) or sqlite://path",
            )
        })
    }
}

/// A MySQL URL that also trusts `NAKKU_TLS_CA_FILE`: `ssl-ca` is added unless the URL names
/// its own (MySQL's clients take one CA file; sqlx adds it to the platform's roots).
pub fn with_ssl_ca(url: &str, ca: &Path) -> String {
    let has_ca = url.split_once('?').is_some_and(|(_, q)| {
        q.split('&')
            .any(|p| p.starts_with("ssl-ca=") || p.starts_with("sslca="))
    });
    if has_ca || !(url.starts_with("mysql://") || url.starts_with("mariadb://")) {
        return url.to_owned();
    }
    let path: String = ca
        .display()
        .to_string()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}ssl-ca={path}")
}

/// Database names go into `CREATE DATABASE`, so they are restricted to a safe alphabet.
pub fn is_db_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load(None, &env(pairs))
    }

    #[test]
    fn defaults_are_embedded_sqlite_in_the_data_dir() {
        let s = load(&[]).unwrap();
        assert!(s.is_embedded());
        assert_eq!(s.port(Service::Gateway), 8080);
        assert_eq!(
            s.database_url_for(Service::User).unwrap().expose(),
            "sqlite://./nakku-data/nakku_user.db"
        );
        assert!(s.database_url_for(Service::Gateway).is_none());
    }

    #[test]
    fn tracing_is_off_by_default_and_its_settings_are_checked() {
        let s = load(&[]).unwrap();
        assert_eq!(s.otlp_endpoint, None);
        let s = load(&[
            ("NAKKU_OTLP_ENDPOINT", "http://collector:4318/"),
            ("NAKKU_TRACE_SAMPLE_RATIO", "0.1"),
        ])
        .unwrap();
        assert_eq!(s.otlp_endpoint.as_deref(), Some("http://collector:4318"));
        assert_eq!(s.trace_sample_ratio, 0.1);
        for (key, value, says) in [
            ("NAKKU_OTLP_ENDPOINT", "collector:4318", "http:// or https:// URL"),
            ("NAKKU_TRACE_SAMPLE_RATIO", "1.5", "from 0 to 1"),
            ("NAKKU_TRACE_SAMPLE_RATIO", "all", "from 0 to 1"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(key) && err.contains(says), "{key}={value}: {err}");
        }
    }

    #[test]
    fn a_mysql_server_url_gives_each_service_its_own_database() {
        let s = load(&[("NAKKU_DATABASE_URL", "mysql://root:pw@127.0.0.1:3306?ssl-mode=disabled")]).unwrap();
        assert_eq!(
            s.database_url_for(Service::Order).unwrap().expose(),
            "mysql://root:pw@127.0.0.1:3306/nakku_order?ssl-mode=disabled"
        );
        assert!(!s.is_embedded());
    }

    #[test]
    fn a_per_service_url_overrides_the_server_url() {
        let s = load(&[
            ("NAKKU_DATABASE_URL", "mysql://root@127.0.0.1:3306"),
            ("NAKKU_USER_DATABASE_URL", "mysql://root@db2:3306/users_x"),
        ])
        .unwrap();
        assert_eq!(
            s.database_url_for(Service::User).unwrap().expose(),
            "mysql://root@db2:3306/users_x"
        );
    }

    #[test]
    fn a_bad_port_names_the_environment_variable() {
        let err = load(&[("NAKKU_USER_PORT", "eighty")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_USER_PORT");
        assert!(err.to_string().contains("whole number from 0 to 65535"), "{err}");
    }

    #[test]
    fn a_server_url_with_a_database_name_is_refused_and_the_password_hidden() {
        let err = load(&[("NAKKU_DATABASE_URL", "mysql://root:hunter2@h:3306/shop")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_DATABASE_URL");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn a_short_jwt_secret_is_refused_without_echoing_it() {
        let err = load(&[("NAKKU_JWT_SECRET", "short-secret")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_JWT_SECRET");
        assert!(!err.to_string().contains("short-secret"));
    }

    #[test]
    fn the_file_is_read_and_the_environment_wins() {
        let dir = std::env::temp_dir().join(format!("nakku-cfg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("nakku.toml");
        std::fs::write(
            &file,
            "user_port = 9001\ngateway_port = 9000\nlog_format = \"pretty\"\n",
        )
        .unwrap();
        let s = Settings::load(Some(&file), &env(&[("NAKKU_USER_PORT", "9101")])).unwrap();
        assert_eq!(s.port(Service::User), 9101);
        assert_eq!(s.port(Service::Gateway), 9000);
        assert_eq!(s.log_format, LogFormat::Pretty);
        std::fs::write(&file, "usr_port = 1\n").unwrap();
        let err = Settings::load(Some(&file), &HashMap::new()).unwrap_err();
        assert_eq!(err.key, "usr_port");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn event_settings_are_read_and_checked() {
        let s = load(&[("NAKKU_EVENT_BUS", "kafka"), ("NAKKU_KAFKA_BROKERS", "k1:9092,k2:9092")]).unwrap();
        assert_eq!(s.event_bus, BusKind::Kafka);
        assert_eq!(s.kafka_brokers, "k1:9092,k2:9092");
        assert_eq!(
            load(&[("NAKKU_EVENT_BUS", "rabbit")]).unwrap_err().key,
            "NAKKU_EVENT_BUS"
        );
        assert_eq!(
            load(&[("NAKKU_KAFKA_BROKERS", "nohost")]).unwrap_err().key,
            "NAKKU_KAFKA_BROKERS"
        );
        assert_eq!(
            load(&[("NAKKU_EVENT_TOPIC_PREFIX", "bad prefix")]).unwrap_err().key,
            "NAKKU_EVENT_TOPIC_PREFIX"
        );
    }

    #[test]
    fn an_explicit_config_file_must_exist() {
        let err = Settings::load(Some(Path::new("/definitely/not/here.toml")), &HashMap::new()).unwrap_err();
        assert_eq!(err.key, "config");
    }

    #[test]
    fn a_mysql_url_gets_the_ca_bundle_unless_it_names_its_own() {
        let ca = Path::new("/etc/nakku/ca bundle.pem");
        assert_eq!(
            with_ssl_ca("mysql://u:p@h:3306/db", ca),
            "mysql://u:p@h:3306/db?ssl-ca=/etc/nakku/ca%20bundle.pem"
        );
        assert_eq!(
            with_ssl_ca("mysql://u@h/db?ssl-mode=VERIFY_CA", ca),
            "mysql://u@h/db?ssl-mode=VERIFY_CA&ssl-ca=/etc/nakku/ca%20bundle.pem"
        );
        assert_eq!(
            with_ssl_ca("mysql://u@h/db?ssl-ca=/own.pem", ca),
            "mysql://u@h/db?ssl-ca=/own.pem"
        );
        assert_eq!(with_ssl_ca("sqlite://x.db", ca), "sqlite://x.db");
    }

    #[test]
    fn any_setting_can_come_from_a_file_without_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("jwt");
        std::fs::write(&secret, "s3cret-s3cret-s3cret-s3cret-s3cret-42\n").unwrap();
        let path = secret.display().to_string();
        let s = load(&[("NAKKU_JWT_SECRET_FILE", &path)]).unwrap();
        assert_eq!(s.jwt_secret.unwrap().expose(), "s3cret-s3cret-s3cret-s3cret-s3cret-42");
        let err = load(&[("NAKKU_JWT_SECRET_FILE", &path), ("NAKKU_JWT_SECRET", "x")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_JWT_SECRET_FILE");
        let err = load(&[("NAKKU_JWT_SECRET_FILE", "/no/such/secret")]).unwrap_err();
        assert!(err.to_string().contains("readable file"), "{err}");
        // A short secret read from a file is refused without echoing it.
        std::fs::write(&secret, "tiny-secret").unwrap();
        let err = load(&[("NAKKU_JWT_SECRET_FILE", &path)]).unwrap_err();
        assert_eq!(err.key, "NAKKU_JWT_SECRET_FILE");
        assert!(!err.to_string().contains("tiny-secret"), "{err}");
        // The same in nakku.toml: `<key>_file`.
        let toml = dir.path().join("nakku.toml");
        std::fs::write(&secret, "from-a-file-from-a-file-from-a-file-32\n").unwrap();
        std::fs::write(&toml, format!("jwt_secret_file = {path:?}\n")).unwrap();
        let s = Settings::load(Some(&toml), &HashMap::new()).unwrap();
        assert_eq!(s.jwt_secret.unwrap().expose(), "from-a-file-from-a-file-from-a-file-32");
    }

    #[test]
    fn a_mistyped_variable_is_named_with_the_closest_setting() {
        let err = load(&[("NAKKU_LOG_FILTER", "warn")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_LOG_FILTER");
        assert!(err.to_string().contains("did you mean NAKKU_LOG"), "{err}");
        assert!(!err.to_string().contains("warn\""), "the value is not echoed: {err}");
        let err = load(&[("NAKKU_JWT_SECRT", "x")]).unwrap_err();
        assert!(err.to_string().contains("did you mean NAKKU_JWT_SECRET"), "{err}");
        // The CLI's own variables and the test suite's are not settings but are known.
        load(&[("NAKKU_TOKEN", "t"), ("NAKKU_TEST_MYSQL_URL", "mysql://x")]).unwrap();
        // And in the file: the closest key.
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("nakku.toml");
        std::fs::write(&toml, "gateway_prot = 1\n").unwrap();
        let err = Settings::load(Some(&toml), &HashMap::new()).unwrap_err();
        assert!(err.to_string().contains("did you mean gateway_port"), "{err}");
    }

    #[test]
    fn kafka_security_settings_are_checked_together() {
        let s = load(&[
            ("NAKKU_KAFKA_SECURITY_PROTOCOL", "SASL_SSL"),
            ("NAKKU_KAFKA_SASL_MECHANISM", "scram-sha-512"),
            ("NAKKU_KAFKA_SASL_USERNAME", "nakku"),
            ("NAKKU_KAFKA_SASL_PASSWORD", "pw"),
            (
                "NAKKU_KAFKA_PROPERTIES",
                "socket.keepalive.enable=true; client.rack = r1",
            ),
        ])
        .unwrap();
        assert_eq!(s.kafka.security_protocol, KafkaProtocol::SaslSsl);
        assert_eq!(s.kafka.sasl_mechanism.as_deref(), Some("SCRAM-SHA-512"));
        assert_eq!(
            s.kafka.properties,
            vec![
                ("socket.keepalive.enable".to_owned(), "true".to_owned()),
                ("client.rack".to_owned(), "r1".to_owned())
            ]
        );
        let err = load(&[("NAKKU_KAFKA_SECURITY_PROTOCOL", "sasl_plaintext")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_KAFKA_SASL_MECHANISM");
        assert_eq!(
            load(&[("NAKKU_KAFKA_SASL_MECHANISM", "GSSAPI")]).unwrap_err().key,
            "NAKKU_KAFKA_SASL_MECHANISM"
        );
        assert_eq!(
            load(&[("NAKKU_KAFKA_PROPERTIES", "novalue")]).unwrap_err().key,
            "NAKKU_KAFKA_PROPERTIES"
        );
    }

    #[test]
    fn tls_files_must_hold_what_they_are_for() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").unwrap();
        let cert = cert.display().to_string();
        let err = load(&[("NAKKU_TLS_CERT_FILE", &cert)]).unwrap_err();
        assert!(err.key.contains("NAKKU_TLS_KEY_FILE"), "{err}");
        let err = load(&[("NAKKU_TLS_CERT_FILE", &cert), ("NAKKU_TLS_KEY_FILE", &cert)]).unwrap_err();
        assert_eq!(err.key, "NAKKU_TLS_KEY_FILE");
        let err = load(&[("NAKKU_TLS_CA_FILE", "/no/such/ca.pem")]).unwrap_err();
        assert_eq!(err.key, "NAKKU_TLS_CA_FILE");
        let s = load(&[("NAKKU_TLS_CA_FILE", &cert), ("NAKKU_DATABASE_URL", "mysql://u@h:3306")]).unwrap();
        assert!(s
            .database_url_for(Service::Order)
            .unwrap()
            .expose()
            .ends_with(&format!("ssl-ca={cert}")));
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(redact_url("mysql://root:pw@h:3306/db"), "mysql://root:***@h:3306/db");
        assert_eq!(redact_url("mysql://root@h:3306"), "mysql://root@h:3306");
        assert_eq!(redact_url("sqlite://x.db"), "sqlite://x.db");
    }
}
