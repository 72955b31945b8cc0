//! `nakku events tail|replay|lag|dlq|bench`.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use nakku_core::config::Settings;
use nakku_core::db::{migrate, Db};
use nakku_core::events::bus::Position;
use nakku_core::events::consumer::{group_of, lag_of, rewind_for_replay, Consumer};
use nakku_core::events::{connect_bus, dlq, topics_for_pattern, type_matches, Envelope};
use nakku_core::service::Service;

use crate::output::table;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print events as they arrive on the bus (live; Ctrl-C to stop)
    Tail(TailOpts),
    /// Re-feed a consumer: from the beginning it rebuilds the consumer's read model
    Replay(ReplayOpts),
    /// How far behind each consumer is: messages on its topics its group has not yet committed
    Lag {
        /// Only this consumer (e.g. `notification.events`)
        #[arg(long)]
        consumer: Option<String>,
    },
    /// Messages consumers gave up on
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Print the AsyncAPI 3.0 document of every event: topics, keys, payload schemas, who
    /// publishes and which consumer groups read what (as docs/asyncapi.json and the
    /// gateway's /api/v1/asyncapi.json)
    Spec,
    /// Retention for the embedded log: delete old messages every consumer has read
    Compact {
        /// Keep messages newer than this many days
        #[arg(long, value_name = "DAYS", default_value_t = 7)]
        older_than_days: u32,
    },
}

#[derive(Debug, Args)]
pub struct TailOpts {
    /// Event type pattern, e.g. `order.*` or `user.login` (repeatable; default: all)
    #[arg(long = "type", value_name = "PATTERN")]
    types: Vec<String>,
    /// Only events of this correlation id (the request id that caused them)
    #[arg(long, value_name = "ID")]
    correlation: Option<String>,
    /// Only events of this trace id (32 hex digits, as in log lines' `trace_id`)
    #[arg(long, value_name = "TRACE_ID", value_parser = trace_id)]
    trace: Option<String>,
    /// Where to start: `end` (default, only new events), `beginning`, an offset or an RFC 3339 time
    #[arg(long, default_value = "end", value_parser = Position::parse)]
    from: Position,
    /// One JSON envelope per line
    #[arg(long)]
    json: bool,
    /// Stop after this many events
    #[arg(long, value_name = "N")]
    limit: Option<usize>,
}

#[derive(Debug, Args)]
pub struct ReplayOpts {
    /// The consumer to re-feed (e.g. `user.activity`)
    #[arg(long)]
    consumer: String,
    /// Without it: rebuild from the beginning (the read model is emptied first). With it
    /// (an offset or RFC 3339 time): re-read from there, skipping events already applied
    #[arg(long, value_parser = Position::parse)]
    from: Option<Position>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Dead letters not yet retried or purged
    List {
        #[arg(long)]
        consumer: Option<String>,
        /// Include retried ones
        #[arg(long)]
        all: bool,
        #[arg(long)]
        json: bool,
    },
    /// One dead letter in full: the message, the error, the attempts
    Show { id: String },
    /// Re-deliver dead letters (after fixing their cause): by id, or every one of a consumer
    Retry {
        ids: Vec<String>,
        #[arg(long, conflicts_with = "ids")]
        consumer: Option<String>,
    },
    /// Remove dead letters from the list: by id, every one of a consumer, or --all
    Purge {
        id: Option<String>,
        #[arg(long, conflicts_with = "id")]
        consumer: Option<String>,
        #[arg(long, conflicts_with_all = ["id", "consumer"])]
        all: bool,
    },
}

pub async fn run(settings: &Settings, cmd: Command) -> anyhow::Result<()> {
    match cmd {
        Command::Tail(o) => tail(settings, o).await,
        Command::Replay(o) => replay(settings, o).await,
        Command::Lag { consumer } => lag(settings, consumer.as_deref()).await,
        Command::Dlq(c) => dlq_cmd(settings, c).await,
        Command::Compact { older_than_days } => compact(settings, older_than_days).await,
        Command::Spec => {
            print!("{}", nakku_core::asyncapi::document_text());
            Ok(())
        }
    }
}

