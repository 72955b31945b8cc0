//! What the dashboard reads, over HTTP through the gateway: the analytics reports, the
//! partners, the gateway's health and the event log; the support view's order lookups.
//! Every call answers `Result<_, Fail>`, so one service down leaves the others showing.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, FixedOffset, Offset, TimeZone, Utc};
use nakku_core::analytics::event_log::{EventPage, LoggedEvent};
use nakku_core::analytics::{StockAlerts, Summary};
use nakku_core::config::Settings;
use nakku_core::delivery::partners::{Items, Partner};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::RwLock;

/// How the dashboard signs in (it needs an admin).
pub enum Auth {
    /// A token given with `--token` / `NAKKU_TOKEN`.
    Token(String),
    /// `--email` and `NAKKU_PASSWORD`: signs in, and again when the token expires.
    Login { email: String, password: String },
    /// Neither: a token for the seeded admin signed with this deployment's settings (same
    /// machine, as `nakku simulate` does).
    Local(Box<Settings>),
}

/// Why a call gave nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum Fail {
    /// Nothing answered (refused, reset, timed out).
    Unreachable(String),
    /// An answer in the standard error format (or another status).
    Status(u16, String),
    /// An answer that is not what the API documents.
    Bad(String),
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fail::Unreachable(e) => write!(f, "{e}"),
            Fail::Status(code, msg) => write!(f, "{code}: {msg}"),
            Fail::Bad(e) => write!(f, "unexpected answer: {e}"),
        }
    }
}

pub struct Client {
    http: reqwest::Client,
    pub base: String,
    auth: Auth,
    token: RwLock<Option<String>>,
}

/// A cause chain on one line (reqwest's top error alone says little).
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}

/// A request that got no answer, said shortly (the panels are small): why it could not
/// connect, or that it timed out.
fn unreachable(e: reqwest::Error) -> Fail {
    if e.is_timeout() {
        return Fail::Unreachable("timed out".into());
    }
    let peer = e.url().and_then(|u| u.host_str()).unwrap_or("the gateway").to_owned();
    if let Some(why) = nakku_core::tls::explain(&e, &peer, "NAKKU_TLS_CA_FILE") {
        return Fail::Unreachable(why);
    }
    let mut deepest: &dyn std::error::Error = &e;
    while let Some(c) = deepest.source() {
        deepest = c;
    }
    if e.is_connect() {
        Fail::Unreachable(format!("cannot connect ({deepest})"))
    } else {
        Fail::Unreachable(chain(&e.without_url()))
    }
}

impl Client {
    pub fn new(base: &str, auth: Auth, roots: &nakku_core::tls::ExtraRoots) -> anyhow::Result<Client> {
        Ok(Client {
            http: roots
                .http()?
                .timeout(Duration::from_secs(5))
                .connect_timeout(Duration::from_secs(2))
                .build()?,
            base: base.trim_end_matches('/').to_owned(),
            auth,
            token: RwLock::new(None),
        })
    }

    /// The token to send: the one held, or a new one when `renew` or none is held.
    async fn token(&self, renew: bool) -> Result<String, Fail> {
        if !renew {
            if let Some(t) = self.token.read().await.clone() {
                return Ok(t);
            }
        }
        let t = match &self.auth {
            Auth::Token(t) => t.clone(),
            Auth::Login { email, password } => {
                let r = self
                    .http
                    .post(format!("{}/api/v1/auth/login", self.base))
                    .json(&serde_json::json!({"email": email, "password": password}))
                    .send()
                    .await
                    .map_err(unreachable)?;
                let b: Value = answer(r).await?;
                b["access_token"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| Fail::Bad("the sign-in answer has no access_token".into()))?
            }
            Auth::Local(settings) => super::super::users::seeded_admin_token(settings).await.map_err(|e| {
                Fail::Status(
                    401,
                    format!("give --token or --email (no seeded admin to sign for here: {e:#})"),
                )
            })?,
        };
        *self.token.write().await = Some(t.clone());
        Ok(t)
    }

