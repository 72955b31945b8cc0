//! The Kafka bus (rdkafka; cargo feature `kafka`, on by default).
//!
//! - Topics `<prefix>.<domain>` are created at start-up when missing (explicitly: brokers
//!   may have auto-creation off), with `kafka_partitions` partitions.
//! - The producer is idempotent with `acks=all`; a batch is enqueued at once and then
//!   awaited, so the relay pipelines instead of waiting for each acknowledgement.
//! - Consumers use the classic group protocol with the cooperative-sticky assignor. Offsets
//!   are stored only after the effect is committed to the consumer's database
//!   (`enable.auto.offset.store=false`, rdkafka's at-least-once pattern) and committed in
//!   the background and on close.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers as _, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use rdkafka::util::Timeout;
use rdkafka::{Message as _, Offset, TopicPartitionList};

use super::bus::*;
use super::catalog::DOMAINS;

/// The Kafka bus.
pub struct KafkaBus {
    brokers: String,
    /// Security and pass-through properties set on every client (producer, admin, consumers).
    properties: Vec<(String, String)>,
    prefix: String,
    partitions: i32,
    /// Replaced when it hits a fatal error (see [`KafkaBus::renew_producer_after`]).
    producer: Mutex<FutureProducer>,
    /// How the producer is made, to make it again.
    producer_config: ClientConfig,
    admin: AdminClient<DefaultClientContext>,
    created: Mutex<HashSet<String>>,
    /// Plain consumers kept per group for reads that need no subscription (see
    /// [`KafkaBus::reader`]).
    readers: Mutex<std::collections::HashMap<String, Arc<BaseConsumer>>>,
}

/// The librdkafka properties for Nakku's Kafka security settings: the protocol, the CA
/// file for the brokers' certificates (`kafka_ssl_ca_file`, else `tls_ca_file`, else
/// OpenSSL's default paths), SASL, then the operator's pass-through properties, which win.
pub fn security_properties(settings: &crate::config::Settings) -> Vec<(String, String)> {
    let k = &settings.kafka;
    let mut p = vec![("security.protocol".to_owned(), k.security_protocol.as_str().to_owned())];
    if k.security_protocol.uses_tls() {
        if let Some(ca) = k.ssl_ca_file.as_ref().or(settings.tls_ca_file.as_ref()) {
            p.push(("ssl.ca.location".to_owned(), ca.display().to_string()));
        }
        p.push(("ssl.endpoint.identification.algorithm".to_owned(), "https".to_owned()));
    }
    if k.security_protocol.uses_sasl() {
        if let Some(m) = &k.sasl_mechanism {
            p.push(("sasl.mechanisms".to_owned(), m.clone()));
        }
        if let Some(u) = &k.sasl_username {
            p.push(("sasl.username".to_owned(), u.clone()));
        }
        if let Some(pw) = &k.sasl_password {
            p.push(("sasl.password".to_owned(), pw.expose().to_owned()));
        }
    }
    p.extend(k.properties.iter().cloned());
    p
}

fn kerr(e: KafkaError) -> BusError {
    BusError::Unavailable(format!("kafka: {e}"))
}

/// Errors after which an idempotent producer cannot go on: its producer id or epoch is no
/// longer valid at the broker (seen on tansu after the broker's connection was cut:
/// `ProducerFenced` on every send, forever). A new producer gets a new id.
fn is_fatal_for_producer(e: &KafkaError) -> bool {
    matches!(
        e.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::ProducerFenced
                | RDKafkaErrorCode::InvalidProducerEpoch
                | RDKafkaErrorCode::UnknownProducerId
                | RDKafkaErrorCode::OutOfOrderSequenceNumber
                | RDKafkaErrorCode::InvalidProducerIdMapping
                | RDKafkaErrorCode::Fatal
        )
    )
}

