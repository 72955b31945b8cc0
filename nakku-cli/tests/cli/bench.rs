//! `nakku bench orders`: the flow measured, and its SQL statements counted per service.

use super::*;

#[test]
fn bench_orders_counts_every_statement_of_the_flow_against_the_service_that_ran_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(nakku(dir.path()).args([
        "bench",
        "orders",
        "--orders",
        "30",
        "--workers",
        "3",
        "--explain",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    // Three passes (as fast as it goes, half that rate, counted), every order confirmed.
    assert_eq!(r["confirmed"], 90, "{r}");
    assert_eq!(r["failed"], 0, "{r}");
    assert_eq!(r["counted_orders"], 30);
    let per = &r["per_order"];
    let statements = |svc: &str| per[svc]["statements"].as_f64().unwrap_or(0.0);
    // Each service of the flow ran its part on its own database: the order service writes
    // the order and its saga's moves, the inventory reserves, payment charges, the cart is
    // read at checkout, user and location answer for the address.
    for svc in ["order", "inventory", "payment", "cart", "user", "location"] {
        assert!(statements(svc) >= 1.0, "{svc}: {per}");
    }
    assert!(
        per["order"]["transactions"].as_f64().unwrap() >= 2.0,
        "placed and moved on: {per}"
    );
    // Everything is charged to a service: what runs outside any service's span is the
    // bench's own reads (one count per 100 ms while it waits for the sagas).
    assert!(statements("(no service)") < 1.0, "unattributed statements: {per}");
    let total = statements("total (service databases)");
    let sum: f64 = ["order", "inventory", "payment", "cart", "user", "location", "product"]
        .iter()
        .map(|s| statements(s))
        .sum();
    assert!(
        (total - sum).abs() < 0.5,
        "the total sums the services: {total} vs {sum}: {per}"
    );
    // The raw ceiling replays the flow's SQL without HTTP and events: it was counted too,
    // and runs fewer statements per order than the flow (no outbox, relay or consumers) —
    // a ceiling replaying more than the flow runs (as it did once the flow's statements were
    // cut) is no ceiling.
    let raw = r["raw_statements_per_order"].as_f64().unwrap();
    assert!(
        raw >= 25.0 && raw < total,
        "raw ceiling {raw} against the flow's {total}: {per}"
    );
    // --explain names the statements: the order's insert is the order service's, once an order.
    let listed = r["statements"].as_array().unwrap();
    let insert = listed
        .iter()
        .find(|s| s["statement"].as_str().unwrap().starts_with("INSERT INTO orders "))
        .unwrap_or_else(|| panic!("no INSERT INTO orders in {listed:?}"));
    assert_eq!(insert["service"], "order");
    assert_eq!(insert["per_order"], 1.0);
}

/// `nakku bench gateway`: each request answered the same three ways (straight to the
/// service, through the gateway, through the bench's minimal hyper proxy), and the CPU of
/// the gateway's and the proxy's own threads charged per request.
#[test]
fn bench_gateway_compares_the_gateway_with_a_minimal_proxy_on_the_same_requests() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(nakku(dir.path()).args([
        "bench",
        "gateway",
        "--requests",
        "200",
        "--workers",
        "4",
        "--rounds",
        "2",
        "--json",
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let r: Value = serde_json::from_str(&stdout(&out)).unwrap();
    let paths = r["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 3, "{r}");
    for p in paths {
        // Every request of every path answered with a success (a proxy that forwarded
        // nowhere, or a wrong token, would count errors).
        assert_eq!(p["errors"], 0, "{p}");
        for rate in ["direct_rps", "gateway_rps", "proxy_rps"] {
            assert!(p[rate].as_f64().unwrap() > 0.0, "{rate}: {p}");
        }
        // Both proxies' threads were found and did the work (the services' threads are
        // not theirs: a request costs either of them well under a second of CPU).
        for cpu in ["gateway_cpu_us", "proxy_cpu_us"] {
            let us = p[cpu].as_f64().unwrap();
            assert!(us > 0.0 && us < 1_000_000.0, "{cpu}: {p}");
        }
        assert!(p["cpu_ratio"].as_f64().unwrap() > 0.0, "{p}");
    }
}
