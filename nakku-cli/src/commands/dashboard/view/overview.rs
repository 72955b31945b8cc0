//! The overview tab: orders, today, the funnel, deliveries, health, alerts and the event
//! tail.

use super::*;

pub(super) fn overview(f: &mut Frame, area: Rect, app: &App) {
    if area.width >= WIDE {
        let [r1, r2, r3] =
            Layout::vertical([Constraint::Length(8), Constraint::Length(9), Constraint::Min(4)]).areas(area);
        let [spark, today] = Layout::horizontal([Constraint::Min(40), Constraint::Length(44)]).areas(r1);
        let [funnel, delivery, health] = Layout::horizontal([
            Constraint::Percentage(36),
            Constraint::Percentage(30),
            Constraint::Percentage(34),
        ])
        .areas(r2);
        let [alerts, tail] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r3);
        orders_panel(f, spark, app);
        today_panel(f, today, app);
        funnel_panel(f, funnel, app);
        delivery_panel(f, delivery, app);
        health_panel(f, health, app);
        alerts_panel(f, alerts, app);
        tail_panel(f, tail, app);
    } else {
        // Stacked, most important first; what does not fit is left out (the other screens
        // still show it).
        let [r1, r2, r3, r4] = Layout::vertical([
            Constraint::Length(6),
            Constraint::Length(8),
            Constraint::Length(9),
            Constraint::Min(0),
        ])
        .areas(area);
        orders_panel(f, r1, app);
        let [today, funnel] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r2);
        today_panel(f, today, app);
        funnel_panel(f, funnel, app);
        let [delivery, health] = Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(r3);
        delivery_panel(f, delivery, app);
        health_panel(f, health, app);
        if r4.height >= 4 {
            alerts_panel(f, r4, app);
        }
    }
}

pub(super) fn orders_panel(f: &mut Frame, area: Rect, app: &App) {
    let feed = &app.feeds.hour;
    let Some(s) = ready(f, area, "Orders per minute · last hour", feed) else {
        return;
    };
    let points: Vec<u64> = s
        .orders_per_minute
        .points
        .iter()
        .map(|p| p.orders.max(0) as u64)
        .collect();
    let now = points.last().copied().unwrap_or(0);
    let peak = points.iter().copied().max().unwrap_or(0);
    let total: u64 = points.iter().sum();
    let title = format!("Orders per minute · last hour · now {now} · peak {peak} · {total} in the hour");
    // The newest minutes when the panel is narrower than the series, stretched over the
    // panel's width when it is wider.
    let inner = area.width.saturating_sub(2) as usize;
    let shown = &points[points.len().saturating_sub(inner)..];
    let columns: Vec<u64> = if shown.is_empty() {
        Vec::new()
    } else {
        (0..inner).map(|c| shown[c * shown.len() / inner.max(1)]).collect()
    };
    f.render_widget(
        Sparkline::default()
            .block(titled(&title, feed))
            .data(columns)
            .style(Style::new().green()),
        area,
    );
}

pub(super) fn today_panel(f: &mut Frame, area: Rect, app: &App) {
    let feed = &app.feeds.today;
    let Some(s) = ready(f, area, "Today", feed) else {
        return;
    };
    let o = &s.orders;
    let lines = vec![
        Line::from(vec![
            Span::raw("GMV      "),
            Span::styled(rupees(o.gmv_paise), Style::new().bold().green()),
        ]),
        Line::from(format!(
            "net      {}  (refunded {})",
            rupees(o.net_gmv_paise),
            rupees(o.refunded_paise)
        )),
        Line::from(format!("average  {}", rupees(o.average_order_paise))),
        Line::from(format!("orders   {} placed · {} delivered", o.placed, o.delivered)),
        Line::from(vec![
            Span::raw("ended    "),
            Span::styled(format!("{} cancelled", o.cancelled), Style::new().yellow()),
            Span::raw(" · "),
            Span::styled(format!("{} failed", o.failed), Style::new().red()),
        ]),
    ];
    f.render_widget(Paragraph::new(lines).block(titled("Today", feed)), area);
}