impl KafkaBus {
    /// The producer in use (a handle: librdkafka's producer is shared, not copied).
    fn producer(&self) -> FutureProducer {
        self.producer.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After a failed publish: when the producer hit a fatal error, a new one takes its
    /// place, so the relay's next try can succeed (messages already sent are deduplicated
    /// by the consumers' processed-event ids).
    fn renew_producer_after(&self, used: &FutureProducer, e: &KafkaError) {
        let fatal = used.client().fatal_error();
        if fatal.is_none() && !is_fatal_for_producer(e) {
            return;
        }
        match self.producer_config.create::<FutureProducer>() {
            Ok(fresh) => {
                tracing::warn!(error = %e, fatal = ?fatal, "kafka: the producer cannot go on; a new one takes over");
                *self.producer.lock().unwrap_or_else(|p| p.into_inner()) = fresh;
            }
            Err(err) => tracing::error!(error = %err, "kafka: a new producer could not be made"),
        }
    }

    /// Connects (lazily: librdkafka reconnects by itself) and creates the domain topics.
    pub async fn connect(brokers: &str, prefix: &str, partitions: i32) -> anyhow::Result<KafkaBus> {
        Self::connect_with(brokers, prefix, partitions, Vec::new()).await
    }

    /// [`KafkaBus::connect`] with librdkafka properties for every client: the security
    /// settings from [`security_properties`] and any pass-through ones.
    pub async fn connect_with(
        brokers: &str,
        prefix: &str,
        partitions: i32,
        properties: Vec<(String, String)>,
    ) -> anyhow::Result<KafkaBus> {
        let protocol = properties
            .iter()
            .find(|(k, _)| k == "security.protocol")
            .map(|(_, v)| v.to_ascii_lowercase())
            .unwrap_or_default();
        if protocol.ends_with("ssl") && !cfg!(feature = "kafka-tls") {
            anyhow::bail!(
                "NAKKU_KAFKA_SECURITY_PROTOCOL={protocol} needs TLS to Kafka, which this nakku was built without: build it with `--features kafka-tls` (links the system's OpenSSL)"
            );
        }
        let with_properties = |mut c: ClientConfig| {
            c.set("bootstrap.servers", brokers);
            for (k, v) in &properties {
                c.set(k, v);
            }
            c
        };
        let created = |what: &str, e: KafkaError| anyhow::anyhow!("kafka {what}: {e} (check NAKKU_KAFKA_* settings)");
        let mut producer = ClientConfig::new();
        producer
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("linger.ms", "2")
            .set("message.timeout.ms", "30000")
            .set("message.max.bytes", "1048576");
        let producer_config = with_properties(producer);
        let producer: FutureProducer = producer_config.create().map_err(|e| created("producer", e))?;
        let admin: AdminClient<DefaultClientContext> = with_properties(ClientConfig::new())
            .create()
            .map_err(|e| created("admin client", e))?;
        let bus = KafkaBus {
            brokers: brokers.to_owned(),
            properties,
            prefix: prefix.to_owned(),
            partitions,
            producer: Mutex::new(producer),
            producer_config,
            admin,
            created: Mutex::new(HashSet::new()),
            readers: Mutex::default(),
        };
        let topics: Vec<String> = DOMAINS.iter().map(|d| format!("{prefix}.{d}")).collect();
        match tokio::time::timeout(Duration::from_secs(15), bus.ensure_topics(&topics)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "kafka: topics not created yet; retrying on first use"),
            Err(_) => tracing::warn!(
                brokers,
                "kafka: no answer from the brokers yet; topics are created on first use"
            ),
        }
        Ok(bus)
    }

    /// Creates missing topics; an existing topic is fine.
    pub async fn ensure_topics(&self, topics: &[String]) -> Result<(), BusError> {
        let missing: Vec<&String> = {
            let created = self.created.lock().unwrap_or_else(|p| p.into_inner());
            topics.iter().filter(|t| !created.contains(*t)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let new: Vec<NewTopic> = missing
            .iter()
            .map(|t| NewTopic::new(t, self.partitions, TopicReplication::Fixed(1)))
            .collect();
        let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
        let results = self.admin.create_topics(new.iter(), &opts).await.map_err(kerr)?;
        for r in results {
            match r {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((t, code)) => return Err(BusError::Unavailable(format!("creating topic {t}: {code}"))),
            }
        }
        let mut created = self.created.lock().unwrap_or_else(|p| p.into_inner());
        created.extend(missing.into_iter().cloned());
        Ok(())
    }

    fn consumer_config(&self, group: &str) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("auto.commit.interval.ms", "1000")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            // Low latency over fewer fetch requests: a quick-commerce saga waits on these.
            .set("fetch.wait.max.ms", "20")
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "cooperative-sticky");
        for (k, v) in &self.properties {
            c.set(k, v);
        }
        c
    }

    /// A plain consumer of `group` for reads that need no subscription (metadata,
    /// watermarks, committed offsets, offsets for times), made on first use and kept. A new
    /// client per call cost its threads, broker connections and a coordinator lookup each
    /// time — and the stall detector asks every idle consumer's lag every 10 s. What the
    /// client queued since its last use (errors while a broker was away) is drained first,
    /// so an idle one does not pile them up.
    fn reader(&self, group: &str) -> Result<Arc<BaseConsumer>, BusError> {
        let mut readers = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = readers.get(group) {
            while let Some(Err(e)) = c.poll(Duration::ZERO) {
                tracing::debug!(group, error = %e, "kafka reader event");
            }
            return Ok(c.clone());
        }
        let c: Arc<BaseConsumer> = Arc::new(self.consumer_config(group).create().map_err(kerr)?);
        readers.insert(group.to_owned(), c.clone());
        Ok(c)
    }

