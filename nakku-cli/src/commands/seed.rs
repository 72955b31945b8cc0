//! `nakku seed [--scale N]`: loads the demo data of `fixtures/` (compiled in) through the
//! services: it starts every service in this process on free ports, with relays and
//! consumers, and goes through the gateway's API as an admin would, so every write emits
//! its events and the replicas (location's stores, the cart's prices and stock, the
//! catalogue's stock) fill as in production.
//!
//! Idempotent: what exists is left as it is (stores, zones, categories, products by sku —
//! the import reports them unchanged —, stock a store already tracks, accounts, addresses,
//! partner profiles), so a second run changes nothing. `--scale N` multiplies the shoppers,
//! the products (copies of each with `-S2`…`-SN` skus) and the stock.
//!
//! Stop `nakku serve` on the same data first: seeding runs its own relays on the databases.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use nakku_core::auth::Role;
use nakku_core::config::Settings;
use nakku_core::service::Service;
use nakku_core::RequestCtx;
use nakku_server::{Application, CancellationToken};
use reqwest::Method;
use serde_json::{json, Value};

pub const STORES: &str = include_str!("../../../fixtures/stores.csv");
pub const ZONES: &str = include_str!("../../../fixtures/zones.geojson");
pub const CATEGORIES: &str = include_str!("../../../fixtures/categories.csv");
pub const PRODUCTS: &str = include_str!("../../../fixtures/products.csv");
pub const PEOPLE: &str = include_str!("../../../fixtures/people.csv");

/// The password of every seeded shopper and delivery partner (demo data only).
pub const DEMO_PASSWORD: &str = "nakku-demo-123";
pub const ADMIN_EMAIL: &str = "admin@nakku.in";

#[derive(Debug, Args, Clone)]
pub struct Opts {
    /// Multiply shoppers, products and stock by N (1-50), for load tests
    #[arg(long, default_value_t = 1)]
    pub scale: u32,
    /// Only the first N stores of the fixtures (their zones, stock, shoppers and partners)
    #[arg(long, value_name = "N")]
    pub stores: Option<usize>,
    /// Requests in flight at once
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
}

/// What a run created (zero everywhere on a second run).
#[derive(Debug, Default)]
pub struct Created {
    pub stores: usize,
    pub zones: usize,
    pub categories: usize,
    pub products: usize,
    pub stock_lines: usize,
    pub shoppers: usize,
    pub partners: usize,
    pub addresses: usize,
}

/// A CSV fixture as rows of (header → value); the fixtures have no quoted commas.
pub(crate) fn rows(text: &str) -> Vec<std::collections::HashMap<String, String>> {
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            header
                .iter()
                .map(|h| (*h).to_owned())
                .zip(l.split(',').map(str::to_owned))
                .collect()
        })
        .collect()
}

/// A person of the fixtures, at scale copy `k` (k = 1 is the fixture itself).
#[derive(Debug, Clone)]
pub struct Person {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub store: String,
    pub partner: bool,
}

/// Shoppers ×scale and delivery partners, as seeded.
pub fn people(scale: u32) -> Vec<Person> {
    let mut out = Vec::new();
    for k in 1..=scale.max(1) {
        for r in rows(PEOPLE) {
            let partner = r["role"] == "delivery_partner";
            if partner && k > 1 {
                continue;
            }
            let (email, phone) = if k == 1 {
                (r["email"].clone(), r["phone"].clone())
            } else {
                let (local, domain) = r["email"].split_once('@').unwrap_or((&r["email"], "example.in"));
                // Another valid Indian mobile number per copy: the last digits shifted.
                let n: u64 = r["phone"].parse().unwrap_or(9_000_000_000);
                (
                    format!("{local}.s{k}@{domain}"),
                    format!("{}", 6_000_000_000 + (n + u64::from(k) * 7_919) % 3_999_999_999),
                )
            };
            out.push(Person {
                name: r["name"].clone(),
                email,
                phone,
                store: r["store"].clone(),
                partner,
            });
        }
    }
    out
}

