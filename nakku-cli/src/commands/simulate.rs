//! `nakku simulate`: drives a running deployment through its gateway like real shoppers
//! and riders. Shoppers (the seeded ones, signed in with the demo password) browse and
//! search their store, fill a cart, check out and place the order (cash on delivery or
//! online), some cancel; seeded delivery partners work a shift at their store, pick up,
//! ride and hand over with the code the shopper shows them. At the end: requests and
//! orders per second, latency per endpoint, errors by kind, saga outcomes and invariant
//! checks (stock reconciles and never goes negative; what payments kept matches what the
//! orders say).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use nakku_core::config::Settings;
use nakku_core::stats::percentile;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::seed::{people, Person, DEMO_PASSWORD};

mod actors;
mod checks;
mod report;
mod steps;

use actors::*;
use checks::*;
use report::*;
use steps::Api;

/// What a request is: a REST call (method, path under `/api/v1`, JSON body) or a GraphQL
/// document (`{"query", "variables"}`).
pub(super) enum Req<'a> {
    Rest(Method, &'a str, Option<Value>),
    Graphql(Value),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Curve {
    /// The same rate throughout
    Flat,
    /// A lunch and an evening peak (about 2.5× the base rate at the top)
    Peaks,
}

#[derive(Debug, Args)]
pub struct Opts {
    /// The gateway (default: this machine's gateway port)
    #[arg(long)]
    url: Option<String>,
    /// Orders started per second (open loop); without it, --concurrency shoppers shop in a loop
    #[arg(long)]
    rate: Option<f64>,
    /// Shoppers shopping at once (closed loop; with --rate: the most orders in flight)
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Stop after this many orders (default 200 unless --duration is given)
    #[arg(long)]
    orders: Option<usize>,
    /// Stop after this long, e.g. 60s, 5m
    #[arg(long, value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Share of orders the shopper cancels right after placing them
    #[arg(long, default_value_t = 0.05)]
    cancel_rate: f64,
    /// Share of orders paid cash on delivery (the rest by UPI)
    #[arg(long, default_value_t = 0.3)]
    cod_share: f64,
    /// Share of UPI orders paid from the simulated provider's test payer that always
    /// declines (the saga then compensates them)
    #[arg(long, default_value_t = 0.0)]
    payment_failure_rate: f64,
    /// Demand over the run
    #[arg(long, value_enum, default_value_t = Curve::Flat)]
    curve: Curve,
    /// Seed of every random choice (same seed, same choices)
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only shoppers and riders of these stores (comma-separated codes; default: every seeded store that answers)
    #[arg(long, value_delimiter = ',')]
    stores: Vec<String>,
    /// How long to wait at the end for sagas and deliveries to finish
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    settle: Duration,
    /// Which API shoppers use; with GraphQL the report sets each step's latencies on REST
    /// and GraphQL side by side
    #[arg(long, value_enum, default_value_t = Api::Rest)]
    api: Api,
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

pub(super) fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (n, unit) = raw.split_at(raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len()));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{raw:?}: expected a number and s, m or h (e.g. 90s, 5m)"))?;
    Ok(Duration::from_secs(match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("{raw:?}: the unit must be s, m or h")),
    }))
}

/// Latencies and errors, shared by every task.
#[derive(Default)]
struct Stats {
    latencies: BTreeMap<&'static str, Vec<f64>>,
    errors: BTreeMap<String, u64>,
    requests: u64,
}

#[derive(Default, Debug, Clone, Serialize)]
struct Outcomes {
    placed: u64,
    /// Refused at checkout or placement (out of stock, store paused…): no order made.
    refused: u64,
    /// Why, by step.
    refused_because: BTreeMap<String, u64>,
    /// Cancellations the API refused (too late, …), by answer.
    cancel_refused: BTreeMap<String, u64>,
    confirmed: u64,
    delivered: u64,
    cancelled: u64,
    /// The saga failed and compensated (payment declined, stock gone).
    compensated: u64,
    /// Saga not finished when the run ended (after --settle).
    stuck: u64,
    /// Confirmed but not delivered by the end of --settle although riders were on shift.
    undelivered: u64,
    /// Which (the first ten), for support to look into.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    undelivered_orders: Vec<String>,
    /// Riders of the run's stores, and how many of them got on shift.
    riders: u64,
    riders_on_shift: u64,
}