pub(super) fn funnel_panel(f: &mut Frame, area: Rect, app: &App) {
    let feed = &app.feeds.today;
    let Some(s) = ready(f, area, "Saga funnel · today", feed) else {
        return;
    };
    let placed = s.orders.placed.max(1) as f64;
    let label_w = 16usize;
    let bar_w = (area.width as usize).saturating_sub(label_w + 16).max(4);
    let mut lines: Vec<Line> = s
        .orders
        .funnel
        .iter()
        .map(|st| {
            let share = st.orders as f64 / placed;
            let filled = ((share * bar_w as f64).round() as usize).min(bar_w);
            Line::from(vec![
                Span::raw(format!("{:<label_w$}", st.stage.replace('_', " "))),
                Span::styled("█".repeat(filled), Style::new().cyan()),
                Span::raw("░".repeat(bar_w - filled)).dark_gray(),
                Span::raw(format!(" {:>5} {:>4.0}%", st.orders, share * 100.0)),
            ])
        })
        .collect();
    lines.push(Line::from(vec![
        Span::styled(format!("{:<label_w$}", "cancelled"), Style::new().yellow()),
        Span::raw(format!("{}", s.orders.cancelled)),
        Span::raw("   "),
        Span::styled("failed ", Style::new().red()),
        Span::raw(format!("{}", s.orders.failed)),
    ]));
    f.render_widget(Paragraph::new(lines).block(titled("Saga funnel · today", feed)), area);
}

pub(super) fn minutes(m: Option<f64>) -> String {
    m.map_or("–".to_owned(), |m| format!("{m:.1} min"))
}

pub(super) fn delivery_panel(f: &mut Frame, area: Rect, app: &App) {
    let mut lines = Vec::new();
    match &app.feeds.today.value {
        Some(s) => {
            let d = &s.delivery_minutes.all;
            lines.push(Line::from(vec![
                Span::raw("to door "),
                Span::styled(format!("p50 {}", minutes(d.p50)), Style::new().bold()),
                Span::raw(format!(" · p90 {}", minutes(d.p90))),
            ]));
            lines.push(Line::from(format!("        {} delivered today", d.delivered)).dark_gray());
        }
        None => lines.push(Line::from("to door –").dark_gray()),
    }
    let feed = &app.feeds.partners;
    match (&feed.value, &feed.error) {
        (Some(p), _) => {
            let count =
                |f: &dyn Fn(&nakku_core::delivery::partners::Partner) -> bool| p.items.iter().filter(|x| f(x)).count();
            let delivering = count(&|x| x.state == "available" && x.deliveries_in_hand > 0);
            let idle = count(&|x| x.state == "available" && x.deliveries_in_hand == 0);
            let offline = count(&|x| x.state == "offline");
            let off = count(&|x| x.state == "off_shift");
            lines.push(Line::from(format!("partners {}", p.items.len())).bold());
            for (n, label, colour) in [
                (idle, "available", Color::Green),
                (delivering, "delivering", Color::Cyan),
                (offline, "offline (no ping)", Color::Red),
                (off, "off shift", Color::DarkGray),
            ] {
                lines.push(Line::from(Span::styled(
                    format!(" ● {n:>4} {label}"),
                    Style::new().fg(colour),
                )));
            }
            if let Some(e) = &feed.error {
                lines.push(Line::from(format!("stale: {e}")).yellow());
            }
        }
        (None, Some(e)) => lines.push(Line::from(format!("partners unavailable: {e}")).red()),
        (None, None) => lines.push(Line::from("partners loading…").dark_gray()),
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(titled("Delivery", &app.feeds.partners)),
        area,
    );
}

