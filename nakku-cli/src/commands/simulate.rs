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
use nakku_core::service::Service;
use nakku_core::stats::percentile;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};

use super::seed::{people, Person, DEMO_PASSWORD};

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
    /// Print the results as JSON
    #[arg(long)]
    json: bool,
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
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
        self.call_keyed(label, method, path, token, body, None).await
    }

    /// [`Sim::call`] with an `Idempotency-Key`. A 401 for an expired token signs its holder
    /// in again and repeats the request once with the new token.
    async fn call_keyed(
        &self,
        label: &'static str,
        method: Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut token = self.current(token);
        let mut renewed = false;
        loop {
            let mut req = self.http.request(method.clone(), format!("{}/api/v1{path}", self.base));
            if !token.is_empty() {
                req = req.bearer_auth(&token);
            }
            if let Some(b) = &body {
                req = req.json(b);
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

    /// Sends a built request, timed under `label`, counting what is an error.
    async fn timed(&self, label: &'static str, req: reqwest::RequestBuilder) -> (u16, Value) {
        let started = Instant::now();
        let (status, v) = match req.send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                (status, r.json::<Value>().await.unwrap_or(Value::Null))
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
        let req = self.http.post(format!("{}/api/v1/auth/login", self.base)).json(&body);
        let (status, v) = self.timed("POST /auth/login", req).await;
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

const TERMS: [&str; 16] = [
    "milk",
    "bread",
    "atta",
    "rice",
    "dal",
    "chips",
    "biscuit",
    "tea",
    "coffee",
    "paneer",
    "curd",
    "onion",
    "tomato",
    "banana",
    "noodles",
    "chocolate",
];

/// One shopper's visit: browse, search, fill the cart, check out, place; maybe cancel;
/// then follow the order until its saga ends.
async fn shop(sim: Arc<Sim>, p: Person, seed: u64, o: Arc<OptsView>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let Some((token, address)) = sim.sign_in(&p).await else {
        sim.refuse("sign-in (no such shopper, or no address)");
        return;
    };
    let store = p.store.clone();
    sim.call("GET /categories", Method::GET, "/categories", &token, None)
        .await;
    let term = TERMS[rng.gen_range(0..TERMS.len())];
    let (_, hits) = sim
        .call(
            "GET /products",
            Method::GET,
            &format!("/products?q={term}&store={store}&in_stock=true&limit=20"),
            &token,
            None,
        )
        .await;
    let mut skus: Vec<String> = hits["data"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["sku"].as_str().map(str::to_owned))
        .collect();
    if skus.is_empty() {
        let (_, popular) = sim
            .call(
                "GET /products/popular",
                Method::GET,
                &format!("/products/popular?store={store}&limit=20"),
                &token,
                None,
            )
            .await;
        skus = popular["data"]["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|h| h["sku"].as_str().map(str::to_owned))
            .collect();
    }
    if let Some(first) = skus.first() {
        sim.call(
            "GET /products/{id}",
            Method::GET,
            &format!("/products/{first}?store={store}"),
            &token,
            None,
        )
        .await;
    }
    sim.call(
        "DELETE /cart",
        Method::DELETE,
        &format!("/cart?store={store}"),
        &token,
        None,
    )
    .await;
    let lines = rng.gen_range(1..=3).min(skus.len());
    let mut added = 0;
    for _ in 0..lines {
        let sku = skus[rng.gen_range(0..skus.len())].clone();
        let (status, _) = sim
            .call(
                "POST /cart/items",
                Method::POST,
                "/cart/items",
                &token,
                Some(json!({"sku": sku, "quantity": rng.gen_range(1..=2), "store": store})),
            )
            .await;
        if status == 200 {
            added += 1;
            if let Ok(mut t) = sim.touched.lock() {
                t.insert((store.clone(), sku));
            }
        }
    }
    if added == 0 {
        sim.refuse("nothing could be added to the cart");
        return;
    }
    let (_, quote) = sim
        .call(
            "GET /cart/checkout",
            Method::GET,
            &format!("/cart/checkout?store={store}&address_id={address}"),
            &token,
            None,
        )
        .await;
    if quote["data"]["can_place_order"] != json!(true) {
        let why = quote["data"]["problems"]
            .as_object()
            .and_then(|p| p.values().next())
            .and_then(|m| m[0].as_str())
            .or(quote["error"].as_str())
            .unwrap_or("checkout refused")
            .to_owned();
        let why: String = why.split(';').next().unwrap_or(&why).chars().take(80).collect();
        sim.refuse(format!("checkout: {why}"));
        return;
    }
    let pay = if rng.gen_bool(o.cod_share.clamp(0.0, 1.0)) {
        "cod".to_owned()
    } else if rng.gen_bool(o.payment_failure_rate.clamp(0.0, 1.0)) {
        match sim.declining_method(&p, &token).await {
            Some(id) => id,
            None => {
                sim.refuse("could not save the declining test UPI id");
                return;
            }
        }
    } else {
        "upi".to_owned()
    };
    let body =
        json!({"address_id": address, "payment_method": pay, "store": store, "quote_id": quote["data"]["quote_id"]});
    let key = format!("sim-{}-{seed}", o.run);
    let (status, v) = sim
        .call_keyed("POST /orders", Method::POST, "/orders", &token, Some(body), Some(&key))
        .await;
    let Some(id) = v["data"]["id"]
        .as_str()
        .map(str::to_owned)
        .filter(|_| status == 201 || status == 200)
    else {
        let why: String = v["error"]
            .as_str()
            .unwrap_or_default()
            .split('(')
            .next()
            .unwrap_or_default()
            .chars()
            .take(80)
            .collect();
        sim.refuse(format!("placing: {status} {why}"));
        return;
    };
    sim.count(|c| c.placed += 1);
    if let Ok(mut all) = sim.orders.lock() {
        all.push((id.clone(), token.clone()));
    }
    if rng.gen_bool(o.cancel_rate.clamp(0.0, 1.0)) {
        let (status, v) = sim
            .call(
                "POST /orders/{id}/cancel",
                Method::POST,
                &format!("/orders/{id}/cancel"),
                &token,
                Some(json!({"reason": "changed my mind"})),
            )
            .await;
        if status == 200 {
            if let Ok(mut c) = sim.cancel_accepted.lock() {
                c.insert(id.clone());
            }
        } else {
            let why: String = v["error"].as_str().unwrap_or_default().chars().take(80).collect();
            sim.count(|c| *c.cancel_refused.entry(format!("{status} {why}")).or_default() += 1);
        }
    }
    // Follow the order until the saga ends; a confirmed order's code goes to the riders.
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, order) = sim
            .call("GET /orders/{id}", Method::GET, &format!("/orders/{id}"), &token, None)
            .await;
        let status = order["data"]["status"].as_str().unwrap_or_default();
        if order["data"]["saga"]["state"] != "done" {
            continue;
        }
        if matches!(status, "confirmed" | "packed") {
            // The shopper shows the code at the door once a rider has it.
            for _ in 0..120 {
                let (_, d) = sim
                    .call(
                        "GET /deliveries/{id}",
                        Method::GET,
                        &format!("/deliveries/{id}"),
                        &token,
                        None,
                    )
                    .await;
                if let Some(code) = d["data"]["otp"].as_str() {
                    if let Ok(mut codes) = sim.codes.lock() {
                        codes.insert(id.clone(), code.to_owned());
                    }
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
        return;
    }
}

/// A rider's shift: on at their store, positions every few seconds, and every delivery in
/// hand picked up, ridden and handed over with the shopper's code.
async fn ride(sim: Arc<Sim>, p: Person, at: (f64, f64), stop: tokio_util::sync::CancellationToken) {
    let Some(token) = sim.login(&p).await else {
        return;
    };
    sim.call(
        "POST /deliveries/partners/me/shift",
        Method::POST,
        "/deliveries/partners/me/shift",
        &token,
        Some(json!({"on": true})),
    )
    .await;
    let mut last_ping = Instant::now() - Duration::from_secs(10);
    while !stop.is_cancelled() {
        if last_ping.elapsed() > Duration::from_secs(5) {
            sim.call(
                "POST /deliveries/partners/me/location",
                Method::POST,
                "/deliveries/partners/me/location",
                &token,
                Some(json!({"lat": at.0, "lng": at.1})),
            )
            .await;
            last_ping = Instant::now();
        }
        let (_, mine) = sim
            .call(
                "GET /deliveries/partners/me/deliveries",
                Method::GET,
                "/deliveries/partners/me/deliveries",
                &token,
                None,
            )
            .await;
        for d in mine["data"]["items"].as_array().into_iter().flatten() {
            let id = d["order_id"].as_str().unwrap_or_default().to_owned();
            let path = |a: &str| format!("/deliveries/{id}/{a}");
            match d["status"].as_str().unwrap_or_default() {
                "assigned" | "at_store" => {
                    sim.call(
                        "POST /deliveries/{id}/{action}",
                        Method::POST,
                        &path("pickup"),
                        &token,
                        Some(json!({})),
                    )
                    .await;
                }
                "picked_up" => {
                    sim.call(
                        "POST /deliveries/{id}/{action}",
                        Method::POST,
                        &path("start"),
                        &token,
                        Some(json!({})),
                    )
                    .await;
                }
                "out_for_delivery" | "at_door" => {
                    let code = sim.codes.lock().ok().and_then(|c| c.get(&id).cloned());
                    if let Some(code) = code {
                        let (status, _) = sim
                            .call(
                                "POST /deliveries/{id}/{action}",
                                Method::POST,
                                &path("deliver"),
                                &token,
                                Some(json!({"otp": code})),
                            )
                            .await;
                        if status == 200 {
                            sim.count(|c| c.delivered += 1);
                            if let Ok(mut codes) = sim.codes.lock() {
                                codes.remove(&id);
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = tokio::time::sleep(Duration::from_millis(400)) => {}
        }
    }
    sim.call(
        "POST /deliveries/partners/me/shift",
        Method::POST,
        "/deliveries/partners/me/shift",
        &token,
        Some(json!({"on": false})),
    )
    .await;
}

/// What the shopper tasks need of the options.
struct OptsView {
    /// This run (idempotency keys are unique per run; the choices depend on the seed only).
    run: i64,
    cancel_rate: f64,
    cod_share: f64,
    payment_failure_rate: f64,
}

/// The demand multiplier at `x` (0..1 of the run).
fn demand(curve: Curve, x: f64) -> f64 {
    match curve {
        Curve::Flat => 1.0,
        Curve::Peaks => {
            let bump = |c: f64, h: f64| h * (-((x - c) / 0.08).powi(2)).exp();
            0.6 + bump(0.3, 1.6) + bump(0.75, 1.9)
        }
    }
}

#[derive(Debug, Serialize)]
struct EndpointStats {
    endpoint: String,
    requests: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

#[derive(Debug, Serialize)]
struct Invariants {
    /// Stores whose stock numbers match their ledger.
    stores_reconciled: usize,
    stores_checked: usize,
    /// Stock lines touched by the run with a negative number (oversold).
    negative_stock_lines: usize,
    stock_lines_checked: usize,
    /// Orders whose payment kept what the order says (nothing for failed or cancelled ones).
    payments_matching: usize,
    payments_checked: usize,
    /// The orders whose payment did not match (the first ten), for support to look into.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    payment_mismatches: Vec<PaymentMismatch>,
    /// Orders whose accepted cancellation was honoured (they end cancelled — or failed, when
    /// a declined payment got there first —, nothing kept).
    cancellations_honoured: usize,
    cancellations_accepted: usize,
    /// Why a check could not run (no admin access), if so.
    skipped: Option<String>,
}

/// An order whose payment kept something other than what the order says.
#[derive(Debug, Serialize)]
struct PaymentMismatch {
    order_id: String,
    order_status: String,
    payment_status: String,
    expected_paise: i64,
    kept_paise: i64,
}

impl std::fmt::Display for PaymentMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "order {} ({}) kept {} paise, expected {} (payment {})",
            self.order_id, self.order_status, self.kept_paise, self.expected_paise, self.payment_status
        )
    }
}

impl Invariants {
    /// No oversell: every store checked reconciles and no touched line is negative.
    fn stock_ok(&self) -> bool {
        self.stores_reconciled == self.stores_checked && self.negative_stock_lines == 0
    }

    fn payments_ok(&self) -> bool {
        self.payments_matching == self.payments_checked
    }

    fn cancellations_ok(&self) -> bool {
        self.cancellations_honoured == self.cancellations_accepted
    }
}

#[derive(Debug, Serialize)]
struct Report {
    seed: u64,
    seconds: f64,
    requests: u64,
    requests_per_s: f64,
    orders_per_s: f64,
    outcomes: Outcomes,
    endpoints: Vec<EndpointStats>,
    errors: BTreeMap<String, u64>,
    invariants: Invariants,
}

/// Nearest-rank percentile, to a hundredth.
fn pct(sorted: &[f64], q: f64) -> f64 {
    percentile(sorted, q).map_or(0.0, |v| (v * 100.0).round() / 100.0)
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
    let base = o
        .url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.port(Service::Gateway)))
        .trim_end_matches('/')
        .to_owned();
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
        riders.spawn(ride(sim.clone(), p, at, stop_riders.clone()));
    }

    let view = Arc::new(OptsView {
        run: nakku_core::id::now_ms(),
        cancel_rate: o.cancel_rate,
        cod_share: o.cod_share,
        payment_failure_rate: o.payment_failure_rate,
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
    // Let riders finish what is in hand.
    let settle_until = Instant::now() + o.settle;
    while Instant::now() < settle_until && sim.codes.lock().map(|c| !c.is_empty()).unwrap_or(false) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop_riders.cancel();
    while riders.join_next().await.is_some() {}
    pb.finish_and_clear();

    let invariants = check(&sim, settings).await;
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
    if report.outcomes.stuck > 0 {
        wrong.push(format!("{} orders stuck", report.outcomes.stuck));
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

/// How long the invariant check waits for payments to catch up with their orders.
const PAYMENT_LAG: Duration = Duration::from_secs(15);

/// Saga outcomes of every order, then the invariants.
async fn check(sim: &Arc<Sim>, settings: &Settings) -> Invariants {
    let orders = sim.orders.lock().map(|o| o.clone()).unwrap_or_default();
    let accepted = sim.cancel_accepted.lock().map(|c| c.clone()).unwrap_or_default();
    let mut honoured = 0;
    let (mut payments_matching, mut payments_checked) = (0, 0);
    let mut payment_mismatches = Vec::new();
    let payments_deadline = Instant::now() + PAYMENT_LAG;
    for (id, token) in &orders {
        let (_, ov) = sim
            .call("GET /orders/{id}", Method::GET, &format!("/orders/{id}"), token, None)
            .await;
        let order = &ov["data"];
        let status = order["status"].as_str().unwrap_or_default();
        let done = order["saga"]["state"] == "done";
        sim.count(|c| match (done, status) {
            (false, _) => c.stuck += 1,
            (true, "cancelled") => c.cancelled += 1,
            (true, "failed") => c.compensated += 1,
            (true, _) => c.confirmed += 1,
        });
        // A cancellation is honoured when the order never goes on: it ends cancelled, or
        // failed when its payment was declined before the cancellation took (the payment
        // check below makes sure nothing was kept either way).
        if accepted.contains(id) && (status == "cancelled" || status == "failed") {
            honoured += 1;
        }
        if !done {
            continue;
        }
        let total = order["total_paise"].as_i64().unwrap_or(-1);
        let cod = order["payment"]["kind"] == "cod";
        let expected = match status {
            "failed" | "cancelled" => 0,
            "delivered" => total,
            _ if cod => 0,
            _ => total,
        };
        payments_checked += 1;
        // The payment service follows the order through events (cash taken at the door is
        // recorded when `delivery.completed` reaches it), so it may lag the order by a
        // moment: a mismatch is looked at again until the deadline before it counts.
        loop {
            let (ps, pv) = sim
                .call(
                    "GET /payments/orders/{id}",
                    Method::GET,
                    &format!("/payments/orders/{id}"),
                    token,
                    None,
                )
                .await;
            let kept =
                pv["data"]["captured_paise"].as_i64().unwrap_or(0) - pv["data"]["refunded_paise"].as_i64().unwrap_or(0);
            // A failed order may have no payment at all (declined before one was made).
            if (ps == 404 && expected == 0) || kept == expected {
                payments_matching += 1;
                break;
            }
            if Instant::now() >= payments_deadline {
                if payment_mismatches.len() < 10 {
                    payment_mismatches.push(PaymentMismatch {
                        order_id: id.clone(),
                        order_status: status.to_owned(),
                        payment_status: pv["data"]["status"].as_str().unwrap_or("none").to_owned(),
                        expected_paise: expected,
                        kept_paise: kept,
                    });
                }
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
    let touched: Vec<(String, String)> = sim
        .touched
        .lock()
        .map(|t| t.iter().cloned().collect())
        .unwrap_or_default();
    let admin = match super::users::seeded_admin_token(settings).await {
        Ok(t) => t,
        Err(e) => {
            return Invariants {
                stores_reconciled: 0,
                stores_checked: 0,
                negative_stock_lines: 0,
                stock_lines_checked: 0,
                payments_matching,
                payments_checked,
                payment_mismatches,
                cancellations_honoured: honoured,
                cancellations_accepted: accepted.len(),
                skipped: Some(format!(
                    "stock checks need admin access to this deployment's databases: {e}"
                )),
            };
        }
    };
    let stores: HashSet<&String> = touched.iter().map(|(s, _)| s).collect();
    let (mut stores_reconciled, mut negative, mut lines) = (0, 0, 0);
    for store in &stores {
        let (_, r) = sim
            .call(
                "GET /inventory/stores/{store}/reconcile",
                Method::GET,
                &format!("/inventory/stores/{store}/reconcile"),
                &admin,
                None,
            )
            .await;
        if r["data"]["reconciled"] == json!(true) {
            stores_reconciled += 1;
        }
        let skus: Vec<&String> = touched.iter().filter(|(s, _)| s == *store).map(|(_, k)| k).collect();
        for chunk in skus.chunks(100) {
            let list = chunk.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(",");
            let (_, levels) = sim
                .call(
                    "GET /inventory/stores/{store}/stock",
                    Method::GET,
                    &format!("/inventory/stores/{store}/stock?skus={list}"),
                    "",
                    None,
                )
                .await;
            for l in levels["data"]["items"].as_array().into_iter().flatten() {
                lines += 1;
                let n = |k: &str| l[k].as_i64().unwrap_or(0);
                if n("on_hand") < 0 || n("reserved") < 0 || n("available") < 0 || n("reserved") > n("on_hand") {
                    negative += 1;
                }
            }
        }
    }
    Invariants {
        stores_reconciled,
        stores_checked: stores.len(),
        negative_stock_lines: negative,
        stock_lines_checked: lines,
        payments_matching,
        payments_checked,
        payment_mismatches,
        cancellations_honoured: honoured,
        cancellations_accepted: accepted.len(),
        skipped: None,
    }
}

async fn summarise(sim: &Arc<Sim>, seed: u64, secs: f64, invariants: Invariants) -> Report {
    let (requests, errors, mut endpoints) = match sim.stats.lock() {
        Ok(s) => (
            s.requests,
            s.errors.clone(),
            s.latencies
                .iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.sort_by(f64::total_cmp);
                    EndpointStats {
                        endpoint: (*k).to_owned(),
                        requests: v.len(),
                        p50_ms: pct(&v, 0.5),
                        p90_ms: pct(&v, 0.9),
                        p99_ms: pct(&v, 0.99),
                        max_ms: pct(&v, 1.0),
                    }
                })
                .collect::<Vec<_>>(),
        ),
        Err(_) => (0, BTreeMap::new(), Vec::new()),
    };
    endpoints.sort_by_key(|e| std::cmp::Reverse(e.requests));
    let outcomes = sim.outcomes.lock().map(|o| o.clone()).unwrap_or_default();
    Report {
        seed,
        seconds: (secs * 10.0).round() / 10.0,
        requests,
        requests_per_s: (requests as f64 / secs.max(0.001)).round(),
        orders_per_s: (outcomes.placed as f64 / secs.max(0.001) * 100.0).round() / 100.0,
        outcomes,
        endpoints,
        errors,
        invariants,
    }
}

fn print_report(r: &Report) {
    println!(
        "{} requests in {:.1} s ({:.0}/s), {} orders placed ({:.2}/s), seed {}",
        r.requests, r.seconds, r.requests_per_s, r.outcomes.placed, r.orders_per_s, r.seed
    );
    let mut t = crate::output::table(&["endpoint", "requests", "p50 ms", "p90 ms", "p99 ms", "max ms"]);
    for e in &r.endpoints {
        t.add_row(vec![
            e.endpoint.clone(),
            e.requests.to_string(),
            format!("{:.1}", e.p50_ms),
            format!("{:.1}", e.p90_ms),
            format!("{:.1}", e.p99_ms),
            format!("{:.1}", e.max_ms),
        ]);
    }
    println!("{t}");
    let o = &r.outcomes;
    let mut t = crate::output::table(&["saga outcome", "orders"]);
    for (k, v) in [
        ("placed", o.placed),
        ("confirmed (completed)", o.confirmed),
        ("  of which delivered in the run", o.delivered),
        ("cancelled by the shopper", o.cancelled),
        ("failed and compensated", o.compensated),
        ("stuck (saga not finished)", o.stuck),
        ("refused before an order was made", o.refused),
    ] {
        t.add_row(vec![k.to_owned(), v.to_string()]);
    }
    println!("{t}");
    for (why, n) in &o.refused_because {
        println!("  refused, {why}: {n}");
    }
    for (why, n) in &o.cancel_refused {
        println!("  cancellation refused, {why}: {n}");
    }
    if r.errors.is_empty() {
        println!("errors: none (no 5xx, 429 or transport failure)");
    } else {
        let mut t = crate::output::table(&["error", "count"]);
        for (k, v) in &r.errors {
            t.add_row(vec![k.clone(), v.to_string()]);
        }
        println!("{t}");
    }
    let i = &r.invariants;
    let ok = |good: bool| if good { "ok" } else { "VIOLATED" };
    let mut t = crate::output::table(&["invariant", "result"]);
    match &i.skipped {
        Some(why) => t.add_row(vec!["stock (no oversell)".to_owned(), format!("not checked: {why}")]),
        None => t.add_row(vec![
            "stock (no oversell)".to_owned(),
            format!(
                "{}: {}/{} stores reconcile with their ledger, {} of {} lines negative",
                ok(i.stock_ok()),
                i.stores_reconciled,
                i.stores_checked,
                i.negative_stock_lines,
                i.stock_lines_checked
            ),
        ]),
    };
    t.add_row(vec![
        "payments reconcile".to_owned(),
        format!(
            "{}: {}/{} orders' payments keep what the order says",
            ok(i.payments_ok()),
            i.payments_matching,
            i.payments_checked
        ),
    ]);
    for m in &i.payment_mismatches {
        t.add_row(vec!["  payment mismatch".to_owned(), m.to_string()]);
    }
    t.add_row(vec![
        "accepted cancellations honoured".to_owned(),
        format!(
            "{}: {}/{} end cancelled (or failed, never confirmed)",
            ok(i.cancellations_ok()),
            i.cancellations_honoured,
            i.cancellations_accepted
        ),
    ]);
    println!("{t}");
}