    /// `GET /api/v1{path}` as the admin, its `data`; signs in again once on a 401.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, Fail> {
        self.get_query(path, &[]).await
    }

    /// `GET /api/v1{path}` with `query` (encoded by reqwest).
    fn request(&self, path: &str, query: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.http.get(format!("{}/api/v1{path}", self.base)).query(query)
    }

    /// [`Client::get`] with query parameters.
    pub async fn get_query<T: DeserializeOwned>(&self, path: &str, query: &[(&str, &str)]) -> Result<T, Fail> {
        let mut renew = false;
        loop {
            let token = self.token(renew).await?;
            let r = self
                .request(path, query)
                .bearer_auth(&token)
                .send()
                .await
                .map_err(unreachable)?;
            if r.status() == reqwest::StatusCode::UNAUTHORIZED && !renew && !matches!(self.auth, Auth::Token(_)) {
                renew = true;
                continue;
            }
            return answer(r).await;
        }
    }

    /// The gateway's `/health` (its data, also when it answers 503).
    pub async fn health(&self) -> Result<Value, Fail> {
        let r = self
            .http
            .get(format!("{}/health", self.base))
            .send()
            .await
            .map_err(unreachable)?;
        let status = r.status().as_u16();
        let b: Value = r.json().await.map_err(|e| Fail::Bad(chain(&e)))?;
        match b.get("data") {
            Some(d) if d.is_object() => Ok(d.clone()),
            _ => Err(Fail::Status(status, message(&b))),
        }
    }
}

fn message(b: &Value) -> String {
    b["error"].as_str().unwrap_or("no message").to_owned()
}

/// The `data` of a success answer, or the error it carries.
async fn answer<T: DeserializeOwned>(r: reqwest::Response) -> Result<T, Fail> {
    let status = r.status();
    let b: Value = r
        .json()
        .await
        .map_err(|e| Fail::Status(status.as_u16(), format!("not JSON ({})", chain(&e))))?;
    if !status.is_success() {
        return Err(Fail::Status(status.as_u16(), message(&b)));
    }
    serde_json::from_value(b["data"].clone()).map_err(|e| Fail::Bad(e.to_string()))
}

/// The last value of a feed, and whether the last fetch failed (the value then is stale).
#[derive(Debug, Clone)]
pub struct Feed<T> {
    pub value: Option<T>,
    pub error: Option<String>,
}

impl<T> Default for Feed<T> {
    fn default() -> Self {
        Feed {
            value: None,
            error: None,
        }
    }
}

impl<T> Feed<T> {
    /// Takes a fetch's result: a new value, or the error beside the last value.
    pub fn update(&mut self, r: Result<T, Fail>) {
        match r {
            Ok(v) => {
                self.value = Some(v);
                self.error = None;
            }
            Err(e) => self.error = Some(e.to_string()),
        }
    }
}

/// Everything the overview shows, fetched together.
#[derive(Debug, Clone, Default)]
pub struct Feeds {
    /// Today so far (local business day): GMV, funnel, delivery times, alerts by store.
    pub today: Feed<Summary>,
    /// The last hour, minute by minute: the orders sparkline.
    pub hour: Feed<Summary>,
    pub alerts: Feed<StockAlerts>,
    pub partners: Feed<Items<Partner>>,
    pub health: Feed<Value>,
    /// When the last refresh finished (RFC 3339).
    pub refreshed_at: Option<String>,
}

/// The start of today in the deployment's local time (`offset_minutes` east of UTC).
pub fn start_of_day(now: DateTime<Utc>, offset_minutes: i64) -> DateTime<Utc> {
    let tz = FixedOffset::east_opt((offset_minutes * 60) as i32).unwrap_or(Utc.fix());
    let local = now.with_timezone(&tz);
    let midnight = local.date_naive().and_hms_opt(0, 0, 0).unwrap_or(local.naive_local());
    tz.from_local_datetime(&midnight)
        .single()
        .map(|d| d.with_timezone(&Utc))
        .unwrap_or(now)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// One refresh of every overview feed (concurrently).
pub async fn refresh(c: &Client, feeds: &mut Feeds, offset_minutes: i64) {
    let now = Utc::now();
    let day = rfc3339(start_of_day(now, offset_minutes));
    let hour = rfc3339(now - chrono::Duration::minutes(60));
    let (today, last) = ([("from", day.as_str())], [("from", hour.as_str())]);
    let (today, last_hour, alerts, partners, health) = tokio::join!(
        c.get_query::<Summary>("/analytics/summary", &today),
        c.get_query::<Summary>("/analytics/summary", &last),
        c.get::<StockAlerts>("/analytics/stock-alerts?limit=100"),
        c.get::<Items<Partner>>("/deliveries/partners"),
        c.health(),
    );
    feeds.today.update(today);
    feeds.hour.update(last_hour);
    feeds.alerts.update(alerts);
    feeds.partners.update(partners);
    feeds.health.update(health);
    if feeds.health.error.is_none() || feeds.today.error.is_none() {
        feeds.refreshed_at = Some(rfc3339(Utc::now()));
    }
}

/// Events after `after` (the newest page when none), oldest first.
pub async fn events_after(c: &Client, after: Option<i64>) -> Result<EventPage, Fail> {
    let path = match after {
        Some(a) => format!("/analytics/events?after={a}&limit=500"),
        None => "/analytics/events?limit=200".to_owned(),
    };
    c.get(&path).await
}

/// What the support view found for a query.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A phone number's account and its latest orders, newest first.
    Orders {
        who: String,
        orders: Vec<Value>,
    },
    Order(Box<OrderStory>),
    /// Nothing matched (the message says what was looked for).
    Nothing(String),
}

