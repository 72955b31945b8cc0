#!/usr/bin/env python3
"""Writes Nakku's Grafana dashboards (provisioned from deploy/grafana/dashboards/).

    python3 deploy/grafana/generate.py

Every query uses only metrics the code exports (nakku-cli/tests/manifests.rs checks the
names against the source). Edit this script, not the JSON it writes.
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}


def panel(pid, title, exprs, x, y, unit="short", w=12, h=8, kind="timeseries", legend=None):
    return {
        "id": pid,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
        "targets": [
            {"refId": chr(65 + i), "datasource": DS, "expr": e, "legendFormat": (legend or [""] * len(exprs))[i]}
            for i, e in enumerate(exprs)
        ],
    }


def dashboard(uid, title, panels):
    return {
        "uid": uid,
        "title": title,
        "tags": ["nakku"],
        "timezone": "browser",
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus",
        }]},
        "panels": panels,
    }


def platform():
    return dashboard("nakku-platform", "Nakku · platform", [
        panel(1, "Requests per second by service",
              ['sum by (service) (rate(nakku_http_requests_total[5m]))'], 0, 0, "reqps", legend=["{{service}}"]),
        panel(2, "5xx ratio by service",
              ['sum by (service) (rate(nakku_http_requests_total{status=~"5.."}[5m])) '
               '/ sum by (service) (rate(nakku_http_requests_total[5m]))'], 12, 0, "percentunit",
              legend=["{{service}}"]),
        panel(3, "p99 latency by service",
              ['histogram_quantile(0.99, sum by (service, le) (rate(nakku_http_request_duration_seconds_bucket[5m])))'],
              0, 8, "s", legend=["{{service}}"]),
        panel(4, "Slowest routes (p99)",
              ['topk(10, histogram_quantile(0.99, sum by (service, route, le) '
               '(rate(nakku_http_request_duration_seconds_bucket[5m]))))'], 12, 8, "s",
              legend=["{{service}} {{route}}"]),
        panel(5, "Outbox: unpublished events",
              ['sum by (service) (nakku_outbox_backlog)'], 0, 16, legend=["{{service}}"]),
        panel(6, "Outbox: age of the oldest unpublished event",
              ['max by (service) (nakku_outbox_oldest_age_seconds)'], 12, 16, "s", legend=["{{service}}"]),
        panel(7, "Events published and failed publishes",
              ['sum by (service) (rate(nakku_outbox_published_total[5m]))',
               'sum by (service) (rate(nakku_outbox_publish_failures_total[5m]))'], 0, 24, "ops",
              legend=["published {{service}}", "failed {{service}}"]),
        panel(8, "Consumer lag",
              ['max by (consumer) (nakku_consumer_lag)'], 12, 24, legend=["{{consumer}}"]),
        panel(9, "Consumer messages (applied, duplicate), retries, dead letters",
              ['sum by (outcome) (rate(nakku_consumer_messages_total[5m]))',
               'sum(rate(nakku_consumer_retries_total[5m]))',
               'sum(increase(nakku_consumer_dead_letters_total[1h]))'], 0, 32, "ops",
              legend=["{{outcome}}", "retries", "dead letters (1 h)"]),
        panel(10, "Gateway: circuits opened, fast failures, retries, rate-limited",
              ['sum by (upstream) (increase(nakku_gateway_circuit_opened_total[15m]))',
               'sum by (service) (rate(nakku_gateway_fast_failures_total[5m]))',
               'sum by (service) (rate(nakku_gateway_retries_total[5m]))',
               'sum by (class) (rate(nakku_rate_limited_total[5m]))'], 12, 32,
              legend=["opened {{upstream}}", "503 at once {{service}}", "retried {{service}}", "429 {{class}}"]),
        panel(11, "Catalogue cache and search",
              ['sum by (result) (rate(nakku_cache_requests_total[5m]))',
               'sum(rate(nakku_cache_errors_total[5m]))',
               # A summary (no buckets): its own 0.99 quantile, per process.
               'max(nakku_search_seconds{quantile="0.99"})'], 0, 40,
              legend=["cache {{result}}", "cache errors", "search p99 (s)"]),
        panel(12, "Inventory reservations",
              ['sum by (status) (rate(nakku_inventory_reservations_total[5m]))',
               'sum(rate(nakku_inventory_reservation_batch_failures_total[5m]))'], 12, 40, "ops",
              legend=["{{status}}", "batches retried one by one"]),
        panel(13, "Database pools: connections in use ÷ pool size",
              ['max by (service, pool) (nakku_db_pool_connections{state="in_use"} '
               '/ ignoring (state) nakku_db_pool_max_connections)'], 0, 48, "percentunit",
              legend=["{{service}} {{pool}}"]),
    ])


def business():
    return dashboard("nakku-business", "Nakku · orders", [
        panel(1, "Orders placed per minute", ['sum(rate(nakku_orders_placed_total[5m])) * 60'], 0, 0, "short",
              legend=["orders/min"]),
        panel(2, "Order funnel: moves per minute by new status",
              ['sum by (to) (rate(nakku_order_transitions_total[5m])) * 60'], 12, 0, legend=["{{to}}"]),
        panel(3, "Orders placed today", ['sum(increase(nakku_orders_placed_total[24h]))'], 0, 8, "short",
              w=6, kind="stat"),
        panel(4, "Payments by outcome", ['sum by (outcome) (rate(nakku_payments_total[5m])) * 60'], 6, 8,
              legend=["{{outcome}}/min"], w=9),
        panel(5, "Payment failure ratio",
              ['sum(rate(nakku_payments_total{outcome="failed"}[15m])) / sum(rate(nakku_payments_total[15m]))'],
              15, 8, "percentunit", w=9),
        panel(6, "Saga: step failures and compensations",
              ['sum by (step) (rate(nakku_saga_step_failures_total[5m])) * 60',
               'sum(rate(nakku_saga_compensations_total[5m])) * 60'], 0, 16,
              legend=["{{step}} failures/min", "compensations/min"]),
        panel(7, "Refunds and packed orders per minute",
              ['sum(rate(nakku_refunds_total[5m])) * 60', 'sum(rate(nakku_orders_packed_total[5m])) * 60'],
              12, 16, legend=["refunds", "packed"]),
        panel(8, "Delivery slots booked per minute", ['sum(rate(nakku_slot_bookings_total[5m])) * 60'],
              0, 24, legend=["booked"]),
        panel(9, "Notifications by channel and outcome",
              ['sum by (channel, outcome) (rate(nakku_notifications_total[5m])) * 60'], 12, 24,
              legend=["{{channel}} {{outcome}}"]),
        panel(10, "Stores by load (paused: taking no orders)",
              ['max by (load) (nakku_stores)'], 0, 32, legend=["{{load}}"]),
        panel(11, "GMV per minute (placed orders)",
              ['sum by (currency) (rate(nakku_order_value_paise_total[5m])) * 60 / 100'], 12, 32,
              legend=["{{currency}}/min"]),
        panel(12, "GMV today", ['sum by (currency) (increase(nakku_order_value_paise_total[24h])) / 100'],
              0, 40, w=6, kind="stat", legend=["{{currency}}"]),
        panel(13, "Delivery time, confirmation to door (p50, p90)",
              ['histogram_quantile(0.5, sum by (le) (rate(nakku_delivery_time_seconds_bucket[30m])))',
               'histogram_quantile(0.9, sum by (le) (rate(nakku_delivery_time_seconds_bucket[30m])))'],
              6, 40, "s", w=9, legend=["p50", "p90"]),
        panel(14, "Stock alerts per hour",
              ['sum by (type) (increase(nakku_events_published_total{type=~"inventory\\\\.(low_stock|out_of_stock)"}[1h]))'],
              15, 40, w=9, legend=["{{type}}"]),
    ])


def main():
    out = os.path.join(HERE, "dashboards")
    os.makedirs(out, exist_ok=True)
    for name, d in [("platform", platform()), ("business", business())]:
        with open(os.path.join(out, f"nakku-{name}.json"), "w") as f:
            json.dump(d, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
