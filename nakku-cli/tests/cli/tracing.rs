//! Traces and metrics: one trace per order across processes and the bus; every metric the alerts use.

use super::*;

/// An OTLP/HTTP receiver, as an OpenTelemetry collector would be: it keeps every span the
/// processes export, decoded from protobuf.
mod otlp {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
    use prost::Message;

    #[derive(Debug, Clone)]
    pub struct Span {
        pub trace_id: String,
        pub span_id: String,
        pub parent: String,
        pub name: String,
        pub server: bool,
        /// `service.name` of the exporting process.
        pub process: String,
        pub attrs: BTreeMap<String, String>,
    }

    pub struct Receiver {
        pub url: String,
        spans: Arc<Mutex<Vec<Span>>>,
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    fn attrs(kvs: &[KeyValue]) -> BTreeMap<String, String> {
        kvs.iter()
            .filter_map(|kv| {
                let v = match kv.value.as_ref()?.value.as_ref()? {
                    Any::StringValue(s) => s.clone(),
                    Any::IntValue(i) => i.to_string(),
                    Any::BoolValue(b) => b.to_string(),
                    Any::DoubleValue(d) => d.to_string(),
                    _ => return None,
                };
                Some((kv.key.clone(), v))
            })
            .collect()
    }

    impl Receiver {
        pub async fn start() -> Receiver {
            let spans: Arc<Mutex<Vec<Span>>> = Arc::default();
            let kept = spans.clone();
            let app = axum::Router::new().route(
                "/v1/traces",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let kept = kept.clone();
                    async move {
                        let Ok(req) = ExportTraceServiceRequest::decode(body) else {
                            return axum::http::StatusCode::BAD_REQUEST;
                        };
                        let mut kept = kept.lock().unwrap();
                        for rs in req.resource_spans {
                            let resource = attrs(rs.resource.as_ref().map_or(&[][..], |r| &r.attributes));
                            let process = resource.get("service.name").cloned().unwrap_or_default();
                            for s in rs.scope_spans.into_iter().flat_map(|ss| ss.spans) {
                                kept.push(Span {
                                    trace_id: hex(&s.trace_id),
                                    span_id: hex(&s.span_id),
                                    parent: hex(&s.parent_span_id),
                                    name: s.name.clone(),
                                    server: s.kind == SpanKind::Server as i32,
                                    process: process.clone(),
                                    attrs: attrs(&s.attributes),
                                });
                            }
                        }
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!("http://{}", listener.local_addr().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
            Receiver { url, spans }
        }

        /// The spans of one trace received so far.
        pub fn trace(&self, trace_id: &str) -> Vec<Span> {
            let spans = self.spans.lock().unwrap();
            spans.iter().filter(|s| s.trace_id == trace_id).cloned().collect()
        }

        /// How many spans arrived, of any trace.
        pub fn count(&self) -> usize {
            self.spans.lock().unwrap().len()
        }
    }
}

/// One `POST /orders` traced across two processes (order + gateway; the services it calls
/// and the consumers) and the bus: the spans reach the collector as one tree, log lines and
/// the event log carry the trace id, and `nakku events tail --trace` finds its events.
async fn an_order_is_one_trace_across_processes_and_the_bus(bus_env: &[(&str, &str)]) {
    let receiver = otlp::Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let o = run(nakku(dir.path()).arg("migrate"));
    assert!(o.status.success(), "{}", stderr(&o));
    let mut tracing_env: Vec<(&str, &str)> = vec![
        ("NAKKU_OTLP_ENDPOINT", receiver.url.as_str()),
        // Export often, so the test waits for spans, not for the exporter's 5 s timer.
        ("OTEL_BSP_SCHEDULE_DELAY", "200"),
    ];
    tracing_env.extend_from_slice(bus_env);
    // A quiet log does not quiet the traces: the log filter is the log's alone.
    let (_rest, front) = launch_apart(
        dir.path(),
        &[
            "user",
            "product",
            "inventory",
            "location",
            "payment",
            "cart",
            "analytics",
            "notification",
        ],
        &tracing_env,
        &[("NAKKU_LOG", "warn")],
    );
    let c = reqwest::Client::new();
    let gw = front.gateway.clone();
    let admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;

    // The shopper's app starts the trace; the gateway continues it.
    let trace_id = format!("{:032x}", uuid::Uuid::new_v4().as_u128());
    let app_span = "00f067aa0ba902b7";
    let r = c
        .post(format!("{gw}/api/v1/orders"))
        .bearer_auth(&token)
        .header("idempotency-key", "traced-1")
        .header("traceparent", format!("00-{trace_id}-{app_span}-01"))
        .json(&json!({"address_id": address, "payment_method": "upi"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["data"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let o = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(o["status"], "confirmed", "{o}");

    // Wait for the whole tree: every span's parent arrived, and the services and
    // consumers that took part are in it.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let spans = loop {
        let spans = receiver.trace(&trace_id);
        let by_id: std::collections::HashMap<&str, &otlp::Span> =
            spans.iter().map(|s| (s.span_id.as_str(), s)).collect();
        let ancestors = |s: &otlp::Span| -> Vec<String> {
            let mut names = Vec::new();
            let mut at = by_id.get(s.parent.as_str());
            while let Some(p) = at {
                names.push(p.name.clone());
                at = by_id.get(p.parent.as_str());
            }
            names
        };
        let complete = spans
            .iter()
            .all(|s| s.parent == app_span || by_id.contains_key(s.parent.as_str()));
        let has = |pred: &dyn Fn(&otlp::Span) -> bool, above: &str| {
            spans.iter().any(|s| pred(s) && ancestors(s).iter().any(|a| a == above))
        };
        let served_by = |svc: &'static str| {
            move |s: &otlp::Span| s.server && s.attrs.get("service").map(String::as_str) == Some(svc)
        };
        let done = complete
            && has(&served_by("inventory"), "saga reserve_stock")
            && has(&served_by("payment"), "saga charge_payment")
            && has(
                &|s| s.name.starts_with("analytics order.created"),
                "publish order.created",
            )
            && has(
                &|s| s.name.starts_with("notification order."),
                "POST order /api/v1/orders",
            )
            && has(&|s| s.name == "saga reserve_stock", "POST gateway /orders");
        if done {
            break spans;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the order's trace is complete ({} spans of {} received): {:#?}",
            spans.len(),
            receiver.count(),
            spans
                .iter()
                .map(|s| (&s.name, &s.process, &s.span_id, &s.parent))
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // The gateway's span is the app's child; the order service's, the gateway's; and the
    // services the saga called ran in the other process.
    let gateway = spans.iter().find(|s| s.name == "POST gateway /orders").unwrap();
    assert_eq!(gateway.parent, app_span);
    assert_eq!(gateway.process, "nakku-order-gateway");
    let order = spans.iter().find(|s| s.name == "POST order /api/v1/orders").unwrap();
    assert_eq!(order.parent, gateway.span_id);
    let inventory = spans
        .iter()
        .find(|s| s.server && s.attrs.get("service").map(String::as_str) == Some("inventory"))
        .unwrap();
    assert_eq!(
        inventory.process,
        "nakku-user-product-inventory-location-payment-cart-analytics-notification"
    );
    assert_eq!(
        inventory.attrs.get("http.response.status_code").map(String::as_str),
        Some("201"),
        "{inventory:?}"
    );

    // Log lines inside the request carry the trace id.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let needle = format!("\"trace_id\":\"{trace_id}\"");
    loop {
        match front.stderr_lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains(&needle) => break,
            Ok(_) | Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("the front process's log ended: {e}"),
        }
        assert!(std::time::Instant::now() < deadline, "a log line carries {needle}");
    }

    // The event log (the dashboard's order timeline) knows each event's trace.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, page) = get_as(&c, &format!("{gw}/api/v1/analytics/events?trace={trace_id}"), &admin).await;
        let page: Value = serde_json::from_str(&page).unwrap();
        let items = page["data"]["items"].as_array().cloned().unwrap_or_default();
        // The saga's last move (confirmed) is an order.updated with that status.
        if items
            .iter()
            .any(|e| e["type"] == "order.updated" && e["payload"]["status"] == "confirmed")
        {
            assert!(items.iter().all(|e| e["trace_id"] == trace_id.as_str()), "{page}");
            assert!(items.iter().any(|e| e["type"] == "order.created"), "{page}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the event log has the trace's events: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (status, _) = get_as(&c, &format!("{gw}/api/v1/analytics/events?trace=not-a-trace"), &admin).await;
    assert_eq!(status, 422);

    // The operator's tail finds the order's events by trace id.
    let mut tail = nakku(dir.path());
    for (k, v) in bus_env {
        tail.env(k, v);
    }
    let o = run(tail.args([
        "events",
        "tail",
        "--type",
        "order.*",
        "--from",
        "beginning",
        "--limit",
        "1",
        "--trace",
        &trace_id,
    ]));
    assert!(o.status.success(), "{}", stderr(&o));
    let line = stdout(&o);
    assert!(
        line.contains("order.created") && line.contains(&format!("trace={trace_id}")),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_is_one_trace_across_processes_and_the_embedded_log() {
    an_order_is_one_trace_across_processes_and_the_bus(&[]).await;
}

mod kafka {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[ignore = "needs NAKKU_TEST_KAFKA_BROKERS"]
    async fn an_order_is_one_trace_across_processes_and_kafka() {
        let brokers = match std::env::var("NAKKU_TEST_KAFKA_BROKERS") {
            Ok(s) if !s.trim().is_empty() => s,
            _ => panic!("this test needs NAKKU_TEST_KAFKA_BROKERS (see the README, Tests)"),
        };
        let prefix = format!("tr{}", uuid::Uuid::new_v4().simple());
        super::an_order_is_one_trace_across_processes_and_the_bus(&[
            ("NAKKU_EVENT_BUS", "kafka"),
            ("NAKKU_KAFKA_BROKERS", brokers.as_str()),
            ("NAKKU_EVENT_TOPIC_PREFIX", prefix.as_str()),
        ])
        .await;
    }
}

/// What the alert rules and the Grafana dashboards query is what a running Nakku exports:
/// after an order (and a search), a real `/metrics` scrape has every metric they name.
/// The counters alerts take `increase()` of exist at 0 from start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scrape_after_an_order_has_every_metric_the_alerts_and_dashboards_use() {
    let dir = tempfile::tempdir().unwrap();
    let up = start_up(dir.path());
    let c = reqwest::Client::new();
    let gw = up.gateway.clone();
    let scrape = || async {
        c.get(format!("{gw}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // Before anything failed, the failure counters are there at 0.
    let before = scrape().await;
    for series in [
        "nakku_consumer_dead_letters_total{consumer=\"analytics\"} 0",
        "nakku_saga_step_failures_total{step=\"charge_payment\"} 0",
        "nakku_payments_total{outcome=\"failed\"} 0",
    ] {
        assert!(before.lines().any(|l| l == series), "{series} in\n{before}");
    }

    let _admin = open_shop(&c, &gw, dir.path(), 5).await;
    let (token, address) = shopper_with_a_mango(&c, &gw, 1).await;
    let id = place_upi_order(&c, &gw, &token, &address, "scraped-1").await;
    let order = settled_order(&c, &gw, &token, &id).await;
    assert_eq!(order["status"], "confirmed");
    // GMV counts the order's value, in paise.
    let gmv = format!(
        "nakku_order_value_paise_total{{currency=\"{}\"}} {}",
        order["currency"].as_str().unwrap(),
        order["total_paise"]
    );
    let text = scrape().await;
    assert!(text.lines().any(|l| l == gmv), "{gmv} in\n{text}");
    for page in ["products?q=mango", "products/MANGO"] {
        let r = c.get(format!("{gw}/api/v1/{page}")).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
    }

    let wanted = metric_names::in_deploy(&[
        "prometheus/rules.yml",
        "grafana/dashboards/nakku-platform.json",
        "grafana/dashboards/nakku-business.json",
    ]);
    assert!(wanted.len() >= 25, "{wanted:?}");
    // Gauges set by loops (lag, backlog, store load) appear within a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let text = scrape().await;
        let exported: std::collections::BTreeSet<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split(['{', ' ']).next())
            .collect();
        let missing: Vec<&String> = wanted.iter().filter(|n| !exported.contains(n.as_str())).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the rules and dashboards use {missing:?}, which a running nakku does not export:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
