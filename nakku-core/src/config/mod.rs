//! Settings: defaults < optional `nakku.toml` < `NAKKU_*` environment < CLI flags.
//!
//! Keys are flat (`user_database_url` in the file, `NAKKU_USER_DATABASE_URL` in the
//! environment) so that one name works everywhere. Every value is parsed here, once; a bad
//! one stops start-up with an error naming the key, where it came from and what is expected.
//! Every setting is declared once, in [`SETTINGS`] (key, type and range, secret or
//! not, meaning, and how its value reaches [`Settings`]); this module gathers the raw values
//! and applies the declarations.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::service::Service;

mod keys;
mod values;

use keys::{declared, Declared};
pub use keys::{documented_keys, KeyDoc, Kind, PerService, Setting, PER_SERVICE, SETTINGS};
use values::read_secret_file;
pub use values::{is_db_name, redact_url, with_ssl_ca};

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
    /// The gateway answers GraphQL introspection queries.
    pub graphql_introspection: bool,
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
    /// Store capacity per 5 minutes: orders a rider on shift takes, orders a picker packs.
    pub orders_per_rider: i64,
    pub picks_per_picker: i64,
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
            graphql_introspection: true,
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
            orders_per_rider: 5,
            picks_per_picker: 5,
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

/// A raw value and where it came from, before parsing.
pub(crate) struct Raw {
    value: String,
    origin: String,
    key_as_given: String,
}

/// One setting's effective value and where it came from, for `nakku config show`.
#[derive(Debug, Clone)]
pub struct Effective {
    pub key: String,
    pub variable: String,
    /// As an operator reads it: secrets `***`, passwords in URLs hidden.
    pub value: String,
    /// `default`, `environment`, the file's path, or `file … named by …`.
    pub origin: String,
}

impl Settings {
    /// Loads settings from the optional file and the given environment.
    ///
    /// `config_file`: an explicit path must exist; without one, `./nakku.toml` is read when
    /// present. `env` is passed in (rather than read here) so tests can supply their own.
    pub fn load(config_file: Option<&Path>, env: &HashMap<String, String>) -> Result<Settings, ConfigError> {
        Settings::from_raw(gather(config_file, env)?)
    }

    /// Loads settings as [`Settings::load`] does, and says for every key its effective value
    /// and where that came from.
    pub fn explain(
        config_file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<(Settings, Vec<Effective>), ConfigError> {
        let raw = gather(config_file, env)?;
        let origins: HashMap<String, String> = raw.iter().map(|(k, r)| (k.clone(), r.origin.clone())).collect();
        let s = Settings::from_raw(raw)?;
        let effective = documented_keys()
            .into_iter()
            .filter_map(|k| {
                let value = declared(&k.key)?.show(&s);
                Some(Effective {
                    origin: origins.get(&k.key).cloned().unwrap_or_else(|| "default".to_owned()),
                    key: k.key,
                    variable: k.variable,
                    value,
                })
            })
            .collect();
        Ok((s, effective))
    }

    fn from_raw(raw: HashMap<String, Raw>) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        // In the declaration's order, so the first bad key reported is the same every time.
        let mut given: Vec<(usize, Declared, Raw)> = raw
            .into_iter()
            .filter_map(|(key, r)| {
                let d = declared(&key)?;
                let rank = SETTINGS.iter().position(|s| s.key == key).unwrap_or(usize::MAX);
                Some((rank, d, r))
            })
            .collect();
        given.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.2.key_as_given.cmp(&b.2.key_as_given)));
        for (_, d, r) in &given {
            d.apply(&mut s, r)
                .map_err(|e| if d.secret() { hide(e, r) } else { e })?;
        }
        check_together(&s)?;
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

/// A secret's value never appears in an error: a URL keeps all but its password, anything
/// else is replaced.
fn hide(e: ConfigError, r: &Raw) -> ConfigError {
    let value = if r.value.contains("://") {
        redact_url(&r.value)
    } else {
        "***".to_owned()
    };
    ConfigError { value, ..e }
}

/// The rules between settings: a certificate needs its key, a SASL protocol its credentials.
fn check_together(s: &Settings) -> Result<(), ConfigError> {
    if s.tls_cert_file.is_some() != s.tls_key_file.is_some() {
        return Err(ConfigError {
            key: "NAKKU_TLS_CERT_FILE / NAKKU_TLS_KEY_FILE".to_owned(),
            origin: "settings".to_owned(),
            value: String::new(),
            expected: "both set (HTTPS) or neither (plain HTTP)".to_owned(),
        });
    }
    let k = &s.kafka;
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

/// The raw values from the file and the environment (the environment wins), by key.
fn gather(config_file: Option<&Path>, env: &HashMap<String, String>) -> Result<HashMap<String, Raw>, ConfigError> {
    let mut raw: HashMap<String, Raw> = HashMap::new();
    let known: Vec<String> = documented_keys().into_iter().map(|k| k.key).collect();
    let explicit = config_file
        .map(Path::to_path_buf)
        .or_else(|| env.get("NAKKU_CONFIG").map(PathBuf::from));
    match explicit {
        Some(p) => read_file(&p, true, &known, &mut raw)?,
        None => read_file(Path::new("nakku.toml"), false, &known, &mut raw)?,
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
    Ok(raw)
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

#[cfg(test)]
mod tests;