/// An order as every service knows it.
#[derive(Debug, Clone)]
pub struct OrderStory {
    pub order: Value,
    pub delivery: Result<Value, String>,
    pub payment: Result<Value, String>,
    /// What every service said about it, oldest first (the event log).
    pub events: Result<Vec<LoggedEvent>, String>,
}

/// Looks an order up by id, or a shopper's orders by phone number.
pub async fn lookup(c: &Client, query: &str) -> Result<Lookup, Fail> {
    let q = query.trim();
    // An order id, else a phone number.
    if nakku_core::id::is_id(q) {
        return match c.get::<Value>(&format!("/orders/{q}")).await {
            Ok(order) => Ok(Lookup::Order(Box::new(story(c, order).await))),
            Err(Fail::Status(404, _)) => Ok(Lookup::Nothing(format!("no order {q}"))),
            Err(e) => Err(e),
        };
    }
    let phone = nakku_core::user::parse_phone(q).map_err(|e| {
        Fail::Status(
            422,
            format!("{q:?} is neither an order id nor a phone number: the phone {e}"),
        )
    })?;
    let users: Value = c.get_query("/users", &[("q", &phone), ("limit", "5")]).await?;
    let Some(user) = users["items"]
        .as_array()
        .and_then(|u| u.iter().find(|u| u["phone"] == phone.as_str()))
    else {
        return Ok(Lookup::Nothing(format!("no account with phone {phone}")));
    };
    let id = user["id"].as_str().unwrap_or_default();
    let page: Value = c.get(&format!("/orders?user_id={id}&limit=20")).await?;
    let orders = page["items"].as_array().cloned().unwrap_or_default();
    let who = format!(
        "{} · {} · {}",
        user["name"].as_str().unwrap_or("?"),
        phone,
        user["email"].as_str().unwrap_or("?")
    );
    if orders.is_empty() {
        return Ok(Lookup::Nothing(format!("{who}: no orders")));
    }
    Ok(Lookup::Orders { who, orders })
}

/// The order's delivery, payment and event timeline beside it.
pub async fn story(c: &Client, order: Value) -> OrderStory {
    let id = order["id"].as_str().unwrap_or_default().to_owned();
    let (d, p, e) = (
        format!("/deliveries/{id}"),
        format!("/payments/orders/{id}"),
        format!("/analytics/events?order={id}&limit=500"),
    );
    let (delivery, payment, events) = tokio::join!(c.get::<Value>(&d), c.get::<Value>(&p), c.get::<EventPage>(&e),);
    OrderStory {
        order,
        delivery: delivery.map_err(|e| e.to_string()),
        payment: payment.map_err(|e| e.to_string()),
        events: events.map(|p| p.items).map_err(|e| e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn today_starts_at_local_midnight() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 20, 0, 0).single().unwrap();
        // 20:00 UTC is 01:30 the next day in India: today began at 18:30 UTC.
        let start = start_of_day(now, 330);
        assert_eq!(rfc3339(start), "2026-11-26T18:30:00Z");
        assert_eq!(rfc3339(start_of_day(now, 0)), "2026-11-26T00:00:00Z");
    }

    #[test]
    fn queries_are_encoded() {
        let c = Client::new("http://gw:8080", Auth::Token("t".into()), &Default::default()).unwrap();
        let query = |k: &str, v: &str| {
            c.request("/x", &[(k, v)])
                .build()
                .unwrap()
                .url()
                .query()
                .map(str::to_owned)
        };
        assert_eq!(query("q", "+919876543210").as_deref(), Some("q=%2B919876543210"));
        assert_eq!(
            query("from", "2026-11-26T18:30:00Z").as_deref(),
            Some("from=2026-11-26T18%3A30%3A00Z")
        );
    }
}
