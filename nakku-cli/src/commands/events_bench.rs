//! `nakku bench events`: measures the configured bus in one run: the raw producer and
//! consumer rates of the bus itself, the outbox relay's throughput over it, and the
//! publish→consume latency of events written at a steady rate. Everything runs on fresh
//! topics (`<prefix>-bench-<id>`) and a scratch database, so it never touches real data.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use nakku_core::config::{BusKind, Secret, Settings};
use nakku_core::db::{migrate, Db};
use nakku_core::events::bus::{EventBus, Message};
use nakku_core::events::relay::{backlog, Relay, RelayConfig};
use nakku_core::events::{connect_bus, outbox, Envelope};
use nakku_core::service::Service;
use nakku_core::stats::percentile;
use nakku_core::user::events::UserLoggedIn;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::output::table;

#[derive(Debug, Args)]
pub struct Opts {
    /// Events per throughput measurement
    #[arg(long, default_value_t = 20_000)]
    events: usize,
    /// Messages per publish call in the raw producer run
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Events per second written during the latency run (which lasts about 5 s)
    #[arg(long, default_value_t = 500)]
    rate: u64,
    /// Database for the relay run (default: a scratch SQLite file); e.g. mysql://root@127.0.0.1:3306/nakku_bench
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    bus: String,
    events: usize,
    raw_produce_per_s: f64,
    raw_consume_per_s: f64,
    relay_per_s: f64,
    relay_vs_raw_produce: f64,
    e2e_events: usize,
    e2e_p50_ms: f64,
    e2e_p99_ms: f64,
    e2e_max_ms: f64,
}

fn envelope(i: usize, run: &str) -> Envelope {
    let agg = format!("bench-{}", i % 100);
    // A login-sized event; the agent string numbers it and pads it to a typical size.
    let login = UserLoggedIn {
        user_id: agg.clone(),
        user_agent: Some(format!("bench/{i} {}", "x".repeat(60))),
    };
    Envelope::of(Service::User, &agg, run, &login)
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    anyhow::ensure!(
        o.events > 0 && o.batch > 0 && o.rate > 0,
        "--events, --batch and --rate must be positive"
    );
    let scratch = tempfile::tempdir()?;
    let run_id = nakku_core::id::new_id()[24..].to_owned();
    let mut s = settings.clone();
    s.data_dir = scratch.path().to_path_buf();
    s.event_topic_prefix = format!("{}-bench-{run_id}", settings.event_topic_prefix);
    let bus = connect_bus(&s).await?;
    let kind = match s.event_bus {
        BusKind::Embedded => "embedded".to_owned(),
        BusKind::Kafka => format!("kafka ({})", s.kafka_brokers),
    };
    eprintln!("benchmarking the {kind} bus with {} events ...", o.events);

    // 1. Raw producer: pre-built messages, published in batches.
    let msgs: Vec<Message> = (0..o.events)
        .map(|i| envelope(i, "raw").to_message(&s.event_topic_prefix, usize::MAX))
        .collect::<Result<_, _>>()?;
    let start = Instant::now();
    for chunk in msgs.chunks(o.batch) {
        bus.publish(chunk).await?;
    }
    let raw_produce = o.events as f64 / start.elapsed().as_secs_f64();

    // 2. Raw consumer: the same messages through a consumer group (timed from the first).
    let topics = vec![format!("{}.user", s.event_topic_prefix)];
    let mut sub = bus.subscribe("bench-raw", &topics).await?;
    let (mut got, mut first) = (0usize, None);
    let deadline = Instant::now() + Duration::from_secs(120);
    while got < o.events && Instant::now() < deadline {
        let batch = sub.poll(1000, Duration::from_secs(1)).await?;
        if !batch.is_empty() && first.is_none() {
            first = Some(Instant::now());
        }
        got += batch.len();
        if let Some(last) = batch.last() {
            sub.commit(last).await?;
        }
    }
    anyhow::ensure!(got >= o.events, "consumed only {got} of {} messages", o.events);
    let raw_consume = got as f64 / first.map(|f| f.elapsed().as_secs_f64()).unwrap_or(f64::NAN);
    drop(sub);

    // 3. Relay: the outbox of a scratch database, drained over the bus.
    let url = match &o.database_url {
        Some(u) => Secret::new(u.clone()),
        None => Secret::new(format!("sqlite://{}/bench.db", scratch.path().display())),
    };
    let db = Db::connect(&url, 4).await?;
    migrate::run(Service::User, &db).await?;
    for chunk in (0..o.events).collect::<Vec<_>>().chunks(1000) {
        let mut tx = db.begin().await?;
        for i in chunk {
            outbox::append(&mut tx, &envelope(*i, "relay")).await?;
        }
        tx.commit().await?;
    }
    let relay_cfg = |prefix: String| RelayConfig {
        batch: s.relay_batch_size,
        poll: Duration::from_millis(s.relay_poll_ms),
        topic_prefix: prefix,
        ..RelayConfig::default()
    };
    let relay = Relay::new(
        "bench",
        db.clone(),
        bus.clone(),
        relay_cfg(format!("{}-relay", s.event_topic_prefix)),
    );
    let start = Instant::now();
    while relay.run_once().await? > 0 {}
    let relay_rate = o.events as f64 / start.elapsed().as_secs_f64();
    relay.release_lease().await;
    anyhow::ensure!(backlog(&db).await?.unpublished == 0, "relay left rows behind");

    // 4. End to end: write at a steady rate while the relay runs; a consumer measures
    //    occurred_at → received.
    let e2e_prefix = format!("{}-e2e", s.event_topic_prefix);
    let n = usize::try_from(o.rate * 5).unwrap_or(2500).min(o.events);
    let latencies = e2e(
        bus.clone(),
        db.clone(),
        relay_cfg(e2e_prefix.clone()),
        &e2e_prefix,
        n,
        o.rate,
    )
    .await?;
    db.close().await;
    if o.database_url.is_some() {
        nakku_core::db::drop_mysql_database(&url).await.ok();
    }

    let pct = |p: f64| percentile(&latencies, p).unwrap_or(0.0);
    let report = Report {
        bus: kind,
        events: o.events,
        raw_produce_per_s: raw_produce.round(),
        raw_consume_per_s: raw_consume.round(),
        relay_per_s: relay_rate.round(),
        relay_vs_raw_produce: (relay_rate / raw_produce * 100.0).round() / 100.0,
        e2e_events: latencies.len(),
        e2e_p50_ms: pct(0.50),
        e2e_p99_ms: pct(0.99),
        e2e_max_ms: latencies.last().copied().unwrap_or(f64::NAN),
    };
    if o.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut t = table(&[
            "bus",
            "raw produce /s",
            "raw consume /s",
            "relay /s",
            "relay ÷ raw",
            "e2e p50 ms",
            "e2e p99 ms",
        ]);
        t.add_row(vec![
            report.bus.clone(),
            format!("{:.0}", report.raw_produce_per_s),
            format!("{:.0}", report.raw_consume_per_s),
            format!("{:.0}", report.relay_per_s),
            format!("{:.2}", report.relay_vs_raw_produce),
            format!("{:.1}", report.e2e_p50_ms),
            format!("{:.1}", report.e2e_p99_ms),
        ]);
        println!("{t}");
    }
    Ok(())
}

