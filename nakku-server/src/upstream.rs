//! The gateway's view of the services behind it: one or more instances per service, each
//! with a circuit breaker, a health flag kept by a background check, and a count of
//! requests in flight. A request goes to the healthy instance with the fewest in flight
//! whose circuit lets it through (ties rotate); no such instance is a fast 503.
//!
//! Circuit breaker per instance: `closed` → after `failures` consecutive failures (a
//! connection error, a timeout, or a 5xx) → `open` for `open_for`, refusing at once → then
//! `half_open`: one trial request; success closes it, failure opens it again.
//!
//! Retries: only for requests that are safe to repeat (GET, HEAD, PUT, DELETE, OPTIONS, or
//! anything with an `Idempotency-Key`), on another instance, within a retry budget (each
//! request earns a fraction of a retry; a retry spends one), so a failing service is not
//! hit by a storm of retries.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
// Tokio's clock: the same as std's in a running service, and one a test can pause and advance.
use tokio::time::Instant;

use nakku_core::service::Service;
use serde_json::{json, Value};

/// Breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failures: u32,
    /// How long an open circuit refuses before a trial request.
    pub open_for: Duration,
    /// Retries earned per request (0.2: one retry per five requests at most).
    pub retry_ratio: f64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            open_for: Duration::from_secs(10),
            retry_ratio: 0.2,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Closed,
    Open,
    HalfOpen,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Breaker {
    state: State,
    failures: u32,
    opened_at: Option<Instant>,
    /// A half-open trial is under way.
    trial: bool,
}

/// One instance of a service.
#[derive(Debug)]
pub struct Instance {
    pub base_url: String,
    in_flight: AtomicUsize,
    healthy: AtomicBool,
    /// A health check has seen it healthy at least once since the gateway started.
    seen: AtomicBool,
    breaker: Mutex<Breaker>,
}