pub(super) fn health_panel(f: &mut Frame, area: Rect, app: &App) {
    let feed = &app.feeds.health;
    let Some(h) = ready(f, area, "Services", feed) else {
        return;
    };
    let rows: Vec<Row> = h["checks"]
        .as_object()
        .map(|c| {
            c.iter()
                .map(|(name, c)| {
                    let status = c["status"].as_str().unwrap_or("?");
                    let colour = match status {
                        "up" => Color::Green,
                        "down" => Color::Red,
                        _ => Color::Yellow,
                    };
                    let detail = match (c["latency_ms"].as_f64(), c["error"].as_str()) {
                        (_, Some(e)) => e.to_owned(),
                        (Some(ms), _) => format!("{ms:.1} ms"),
                        _ => String::new(),
                    };
                    Row::new(vec![
                        Span::styled("●", Style::new().fg(colour)),
                        Span::raw(name.clone()),
                        Span::styled(status.to_owned(), Style::new().fg(colour)),
                        Span::raw(detail).dark_gray(),
                    ])
                })
                .collect()
        })
        .unwrap_or_default();
    let title = format!("Services · {}", h["status"].as_str().unwrap_or("?"));
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(13),
                Constraint::Length(5),
                Constraint::Min(4),
            ],
        )
        .block(titled(&title, feed)),
        area,
    );
}

pub(super) fn alerts_panel(f: &mut Frame, area: Rect, app: &App) {
    let feed = &app.feeds.today;
    let Some(s) = ready(f, area, "Stock alerts", feed) else {
        return;
    };
    let a = &s.stock_alerts_open;
    let mut by: Vec<(&String, &nakku_core::analytics::LowOut)> = a.by_store.iter().collect();
    by.sort_by(|x, y| (y.1.out, y.1.low).cmp(&(x.1.out, x.1.low)).then(x.0.cmp(y.0)));
    let mut rows: Vec<Row> = by
        .iter()
        .map(|(store, n)| {
            Row::new(vec![
                Span::raw((*store).clone()),
                Span::styled(format!("{:>5}", n.out), Style::new().red()),
                Span::styled(format!("{:>5}", n.low), Style::new().yellow()),
            ])
        })
        .collect();
    if rows.is_empty() {
        rows.push(Row::new(vec![Span::raw("none open").green()]));
    }
    let title = format!("Alerts · {} out · {} low", a.out, a.low);
    let [table, oldest] = if area.width >= 60 {
        Layout::horizontal([Constraint::Length(30), Constraint::Min(20)]).areas(area)
    } else {
        [area, Rect::default()]
    };
    f.render_widget(
        Table::new(
            rows,
            [Constraint::Length(12), Constraint::Length(5), Constraint::Length(5)],
        )
        .header(Row::new(vec!["store", "  out", "  low"]).bold())
        .block(titled(&title, feed)),
        table,
    );
    if oldest.width > 0 {
        let alerts = &app.feeds.alerts;
        let Some(list) = ready(f, oldest, "Oldest alerts", alerts) else {
            return;
        };
        let lines: Vec<Line> = list
            .items
            .iter()
            .take(oldest.height.saturating_sub(2) as usize)
            .map(|al| {
                let colour = if al.kind == "out" { Color::Red } else { Color::Yellow };
                Line::from(vec![
                    Span::raw(format!("{} ", since(app, &al.opened_at))).dark_gray(),
                    Span::styled(format!("{:<4}", al.kind), Style::new().fg(colour)),
                    Span::raw(format!("{} ", al.store)),
                    Span::raw(al.name.clone().unwrap_or_else(|| al.sku.clone())),
                    Span::raw(format!(" ({} left)", al.available)).dark_gray(),
                ])
            })
            .collect();
        f.render_widget(Paragraph::new(lines).block(titled("Oldest alerts", alerts)), oldest);
    }
}

/// Payload fields that say most about an event, shown first.
pub(super) const TELLING: [&str; 12] = [
    "reason",
    "failure_reason",
    "sku",
    "available",
    "amount_paise",
    "kind",
    "payment_kind",
    "channel",
    "actual_minutes",
    "breached",
    "store",
    "total_paise",
];

