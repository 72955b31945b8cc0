//! `nakku bench live`: what idle GraphQL subscriptions cost a running deployment. A seeded
//! shopper places one order (cash on delivery; with no rider on shift it stays confirmed,
//! so nothing changes), then `--subscriptions` subscriptions to it are opened over
//! WebSockets through the gateway (`--per-connection` on each, `graphql-transport-ws`),
//! each counted once its first update arrived. Reported: the time to open them, and with
//! `--pid` (the gateway's process, or `nakku up`'s) its resident memory before, with them
//! open, and its CPU while they sit idle for `--hold`. The order is cancelled at the end.
//! Each subscription takes a token of the shopper's read limit: run the deployment with
//! `NAKKU_RATE_LIMIT_READ_PER_MINUTE=0` for more than the limit allows.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use nakku_core::config::Settings;
use serde::Serialize;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use super::seed::{people, DEMO_PASSWORD};

#[derive(Debug, Args)]
pub struct Opts {
    /// The gateway (default: this machine's gateway port)
    #[arg(long)]
    url: Option<String>,
    /// Subscriptions to hold open
    #[arg(long, default_value_t = 1000)]
    subscriptions: usize,
    /// Subscriptions per WebSocket connection
    #[arg(long, default_value_t = 1)]
    per_connection: usize,
    /// How long to hold them idle (CPU is measured over it)
    #[arg(long, value_parser = super::simulate::parse_duration, default_value = "10s")]
    hold: Duration,
    /// The process whose memory and CPU to report (the gateway's, or `nakku up`'s)
    #[arg(long)]
    pid: Option<u32>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    subscriptions: usize,
    connections: usize,
    open_seconds: f64,
    /// Resident memory of `--pid`, MiB: before, with every subscription open, and after
    /// they were closed.
    rss_before_mib: Option<f64>,
    rss_open_mib: Option<f64>,
    rss_after_mib: Option<f64>,
    /// (open − before) ÷ subscriptions, KiB.
    kib_per_subscription: Option<f64>,
    /// CPU of `--pid` while they sat idle, as a share of one core.
    idle_cpu_share: Option<f64>,
    /// Reads of the order's view a second while they sat idle, and the feeds' asks those
    /// reads answered (`nakku_gathered_*_total{what="orders"}` on the gateway's `/metrics`:
    /// found when the order service runs in the gateway's process, as with `nakku up`).
    view_reads_per_s: Option<f64>,
    view_asks_per_s: Option<f64>,
}

/// The order feeds' gathered reads and asks so far, from `/metrics` at `base`.
async fn gathered(http: &reqwest::Client, base: &str) -> Option<(f64, f64)> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let value = |name: &str| -> Option<f64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(name) && l.contains("what=\"orders\""))?;
        line.rsplit_once(' ')?.1.parse().ok()
    };
    Some((
        value("nakku_gathered_reads_total")?,
        value("nakku_gathered_keys_total")?,
    ))
}

/// A process's resident memory (MiB) and CPU time so far (clock ticks), from `/proc`.
fn sample(pid: u32) -> Option<(f64, u64)> {
    let (_, rss) = super::bench::resident_mib_of(&pid.to_string())?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some((rss, ticks))
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text message as JSON (pings skipped); an error once the socket closes.
async fn next(ws: &mut Ws) -> anyhow::Result<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(60), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Ok(serde_json::from_str(&t)?),
            Ok(Some(Ok(Message::Close(f)))) => anyhow::bail!("the gateway closed the connection: {f:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("the connection ended"),
            Err(_) => anyhow::bail!("nothing arrived in 60 s"),
        }
    }
}