impl Instance {
    fn new(base_url: String) -> Instance {
        Instance {
            base_url,
            in_flight: AtomicUsize::new(0),
            // Unknown until the first health check answers: the gateway's readiness waits
            // for it (requests are still sent when no instance is known healthy).
            healthy: AtomicBool::new(false),
            seen: AtomicBool::new(false),
            breaker: Mutex::new(Breaker {
                state: State::Closed,
                failures: 0,
                opened_at: None,
                trial: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Breaker> {
        // A panic while holding this lock cannot leave it inconsistent (plain fields).
        self.breaker.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The circuit's state now (an open circuit past its time reads half-open).
    pub fn state(&self, cfg: &BreakerConfig) -> State {
        let b = self.lock();
        match b.state {
            State::Open if b.opened_at.is_some_and(|t| t.elapsed() >= cfg.open_for) => State::HalfOpen,
            s => s,
        }
    }

    /// Whether a request may go through now; takes the half-open trial slot if it is the one.
    fn admit(&self, cfg: &BreakerConfig) -> bool {
        let mut b = self.lock();
        match b.state {
            State::Closed => true,
            State::Open => {
                if b.opened_at.is_some_and(|t| t.elapsed() >= cfg.open_for) {
                    b.state = State::HalfOpen;
                    b.trial = true;
                    true
                } else {
                    false
                }
            }
            State::HalfOpen if !b.trial => {
                b.trial = true;
                true
            }
            State::HalfOpen => false,
        }
    }

    fn success(&self) {
        let mut b = self.lock();
        if b.state != State::Closed {
            tracing::info!(upstream = %self.base_url, "circuit closed: the upstream answers again");
        }
        b.state = State::Closed;
        b.failures = 0;
        b.opened_at = None;
        b.trial = false;
    }

    fn failure(&self, cfg: &BreakerConfig) {
        let mut b = self.lock();
        b.failures = b.failures.saturating_add(1);
        let reopen = b.state == State::HalfOpen;
        if reopen || (b.state == State::Closed && b.failures >= cfg.failures) {
            if b.state == State::Closed {
                tracing::warn!(upstream = %self.base_url, failures = b.failures, "circuit opened");
            }
            b.state = State::Open;
            b.opened_at = Some(Instant::now());
            b.trial = false;
            metrics::counter!("nakku_gateway_circuit_opened_total", "upstream" => self.base_url.clone()).increment(1);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Whether a health check has ever seen it healthy (the gateway's start-up gate).
    pub fn seen(&self) -> bool {
        self.seen.load(Ordering::Relaxed)
    }

    /// Records a health check's verdict. A healthy answer on an open circuit half-opens it
    /// at once: the next request is the trial, instead of every request being refused for
    /// the rest of the open time while the instance is already back.
    fn checked(&self, ok: bool) {
        // An instance's first healthy answer is its start, not a change worth a warning.
        let first = ok && !self.seen();
        if ok {
            self.seen.store(true, Ordering::Relaxed);
        }
        if self.healthy.swap(ok, Ordering::Relaxed) != ok && !first {
            tracing::warn!(upstream = %self.base_url, healthy = ok, "upstream health changed");
        }
        if ok {
            let mut b = self.lock();
            if b.state == State::Open {
                tracing::info!(upstream = %self.base_url, "circuit half-open: the health check sees the upstream again");
                b.state = State::HalfOpen;
                b.opened_at = None;
                b.trial = false;
            }
        }
    }
}

/// A request's hold on an instance: counts it in flight until dropped, and records the
/// outcome for the breaker.
pub struct Lease {
    pub instance: Arc<Instance>,
    cfg: BreakerConfig,
    done: bool,
}

impl Lease {
    pub fn succeeded(mut self) {
        self.instance.success();
        self.done = true;
    }

    /// An answer that says nothing about the instance's health (a 503 in the standard
    /// envelope: a dependency of the service is down, or it sheds load on purpose).
    pub fn neutral(mut self) {
        self.instance.lock().trial = false;
        self.done = true;
    }

    pub fn failed(mut self) {
        self.instance.failure(&self.cfg);
        self.done = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.instance.in_flight.fetch_sub(1, Ordering::Relaxed);
        if !self.done {
            // Dropped without an outcome (the client went away): a trial slot is given back.
            let mut b = self.instance.lock();
            b.trial = false;
        }
    }
}

/// One instance's `/readyz`, recorded on it: whether it can take traffic (its database
/// answers, it is not shutting down). Not `/health`: that fails while the broker is away,
/// which a service rides out through its outbox.
async fn probe(client: &reqwest::Client, i: &Instance) {
    let ok = client
        .get(format!("{}/readyz", i.base_url))
        .timeout(Duration::from_secs(2))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success());
    i.checked(ok);
}

/// Every service's instances.
pub struct Pool {
    services: BTreeMap<Service, Vec<Arc<Instance>>>,
    cfg: BreakerConfig,
    turn: AtomicU64,
    /// Retry budget in thousandths of a retry.
    budget: AtomicU64,
}

/// Why no instance was picked.
pub enum NoInstance {
    /// The service runs nowhere this gateway knows.
    Unknown,
    /// Every instance's circuit is open.
    Open,
}

const BUDGET_CAP: u64 = 10_000; // ten retries saved up at most

impl Pool {
    /// `urls`: each service's base URLs.
    pub fn new(urls: &BTreeMap<Service, Vec<String>>, cfg: BreakerConfig) -> Pool {
        // Alerted on with increase(): the series exist at 0 from the start (see
        // metrics::start_at_zero).
        for (svc, us) in urls {
            metrics::counter!("nakku_gateway_retries_total", "service" => svc.name()).increment(0);
            metrics::counter!("nakku_gateway_fast_failures_total", "service" => svc.name()).increment(0);
            for u in us {
                metrics::counter!("nakku_gateway_circuit_opened_total", "upstream" => u.clone()).increment(0);
            }
        }
        Pool {
            services: urls
                .iter()
                .map(|(s, us)| (*s, us.iter().map(|u| Arc::new(Instance::new(u.clone()))).collect()))
                .collect(),
            cfg,
            turn: AtomicU64::new(0),
            budget: AtomicU64::new(BUDGET_CAP / 2),
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    pub fn instances(&self, svc: Service) -> &[Arc<Instance>] {
        self.services.get(&svc).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn services(&self) -> impl Iterator<Item = (&Service, &Vec<Arc<Instance>>)> {
        self.services.iter()
    }

    /// The instance for the next request to `svc`, skipping `tried` ones: healthy before
    /// unhealthy, then fewest in flight, ties in rotation; only those whose circuit admits.
    pub fn pick(&self, svc: Service, tried: &[String]) -> Result<Lease, NoInstance> {
        let all = self
            .services
            .get(&svc)
            .filter(|v| !v.is_empty())
            .ok_or(NoInstance::Unknown)?;
        let turn = self.turn.fetch_add(1, Ordering::Relaxed) as usize;
        let n = all.len();
        let mut order: Vec<&Arc<Instance>> = (0..n)
            .map(|i| &all[(turn + i) % n])
            .filter(|i| !tried.contains(&i.base_url))
            .collect();
        // Stable sort keeps the rotation among equals.
        order.sort_by_key(|i| (!i.healthy(), i.in_flight()));
        for i in order {
            if i.admit(&self.cfg) {
                i.in_flight.fetch_add(1, Ordering::Relaxed);
                return Ok(Lease {
                    instance: i.clone(),
                    cfg: self.cfg,
                    done: false,
                });
            }
        }
        Err(NoInstance::Open)
    }

    /// Each request earns part of a retry.
    pub fn earn(&self) {
        let add = (self.cfg.retry_ratio * 1000.0) as u64;
        let _ = self.budget.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
            Some((b + add).min(BUDGET_CAP))
        });
    }

    /// Spends one retry from the budget; false when it is empty.
    pub fn spend_retry(&self) -> bool {
        self.budget
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| b.checked_sub(1000))
            .is_ok()
    }

    /// Checks the instances of `svc` now (what `/health` of the gateway shows).
    pub async fn probe(&self, svc: Service, client: &reqwest::Client) {
        let checks = self.instances(svc).iter().map(|i| probe(client, i));
        futures_util::future::join_all(checks).await;
    }

    /// Checks every instance's `/readyz` every `every` until the process ends.
    pub fn spawn_health_checks(self: &Arc<Self>, client: reqwest::Client, every: Duration) {
        let pool = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(pool) = pool.upgrade() else { break };
                let checks = pool.services.values().flatten().map(|i| probe(&client, i));
                futures_util::future::join_all(checks).await;
            }
        });
    }

    /// Services none of whose instances can be used now (unhealthy or circuit open).
    pub fn degraded(&self) -> Vec<&'static str> {
        self.services
            .iter()
            .filter(|(_, list)| !list.iter().any(|i| i.healthy() && i.state(&self.cfg) != State::Open))
            .map(|(s, _)| s.name())
            .collect()
    }

    /// For `/health`: each service's instances, and the services that cannot be reached.
    pub fn report(&self) -> (Value, Vec<String>) {
        let mut out = serde_json::Map::new();
        let mut down = Vec::new();
        for (svc, list) in &self.services {
            let items: Vec<Value> = list
                .iter()
                .map(|i| {
                    json!({"url": i.base_url, "healthy": i.healthy(), "circuit": i.state(&self.cfg).name(), "in_flight": i.in_flight()})
                })
                .collect();
            if !list.iter().any(|i| i.healthy() && i.state(&self.cfg) != State::Open) {
                down.push(svc.name().to_owned());
            }
            out.insert(svc.name().to_owned(), Value::Array(items));
        }
        (Value::Object(out), down)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(n: usize) -> Pool {
        let urls: BTreeMap<Service, Vec<String>> =
            [(Service::Product, (0..n).map(|i| format!("http://p{i}")).collect())].into();
        Pool::new(
            &urls,
            BreakerConfig {
                failures: 2,
                open_for: Duration::from_millis(50),
                retry_ratio: 0.2,
            },
        )
    }

    #[test]
    fn requests_go_to_the_least_busy_instance_in_rotation() {
        let p = pool(2);
        let a = p.pick(Service::Product, &[]).ok().unwrap();
        let b = p.pick(Service::Product, &[]).ok().unwrap();
        assert_ne!(a.instance.base_url, b.instance.base_url, "one each");
        drop(a);
        let c = p.pick(Service::Product, &[]).ok().unwrap();
        assert_ne!(c.instance.base_url, b.instance.base_url, "the idle one");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_instance_opens_then_one_trial_closes_it() {
        let p = pool(1);
        for _ in 0..2 {
            p.pick(Service::Product, &[]).ok().unwrap().failed();
        }
        assert!(
            matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)),
            "open: refused at once"
        );
        // Still open just before the open period ends, half-open once it has.
        tokio::time::advance(Duration::from_millis(49)).await;
        assert!(matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)));
        tokio::time::advance(Duration::from_millis(1)).await;
        let trial = p.pick(Service::Product, &[]).ok().unwrap();
        assert!(
            matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)),
            "one trial at a time"
        );
        trial.succeeded();
        assert_eq!(p.instances(Service::Product)[0].state(p.config()), State::Closed);
        assert!(p.pick(Service::Product, &[]).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_health_check_that_sees_the_instance_back_half_opens_its_circuit_at_once() {
        let p = pool(1);
        let i = p.instances(Service::Product)[0].clone();
        assert!(!i.healthy(), "unknown until the first check");
        for _ in 0..2 {
            p.pick(Service::Product, &[]).ok().unwrap().failed();
        }
        // A failing check changes nothing: still open, long before the open time is up.
        i.checked(false);
        assert!(matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)));
        tokio::time::advance(Duration::from_millis(10)).await;
        assert!(matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)));
        // The check sees it healthy: one trial goes through now, and its success closes it.
        i.checked(true);
        assert!(i.healthy());
        assert_eq!(i.state(p.config()), State::HalfOpen);
        let trial = p.pick(Service::Product, &[]).ok().unwrap();
        assert!(
            matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)),
            "one trial at a time"
        );
        trial.succeeded();
        assert_eq!(i.state(p.config()), State::Closed);
        // A healthy check on a closed circuit leaves it closed.
        i.checked(true);
        assert_eq!(i.state(p.config()), State::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_trial_opens_the_circuit_again_and_retries_are_budgeted() {
        let p = pool(1);
        for _ in 0..2 {
            p.pick(Service::Product, &[]).ok().unwrap().failed();
        }
        // Still open just before the open period ends, half-open once it has.
        tokio::time::advance(Duration::from_millis(49)).await;
        assert!(matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)));
        tokio::time::advance(Duration::from_millis(1)).await;
        p.pick(Service::Product, &[]).ok().unwrap().failed();
        assert!(matches!(p.pick(Service::Product, &[]), Err(NoInstance::Open)));
        assert!(matches!(p.pick(Service::Order, &[]), Err(NoInstance::Unknown)));
        // Half the cap saved at start: five retries, then one per five requests.
        let spent = (0..20).filter(|_| p.spend_retry()).count();
        assert_eq!(spent, 5);
        for _ in 0..5 {
            p.earn();
        }
        assert!(p.spend_retry());
        assert!(!p.spend_retry());
    }
}