async fn e2e(
    bus: Arc<dyn EventBus>,
    db: Db,
    cfg: RelayConfig,
    prefix: &str,
    n: usize,
    rate: u64,
) -> anyhow::Result<Vec<f64>> {
    let topics = vec![format!("{prefix}.user")];
    let mut sub = bus.subscribe("bench-e2e", &topics).await?;
    let stop = CancellationToken::new();
    let relay = tokio::spawn(Relay::new("bench", db.clone(), bus.clone(), cfg).run(stop.clone()));
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n);
        let deadline = Instant::now() + Duration::from_secs(120);
        while lat.len() < n && Instant::now() < deadline {
            let batch = sub.poll(1000, Duration::from_millis(200)).await?;
            let now = chrono::Utc::now();
            for d in &batch {
                let env: Envelope = serde_json::from_slice(&d.payload)?;
                let at = chrono::DateTime::parse_from_rfc3339(&env.occurred_at)?;
                lat.push((now - at.with_timezone(&chrono::Utc)).num_microseconds().unwrap_or(0) as f64 / 1000.0);
            }
            if let Some(last) = batch.last() {
                sub.commit(last).await?;
            }
        }
        anyhow::Ok(lat)
    });
    if bus.kind() == "kafka" {
        tokio::time::sleep(Duration::from_secs(6)).await; // let the group join first
    }
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    for i in 0..n {
        tick.tick().await;
        let mut tx = db.begin().await?;
        outbox::append(&mut tx, &envelope(i, "e2e")).await?;
        tx.commit().await?;
    }
    let mut lat = reader.await??;
    stop.cancel();
    relay.await?;
    anyhow::ensure!(lat.len() >= n, "received {} of {n} events", lat.len());
    lat.sort_by(f64::total_cmp);
    Ok(lat)
}