/// One connection with `n` subscriptions to `order`, each past its first update.
async fn connect(base: &str, token: &str, order: &str, n: usize) -> anyhow::Result<Ws> {
    let url = format!("{}/api/graphql", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request()?;
    req.headers_mut()
        .insert("sec-websocket-protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .context("opening a WebSocket to /api/graphql")?;
    let init = json!({"type": "connection_init", "payload": {"Authorization": format!("Bearer {token}")}});
    ws.send(Message::Text(init.to_string().into())).await?;
    let ack = next(&mut ws).await?;
    anyhow::ensure!(ack["type"] == "connection_ack", "not acknowledged: {ack}");
    for i in 0..n {
        let sub = json!({"id": i.to_string(), "type": "subscribe", "payload": {
            "query": "subscription($id: String!) { orderUpdates(id: $id) { status } }", "variables": {"id": order}}});
        ws.send(Message::Text(sub.to_string().into())).await?;
    }
    for _ in 0..n {
        let m = next(&mut ws).await?;
        anyhow::ensure!(
            m["type"] == "next" && m["payload"]["errors"].is_null(),
            "a subscription was refused: {m}"
        );
    }
    Ok(ws)
}

/// Signs in the first seeded shopper and places an order of one popular product: the
/// token and the order's id.
async fn order(http: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let p = people(1)
        .into_iter()
        .find(|p| !p.partner)
        .context("no seeded shopper")?;
    let api = |path: &str| format!("{base}/api/v1{path}");
    let login: Value = http
        .post(api("/auth/login"))
        .json(&json!({"email": p.email, "password": DEMO_PASSWORD}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["data"]["access_token"]
        .as_str()
        .with_context(|| format!("signing in {} (is the deployment seeded?): {login}", p.email))?
        .to_owned();
    let get = |path: String| {
        let rb = http.get(api(&path)).bearer_auth(&token);
        async move { anyhow::Ok(rb.send().await?.json::<Value>().await?) }
    };
    let address = get("/users/me/addresses".into()).await?["data"]["items"][0]["id"]
        .as_str()
        .context("the shopper has no address")?
        .to_owned();
    let popular = get(format!("/products/popular?store={}&limit=20", p.store)).await?;
    let skus: Vec<String> = popular["data"]["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h["sku"].as_str().map(str::to_owned))
        .collect();
    let mut added = false;
    for sku in &skus {
        let r = http
            .post(api("/cart/items"))
            .bearer_auth(&token)
            .json(&json!({"sku": sku, "quantity": 1, "store": p.store}))
            .send()
            .await?;
        if r.status().is_success() {
            added = true;
            break;
        }
    }
    anyhow::ensure!(added, "nothing could be added to the cart at {}", p.store);
    let placed: Value = http
        .post(api("/orders"))
        .bearer_auth(&token)
        .header("idempotency-key", format!("bench-live-{}", nakku_core::id::now_ms()))
        .json(&json!({"address_id": address, "payment_method": "cod", "store": p.store}))
        .send()
        .await?
        .json()
        .await?;
    let id = placed["data"]["id"]
        .as_str()
        .with_context(|| format!("placing the order: {placed}"))?
        .to_owned();
    Ok((token, id))
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.subscriptions >= 1 && (1..=1000).contains(&o.per_connection),
        "--subscriptions must be at least 1 and --per-connection from 1 to 1000"
    );
    let base = super::gateway_url(settings, o.url.as_deref());
    let http = nakku_core::tls::ExtraRoots::from_settings(settings)?
        .http()?
        .timeout(Duration::from_secs(30))
        .build()?;
    let (token, id) = order(&http, &base).await?;
    let before = o.pid.and_then(sample);
    let started = Instant::now();
    let connections = o.subscriptions.div_ceil(o.per_connection);
    let mut sockets = Vec::with_capacity(connections);
    let mut left = o.subscriptions;
    // Opened 50 at a time: a burst of a thousand handshakes is not what is measured.
    while left > 0 {
        let batch: Vec<usize> = (0..50)
            .map_while(|_| {
                let n = left.min(o.per_connection);
                left -= n;
                (n > 0).then_some(n)
            })
            .collect();
        let opened = futures_util::future::join_all(batch.iter().map(|&n| connect(&base, &token, &id, n))).await;
        for s in opened {
            sockets.push(s?);
        }
    }
    let open_seconds = started.elapsed().as_secs_f64();
    // Settle, then hold them idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let open = o.pid.and_then(sample);
    let reads_open = gathered(&http, &base).await;
    let held_from = Instant::now();
    tokio::time::sleep(o.hold).await;
    let held = o.pid.and_then(sample);
    let reads_held = gathered(&http, &base).await;
    let held_for = held_from.elapsed().as_secs_f64().max(0.001);
    let rate = |f: fn((f64, f64)) -> f64| {
        reads_open
            .zip(reads_held)
            .map(|(a, b)| ((f(b) - f(a)) / held_for * 10.0).round() / 10.0)
    };
    for mut s in sockets {
        let _ = s.close(None).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = o.pid.and_then(sample);
    let cancel = http
        .post(format!("{base}/api/v1/orders/{id}/cancel"))
        .bearer_auth(&token)
        .json(&json!({"reason": "bench live: done"}))
        .send()
        .await;
    if let Ok(r) = cancel {
        if !r.status().is_success() {
            eprintln!("the bench's order {id} was not cancelled: {}", r.status());
        }
    }
    // /proc counts CPU in clock ticks: 100 a second on Linux (sysconf(_SC_CLK_TCK)).
    let ticks_per_s = 100.0;
    let report = Report {
        subscriptions: o.subscriptions,
        connections,
        open_seconds: (open_seconds * 100.0).round() / 100.0,
        rss_before_mib: before.map(|s| s.0),
        rss_open_mib: open.map(|s| s.0),
        rss_after_mib: after.map(|s| s.0),
        kib_per_subscription: before
            .zip(open)
            .map(|(b, a)| ((a.0 - b.0) * 1024.0 / o.subscriptions as f64 * 10.0).round() / 10.0),
        idle_cpu_share: open.zip(held).map(|(a, b)| {
            let share = (b.1.saturating_sub(a.1)) as f64 / ticks_per_s / o.hold.as_secs_f64().max(0.001);
            (share * 1000.0).round() / 1000.0
        }),
        view_reads_per_s: rate(|(reads, _)| reads),
        view_asks_per_s: rate(|(_, asks)| asks),
    };
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{} subscriptions on {} connections opened in {:.2} s",
        report.subscriptions, report.connections, report.open_seconds
    );
    let mib = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.1} MiB"));
    match o.pid {
        Some(pid) => {
            println!(
                "process {pid}: {} before, {} with them open, {} after closing; {} KiB a subscription; {} of a core while idle",
                mib(report.rss_before_mib),
                mib(report.rss_open_mib),
                mib(report.rss_after_mib),
                report.kib_per_subscription.map_or("-".to_owned(), |v| format!("{v:.1}")),
                report.idle_cpu_share.map_or("-".to_owned(), |v| format!("{:.1} %", v * 100.0)),
            );
        }
        None => println!("give --pid (the gateway's process) for its memory and CPU"),
    }
    match (report.view_reads_per_s, report.view_asks_per_s) {
        (Some(reads), Some(asks)) => {
            println!("while idle: {reads:.1} reads of the order's view a second, answering {asks:.1} asks of its feeds")
        }
        _ => println!("the order service's gathered reads are not on {base}/metrics (it runs in another process)"),
    }
    Ok(())
}
