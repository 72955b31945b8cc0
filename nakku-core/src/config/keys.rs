//! The declaration of every setting, once: its key, the type and range of its value, whether
//! it is a secret, what it means, and how its value reaches [`Settings`]. Start-up reads
//! exactly these keys, `nakku config keys` prints them, `nakku config show` prints their
//! effective values with where each came from, and tests hold the README's table and
//! `nakku.example.toml` to them (every key shown, numeric defaults as declared).
//!
//! A table of keys rather than figment or `config` with serde: their errors name a serde
//! path, not the environment variable the operator set, and they have no place for a range,
//! a secret flag or a meaning. A key's documented default is its `show` of
//! `Settings::default()`, so it cannot drift from the code.
//!
//! The file is long because it is a table: one entry per setting, in the README's
//! order, each readable on its own; splitting it would only scatter the settings.

use std::path::PathBuf;

use super::values::{
    bad, decimal, flag, http_urls, kafka_properties, pem_file, redact_url, secret_of_length, token,
    validate_database_url, validate_server_url, whole,
};
use super::{BusKind, ConfigError, KafkaProtocol, LogFormat, Raw, Secret, Settings};
use crate::service::Service;

/// What a setting's value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Kind {
    /// A whole number in a range (both ends included).
    Whole { min: i128, max: i128 },
    /// A number in a range (both ends included).
    Decimal { min: f64, max: f64 },
    /// `true` or `false` (also `1`/`0`, `yes`/`no`).
    Flag,
    /// One of these words (case ignored).
    Choice(&'static [&'static str]),
    /// A URL; the text says which schemes and shape.
    Url(&'static str),
    /// A path to a file or directory.
    Path,
    /// Free text, checked as described.
    Text(&'static str),
}

impl Kind {
    /// How the value is described in errors and `nakku config keys`.
    pub fn expected(&self) -> String {
        match self {
            Kind::Whole { min, max } => format!("a whole number from {min} to {max}"),
            Kind::Decimal { min, max } => format!("a number from {min} to {max}"),
            Kind::Flag => "true or false".to_owned(),
            Kind::Choice(words) => match words.split_last() {
                Some((last, [])) => (*last).to_owned(),
                Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
                None => String::new(),
            },
            Kind::Url(what) | Kind::Text(what) => (*what).to_owned(),
            Kind::Path => "a file path".to_owned(),
        }
    }

    /// A short type name: `integer 4..=31`, `number 0..=1`, `url`, ...
    pub fn type_name(&self) -> String {
        match self {
            Kind::Whole { min, max } => format!("integer {min}..={max}"),
            Kind::Decimal { min, max } => format!("number {min}..={max}"),
            Kind::Flag => "boolean".to_owned(),
            Kind::Choice(words) => words.join("|"),
            Kind::Url(_) => "url".to_owned(),
            Kind::Path => "path".to_owned(),
            Kind::Text(_) => "text".to_owned(),
        }
    }
}

/// One setting.
pub struct Setting {
    /// The file key; the environment variable is `NAKKU_` and the key in upper case.
    pub key: &'static str,
    pub kind: Kind,
    /// Never printed: shown as `***` when set, and left out of error messages.
    pub secret: bool,
    pub meaning: &'static str,
    /// The value as an operator reads it (`***` for a set secret, `(unset: …)` for none).
    pub show: fn(&Settings) -> String,
    pub(super) apply: fn(&mut Settings, &Raw) -> Result<(), ConfigError>,
}

impl Setting {
    /// `NAKKU_BCRYPT_COST`.
    pub fn variable(&self) -> String {
        format!("NAKKU_{}", self.key.to_ascii_uppercase())
    }

    /// The documented default.
    pub fn default_value(&self) -> String {
        (self.show)(&Settings::default())
    }
}

/// A whole-number setting: the key, the field of [`Settings`], the range, the meaning.
macro_rules! whole {
    ($key:literal, $($field:ident).+, $min:expr, $max:expr, $meaning:literal) => {
        Setting {
            key: $key,
            kind: Kind::Whole { min: $min as i128, max: $max as i128 },
            secret: false,
            meaning: $meaning,
            show: |s| s.$($field).+.to_string(),
            apply: |s, r| {
                s.$($field).+ = whole(r, $min, $max)?;
                Ok(())
            },
        }
    };
}

/// A decimal setting, as [`whole!`].
macro_rules! decimal {
    ($key:literal, $($field:ident).+, $min:expr, $max:expr, $meaning:literal) => {
        Setting {
            key: $key,
            kind: Kind::Decimal { min: $min, max: $max },
            secret: false,
            meaning: $meaning,
            show: |s| s.$($field).+.to_string(),
            apply: |s, r| {
                s.$($field).+ = decimal(r, $min, $max)?;
                Ok(())
            },
        }
    };
}

fn unset_or(value: Option<&str>, unset: &str) -> String {
    value.map_or_else(|| format!("(unset: {unset})"), str::to_owned)
}

fn secret_or(value: Option<&Secret>, unset: &str) -> String {
    value.map_or_else(|| format!("(unset: {unset})"), |_| "***".to_owned())
}

fn path_or(value: Option<&PathBuf>, unset: &str) -> String {
    value.map_or_else(|| format!("(unset: {unset})"), |p| p.display().to_string())
}

const HTTP_URL: &str = "an http:// or https:// URL";

/// Every setting but the per-service families ([`PER_SERVICE`]), in the README's order.
pub static SETTINGS: &[Setting] = &[
    Setting {
        key: "data_dir",
        kind: Kind::Path,
        secret: false,
        meaning: "directory for SQLite files, the event log and the generated JWT secret",
        show: |s| s.data_dir.display().to_string(),
        apply: |s, r| {
            if r.value.trim().is_empty() {
                return Err(bad(r, "a directory path"));
            }
            s.data_dir = PathBuf::from(&r.value);
            Ok(())
        },
    },
    Setting {
        key: "database_url",
        kind: Kind::Url("a server URL mysql://user:pass@host:port with no database name (each service adds nakku_<svc>)"),
        secret: true,
        meaning: "MySQL/MariaDB server URL mysql://user:pass@host:port; each service uses database nakku_<svc> on it",
        show: |s| unset_or(s.database_url.as_ref().map(|u| redact_url(u.expose())).as_deref(), "SQLite"),
        apply: |s, r| {
            validate_server_url(r)?;
            s.database_url = Some(Secret::new(&r.value));
            Ok(())
        },
    },
    Setting {
        key: "host",
        kind: Kind::Text("an IP address such as 127.0.0.1 or 0.0.0.0"),
        secret: false,
        meaning: "address every service listens on",
        show: |s| s.host.to_string(),
        apply: |s, r| {
            s.host = r
                .value
                .parse()
                .map_err(|_| bad(r, "an IP address such as 127.0.0.1 or 0.0.0.0"))?;
            Ok(())
        },
    },
    Setting {
        key: "jwt_secret",
        kind: Kind::Text("a secret of at least 32 bytes"),
        secret: true,
        meaning: "HS256 signing secret, at least 32 bytes; required when database_url is set",
        show: |s| secret_or(s.jwt_secret.as_ref(), "generated in embedded mode"),
        apply: |s, r| {
            s.jwt_secret = Some(secret_of_length(r, 32)?);
            Ok(())
        },
    },
    whole!("access_token_ttl_secs", access_token_ttl_secs, 1, 86_400, "lifetime of access JWTs"),
    whole!(
        "refresh_token_ttl_secs",
        refresh_token_ttl_secs,
        60,
        365 * 86_400,
        "lifetime of refresh tokens"
    ),
    whole!("bcrypt_cost", bcrypt_cost, 4, 31, "bcrypt work factor for passwords"),
    whole!(
        "request_timeout_secs",
        request_timeout_secs,
        1,
        3600,
        "a request taking longer gets 408"
    ),
    whole!(
        "body_limit_bytes",
        body_limit_bytes,
        1024,
        1 << 30,
        "larger request bodies get 413"
    ),
    whole!(
        "shutdown_grace_secs",
        shutdown_grace_secs,
        0,
        3600,
        "how long in-flight requests may finish after SIGINT/SIGTERM"
    ),
    whole!(
        "shutdown_delay_secs",
        shutdown_delay_secs,
        0,
        300,
        "after SIGINT/SIGTERM, seconds /readyz fails while requests are still accepted (for load balancers to stop sending)"
    ),
    whole!(
        "db_max_connections",
        db_max_connections,
        1,
        1000,
        "connection pool size per service database"
    ),
    Setting {
        key: "log_format",
        kind: Kind::Choice(&["json", "pretty"]),
        secret: false,
        meaning: "json (one JSON object a line) or pretty",
        show: |s| match s.log_format {
            LogFormat::Json => "json".to_owned(),
            LogFormat::Pretty => "pretty".to_owned(),
        },
        apply: |s, r| {
            s.log_format = match r.value.trim().to_ascii_lowercase().as_str() {
                "json" => LogFormat::Json,
                "pretty" | "text" => LogFormat::Pretty,
                _ => return Err(bad(r, "json or pretty")),
            };
            Ok(())
        },
    },
    Setting {
        key: "log",
        kind: Kind::Text("a tracing EnvFilter such as info,nakku_server=debug"),
        secret: false,
        meaning: "log filter in tracing's EnvFilter syntax, e.g. info,nakku_server=debug",
        show: |s| s.log_filter.clone(),
        apply: |s, r| {
            s.log_filter = r.value.clone();
            Ok(())
        },
    },
    Setting {
        key: "otlp_endpoint",
        kind: Kind::Url("an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318"),
        secret: false,
        meaning: "OpenTelemetry collector (OTLP over HTTP, e.g. http://collector:4318); empty: no traces exported",
        show: |s| unset_or(s.otlp_endpoint.as_deref(), "no tracing"),
        apply: |s, r| {
            let v = r.value.trim();
            s.otlp_endpoint = if v.is_empty() {
                None
            } else if (v.starts_with("http://") || v.starts_with("https://")) && v.parse::<reqwest::Url>().is_ok() {
                Some(v.trim_end_matches('/').to_owned())
            } else {
                return Err(bad(
                    r,
                    "an http:// or https:// URL of an OTLP/HTTP collector, e.g. http://127.0.0.1:4318",
                ));
            };
            Ok(())
        },
    },
    decimal!(
        "trace_sample_ratio",
        trace_sample_ratio,
        0.0,
        1.0,
        "share of new traces recorded when otlp_endpoint is set; a caller's traceparent decision is kept"
    ),
    Setting {
        key: "event_bus",
        kind: Kind::Choice(&["embedded", "kafka"]),
        secret: false,
        meaning: "embedded (durable log in data_dir) or kafka",
        show: |s| match s.event_bus {
            BusKind::Embedded => "embedded".to_owned(),
            BusKind::Kafka => "kafka".to_owned(),
        },
        apply: |s, r| {
            s.event_bus = match r.value.trim().to_ascii_lowercase().as_str() {
                "embedded" => BusKind::Embedded,
                "kafka" => BusKind::Kafka,
                _ => return Err(bad(r, "embedded or kafka")),
            };
            Ok(())
        },
    },
    Setting {
        key: "kafka_brokers",
        kind: Kind::Text("host:port[,host:port...]"),
        secret: false,
        meaning: "Kafka bootstrap servers, comma-separated",
        show: |s| s.kafka_brokers.clone(),
        apply: |s, r| {
            let ok = r.value.split(',').all(|b| {
                b.trim()
                    .rsplit_once(':')
                    .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
            });
            if !ok {
                return Err(bad(r, "host:port[,host:port...]"));
            }
            s.kafka_brokers = r.value.clone();
            Ok(())
        },
    },
    Setting {
        key: "event_topic_prefix",
        kind: Kind::Text("letters, digits, '.', '_' or '-' (a Kafka topic name)"),
        secret: false,
        meaning: "topics are <prefix>.<domain>, e.g. nakku.user",
        show: |s| s.event_topic_prefix.clone(),
        apply: |s, r| {
            let ok = !r.value.is_empty()
                && r.value.len() <= 100
                && r.value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
            if !ok {
                return Err(bad(r, "letters, digits, '.', '_' or '-' (a Kafka topic name)"));
            }
            s.event_topic_prefix = r.value.clone();
            Ok(())
        },
    },
    whole!(
        "kafka_partitions",
        kafka_partitions,
        1,
        1000,
        "partitions of each topic Nakku creates"
    ),
    whole!(
        "consumer_max_attempts",
        consumer_max_attempts,
        1,
        100,
        "handler attempts before a message is dead-lettered"
    ),
    whole!(
        "relay_batch_size",
        relay_batch_size,
        1,
        10_000,
        "outbox rows the relay publishes per batch"
    ),
    whole!(
        "relay_poll_ms",
        relay_poll_ms,
        1,
        60_000,
        "how often the relay looks for new outbox rows while events flow (a commit in its process wakes it at once; after a quiet second it looks every 100 ms)"
    ),
    whole!(
        "reservation_ttl_secs",
        reservation_ttl_secs,
        1,
        86_400,
        "seconds a stock reservation holds before it is released automatically"
    ),
    decimal!(
        "eta_road_factor",
        eta_road_factor,
        1.0,
        5.0,
        "road distance ÷ straight-line distance, for delivery ETAs"
    ),
    decimal!(
        "rider_speed_kmh",
        rider_speed_kmh,
        1.0,
        120.0,
        "average rider speed for delivery ETAs"
    ),
    decimal!(
        "prep_minutes",
        prep_minutes,
        0.0,
        120.0,
        "minutes to pick and pack an order, added to every ETA"
    ),
    whole!(
        "rate_limit_auth_per_minute",
        rate_limit_auth_per_minute,
        0,
        1_000_000,
        "gateway: register/login/refresh requests per minute per IP (0 = off)"
    ),
    whole!(
        "rate_limit_write_per_minute",
        rate_limit_write_per_minute,
        0,
        1_000_000,
        "gateway: writes per minute per user (or IP when anonymous; 0 = off)"
    ),
    whole!(
        "rate_limit_read_per_minute",
        rate_limit_read_per_minute,
        0,
        1_000_000,
        "gateway: reads per minute per user (or IP when anonymous; 0 = off)"
    ),
    whole!(
        "breaker_failures",
        breaker_failures,
        1,
        1_000,
        "gateway: consecutive failures of an upstream instance that open its circuit"
    ),
    whole!(
        "breaker_open_secs",
        breaker_open_secs,
        1,
        3_600,
        "gateway: seconds an open circuit refuses before a trial request"
    ),
    whole!(
        "trusted_proxy_hops",
        trusted_proxy_hops,
        0,
        5,
        "gateway: proxies in front appending to X-Forwarded-For (0: use the TCP peer's address)"
    ),
    Setting {
        key: "metrics_public",
        kind: Kind::Flag,
        secret: false,
        meaning: "gateway: serve /metrics to any caller (default: loopback and private addresses only, the client's behind trusted proxies)",
        show: |s| s.metrics_public.to_string(),
        apply: |s, r| {
            s.metrics_public = flag(r)?;
            Ok(())
        },
    },
    Setting {
        key: "graphql_introspection",
        kind: Kind::Flag,
        secret: false,
        meaning: "gateway: answer GraphQL introspection (the schema; GraphiQL needs it); turn off in production to hide it",
        show: |s| s.graphql_introspection.to_string(),
        apply: |s, r| {
            s.graphql_introspection = flag(r)?;
            Ok(())
        },
    },
    Setting {
        key: "cors_origins",
        kind: Kind::Text("`*`, empty, or origins like https://admin.example.com separated by commas"),
        secret: false,
        meaning: "gateway: origins allowed by CORS, comma-separated; `*` any, empty none",
        show: |s| s.cors_origins.clone(),
        apply: |s, r| {
            let v = r.value.trim();
            let ok = v.is_empty()
                || v == "*"
                || v.split(',')
                    .map(str::trim)
                    .all(|o| o.starts_with("http://") || o.starts_with("https://"));
            if !ok {
                return Err(bad(
                    r,
                    "`*`, empty, or origins like https://admin.example.com separated by commas",
                ));
            }
            s.cors_origins = v.to_owned();
            Ok(())
        },
    },
    whole!("slot_minutes", slot_minutes, 15, 240, "length of a delivery slot in minutes"),
    whole!(
        "slot_capacity",
        slot_capacity,
        0,
        10_000,
        "orders per delivery slot per store, unless an admin set the store's"
    ),
    whole!(
        "orders_per_rider",
        orders_per_rider,
        1,
        1_000,
        "orders a rider on shift takes in 5 minutes (a store's capacity cap)"
    ),
    whole!(
        "picks_per_picker",
        picks_per_picker,
        1,
        1_000,
        "orders a picker on shift picks and packs in 5 minutes (a store's capacity cap)"
    ),
    Setting {
        key: "redis_url",
        kind: Kind::Url("a redis:// or rediss:// URL"),
        secret: true,
        meaning: "Redis for the catalogue cache and shared rate limits, e.g. redis://127.0.0.1:6379/0",
        show: |s| unset_or(s.redis_url.as_ref().map(|u| redact_url(u.expose())).as_deref(), "in-process cache"),
        apply: |s, r| {
            if !(r.value.starts_with("redis://") || r.value.starts_with("rediss://")) {
                return Err(bad(r, "a redis:// or rediss:// URL"));
            }
            s.redis_url = Some(Secret::new(&r.value));
            Ok(())
        },
    },
    whole!(
        "catalogue_refresh_ms",
        catalogue_refresh_ms,
        10,
        60_000,
        "how often each catalogue instance picks up products, stock and sales changed elsewhere"
    ),
    whole!(
        "cache_ttl_secs",
        cache_ttl_secs,
        1,
        86_400,
        "lifetime of a cached product page (changes invalidate it sooner)"
    ),
    whole!(
        "import_max_bytes",
        import_max_bytes,
        1024,
        1 << 30,
        "largest product import file accepted over HTTP"
    ),
    // Money: ₹1 lakh (10,000,000 paise) is the most any fee or threshold may be; above is a typo.
    whole!(
        "min_order_paise",
        pricing.min_order_paise,
        0,
        10_000_000,
        "item total below which the small-cart fee applies"
    ),
    whole!(
        "small_cart_fee_paise",
        pricing.small_cart_fee_paise,
        0,
        10_000_000,
        "fee on carts below min_order_paise"
    ),
    whole!(
        "delivery_base_fee_paise",
        pricing.delivery_base_fee_paise,
        0,
        10_000_000,
        "delivery fee up to delivery_base_km of road distance"
    ),
    decimal!(
        "delivery_base_km",
        pricing.delivery_base_km,
        0.0,
        100.0,
        "road kilometres covered by the base delivery fee"
    ),
    whole!(
        "delivery_per_km_paise",
        pricing.delivery_per_km_paise,
        0,
        10_000_000,
        "delivery fee per road kilometre (started) beyond delivery_base_km"
    ),
    whole!(
        "free_delivery_above_paise",
        pricing.free_delivery_above_paise,
        0,
        10_000_000,
        "item total from which delivery is free (0: never)"
    ),
    whole!(
        "surge_fee_paise",
        pricing.surge_fee_paise,
        0,
        10_000_000,
        "fee added while the store has store_capacity or more orders in progress"
    ),
    whole!(
        "store_capacity",
        pricing.store_capacity,
        1,
        1_000_000,
        "orders in progress per store from which the surge fee applies"
    ),
    whole!(
        "max_per_item",
        pricing.max_per_item,
        1,
        1000,
        "most units of one product per order when the product sets no limit"
    ),
    whole!(
        "payment_latency_ms",
        payment_latency_ms,
        0,
        60_000,
        "simulated payment provider: milliseconds per charge"
    ),
    decimal!(
        "payment_failure_rate",
        payment_failure_rate,
        0.0,
        1.0,
        "simulated payment provider: share of charges declined"
    ),
    whole!(
        "payment_seed",
        payment_seed,
        0,
        u64::MAX,
        "simulated payment provider: seed; the same seed declines the same orders"
    ),
    whole!(
        "saga_step_timeout_secs",
        saga_step_timeout_secs,
        1,
        3600,
        "seconds a reservation or payment may go unanswered before the order is compensated"
    ),
    Setting {
        key: "smtp_url",
        kind: Kind::Url("an smtp:// or smtps:// URL"),
        secret: true,
        meaning: "SMTP relay for email notifications, smtp://[user:password@]host[:port]",
        show: |s| unset_or(s.smtp_url.as_ref().map(|u| redact_url(u.expose())).as_deref(), "emails to the log"),
        apply: |s, r| {
            if !(r.value.starts_with("smtp://") || r.value.starts_with("smtps://")) {
                return Err(bad(r, "an smtp:// or smtps:// URL"));
            }
            s.smtp_url = Some(Secret::new(&r.value));
            Ok(())
        },
    },
    Setting {
        key: "mail_from",
        kind: Kind::Text("a mailbox such as Nakku <orders@example.com>"),
        secret: false,
        meaning: "sender of notification emails",
        show: |s| s.mail_from.clone(),
        apply: |s, r| {
            if !r.value.contains('@') {
                return Err(bad(r, "a mailbox such as Nakku <orders@example.com>"));
            }
            s.mail_from = r.value.clone();
            Ok(())
        },
    },
    Setting {
        key: "sms_webhook_url",
        kind: Kind::Url(HTTP_URL),
        secret: false,
        meaning: "HTTP endpoint that sends SMS: receives {id, channel, to, title, body} as JSON",
        show: |s| unset_or(s.sms_webhook_url.as_deref(), "SMS to the log"),
        apply: |s, r| {
            s.sms_webhook_url = Some(http_urls(r, false)?);
            Ok(())
        },
    },
    Setting {
        key: "push_webhook_url",
        kind: Kind::Url(HTTP_URL),
        secret: false,
        meaning: "HTTP endpoint that sends push notifications (same JSON, to = device tokens)",
        show: |s| unset_or(s.push_webhook_url.as_deref(), "push to the log"),
        apply: |s, r| {
            s.push_webhook_url = Some(http_urls(r, false)?);
            Ok(())
        },
    },
    Setting {
        key: "sms_webhook_token",
        kind: Kind::Text("a token without spaces or control characters"),
        secret: true,
        meaning: "sent to the SMS webhook as Authorization: Bearer <token>",
        show: |s| secret_or(s.sms_webhook_token.as_ref(), "none sent"),
        apply: |s, r| {
            s.sms_webhook_token = Some(token(r)?);
            Ok(())
        },
    },
    Setting {
        key: "push_webhook_token",
        kind: Kind::Text("a token without spaces or control characters"),
        secret: true,
        meaning: "sent to the push webhook as Authorization: Bearer <token>",
        show: |s| secret_or(s.push_webhook_token.as_ref(), "none sent"),
        apply: |s, r| {
            s.push_webhook_token = Some(token(r)?);
            Ok(())
        },
    },
    whole!(
        "notify_utc_offset_minutes",
        notify_utc_offset_minutes,
        -720,
        840,
        "shoppers' local time as minutes east of UTC (330 = India); quiet hours are local"
    ),
    whole!(
        "notify_max_attempts",
        notify_max_attempts,
        1,
        100,
        "sends tried before a notification is dead-lettered"
    ),
    whole!(
        "event_log_hours",
        event_log_hours,
        1,
        2_160,
        "how long the analytics service keeps every event (the dashboard's event tail and order timelines)"
    ),
    Setting {
        key: "tls_ca_file",
        kind: Kind::Path,
        secret: false,
        meaning: "PEM file of extra CA certificates trusted by every outgoing TLS connection (databases, Redis, HTTPS, SMTP, Kafka)",
        show: |s| path_or(s.tls_ca_file.as_ref(), "the platform's roots"),
        apply: |s, r| {
            s.tls_ca_file = Some(pem_file(r, "CERTIFICATE")?);
            Ok(())
        },
    },
    Setting {
        key: "tls_cert_file",
        kind: Kind::Path,
        secret: false,
        meaning: "gateway: PEM certificate chain; with tls_key_file the gateway serves HTTPS with HTTP/2",
        show: |s| path_or(s.tls_cert_file.as_ref(), "plain HTTP"),
        apply: |s, r| {
            s.tls_cert_file = Some(pem_file(r, "CERTIFICATE")?);
            Ok(())
        },
    },
    Setting {
        key: "tls_key_file",
        kind: Kind::Path,
        secret: false,
        meaning: "gateway: PEM private key of tls_cert_file",
        show: |s| path_or(s.tls_key_file.as_ref(), "none"),
        apply: |s, r| {
            s.tls_key_file = Some(pem_file(r, "PRIVATE KEY")?);
            Ok(())
        },
    },
    whole!(
        "tls_reload_secs",
        tls_reload_secs,
        1,
        86_400,
        "gateway: how often the certificate files are checked for a rotated certificate"
    ),
    Setting {
        key: "jwt_previous_secret",
        kind: Kind::Text("a secret of at least 32 bytes"),
        secret: true,
        meaning: "a previous HS256 secret still accepted when verifying tokens, during a key rotation",
        show: |s| secret_or(s.jwt_previous_secret.as_ref(), "none"),
        apply: |s, r| {
            s.jwt_previous_secret = Some(secret_of_length(r, 32)?);
            Ok(())
        },
    },
    Setting {
        key: "kafka_security_protocol",
        kind: Kind::Choice(&["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]),
        secret: false,
        meaning: "how Nakku connects to Kafka (TLS and SASL need a build with the kafka-tls feature)",
        show: |s| s.kafka.security_protocol.as_str().to_owned(),
        apply: |s, r| {
            s.kafka.security_protocol = match r.value.trim().to_ascii_lowercase().as_str() {
                "plaintext" => KafkaProtocol::Plaintext,
                "ssl" => KafkaProtocol::Ssl,
                "sasl_plaintext" => KafkaProtocol::SaslPlaintext,
                "sasl_ssl" => KafkaProtocol::SaslSsl,
                _ => return Err(bad(r, "plaintext, ssl, sasl_plaintext or sasl_ssl")),
            };
            Ok(())
        },
    },
    Setting {
        key: "kafka_sasl_mechanism",
        kind: Kind::Choice(&["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]),
        secret: false,
        meaning: "SASL mechanism, for the sasl_ protocols",
        show: |s| unset_or(s.kafka.sasl_mechanism.as_deref(), "none"),
        apply: |s, r| {
            let m = r.value.trim().to_ascii_uppercase();
            if !matches!(m.as_str(), "PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") {
                return Err(bad(r, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512"));
            }
            s.kafka.sasl_mechanism = Some(m);
            Ok(())
        },
    },
    Setting {
        key: "kafka_sasl_username",
        kind: Kind::Text("a user name"),
        secret: false,
        meaning: "SASL user name",
        show: |s| unset_or(s.kafka.sasl_username.as_deref(), "none"),
        apply: |s, r| {
            s.kafka.sasl_username = Some(r.value.clone());
            Ok(())
        },
    },
    Setting {
        key: "kafka_sasl_password",
        kind: Kind::Text("a password"),
        secret: true,
        meaning: "SASL password",
        show: |s| secret_or(s.kafka.sasl_password.as_ref(), "none"),
        apply: |s, r| {
            s.kafka.sasl_password = Some(Secret::new(&r.value));
            Ok(())
        },
    },
    Setting {
        key: "kafka_ssl_ca_file",
        kind: Kind::Path,
        secret: false,
        meaning: "PEM file of the CA certificates that signed the brokers' certificates",
        show: |s| path_or(s.kafka.ssl_ca_file.as_ref(), "tls_ca_file"),
        apply: |s, r| {
            s.kafka.ssl_ca_file = Some(pem_file(r, "CERTIFICATE")?);
            Ok(())
        },
    },
    Setting {
        key: "kafka_properties",
        kind: Kind::Text("librdkafka properties as name=value pairs separated by `;`"),
        // A property may hold a credential (`sasl.oauthbearer.client.secret`).
        secret: true,
        meaning: "any other librdkafka property: name=value pairs separated by `;`",
        show: |s| {
            if s.kafka.properties.is_empty() {
                "(unset: none)".to_owned()
            } else {
                let names: Vec<&str> = s.kafka.properties.iter().map(|(n, _)| n.as_str()).collect();
                format!("{}=***", names.join("=***;"))
            }
        },
        apply: |s, r| {
            s.kafka.properties = kafka_properties(r)?;
            Ok(())
        },
    },
];

/// A family of settings every service has: `<svc>_port`, `<svc>_database_url`, `<svc>_url`.
pub struct PerService {
    /// The key after `<svc>_`.
    pub suffix: &'static str,
    pub kind: Kind,
    pub secret: bool,
    /// Whether the gateway has it too (it has no database).
    pub gateway: bool,
    /// The meaning, `{svc}` standing for the service's name.
    pub meaning: &'static str,
    pub show: fn(&Settings, Service) -> String,
    pub(super) apply: fn(&mut Settings, Service, &Raw) -> Result<(), ConfigError>,
}

pub static PER_SERVICE: &[PerService] = &[
    PerService {
        suffix: "port",
        kind: Kind::Whole { min: 0, max: 65_535 },
        secret: false,
        gateway: true,
        meaning: "port of the {svc} service (0: any free port)",
        show: |s, svc| s.port(svc).to_string(),
        apply: |s, svc, r| {
            s.ports.insert(svc, whole(r, 0, 65_535)?);
            Ok(())
        },
    },
    PerService {
        suffix: "database_url",
        kind: Kind::Url("mysql://user:pass@host:port/database (letters, digits, _) or sqlite://path"),
        secret: true,
        gateway: false,
        meaning: "full database URL of the {svc} service (mysql://.../db or sqlite://path), overriding database_url",
        show: |s, svc| match s.service_database_urls.get(&svc) {
            Some(u) => redact_url(u.expose()),
            None => s
                .database_url_for(svc)
                .map_or_else(String::new, |u| format!("(derived: {})", redact_url(u.expose()))),
        },
        apply: |s, svc, r| {
            validate_database_url(r)?;
            s.service_database_urls.insert(svc, Secret::new(&r.value));
            Ok(())
        },
    },
    PerService {
        suffix: "url",
        kind: Kind::Url("http:// or https:// base URLs, separated by commas"),
        secret: false,
        gateway: false,
        meaning:
            "base URL where the gateway reaches the {svc} service when it runs elsewhere (several: comma-separated)",
        show: |s, svc| unset_or(s.upstream_urls.get(&svc).map(String::as_str), "in-process"),
        apply: |s, svc, r| {
            s.upstream_urls.insert(svc, http_urls(r, true)?);
            Ok(())
        },
    },
];

impl PerService {
    /// Whether a service has this setting.
    pub fn applies_to(&self, svc: Service) -> bool {
        self.gateway || svc != Service::Gateway
    }
}

/// One configuration key as documented: the declaration of a setting, or of one service's
/// member of a family. Used for parsing, for unknown-key detection and by `nakku config`.
#[derive(Debug, Clone)]
pub struct KeyDoc {
    pub key: String,
    pub variable: String,
    /// `integer 4..=31`, `url`, `json|pretty`, ...
    pub type_name: String,
    pub default: String,
    pub secret: bool,
    pub meaning: String,
}

/// Every key Nakku understands, with its type, default and meaning.
pub fn documented_keys() -> Vec<KeyDoc> {
    let d = Settings::default();
    let mut keys: Vec<KeyDoc> = SETTINGS
        .iter()
        .map(|s| KeyDoc {
            key: s.key.to_owned(),
            variable: s.variable(),
            type_name: s.kind.type_name(),
            default: (s.show)(&d),
            secret: s.secret,
            meaning: s.meaning.to_owned(),
        })
        .collect();
    for svc in Service::ALL {
        for f in PER_SERVICE.iter().filter(|f| f.applies_to(svc)) {
            let key = format!("{}_{}", svc.name(), f.suffix);
            keys.push(KeyDoc {
                variable: format!("NAKKU_{}", key.to_ascii_uppercase()),
                key,
                type_name: f.kind.type_name(),
                default: (f.show)(&d, svc),
                secret: f.secret,
                meaning: f.meaning.replace("{svc}", svc.name()),
            });
        }
    }
    keys
}

/// The declaration of a key: a setting, or a family member with its service.
pub(super) enum Declared {
    One(&'static Setting),
    Family(&'static PerService, Service),
}

pub(super) fn declared(key: &str) -> Option<Declared> {
    if let Some(s) = SETTINGS.iter().find(|s| s.key == key) {
        return Some(Declared::One(s));
    }
    Service::ALL.into_iter().find_map(|svc| {
        let suffix = key.strip_prefix(svc.name())?.strip_prefix('_')?;
        let f = PER_SERVICE.iter().find(|f| f.suffix == suffix && f.applies_to(svc))?;
        Some(Declared::Family(f, svc))
    })
}

impl Declared {
    pub(super) fn apply(&self, s: &mut Settings, r: &Raw) -> Result<(), ConfigError> {
        match self {
            Declared::One(setting) => (setting.apply)(s, r),
            Declared::Family(f, svc) => (f.apply)(s, *svc, r),
        }
    }

    pub(super) fn secret(&self) -> bool {
        match self {
            Declared::One(setting) => setting.secret,
            Declared::Family(f, _) => f.secret,
        }
    }

    pub(super) fn show(&self, s: &Settings) -> String {
        match self {
            Declared::One(setting) => (setting.show)(s),
            Declared::Family(f, svc) => (f.show)(s, *svc),
        }
    }
}