    /// Partitions of `topics` with their low and high watermarks (blocking calls, run off
    /// the async threads).
    async fn partitions_of(&self, topics: &[String]) -> Result<Vec<(String, i32, i64, i64)>, BusError> {
        let consumer = self.reader("nakku-admin")?;
        let topics = topics.to_vec();
        tokio::task::spawn_blocking(move || {
            let mut out = Vec::new();
            for t in &topics {
                let md = consumer
                    .fetch_metadata(Some(t), Timeout::After(Duration::from_secs(5)))
                    .map_err(kerr)?;
                for mt in md.topics() {
                    for p in mt.partitions() {
                        let (lo, hi) = consumer
                            .fetch_watermarks(t, p.id(), Timeout::After(Duration::from_secs(5)))
                            .map_err(kerr)?;
                        out.push((t.clone(), p.id(), lo, hi));
                    }
                }
            }
            Ok(out)
        })
        .await
        .map_err(|e| BusError::Other(e.to_string()))?
    }

    /// Concrete offsets for `pos` on every partition of `topics`.
    async fn offsets(&self, topics: &[String], pos: Position) -> Result<TopicPartitionList, BusError> {
        let parts = self.partitions_of(topics).await?;
        let mut tpl = TopicPartitionList::new();
        for (t, p, lo, hi) in &parts {
            let off = match pos {
                Position::Beginning => *lo,
                Position::End => *hi,
                Position::Offset(n) => n.clamp(*lo, *hi),
                Position::Time(ms) => ms,
            };
            tpl.add_partition_offset(t, *p, Offset::Offset(off)).map_err(kerr)?;
        }
        if let Position::Time(_) = pos {
            let consumer = self.reader("nakku-admin")?;
            let resolved = tokio::task::spawn_blocking(move || {
                consumer.offsets_for_times(tpl, Timeout::After(Duration::from_secs(10)))
            })
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
            .map_err(kerr)?;
            // A time after the last message resolves to End (-1): use the high watermark.
            let mut fixed = TopicPartitionList::new();
            for e in resolved.elements() {
                let off = match e.offset() {
                    Offset::Offset(o) => o,
                    _ => parts
                        .iter()
                        .find(|(t, p, _, _)| t == e.topic() && *p == e.partition())
                        .map(|x| x.3)
                        .unwrap_or(0),
                };
                fixed
                    .add_partition_offset(e.topic(), e.partition(), Offset::Offset(off))
                    .map_err(kerr)?;
            }
            return Ok(fixed);
        }
        Ok(tpl)
    }
}

fn to_delivery(m: &rdkafka::message::BorrowedMessage<'_>) -> Delivery {
    Delivery {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        key: m.key().map(|k| String::from_utf8_lossy(k).into_owned()),
        payload: m.payload().map(<[u8]>::to_vec).unwrap_or_default(),
        traceparent: m.headers().and_then(|h| {
            h.iter()
                .find(|h| h.key == crate::trace::TRACEPARENT)
                .and_then(|h| h.value)
                .and_then(|v| std::str::from_utf8(v).ok())
                .filter(|v| crate::trace::is_traceparent(v))
                .map(str::to_owned)
        }),
        timestamp_ms: m.timestamp().to_millis().unwrap_or(0),
    }
}

