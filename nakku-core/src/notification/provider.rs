//! Where messages leave Nakku: a provider per channel. Email goes over SMTP (lettre) to a
//! relay; SMS and push go to an HTTP webhook (the shape of SMS gateways and push services'
//! HTTP APIs); the log provider writes the message to the log and is the embedded default.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};
use serde_json::json;

use crate::events::bus::BoxFut;

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

/// Email over SMTP to a relay: `smtp://[user:password@]host[:port]` (port 25 by default).
/// No TLS of its own: the relay (a local Postfix, or a provider's submission endpoint
/// reached through one) carries mail onwards.
pub struct SmtpProvider {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: lettre::message::Mailbox,
}

impl SmtpProvider {
    pub fn new(url: &str, from: &str) -> anyhow::Result<SmtpProvider> {
        let rest = url
            .strip_prefix("smtp://")
            .ok_or_else(|| anyhow::anyhow!("the SMTP URL must start with smtp://"))?;
        let rest = rest.trim_end_matches('/');
        let (creds, host_port) = match rest.rsplit_once('@') {
            Some((c, h)) => (Some(c), h),
            None => (None, rest),
        };
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) => (h, p.parse::<u16>().map_err(|_| anyhow::anyhow!("bad SMTP port {p:?}"))?),
            None => (host_port, 25),
        };
        anyhow::ensure!(!host.is_empty(), "the SMTP URL names no host");
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(port)
            .timeout(Some(Duration::from_secs(10)));
        if let Some(c) = creds {
            let (user, pass) = c.split_once(':').unwrap_or((c, ""));
            b = b.credentials(Credentials::new(user.to_owned(), pass.to_owned()));
        }
        Ok(SmtpProvider {
            transport: b.build(),
            from: from
                .parse()
                .map_err(|e| anyhow::anyhow!("mail_from {from:?} is not a mailbox: {e}"))?,
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
            let r = self.transport.send(msg).await.map_err(|e| format!("SMTP: {e}"))?;
            Ok(r.message().collect::<Vec<_>>().join(" "))
        })
    }
}

/// SMS or push through an HTTP webhook: POSTs `{id, channel, to, title, body}` as JSON; any
/// 2xx is accepted (its body, up to 200 characters, is the provider's reference).
pub struct WebhookProvider {
    pub url: String,
    pub client: reqwest::Client,
}

impl WebhookProvider {
    pub fn new(url: &str) -> anyhow::Result<WebhookProvider> {
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "a webhook URL must be http(s)://"
        );
        Ok(WebhookProvider {
            url: url.to_owned(),
            client: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        })
    }
}

impl Provider for WebhookProvider {
    fn name(&self) -> &'static str {
        "webhook"
    }

    fn send<'a>(&'a self, m: &'a Outgoing) -> BoxFut<'a, Result<String, String>> {
        Box::pin(async move {
            let r = self
                .client
                .post(&self.url)
                .header("idempotency-key", &m.id)
                .json(&json!({"id": m.id, "channel": m.channel, "to": m.to, "title": m.title, "body": m.body}))
                .send()
                .await
                .map_err(|e| format!("webhook: {e}"))?;
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