/// How long a sign-in is retried while the deployment is starting or rate-limiting.
const SIGN_IN_PATIENCE: Duration = Duration::from_secs(90);

/// How long a request with an idempotency key (placing an order) is repeated after passing
/// failures: longer than the fault suite's 15 s database outages, as a shopper holding the
/// "place order" spinner would.
const KEYED_PATIENCE: Duration = Duration::from_secs(30);

/// An answer worth trying again after a while: no answer at all, rate-limited, or a
/// service (or the gateway in front of it) that said it is unavailable for now. A 500 is
/// not: it is a defect, and repeating it hides it.
fn passing(status: u16) -> bool {
    matches!(status, 0 | 429 | 502..=504)
}

/// How long to wait before the `attempt`th repeat: the service's `retry_after_secs` when it
/// gave one, otherwise the one backoff; never past `deadline`.
fn retry_wait(answer: &Value, attempt: u32, deadline: Instant) -> Duration {
    answer["retry_after_secs"]
        .as_u64()
        .map(Duration::from_secs)
        .unwrap_or_else(|| nakku_core::retry::backoff(attempt, Duration::from_millis(250), Duration::from_secs(5)))
        .min(deadline.saturating_duration_since(Instant::now()))
}

struct Sim {
    http: reqwest::Client,
    base: String,
    stats: Mutex<Stats>,
    outcomes: Mutex<Outcomes>,
    /// Orders waiting for a rider: order id → the shopper's code.
    codes: Mutex<HashMap<String, String>>,
    /// Every order placed: (order id, shopper token).
    orders: Mutex<Vec<(String, String)>>,
    /// Orders whose cancellation the API accepted.
    cancel_accepted: Mutex<HashSet<String>>,
    touched: Mutex<HashSet<(String, String)>>,
    tokens: Mutex<HashMap<String, (String, String)>>,
    /// A shopper's saved UPI method that always declines: email → method id.
    declining: Mutex<HashMap<String, String>>,
    /// Who holds each access token (to sign in again when it expires), and the token that
    /// replaced an expired one: a run longer than the tokens' life goes on.
    holders: Mutex<HashMap<String, Person>>,
    renewed: Mutex<HashMap<String, String>>,
}

impl Sim {
    /// One request, timed under `label`; the status and the body (Null when not JSON).
    async fn call(
        &self,
        label: &'static str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.send(label, Req::Rest(method, path, body), token, None).await
    }

    /// A REST or GraphQL request, timed under `label` (a GraphQL error read as REST's
    /// envelope: see [`steps::as_envelope`]). With an idempotency `key` it is safe to
    /// repeat: as a shopper's app does, one that met a passing failure (no answer, 429,
    /// 502–504) is sent again with the same key — after the service's `Retry-After`, or
    /// with the one backoff — for up to [`KEYED_PATIENCE`]. An order whose first try was
    /// placed but not answered comes back as that same order, never a second one. Each
    /// failed try still counts in the errors.
    async fn send(&self, label: &'static str, req: Req<'_>, token: &str, key: Option<&str>) -> (u16, Value) {
        let deadline = Instant::now() + KEYED_PATIENCE;
        let mut attempt = 0;
        loop {
            let (status, v) = self.call_once(label, &req, token, key).await;
            if key.is_none() || !passing(status) || Instant::now() >= deadline {
                return (status, v);
            }
            attempt += 1;
            tokio::time::sleep(retry_wait(&v, attempt, deadline)).await;
        }
    }