impl EventBus for KafkaBus {
    fn kind(&self) -> &'static str {
        "kafka"
    }

    fn publish<'a>(&'a self, msgs: &'a [Message]) -> BoxFut<'a, Result<(), BusError>> {
        Box::pin(async move {
            let topics: Vec<String> = {
                let mut t: Vec<String> = msgs.iter().map(|m| m.topic.clone()).collect();
                t.sort();
                t.dedup();
                t
            };
            self.ensure_topics(&topics).await?;
            let producer = self.producer();
            let result = send_all(&producer, msgs).await;
            if let Err(e) = &result {
                self.renew_producer_after(&producer, e);
            }
            result.map_err(|e| match e {
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge) => {
                    BusError::Rejected("a message is too large for the broker".to_owned())
                }
                e => kerr(e),
            })
        })
    }

    fn subscribe<'a>(
        &'a self,
        group: &'a str,
        topics: &'a [String],
    ) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        Box::pin(async move {
            self.ensure_topics(topics).await?;
            let consumer: StreamConsumer = self.consumer_config(group).create().map_err(kerr)?;
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&names).map_err(kerr)?;
            Ok(Box::new(KafkaSubscriber {
                consumer: Arc::new(consumer),
                store: true,
                lag_at: None,
                lag: None,
            }) as Box<dyn Subscriber>)
        })
    }

    fn read<'a>(&'a self, topics: &'a [String], from: Position) -> BoxFut<'a, Result<Box<dyn Subscriber>, BusError>> {
        Box::pin(async move {
            let tpl = self.offsets(topics, from).await?;
            let mut cfg = self.consumer_config(&format!("nakku-reader-{}", crate::id::new_id()));
            cfg.set("enable.auto.commit", "false");
            let consumer: StreamConsumer = cfg.create().map_err(kerr)?;
            consumer.assign(&tpl).map_err(kerr)?;
            Ok(Box::new(KafkaSubscriber {
                consumer: Arc::new(consumer),
                store: false,
                lag_at: None,
                lag: None,
            }) as Box<dyn Subscriber>)
        })
    }

    fn rewind<'a>(&'a self, group: &'a str, topics: &'a [String], to: Position) -> BoxFut<'a, Result<(), BusError>> {
        Box::pin(async move {
            let tpl = self.offsets(topics, to).await?;
            let consumer: BaseConsumer = self.consumer_config(group).create().map_err(kerr)?;
            tokio::task::spawn_blocking(move || consumer.commit(&tpl, CommitMode::Sync))
                .await
                .map_err(|e| BusError::Other(e.to_string()))?
                .map_err(|e| {
                    BusError::Rejected(format!(
                        "could not move the offsets of group {group} ({e}); stop its consumers and try again"
                    ))
                })
        })
    }

    fn group_lag<'a>(&'a self, group: &'a str, topics: &'a [String]) -> BoxFut<'a, Result<i64, BusError>> {
        Box::pin(async move {
            let parts = self.partitions_of(topics).await?;
            let mut tpl = TopicPartitionList::new();
            for (t, p, _, _) in &parts {
                tpl.add_partition(t, *p);
            }
            let consumer = self.reader(group)?;
            let committed = tokio::task::spawn_blocking(move || {
                consumer.committed_offsets(tpl, Timeout::After(Duration::from_secs(10)))
            })
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
            .map_err(kerr)?;
            let mut lag = 0;
            for (t, p, lo, hi) in &parts {
                // No committed offset: the group starts from the beginning (`earliest`).
                let at = match committed.find_partition(t, *p).map(|e| e.offset()) {
                    Some(Offset::Offset(o)) => o.max(*lo),
                    _ => *lo,
                };
                lag += (hi - at).max(0);
            }
            Ok(lag)
        })
    }

    fn topics(&self) -> BoxFut<'_, Result<Vec<String>, BusError>> {
        Box::pin(async move {
            let consumer = self.reader("nakku-admin")?;
            let prefix = format!("{}.", self.prefix);
            tokio::task::spawn_blocking(move || {
                let md = consumer
                    .fetch_metadata(None, Timeout::After(Duration::from_secs(5)))
                    .map_err(kerr)?;
                let mut names: Vec<String> = md
                    .topics()
                    .iter()
                    .map(|t| t.name().to_owned())
                    .filter(|n| n.starts_with(&prefix))
                    .collect();
                names.sort();
                Ok(names)
            })
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
        })
    }

    fn ping(&self) -> BoxFut<'_, Result<(), BusError>> {
        Box::pin(async move {
            let producer = self.producer();
            tokio::task::spawn_blocking(move || {
                producer
                    .client()
                    .fetch_metadata(None, Timeout::After(Duration::from_secs(2)))
                    .map(|_| ())
                    .map_err(kerr)
            })
            .await
            .map_err(|e| BusError::Other(e.to_string()))?
        })
    }
}

/// Sends every message, pipelined, and waits for every delivery report.
async fn send_all(producer: &FutureProducer, msgs: &[Message]) -> Result<(), KafkaError> {
    let mut pending = std::collections::VecDeque::new();
    for m in msgs {
        let mut record = FutureRecord::to(&m.topic).key(&m.key).payload(&m.payload);
        if let Some(tp) = &m.traceparent {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: crate::trace::TRACEPARENT,
                value: Some(tp.as_str()),
            }));
        }
        loop {
            match producer.send_result(record) {
                Ok(fut) => {
                    pending.push_back(fut);
                    break;
                }
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    match pending.pop_front() {
                        Some(f) => delivered(f.await)?,
                        None => tokio::time::sleep(Duration::from_millis(5)).await,
                    }
                }
                Err((e, _)) => return Err(e),
            }
        }
    }
    while let Some(f) = pending.pop_front() {
        delivered(f.await)?;
    }
    Ok(())
}