/// The catalogue ×scale as the import's CSV, and every sku.
fn catalogue(scale: u32) -> (String, Vec<String>) {
    let mut lines = PRODUCTS.lines();
    let header = lines.next().unwrap_or_default().to_owned();
    let body: Vec<&str> = lines.filter(|l| !l.trim().is_empty()).collect();
    let mut csv = header + "\n";
    let mut skus = Vec::new();
    for k in 1..=scale.max(1) {
        for l in &body {
            let (sku, rest) = l.split_once(',').unwrap_or((l, ""));
            let sku = if k == 1 { sku.to_owned() } else { format!("{sku}-S{k}") };
            csv.push_str(&format!("{sku},{rest}\n"));
            skus.push(sku);
        }
    }
    (csv, skus)
}

/// A stable quantity for a store and sku: about one in twenty skus is not stocked.
fn quantity(store: &str, sku: &str, scale: u32) -> i64 {
    let h = nakku_core::id::stable_hash(format!("{store}/{sku}").as_bytes());
    let n = (h % 1000) as i64;
    if n < 50 {
        0
    } else {
        (10 + n % 110) * i64::from(scale.max(1))
    }
}

/// The gateway of an in-process deployment and an admin token for it.
struct Api {
    http: reqwest::Client,
    base: String,
    admin: String,
}

impl Api {
    /// Status and body (data or the error envelope).
    async fn call(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}/api/v1{path}", self.base));
        if !token.is_empty() {
            req = req.bearer_auth(token);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await.with_context(|| format!("{path}: no answer"))?;
        let status = r.status().as_u16();
        let v: Value = r.json().await.with_context(|| format!("{path}: not JSON"))?;
        Ok((status, v))
    }

    /// Like [`Api::ok`], for a call that depends on what another service learns through the
    /// bus (a partner's home store is known to delivery once `store.*` events reach it): a
    /// 422 is asked again for up to a minute before it counts.
    async fn ok_once_known(&self, method: Method, path: &str, token: &str, body: Value) -> anyhow::Result<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, v) = self.call(method.clone(), path, token, Some(body.clone())).await?;
            if status < 300 {
                return Ok(v["data"].clone());
            }
            anyhow::ensure!(
                status == 422 && std::time::Instant::now() < deadline,
                "{path}: {status} {v}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// The data of a successful answer; any other answer is an error naming the path.
    async fn ok(&self, method: Method, path: &str, token: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, v) = self.call(method, path, token, body).await?;
        anyhow::ensure!(status < 300, "{path}: {status} {v}");
        Ok(v["data"].clone())
    }
}