    /// One try of a request. A 401 for an expired token signs its holder in again and
    /// repeats the request once with the new token.
    async fn call_once(&self, label: &'static str, r: &Req<'_>, token: &str, key: Option<&str>) -> (u16, Value) {
        let mut token = self.current(token);
        let mut renewed = false;
        loop {
            let mut req = match r {
                Req::Rest(method, path, body) => {
                    let req = self.http.request(method.clone(), format!("{}/api/v1{path}", self.base));
                    match body {
                        Some(b) => req.json(b),
                        None => req,
                    }
                }
                Req::Graphql(doc) => self.http.post(format!("{}/api/graphql", self.base)).json(doc),
            };
            if !token.is_empty() {
                req = req.bearer_auth(&token);
            }
            if let Some(k) = key {
                req = req.header("idempotency-key", k);
            }
            let (status, v) = self.timed(label, req).await;
            if status != 401 || token.is_empty() {
                return (status, v);
            }
            let holder = self.holders.lock().ok().and_then(|h| h.get(&token).cloned());
            match holder {
                Some(p) if !renewed => {
                    let Some(fresh) = self.login(&p).await else {
                        return (status, v);
                    };
                    if let Ok(mut r) = self.renewed.lock() {
                        r.insert(token.clone(), fresh.clone());
                    }
                    token = fresh;
                    renewed = true;
                }
                _ => {
                    if let Ok(mut s) = self.stats.lock() {
                        *s.errors.entry(format!("{label} → 401")).or_default() += 1;
                    }
                    return (status, v);
                }
            }
        }
    }

    /// The token in force for one handed out earlier (following renewals).
    fn current(&self, token: &str) -> String {
        let mut t = token.to_owned();
        if let Ok(r) = self.renewed.lock() {
            while let Some(next) = r.get(&t) {
                t = next.clone();
            }
        }
        t
    }

    /// Signs in with the demo password. A gateway or user service that is still starting,
    /// busy or rate-limiting (no answer, 429, 5xx) is asked again — after its
    /// `Retry-After`, or with the one backoff — for up to [`SIGN_IN_PATIENCE`]; each refused
    /// try still counts in the errors.
    async fn sign_in_retrying(&self, body: &Value) -> (u16, Value) {
        let deadline = Instant::now() + SIGN_IN_PATIENCE;
        let mut attempt = 0;
        loop {
            let req = self.http.post(format!("{}/api/v1/auth/login", self.base)).json(body);
            let (status, v) = self.timed("POST /auth/login", req).await;
            let retryable = status == 0 || status == 429 || status >= 500;
            if !retryable || Instant::now() >= deadline {
                return (status, v);
            }
            attempt += 1;
            tokio::time::sleep(retry_wait(&v, attempt, deadline)).await;
        }
    }

    /// Sends a built request, timed under `label`, counting what is an error.
    async fn timed(&self, label: &'static str, req: reqwest::RequestBuilder) -> (u16, Value) {
        let started = Instant::now();
        let (status, v) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                steps::as_envelope(status, r.json::<Value>().await.unwrap_or(Value::Null))
            }
            Err(e) => (
                0,
                json!({"error": if e.is_timeout() { "timeout" } else { "connection" }}),
            ),
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if let Ok(mut s) = self.stats.lock() {
            s.requests += 1;
            s.latencies.entry(label).or_default().push(ms);
            if status == 0 || status >= 500 || status == 429 {
                let what = if status == 0 {
                    v["error"].as_str().unwrap_or("transport").to_owned()
                } else {
                    status.to_string()
                };
                *s.errors.entry(format!("{label} → {what}")).or_default() += 1;
            }
        }
        (status, v)
    }

    fn refuse(&self, why: impl Into<String>) {
        self.count(|c| {
            c.refused += 1;
            *c.refused_because.entry(why.into()).or_default() += 1;
        });
    }

    fn count(&self, f: impl FnOnce(&mut Outcomes)) {
        if let Ok(mut o) = self.outcomes.lock() {
            f(&mut o);
        }
    }

    /// A seeded person's access token (demo password).
    async fn login(&self, p: &Person) -> Option<String> {
        let body = json!({"email": p.email, "password": DEMO_PASSWORD});
        // Straight through `timed`: signing in never needs a token renewed.
        let (status, v) = self.sign_in_retrying(&body).await;
        let token = v["data"]["access_token"]
            .as_str()
            .filter(|_| status == 200)
            .map(str::to_owned)?;
        if let Ok(mut h) = self.holders.lock() {
            h.insert(token.clone(), p.clone());
        }
        Some(token)
    }

    /// The shopper's saved UPI method with the simulator's declining test payer, added once.
    async fn declining_method(&self, p: &Person, token: &str) -> Option<String> {
        if let Some(id) = self.declining.lock().ok().and_then(|d| d.get(&p.email).cloned()) {
            return Some(id);
        }
        let upi = nakku_core::payment::provider::DECLINING_UPI_ID;
        let (_, list) = self
            .call("GET /payments/methods", Method::GET, "/payments/methods", token, None)
            .await;
        let found = list["data"]["items"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["upi_id"] == upi))
            .and_then(|m| m["id"].as_str())
            .map(str::to_owned);
        let id = match found {
            Some(id) => id,
            None => {
                let (_, m) = self
                    .call(
                        "POST /payments/methods",
                        Method::POST,
                        "/payments/methods",
                        token,
                        Some(json!({"kind": "upi", "upi_id": upi, "label": "declines (simulation)"})),
                    )
                    .await;
                m["data"]["id"].as_str()?.to_owned()
            }
        };
        if let Ok(mut d) = self.declining.lock() {
            d.insert(p.email.clone(), id.clone());
        }
        Some(id)
    }

    /// A shopper's token and address id (signed in once).
    async fn sign_in(&self, p: &Person) -> Option<(String, String)> {
        if let Some(t) = self.tokens.lock().ok().and_then(|t| t.get(&p.email).cloned()) {
            return Some(t);
        }
        let token = self.login(p).await?;
        let (_, a) = self
            .call(
                "GET /users/me/addresses",
                Method::GET,
                "/users/me/addresses",
                &token,
                None,
            )
            .await;
        let address = a["data"]["items"][0]["id"].as_str()?.to_owned();
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(p.email.clone(), (token.clone(), address.clone()));
        }
        Some((token, address))
    }
}