/// A payload in one line: a move as `from → status`, then the telling fields, then the
/// rest; scalars as `key=value`, lists as their length; the order id and empty fields left
/// out (the order has its own column).
pub fn gist(payload: &Value) -> String {
    let Some(map) = payload.as_object() else {
        return payload.to_string();
    };
    let mut parts = Vec::new();
    let text = |v: &Value| v.as_str().map_or_else(|| v.to_string(), str::to_owned);
    let mut skip = vec!["order_id"];
    if let (Some(from), Some(to)) = (map.get("from"), map.get("status")) {
        parts.push(format!("{} → {}", text(from), text(to)));
        skip.extend(["from", "status"]);
    } else if let Some(to) = map.get("status") {
        parts.push(text(to));
        skip.push("status");
    }
    let mut keys: Vec<&String> = map.keys().filter(|k| !skip.contains(&k.as_str())).collect();
    keys.sort_by_key(|k| TELLING.iter().position(|t| t == k).unwrap_or(TELLING.len()));
    for k in keys {
        match &map[k] {
            Value::Null => {}
            Value::String(s) => parts.push(format!("{k}={s}")),
            Value::Array(a) => parts.push(format!("{k}=[{}]", a.len())),
            Value::Object(_) => parts.push(format!("{k}={{…}}")),
            other => parts.push(format!("{k}={other}")),
        }
    }
    parts.join(" ")
}

pub(super) fn type_colour(t: &str) -> Color {
    if t.contains("fail") || t.contains("out_of_stock") || t.contains("cancel") {
        Color::Red
    } else if t.contains("low_stock") || t.contains("released") {
        Color::Yellow
    } else if t.starts_with("order.") {
        Color::Cyan
    } else if t.starts_with("payment.") {
        Color::Magenta
    } else if t.starts_with("delivery.") {
        Color::Blue
    } else {
        Color::Reset
    }
}

/// A column of an event table.
#[derive(Clone, Copy)]
pub(super) enum Col {
    Time,
    Type,
    Source,
    Order,
    Payload,
}

/// The Events screen's columns; the overview leaves out the source (the type names its
/// domain), an order's timeline the order.
pub(super) const FULL: [Col; 5] = [Col::Time, Col::Type, Col::Source, Col::Order, Col::Payload];

/// An event as a table row of `cols`, each styled the same wherever it shows.
pub(super) fn event_row(app: &App, e: &LoggedEvent, cols: &[Col]) -> Row<'static> {
    Row::new(cols.iter().map(|c| match c {
        Col::Time => Span::raw(clock(app, &e.occurred_at)),
        Col::Type => Span::styled(e.event_type.clone(), Style::new().fg(type_colour(&e.event_type))),
        Col::Source => Span::raw(e.source.clone()).dark_gray(),
        Col::Order => Span::raw(e.order_id.as_deref().map(short).unwrap_or("").to_owned()),
        Col::Payload => Span::raw(gist(&e.payload)),
    }))
}

pub(super) const EVENT_COLS: [Constraint; 5] = [
    Constraint::Length(8),
    Constraint::Length(26),
    Constraint::Length(12),
    Constraint::Length(8),
    Constraint::Min(10),
];

pub(super) fn tail_title(app: &App, shown: usize) -> String {
    let mut t = format!("Live events · {shown} shown");
    if !app.filter.is_empty() {
        t.push_str(&format!(" · filter \"{}\"", app.filter));
    }
    if app.paused {
        t.push_str(&format!(" · PAUSED ({} held)", app.held.len()));
    }
    t
}

pub(super) fn tail_block(app: &App, shown: usize) -> Block<'static> {
    match &app.tail_error {
        Some(e) if app.events.is_empty() => {
            panel(format!("{} · unavailable: {e}", tail_title(app, shown))).border_style(Style::new().red())
        }
        Some(_) => panel(format!("{} · stale", tail_title(app, shown))).border_style(Style::new().yellow()),
        None => panel(tail_title(app, shown)),
    }
}

/// The overview's tail: the newest events that fit, without the source column (the type
/// names its domain).
pub(super) fn tail_panel(f: &mut Frame, area: Rect, app: &App) {
    let shown = app.shown_events();
    let room = area.height.saturating_sub(2) as usize;
    let rows: Vec<Row> = shown[shown.len().saturating_sub(room)..]
        .iter()
        .map(|e| event_row(app, e, &[Col::Time, Col::Type, Col::Order, Col::Payload]))
        .collect();
    let cols = [
        Constraint::Length(8),
        Constraint::Length(22),
        Constraint::Length(8),
        Constraint::Min(10),
    ];
    f.render_widget(Table::new(rows, cols).block(tail_block(app, shown.len())), area);
}