fn bar(len: usize, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len as u64);
    pb.set_style(
        ProgressStyle::with_template("{prefix:>12.bold} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb.set_prefix(what.to_owned());
    pb
}

/// Runs `f` on every item, `limit` at once, advancing `pb`; the first error stops the run.
async fn each<T, F, Fut>(items: Vec<T>, limit: usize, pb: &ProgressBar, f: F) -> anyhow::Result<usize>
where
    T: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>> + Send + 'static,
{
    let mut set = tokio::task::JoinSet::new();
    let mut created = 0;
    for item in items {
        if set.len() >= limit.max(1) {
            if let Some(r) = set.join_next().await {
                created += usize::from(r??);
                pb.inc(1);
            }
        }
        set.spawn(f(item));
    }
    while let Some(r) = set.join_next().await {
        created += usize::from(r??);
        pb.inc(1);
    }
    pb.finish();
    Ok(created)
}

async fn wait(secs: u64, what: &str, mut ok: impl AsyncFnMut() -> anyhow::Result<bool>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ok().await? {
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// The admin account seeding acts as: found, or created with a random password that is
/// printed once.
async fn admin(settings: &Settings) -> anyhow::Result<String> {
    let (db, svc, _) = super::users::user_service(settings).await?;
    let ctx = RequestCtx::internal("seed");
    let user = match svc.find_by_email(ADMIN_EMAIL).await {
        Ok(u) => u,
        Err(nakku_core::CoreError::NotFound(_)) => {
            let password = format!("adm-{}", nakku_core::id::new_id());
            let input = nakku_core::user::RegisterInput {
                email: Some(ADMIN_EMAIL.to_owned()),
                phone: Some("9000000001".to_owned()),
                password: Some(password.clone()),
                name: Some("Nakku Admin".to_owned()),
            };
            let made = svc.register(&ctx, input).await?;
            println!("created the admin account {ADMIN_EMAIL} with password {password} (shown once; change it)");
            made.user
        }
        Err(e) => return Err(e.into()),
    };
    if user.role != Role::Admin {
        svc.assign_role(&ctx, &user.id, Role::Admin).await?;
    }
    db.close().await;
    // Seeding can outlast the deployment's access tokens (`--scale`, a slow disk, tokens of
    // a minute): its own token, never shown, lives as long as a seeding may take.
    let keys = nakku_core::auth::JwtKeys::new(&nakku_server::resolve_jwt_secret(settings)?, SEED_TOKEN_TTL_SECS);
    Ok(keys.issue(&user.id, Role::Admin)?.0)
}

/// The life of the token seeding acts with.
const SEED_TOKEN_TTL_SECS: u64 = 6 * 3600;

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    let started = Instant::now();
    let c = seed(settings, &o).await?;
    let mut t = crate::output::table(&["created", "count"]);
    for (what, n) in [
        ("stores", c.stores),
        ("delivery zones", c.zones),
        ("categories", c.categories),
        ("products", c.products),
        ("stock lines", c.stock_lines),
        ("shoppers", c.shoppers),
        ("addresses", c.addresses),
        ("delivery partners", c.partners),
    ] {
        t.add_row(vec![what.to_owned(), n.to_string()]);
    }
    println!("{t}");
    println!(
        "seeded in {:.1} s (scale {}); shoppers and partners sign in with password {DEMO_PASSWORD}",
        started.elapsed().as_secs_f64(),
        o.scale
    );
    Ok(())
}

/// Migrates, starts every service on free ports, seeds through the gateway, stops.
pub async fn seed(settings: &Settings, o: &Opts) -> anyhow::Result<Created> {
    anyhow::ensure!((1..=50).contains(&o.scale), "--scale must be from 1 to 50");
    super::migrate::apply(settings, nakku_core::db::migrate::migrated_services()).await?;
    let mut s = settings.clone();
    for port in s.ports.values_mut() {
        *port = 0;
    }
    s.host = std::net::IpAddr::from([127, 0, 0, 1]);
    // The seeder talks to its own gateway on loopback: plain HTTP.
    s.tls_cert_file = None;
    s.tls_key_file = None;
    s.rate_limit_auth_per_minute = 0;
    s.rate_limit_write_per_minute = 0;
    s.rate_limit_read_per_minute = 0;
    // Demo accounts: hashed at the lowest cost so thousands can be made quickly.
    s.bcrypt_cost = 4;
    let token = admin(&s).await?;
    let app = Application::build(&s, &[]).await?;
    let base = format!("http://{}", app.addr(Service::Gateway).context("gateway")?);
    let stop = CancellationToken::new();
    let server = tokio::spawn(app.run_until_stopped(stop.clone()));
    let api = Arc::new(Api {
        http: reqwest::Client::builder().timeout(Duration::from_secs(60)).build()?,
        base,
        admin: token,
    });
    // Thousands of request logs would bury the progress bars: warnings only meanwhile.
    nakku_server::telemetry::set_filter("warn");
    let result = load(&api, o).await;
    stop.cancel();
    server.await.ok();
    nakku_server::telemetry::set_filter(&settings.log_filter);
    result
}

async fn load(api: &Arc<Api>, o: &Opts) -> anyhow::Result<Created> {
    let mut c = Created::default();
    let admin = api.admin.clone();
    let mut stores = rows(STORES);
    stores.truncate(o.stores.unwrap_or(usize::MAX).max(1));
    let codes: Vec<String> = stores.iter().map(|s| s["code"].clone()).collect();

    let pb = bar(stores.len(), "stores");
    for st in &stores {
        let body = json!({"code": st["code"], "name": st["name"], "city": st["city"],
            "lat": st["lat"].parse::<f64>()?, "lng": st["lng"].parse::<f64>()?,
            "opens_at": st["opens_at"], "closes_at": st["closes_at"]});
        let (status, v) = api.call(Method::POST, "/inventory/stores", &admin, Some(body)).await?;
        anyhow::ensure!(status == 201 || status == 409, "store {}: {status} {v}", st["code"]);
        c.stores += usize::from(status == 201);
        pb.inc(1);
    }
    pb.finish();

    let zones: Value = serde_json::from_str(ZONES)?;
    let features: Vec<Value> = zones["features"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| codes.iter().any(|c| f["properties"]["store"] == json!(c)))
        .cloned()
        .collect();
    let pb = bar(features.len(), "zones");
    for f in features {
        let store = f["properties"]["store"].as_str().unwrap_or_default().to_owned();
        let existing = api
            .ok(Method::GET, &format!("/locations/zones?store={store}"), &admin, None)
            .await?;
        if existing["items"].as_array().is_some_and(|a| !a.is_empty()) {
            pb.inc(1);
            continue;
        }
        let body = json!({"store": store, "name": f["properties"]["name"], "geometry": f["geometry"]});
        // The location service learns of stores from inventory's events.
        wait(60, "the location service to learn of the stores", async || {
            let (status, v) = api
                .call(Method::POST, "/locations/zones", &admin, Some(body.clone()))
                .await?;
            anyhow::ensure!(
                status == 201 || status == 422 || status == 404,
                "zone of {store}: {status} {v}"
            );
            Ok(status == 201)
        })
        .await?;
        c.zones += 1;
        pb.inc(1);
    }
    pb.finish();

    let cats = rows(CATEGORIES);
    let pb = bar(cats.len(), "categories");
    for cat in &cats {
        let (status, _) = api
            .call(Method::GET, &format!("/categories/{}", cat["slug"]), "", None)
            .await?;
        if status == 404 {
            let mut body = json!({"name": cat["name"], "slug": cat["slug"]});
            if !cat["parent"].is_empty() {
                body["parent"] = json!(cat["parent"]);
            }
            api.ok(Method::POST, "/categories", &admin, Some(body)).await?;
            c.categories += 1;
        }
        pb.inc(1);
    }
    pb.finish();

    let (csv, skus) = catalogue(o.scale);
    let pb = bar(1, "products");
    pb.set_message(format!("importing {} rows", skus.len()));
    let r = api
        .http
        .post(format!("{}/api/v1/products/import", api.base))
        .bearer_auth(&admin)
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    let status = r.status();
    let report: Value = r.json().await?;
    anyhow::ensure!(status.is_success(), "product import: {status} {report}");
    c.products = report["data"]["created"].as_u64().unwrap_or(0) as usize;
    pb.inc(1);
    pb.finish();

    // Stock: per store, the skus it does not track yet (asked 200 at a time).
    let mut todo = Vec::new();
    for st in &stores {
        let code = st["code"].clone();
        for chunk in skus.chunks(200) {
            let levels = api
                .ok(
                    Method::GET,
                    &format!("/inventory/stores/{code}/stock?skus={}", chunk.join(",")),
                    &admin,
                    None,
                )
                .await?;
            for l in levels["items"].as_array().into_iter().flatten() {
                if l["tracked"] == json!(false) {
                    let sku = l["sku"].as_str().unwrap_or_default().to_owned();
                    let q = quantity(&code, &sku, o.scale);
                    if q > 0 {
                        todo.push((code.clone(), sku, q));
                    }
                }
            }
        }
    }
    let pb = bar(todo.len(), "stock");
    let a = api.clone();
    c.stock_lines = each(todo, o.concurrency, &pb, move |(store, sku, q)| {
        let a = a.clone();
        async move {
            a.ok(
                Method::POST,
                &format!("/inventory/stores/{store}/stock/{sku}/restock"),
                &a.admin,
                Some(json!({"quantity": q, "note": "seed"})),
            )
            .await?;
            Ok(true)
        }
    })
    .await?;

    let stores_by_code: std::collections::HashMap<String, Home> = stores
        .iter()
        .map(|s| {
            let home = Home {
                lat: s["lat"].parse().unwrap_or(0.0),
                lng: s["lng"].parse().unwrap_or(0.0),
                city: s["city"].clone(),
                pincode: s["pincode"].clone(),
            };
            (s["code"].clone(), home)
        })
        .collect();
    let everyone: Vec<Person> = people(o.scale)
        .into_iter()
        .filter(|p| codes.contains(&p.store))
        .collect();
    let pb = bar(everyone.len(), "accounts");
    let a = api.clone();
    let made = Arc::new(std::sync::Mutex::new((0usize, 0usize, 0usize)));
    let m = made.clone();
    each(everyone, o.concurrency, &pb, move |p| {
        let (a, m) = (a.clone(), m.clone());
        let home = stores_by_code.get(&p.store).cloned();
        async move {
            let (new, addr) = account(&a, &p, home).await?;
            if let Ok(mut g) = m.lock() {
                if new && p.partner {
                    g.1 += 1;
                } else if new {
                    g.0 += 1;
                }
                g.2 += usize::from(addr);
            }
            Ok(new)
        }
    })
    .await?;
    if let Ok(g) = made.lock() {
        (c.shoppers, c.partners, c.addresses) = *g;
    }
    Ok(c)
}

/// Registers (or signs in) one person; a shopper gets an address near their store, a
/// partner the role and a profile at their store. (created the account, added an address)
#[derive(Debug, Clone)]
struct Home {
    lat: f64,
    lng: f64,
    city: String,
    pincode: String,
}

async fn account(api: &Api, p: &Person, home: Option<Home>) -> anyhow::Result<(bool, bool)> {
    let body = json!({"email": p.email, "phone": p.phone, "password": DEMO_PASSWORD, "name": p.name});
    let (status, v) = api.call(Method::POST, "/auth/register", "", Some(body)).await?;
    let created = status == 201;
    let v = if created {
        v
    } else {
        let login = json!({"email": p.email, "password": DEMO_PASSWORD});
        let (status, v) = api.call(Method::POST, "/auth/login", "", Some(login)).await?;
        anyhow::ensure!(
            status == 200,
            "{}: cannot register ({status}) nor sign in: {v}",
            p.email
        );
        v
    };
    let user_id = v["data"]["user"]["id"].as_str().context("user id")?.to_owned();
    let mut token = v["data"]["access_token"].as_str().context("token")?.to_owned();
    if p.partner {
        if v["data"]["user"]["role"] != "delivery_partner" {
            api.ok(
                Method::PATCH,
                &format!("/users/{user_id}/role"),
                &api.admin,
                Some(json!({"role": "delivery_partner"})),
            )
            .await?;
            let login = json!({"email": p.email, "password": DEMO_PASSWORD});
            token = api.ok(Method::POST, "/auth/login", "", Some(login)).await?["access_token"]
                .as_str()
                .context("token")?
                .to_owned();
        }
        let me = api.call(Method::GET, "/deliveries/partners/me", &token, None).await?;
        if me.0 != 200 || me.1["data"]["home_store"].is_null() {
            let vehicle = if nakku_core::id::stable_hash(p.email.as_bytes()).is_multiple_of(3) {
                "bicycle"
            } else {
                "scooter"
            };
            api.ok_once_known(
                Method::PUT,
                "/deliveries/partners/me",
                &token,
                json!({"name": p.name, "vehicle": vehicle, "home_store": p.store}),
            )
            .await?;
        }
        return Ok((created, false));
    }
    let existing = api.ok(Method::GET, "/users/me/addresses", &token, None).await?;
    if existing["items"].as_array().is_some_and(|a| !a.is_empty()) {
        return Ok((created, false));
    }
    let home = home.context("person's store is not in stores.csv")?;
    // Within about a kilometre of the store, inside its zone.
    let h = nakku_core::id::stable_hash(p.email.as_bytes());
    let dlat = ((h % 200) as f64 - 100.0) / 10_000.0;
    let dlng = (((h / 200) % 200) as f64 - 100.0) / 10_000.0;
    let body = json!({"label": "Home", "line1": format!("{} Main Road", 1 + h % 120), "city": home.city,
        "pincode": home.pincode, "lat": home.lat + dlat, "lng": home.lng + dlng});
    let (status, v) = api
        .call(Method::POST, "/users/me/addresses", &token, Some(body))
        .await?;
    anyhow::ensure!(status == 201, "address of {}: {status} {v}", p.email);
    Ok((created, true))
}