/// A delivery report as a result (a lost report — the producer dropped — as a failure).
fn delivered<E>(r: Result<rdkafka::producer::future_producer::OwnedDeliveryResult, E>) -> Result<(), KafkaError> {
    match r {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((e, _))) => Err(e),
        Err(_) => Err(KafkaError::Canceled),
    }
}

struct KafkaSubscriber {
    consumer: Arc<StreamConsumer>,
    /// Group members store offsets; group-less readers do not.
    store: bool,
    lag_at: Option<Instant>,
    lag: Option<i64>,
}

/// librdkafka can block forever closing a consumer-group member whose cooperative-sticky
/// rebalance is under way (confluentinc/librdkafka#4884, fix not released; rust-rdkafka#509):
/// the close waits for an incremental unassign the group coordinator never answers. Seen
/// here as a test runtime that never finished shutting down (a stress run, 1 in ~80 test
/// binaries on Kafka). The consumer is therefore closed on a thread of its own: a close
/// that hangs holds that thread, never the runtime, a service's shutdown or the process's
/// exit. Nothing is lost either way: offsets are committed as messages are processed.
impl Drop for KafkaSubscriber {
    fn drop(&mut self) {
        let consumer = self.consumer.clone();
        let closing = std::thread::Builder::new()
            .name("kafka-close".to_owned())
            .spawn(move || drop(consumer));
        if let Err(e) = closing {
            tracing::warn!(error = %e, "kafka: no thread to close a consumer on; closing it here");
        }
    }
}

impl Subscriber for KafkaSubscriber {
    fn poll<'a>(&'a mut self, max: usize, wait: Duration) -> BoxFut<'a, Result<Vec<Delivery>, BusError>> {
        Box::pin(async move {
            let mut out = Vec::new();
            match tokio::time::timeout(wait, self.consumer.recv()).await {
                Err(_) => return Ok(out),
                Ok(Err(e)) => return Err(kerr(e)),
                Ok(Ok(m)) => out.push(to_delivery(&m)),
            }
            while out.len() < max {
                match tokio::time::timeout(Duration::from_millis(1), self.consumer.recv()).await {
                    Ok(Ok(m)) => out.push(to_delivery(&m)),
                    Ok(Err(e)) => return Err(kerr(e)),
                    Err(_) => break,
                }
            }
            Ok(out)
        })
    }

    fn commit<'a>(&'a mut self, d: &'a Delivery) -> BoxFut<'a, Result<(), BusError>> {
        Box::pin(async move {
            if self.store {
                self.consumer
                    .store_offset(&d.topic, d.partition, d.offset)
                    .map_err(kerr)?;
            }
            Ok(())
        })
    }

    fn lag(&mut self) -> BoxFut<'_, Option<i64>> {
        Box::pin(async move {
            // Watermark queries are network round trips: refresh at most every 5 s.
            if self.lag_at.is_some_and(|t| t.elapsed() < Duration::from_secs(5)) {
                return self.lag;
            }
            self.lag_at = Some(Instant::now());
            let c = self.consumer.clone();
            self.lag = tokio::task::spawn_blocking(move || {
                let positions = c.position().ok()?;
                let mut lag = 0;
                for e in positions.elements() {
                    let (_, hi) = c
                        .fetch_watermarks(e.topic(), e.partition(), Timeout::After(Duration::from_secs(1)))
                        .ok()?;
                    if let Offset::Offset(p) = e.offset() {
                        lag += (hi - p).max(0);
                    }
                }
                Some(lag)
            })
            .await
            .ok()
            .flatten();
            self.lag
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fenced or forgotten producer is replaced; a broker that is only away is waited for
    /// by the same producer (librdkafka reconnects).
    #[test]
    fn only_errors_that_end_a_producer_replace_it() {
        let failed = |c| KafkaError::MessageProduction(c);
        for c in [
            RDKafkaErrorCode::ProducerFenced,
            RDKafkaErrorCode::UnknownProducerId,
            RDKafkaErrorCode::OutOfOrderSequenceNumber,
            RDKafkaErrorCode::InvalidProducerEpoch,
        ] {
            assert!(is_fatal_for_producer(&failed(c)), "{c:?}");
        }
        for c in [
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::MessageSizeTooLarge,
        ] {
            assert!(!is_fatal_for_producer(&failed(c)), "{c:?}");
        }
    }
}
