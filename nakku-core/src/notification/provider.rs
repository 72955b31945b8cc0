//! Where messages leave Nakku: a provider per channel. Email goes over SMTP (lettre) to a
//! relay; SMS and push go to an HTTP webhook (the shape of SMS gateways and push services'
//! HTTP APIs); the log provider writes the message to the log and is the embedded default.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;

use crate::config::Secret;
use crate::events::bus::BoxFut;
use crate::tls::ExtraRoots;

/// A message ready to go.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub id: String,
    pub channel: String,
    /// Addresses: one email address or phone number, or the device tokens of a push.
    pub to: Vec<String>,
    pub title: String,
    pub body: String,
}

/// A channel's way out. `send` returns the provider's reference for the message; an error
/// is retried by the dispatcher, then dead-lettered.
pub trait Provider: Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFut<'a, Result<String, String>>;
}

/// Writes each message to the log (the embedded default: nothing leaves the machine).
pub struct LogProvider;

impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        "log"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            tracing::info!(notification_id = %m.id, channel = %m.channel, to = ?m.to, title = %m.title, "notification (log provider)");
            Ok(format!("log:{}", m.id))
        })
    }
}

/// Email over SMTP, by URL as lettre reads it (user and password percent-decoded):
/// `smtps://user:pass@host[:465]` (implicit TLS, recommended), `smtp://…@host[:587]?tls=required`
/// (STARTTLS, refused if the server does not offer it), `smtp://host[:25]` (plain, for a
/// relay on the same host or network). TLS trusts the platform's roots and `NAKKU_TLS_CA_FILE`.
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
    peer: String,
}

impl SmtpProvider {
    pub fn new(url: &str, from: &str, roots: &ExtraRoots) -> anyhow::Result<SmtpProvider> {
        let parsed = reqwest::Url::parse(url).map_err(|e| anyhow::anyhow!("NAKKU_SMTP_URL is not a URL: {e}"))?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        anyhow::ensure!(!host.is_empty(), "NAKKU_SMTP_URL names no host");
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
            .map_err(|e| anyhow::anyhow!("NAKKU_SMTP_URL: {e}"))?
            .timeout(Some(Duration::from_secs(10)));
        let tls_mode = parsed
            .query_pairs()
            .find(|(k, _)| k == "tls")
            .map(|(_, v)| v.into_owned());
        if !roots.is_empty() {
            let mut params = TlsParameters::builder(host.clone());
            for pem in roots.pem() {
                params = params.add_root_certificate(
                    Certificate::from_pem(pem.as_bytes()).map_err(|e| anyhow::anyhow!("NAKKU_TLS_CA_FILE: {e}"))?,
                );
            }
            let params = params.build_rustls().map_err(|e| anyhow::anyhow!("SMTP TLS: {e}"))?;
            b = match (parsed.scheme(), tls_mode.as_deref()) {
                ("smtps", _) => b.tls(Tls::Wrapper(params)),
                (_, Some("required")) => b.tls(Tls::Required(params)),
                (_, Some("opportunistic")) => b.tls(Tls::Opportunistic(params)),
                _ => b,
            };
        }
        Ok(SmtpProvider {
            transport: b.build(),
            from: from
                .parse()
                .map_err(|e| anyhow::anyhow!("mail_from {from:?} is not a mailbox: {e}"))?,
            peer: format!("{host}:{}", parsed.port().unwrap_or(0)),
        })
    }
}

impl Provider for SmtpProvider {
    fn name(&self) -> &'static str {
        "smtp"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            let to = m.to.first().ok_or("no email address")?;
            let msg = lettre::Message::builder()
                .from(self.from.clone())
                .to(to.parse().map_err(|e| format!("bad address {to:?}: {e}"))?)
                .subject(&m.title)
                .message_id(Some(format!("<{}@nakku>", m.id)))
                .header(ContentType::TEXT_PLAIN)
                .body(m.body.clone())
                .map_err(|e| format!("building the email: {e}"))?;
            let r = self.transport.send(msg).await.map_err(|e| {
                crate::tls::explain(&e, &self.peer, "NAKKU_TLS_CA_FILE").unwrap_or_else(|| format!("SMTP: {e}"))
            })?;
            Ok(r.message().collect::<Vec<_>>().join(" "))
        })
    }
}

/// SMS or push through an HTTP webhook: POSTs `{id, channel, to, title, body}` as JSON; any
/// 2xx is accepted (its body, up to 200 characters, is the provider's reference).
/// With a token, it is sent as `Authorization: Bearer <token>`.
pub struct WebhookProvider {
    pub url: String,
    pub token: Option<Secret>,
    pub client: reqwest::Client,
}

impl WebhookProvider {
    pub fn new(url: &str, token: Option<Secret>, roots: &ExtraRoots) -> anyhow::Result<WebhookProvider> {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "a webhook URL must be http(s)://"
        );
        Ok(WebhookProvider {
            url: url.to_owned(),
            token,
            client: roots.http_client(Duration::from_secs(10))?,
        })
    }
}

impl Provider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            let mut req = self.client.post(&self.url).header("idempotency-key", &m.id);
            if let Some(t) = &self.token {
                req = req.bearer_auth(t.expose());
            }
            let r = req
                .json(&json!({"id": m.id, "channel": m.channel, "to": m.to, "title": m.title, "body": m.body}))
                .send()
                .await
                .map_err(|e| {
                    let peer = e.url().and_then(|u| u.host_str()).unwrap_or("the webhook").to_owned();
                    // Without the URL: a webhook's URL may carry its credentials.
                    crate::tls::explain(&e, &peer, "NAKKU_TLS_CA_FILE")
                        .unwrap_or_else(|| format!("webhook {peer}: {}", e.without_url()))
                })?;
            let status = r.status();
            let text = r.text().await.unwrap_or_default();
            if status.is_success() {
                Ok(text.chars().take(200).collect())
            } else {
                Err(format!(
                    "webhook answered {status}: {}",
                    text.chars().take(200).collect::<String>()
                ))
            }
        })
    }
}