/// Waits up to `within` for the gateway's `/readyz`: every service behind it has a healthy
/// instance. `waiting` hears why it is not ready yet, each time it asks; the error is the
/// last reason once the time is up.
pub(super) async fn until_ready(
    http: &reqwest::Client,
    base: &str,
    within: Duration,
    mut waiting: impl FnMut(&str),
) -> Result<(), String> {
    let deadline = Instant::now() + within;
    loop {
        let why = match http.get(format!("{base}/readyz")).send().await {
            // Ready, or a gateway without readiness to ask (nothing to wait for).
            Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::NOT_FOUND => return Ok(()),
            Ok(r) => r
                .json::<Value>()
                .await
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned)),
            Err(e) => Some(e.to_string()),
        }
        .unwrap_or_else(|| "not ready".to_owned());
        if Instant::now() >= deadline {
            return Err(why);
        }
        waiting(&why);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits (up to [`SIGN_IN_PATIENCE`]) for the gateway to be ready. A deployment still
/// starting would otherwise refuse the first shoppers and riders; one that stays unready (a
/// service down on purpose) is simulated anyway, with a warning.
async fn wait_until_ready(http: &reqwest::Client, base: &str) {
    let mut said = false;
    let waited = until_ready(http, base, SIGN_IN_PATIENCE, |why| {
        if !said {
            eprintln!("waiting for the gateway to be ready: {why}");
            said = true;
        }
    })
    .await;
    if let Err(why) = waited {
        eprintln!("the gateway is still not ready ({why}); simulating anyway");
    }
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.concurrency >= 1 && o.concurrency <= 1000,
        "--concurrency must be from 1 to 1000"
    );
    anyhow::ensure!(
        o.rate.is_none_or(|r| r > 0.0 && r <= 10_000.0),
        "--rate must be above 0 and at most 10000"
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&o.cancel_rate),
        "--cancel-rate must be from 0 to 1"
    );
    anyhow::ensure!((0.0..=1.0).contains(&o.cod_share), "--cod-share must be from 0 to 1");
    anyhow::ensure!(
        (0.0..=1.0).contains(&o.payment_failure_rate),
        "--payment-failure-rate must be from 0 to 1"
    );
    let base = super::gateway_url(settings, o.url.as_deref());
    let http = nakku_core::tls::ExtraRoots::from_settings(settings)?
        .http()?
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(o.concurrency * 2 + 64)
        .build()?;
    if let Err(e) = http.get(format!("{base}/health")).send().await {
        let peer = base.split("://").nth(1).unwrap_or(&base);
        if let Some(why) = nakku_core::tls::explain(&e, peer, "NAKKU_TLS_CA_FILE") {
            anyhow::bail!("{why}");
        }
        return Err(anyhow::Error::new(e).context(format!(
            "no Nakku gateway answers at {base} (start one with `nakku up`, or give --url)"
        )));
    }
    wait_until_ready(&http, &base).await;
    let target = o.orders.or(if o.duration.is_some() { None } else { Some(200) });

    // Stores: the seeded ones that answer (or those named).
    let stores: Vec<(String, (f64, f64))> = super::seed::rows(super::seed::STORES)
        .into_iter()
        .filter_map(|r| {
            Some((
                r.get("code")?.clone(),
                (r.get("lat")?.parse().ok()?, r.get("lng")?.parse().ok()?),
            ))
        })
        .filter(|(c, _)| o.stores.is_empty() || o.stores.iter().any(|s| s.eq_ignore_ascii_case(c)))
        .collect();
    let sim = Arc::new(Sim {
        http,
        base: base.clone(),
        stats: Mutex::default(),
        outcomes: Mutex::default(),
        codes: Mutex::default(),
        orders: Mutex::default(),
        cancel_accepted: Mutex::default(),
        touched: Mutex::default(),
        tokens: Mutex::default(),
        declining: Mutex::default(),
        holders: Mutex::default(),
        renewed: Mutex::default(),
    });
    let mut live_stores = Vec::new();
    let mut open_stores = Vec::new();
    for (code, at) in &stores {
        // A store of this deployment answers for its own location (open, busy or closed).
        let (_, v) = sim
            .call(
                "GET /locations/serviceability",
                Method::GET,
                &format!("/locations/serviceability?lat={}&lng={}", at.0, at.1),
                "",
                None,
            )
            .await;
        if v["data"]["store"]["code"] == json!(code) {
            live_stores.push(code.clone());
            // Shoppers only where the store takes orders now (busy or briefly paused counts).
            if v["data"]["serviceable"] == json!(true) || v["data"]["reason"] == "paused" {
                open_stores.push(code.clone());
            }
        }
    }
    let everyone = people(1);
    anyhow::ensure!(
        !live_stores.is_empty(),
        "no seeded store answers at {base}: run `nakku seed` (or `nakku up`) first"
    );
    let shoppers: Vec<Person> = everyone
        .iter()
        .filter(|p| !p.partner && open_stores.contains(&p.store))
        .cloned()
        .collect();
    anyhow::ensure!(
        !shoppers.is_empty(),
        "none of the stores ({}) takes orders now (closed at this hour?)",
        live_stores.join(", ")
    );
    let stop_riders = tokio_util::sync::CancellationToken::new();
    let mut riders = tokio::task::JoinSet::new();
    for p in everyone
        .into_iter()
        .filter(|p| p.partner && live_stores.contains(&p.store))
    {
        let at = stores
            .iter()
            .find(|(c, _)| *c == p.store)
            .map(|(_, at)| *at)
            .unwrap_or_default();
        sim.count(|c| c.riders += 1);
        riders.spawn(ride(sim.clone(), p, at, stop_riders.clone()));
    }

    let view = Arc::new(OptsView {
        run: nakku_core::id::now_ms(),
        cancel_rate: o.cancel_rate,
        cod_share: o.cod_share,
        payment_failure_rate: o.payment_failure_rate,
        api: o.api,
    });
    let pb = match target {
        Some(n) => ProgressBar::new(n as u64),
        None => ProgressBar::new(o.duration.map_or(0, |d| d.as_secs())),
    };
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let end_at = o.duration.map(|d| started + d);
    let mut rng = StdRng::seed_from_u64(o.seed);
    let mut shoppers_running = tokio::task::JoinSet::new();
    let mut n = 0usize;
    let expected = o.duration.map_or_else(
        || target.unwrap_or(200) as f64 / o.rate.unwrap_or(10.0),
        |d| d.as_secs_f64(),
    );
    loop {
        if target.is_some_and(|t| n >= t) || end_at.is_some_and(|e| Instant::now() >= e) {
            break;
        }
        match o.rate {
            Some(rate) => {
                let x = (started.elapsed().as_secs_f64() / expected).min(1.0);
                let r = rate * demand(o.curve, x);
                tokio::time::sleep(Duration::from_secs_f64(1.0 / r.max(0.01))).await;
                while shoppers_running.len() >= o.concurrency.max(64) {
                    shoppers_running.join_next().await;
                }
            }
            None => {
                while shoppers_running.len() >= o.concurrency {
                    shoppers_running.join_next().await;
                }
            }
        }
        let p = shoppers[rng.gen_range(0..shoppers.len())].clone();
        shoppers_running.spawn(shop(
            sim.clone(),
            p,
            o.seed.wrapping_mul(1_000_003).wrapping_add(n as u64),
            view.clone(),
        ));
        n += 1;
        if target.is_some() {
            pb.set_position(n as u64);
        } else {
            pb.set_position(started.elapsed().as_secs());
        }
        if let Ok(c) = sim.outcomes.lock() {
            pb.set_message(format!("{} placed, {} delivered", c.placed, c.delivered));
        }
    }
    while shoppers_running.join_next().await.is_some() {}
    let shopping_secs = started.elapsed().as_secs_f64();
    // Let riders finish what is in hand, and every order go as far as it will (after an
    // outage, events the services held back still have to arrive).
    let settle_until = Instant::now() + o.settle;
    while Instant::now() < settle_until && sim.codes.lock().map(|c| !c.is_empty()).unwrap_or(false) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    checks::wait_until_settled(&sim, settle_until).await;
    stop_riders.cancel();
    while riders.join_next().await.is_some() {}
    pb.finish_and_clear();

    let invariants = check(&sim, settings, settle_until).await;
    let report = summarise(&sim, o.seed, shopping_secs, invariants).await;
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    // A run that leaves orders stuck or breaks an invariant fails (status 2), so scripts
    // and CI notice; the report above says which.
    let i = &report.invariants;
    let mut wrong = Vec::new();
    if report.outcomes.placed == 0 && report.outcomes.refused > 0 {
        let why: Vec<String> = report
            .outcomes
            .refused_because
            .iter()
            .map(|(k, n)| format!("{k}: {n}"))
            .collect();
        wrong.push(format!("no order could be placed ({})", why.join("; ")));
    }
    if report.outcomes.stuck > 0 {
        wrong.push(format!("{} orders stuck", report.outcomes.stuck));
    }
    if report.outcomes.riders > 0 && report.outcomes.riders_on_shift == 0 {
        wrong.push(format!(
            "none of the {} riders got on shift, so nothing could be delivered",
            report.outcomes.riders
        ));
    } else if report.outcomes.undelivered > 0 {
        wrong.push(format!(
            "{} confirmed orders not delivered within --settle ({})",
            report.outcomes.undelivered,
            report.outcomes.undelivered_orders.join(", ")
        ));
    }
    if !i.stock_ok() {
        wrong.push("stock does not reconcile (oversold?)".to_owned());
    }
    if !i.payments_ok() {
        let which: Vec<String> = i.payment_mismatches.iter().map(ToString::to_string).collect();
        wrong.push(format!("payments do not match their orders: {}", which.join("; ")));
    }
    if !i.cancellations_ok() {
        wrong.push("accepted cancellations not honoured".to_owned());
    }
    anyhow::ensure!(wrong.is_empty(), "the run broke what it checks: {}", wrong.join("; "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_passing_failures_are_tried_again() {
        for s in [0, 429, 502, 503, 504] {
            assert!(passing(s), "{s}");
        }
        for s in [200, 201, 400, 401, 404, 409, 422, 500] {
            assert!(!passing(s), "{s}");
        }
    }

    #[test]
    fn a_repeat_waits_as_the_service_asked_but_never_past_the_deadline() {
        let far = Instant::now() + Duration::from_secs(60);
        assert_eq!(
            retry_wait(&json!({"retry_after_secs": 3}), 1, far),
            Duration::from_secs(3)
        );
        let near = Instant::now() + Duration::from_millis(500);
        assert!(retry_wait(&json!({"retry_after_secs": 3}), 1, near) <= Duration::from_millis(500));
        let backoff = retry_wait(&Value::Null, 1, far);
        assert!(
            backoff > Duration::ZERO && backoff <= Duration::from_millis(250),
            "{backoff:?}"
        );
    }
}