async fn compact(settings: &Settings, days: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        settings.event_bus == nakku_core::config::BusKind::Embedded,
        "compact is for the embedded log; Kafka keeps messages by its topics' retention.ms"
    );
    let log = nakku_core::events::embedded::EmbeddedLog::open(&settings.event_log_path()).await?;
    let before = nakku_core::id::now_ms() - i64::from(days) * 86_400_000;
    let n = log.compact(before).await?;
    println!("{n} message(s) older than {days} day(s) and read by every consumer group deleted");
    Ok(())
}

fn trace_id(s: &str) -> Result<String, String> {
    let t = s.trim().to_ascii_lowercase();
    if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(t)
    } else {
        Err(format!("{s:?} is not a trace id (32 hex digits)"))
    }
}

async fn tail(settings: &Settings, o: TailOpts) -> anyhow::Result<()> {
    let bus = connect_bus(settings).await?;
    let patterns = if o.types.is_empty() {
        vec!["*".to_owned()]
    } else {
        o.types
    };
    let mut topics: Vec<String> = patterns
        .iter()
        .flat_map(|p| topics_for_pattern(&settings.event_topic_prefix, p))
        .collect();
    topics.sort();
    topics.dedup();
    let mut reader = bus.read(&topics, o.from).await?;
    let mut shown = 0usize;
    let stdout = std::io::stdout();
    loop {
        let batch = tokio::select! {
            b = reader.poll(500, Duration::from_millis(500)) => b?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let mut out = stdout.lock();
        for d in batch {
            let Ok(env) = serde_json::from_slice::<Envelope>(&d.payload) else {
                writeln!(
                    out,
                    "{}@{}  (not an event envelope: {} bytes)",
                    d.topic,
                    d.offset,
                    d.payload.len()
                )?;
                continue;
            };
            if !patterns.iter().any(|p| type_matches(p, &env.event_type)) {
                continue;
            }
            if o.correlation.as_ref().is_some_and(|c| *c != env.correlation_id) {
                continue;
            }
            let trace_id = env.traceparent.as_deref().and_then(nakku_core::trace::trace_id_of);
            if o.trace.as_ref().is_some_and(|t| Some(t.as_str()) != trace_id) {
                continue;
            }
            if o.json {
                writeln!(out, "{}", serde_json::to_string(&env)?)?;
            } else {
                let trace = trace_id.map(|t| format!("  trace={t}")).unwrap_or_default();
                writeln!(
                    out,
                    "{}  {:<22} {}  corr={}{trace}  {}",
                    env.occurred_at, env.event_type, env.aggregate_id, env.correlation_id, env.payload
                )?;
            }
            shown += 1;
            if o.limit.is_some_and(|l| shown >= l) {
                return Ok(());
            }
        }
        out.flush()?;
    }
}

/// Every consumer this build runs, with its service.
fn find_consumer(
    name: &str,
    settings: &Settings,
) -> anyhow::Result<(Service, Arc<dyn nakku_core::events::consumer::Handler>)> {
    let mut known = Vec::new();
    for svc in Service::IMPLEMENTED {
        for h in nakku_core::consumers_of(svc, settings) {
            if h.name() == name {
                return Ok((svc, h));
            }
            known.push(h.name());
        }
    }
    anyhow::bail!("no consumer named {name:?}; consumers: {}", known.join(", "))
}

async fn replay(settings: &Settings, o: ReplayOpts) -> anyhow::Result<()> {
    let (svc, handler) = find_consumer(&o.consumer, settings)?;
    let db = nakku_server::open_database(settings, svc).await?;
    let bus = connect_bus(settings).await?;
    let consumer = Consumer {
        handler,
        db: db.clone(),
        bus: bus.clone(),
        cfg: nakku_server::startup::consumer_config(settings),
    };
    let from = o.from.unwrap_or(Position::Beginning);
    rewind_for_replay(&consumer, from).await?;
    let idle = if bus.kind() == "kafka" {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    };
    let done = consumer.catch_up(idle).await?;
    let mut t = table(&[
        "consumer",
        "from",
        "applied",
        "already applied",
        "other types",
        "dead-lettered",
    ]);
    t.add_row(vec![
        o.consumer,
        format!("{from:?}"),
        done.applied.to_string(),
        done.duplicates.to_string(),
        done.ignored.to_string(),
        done.dead_lettered.to_string(),
    ]);
    println!("{t}");
    db.close().await;
    Ok(())
}

/// One row per consumer: its service, its group and how many messages it has to catch up.
async fn lag(settings: &Settings, only: Option<&str>) -> anyhow::Result<()> {
    if let Some(name) = only {
        find_consumer(name, settings)?;
    }
    let bus = connect_bus(settings).await?;
    let mut t = table(&["consumer", "service", "group", "behind"]);
    for svc in Service::IMPLEMENTED {
        for h in nakku_core::consumers_of(svc, settings) {
            if only.is_some_and(|n| n != h.name()) {
                continue;
            }
            let prefix = &settings.event_topic_prefix;
            let behind = lag_of(bus.as_ref(), prefix, h.as_ref()).await?;
            let group = group_of(prefix, h.as_ref());
            t.add_row(vec![
                h.name().to_owned(),
                svc.name().to_owned(),
                group,
                behind.to_string(),
            ]);
        }
    }
    println!("{t}");
    Ok(())
}

/// Every service database in this build (dead letters live in the consumer's database).
async fn service_dbs(settings: &Settings) -> anyhow::Result<Vec<Db>> {
    let mut dbs = Vec::new();
    for svc in migrate::migrated_services() {
        dbs.push(nakku_server::open_database(settings, svc).await?);
    }
    Ok(dbs)
}

async fn dlq_cmd(settings: &Settings, cmd: DlqCommand) -> anyhow::Result<()> {
    let dbs = service_dbs(settings).await?;
    match cmd {
        DlqCommand::List { consumer, all, json } => {
            let mut letters = Vec::new();
            for db in &dbs {
                letters.extend(dlq::list(db, consumer.as_deref(), all).await?);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&letters)?);
                return Ok(());
            }
            let mut t = table(&["id", "consumer", "event", "topic@offset", "attempts", "error", "when"]);
            for d in &letters {
                t.add_row(vec![
                    d.id.clone(),
                    d.consumer.clone(),
                    d.event_type.clone().unwrap_or_else(|| "(malformed)".into()),
                    format!("{}@{}:{}", d.topic, d.partition, d.offset),
                    d.attempts.to_string(),
                    d.error.chars().take(60).collect(),
                    d.retried_at
                        .as_ref()
                        .map(|r| format!("retried {r}"))
                        .unwrap_or_else(|| d.created_at.clone()),
                ]);
            }
            println!("{t}");
            println!("{} dead letter(s)", letters.len());
        }
        DlqCommand::Show { id } => {
            let d = find_letter(&dbs, &id).await?;
            println!("{}", serde_json::to_string_pretty(&d.1)?);
        }
        DlqCommand::Retry { ids, consumer } => {
            let bus = connect_bus(settings).await?;
            let mut targets = Vec::new();
            if let Some(c) = consumer {
                for db in &dbs {
                    for d in dlq::list(db, Some(&c), false).await? {
                        targets.push((db.clone(), d));
                    }
                }
            } else {
                anyhow::ensure!(!ids.is_empty(), "name dead letters by id, or use --consumer NAME");
                for id in &ids {
                    targets.push(find_letter(&dbs, id).await?);
                }
            }
            for (db, d) in &targets {
                dlq::retry(db, bus.as_ref(), d).await?;
                println!(
                    "re-delivered {} ({}) to {}",
                    d.id,
                    d.event_type.as_deref().unwrap_or("malformed"),
                    d.topic
                );
            }
            println!("{} dead letter(s) re-delivered", targets.len());
        }
        DlqCommand::Purge { id, consumer, all } => {
            anyhow::ensure!(
                id.is_some() || consumer.is_some() || all,
                "name a dead letter id, --consumer NAME or --all"
            );
            let mut n = 0;
            for db in &dbs {
                n += dlq::purge(db, id.as_deref(), consumer.as_deref()).await?;
            }
            if id.is_some() && n == 0 {
                anyhow::bail!("no dead letter with id {}", id.unwrap_or_default());
            }
            println!("{n} dead letter(s) purged");
        }
    }
    for db in dbs {
        db.close().await;
    }
    Ok(())
}

async fn find_letter(dbs: &[Db], id: &str) -> anyhow::Result<(Db, dlq::DeadLetter)> {
    for db in dbs {
        if let Some(d) = dlq::get(db, id).await? {
            return Ok((db.clone(), d));
        }
    }
    anyhow::bail!("no dead letter with id {id}")
}
