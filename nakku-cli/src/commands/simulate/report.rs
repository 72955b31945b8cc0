//! The run's report: throughput, latency per endpoint, errors, saga outcomes, invariants.

use super::*;

#[derive(Debug, Serialize)]
pub(super) struct EndpointStats {
    pub(super) endpoint: String,
    pub(super) requests: usize,
    pub(super) p50_ms: f64,
    pub(super) p90_ms: f64,
    pub(super) p99_ms: f64,
    pub(super) max_ms: f64,
}

#[derive(Debug, Serialize)]
pub(super) struct Report {
    pub(super) seed: u64,
    pub(super) seconds: f64,
    pub(super) requests: u64,
    pub(super) requests_per_s: f64,
    pub(super) orders_per_s: f64,
    pub(super) outcomes: Outcomes,
    pub(super) endpoints: Vec<EndpointStats>,
    /// Each shopper step on REST and on GraphQL (with `--api graphql` or `both`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) api: Vec<steps::StepCompare>,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) invariants: Invariants,
}

/// Nearest-rank percentile, to a hundredth.
pub(super) fn pct(sorted: &[f64], q: f64) -> f64 {
    percentile(sorted, q).map_or(0.0, |v| (v * 100.0).round() / 100.0)
}

pub(super) async fn summarise(sim: &Arc<Sim>, seed: u64, secs: f64, invariants: Invariants) -> Report {
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
        api: steps::compare(&endpoints),
        endpoints,
        errors,
        invariants,
    }
}

pub(super) fn print_report(r: &Report) {
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
    if !r.api.is_empty() {
        let mut t = crate::output::table(&[
            "shopper step",
            "REST n",
            "REST p50 ms",
            "REST p99 ms",
            "GraphQL n",
            "GraphQL p50 ms",
            "GraphQL p99 ms",
        ]);
        let cells = |b: &Option<steps::LatencyBrief>| match b {
            Some(b) => [
                b.requests.to_string(),
                format!("{:.1}", b.p50_ms),
                format!("{:.1}", b.p99_ms),
            ],
            None => ["-".to_owned(), "-".to_owned(), "-".to_owned()],
        };
        for s in &r.api {
            let mut row = vec![s.step.clone()];
            row.extend(cells(&s.rest));
            row.extend(cells(&s.graphql));
            t.add_row(row);
        }
        println!("{t}");
    }
    let o = &r.outcomes;
    let mut t = crate::output::table(&["saga outcome", "orders"]);
    for (k, v) in [
        ("placed", o.placed),
        ("confirmed (completed)", o.confirmed),
        ("  of which delivered in the run", o.delivered),
        ("  of which not delivered (riders on shift)", o.undelivered),
        ("cancelled by the shopper", o.cancelled),
        ("failed and compensated", o.compensated),
        ("stuck (saga not finished)", o.stuck),
        ("refused before an order was made", o.refused),
    ] {
        t.add_row(vec![k.to_owned(), v.to_string()]);
    }
    println!("{t}");
    println!("riders on shift: {} of {}", o.riders_on_shift, o.riders);
    for id in &o.undelivered_orders {
        println!("  not delivered: {id}");
    }
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
