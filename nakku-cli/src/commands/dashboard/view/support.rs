//! The support tab: look up a customer or an order and read its story.

use super::*;

pub(super) fn support_tab(f: &mut Frame, area: Rect, app: &App) {
    let [bar, body] = Layout::vertical([Constraint::Length(3), Constraint::Min(0)]).areas(area);
    let editing = app.editing == Some(Editing::Lookup);
    let cursor = if editing { "▏" } else { "" };
    let style = if editing { Style::new().cyan() } else { Style::new() };
    f.render_widget(
        Paragraph::new(format!("{}{cursor}", app.query)).block(panel("Order id or phone number").border_style(style)),
        bar,
    );
    match &app.support {
        Support::Empty => f.render_widget(
            Paragraph::new(vec![
                Line::from(
                    "Press / and type an order id, or a shopper's phone number (10 digits or +91…), then Enter.",
                ),
                Line::from("From the Events screen, Enter opens the order of the newest shown event."),
            ])
            .dark_gray()
            .wrap(Wrap { trim: true }),
            body,
        ),
        Support::Looking(q) => f.render_widget(Paragraph::new(format!("Looking up {q}…")).dark_gray(), body),
        Support::Failed(e) => f.render_widget(
            Paragraph::new(format!("Could not look it up: {e}"))
                .red()
                .wrap(Wrap { trim: true }),
            body,
        ),
        Support::Found(Lookup::Nothing(m)) => f.render_widget(Paragraph::new(m.clone()).yellow(), body),
        Support::Found(Lookup::Orders { who, orders }) => order_list(f, body, app, who, orders),
        Support::Found(Lookup::Order(story)) => order_story(f, body, app, story),
    }
}

pub(super) fn status_colour(s: &str) -> Color {
    match s {
        "delivered" | "confirmed" | "captured" | "completed" => Color::Green,
        "cancelled" | "failed" | "voided" => Color::Red,
        "pending" | "stock_reserved" | "paid" | "initiated" | "cod_pending" => Color::Yellow,
        _ => Color::Cyan,
    }
}

pub(super) fn order_list(f: &mut Frame, area: Rect, app: &App, who: &str, orders: &[Value]) {
    let rows: Vec<Row> = orders
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let status = o["status"].as_str().unwrap_or("?").to_owned();
            let row = Row::new(vec![
                Span::raw(if i == app.selected { "›" } else { " " }),
                Span::raw(when(app, o["created_at"].as_str().unwrap_or(""))),
                Span::raw(o["id"].as_str().unwrap_or("?").to_owned()),
                Span::raw(o["store"].as_str().unwrap_or("?").to_owned()),
                Span::styled(status.clone(), Style::new().fg(status_colour(&status))),
                Span::raw(rupees(o["total_paise"].as_i64().unwrap_or(0))),
            ]);
            if i == app.selected {
                row.style(Style::new().reversed())
            } else {
                row
            }
        })
        .collect();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(1),
                Constraint::Length(12),
                Constraint::Length(36),
                Constraint::Length(12),
                Constraint::Length(15),
                Constraint::Min(10),
            ],
        )
        .header(Row::new(vec!["", "placed", "order", "store", "status", "total"]).bold())
        .block(panel(format!("{who} · {} orders · Enter to open", orders.len()))),
        area,
    );
}

pub(super) fn kv(k: &str, v: impl Into<String>) -> Line<'static> {
    Line::from(vec![Span::raw(format!("{k:<10}")).dark_gray(), Span::raw(v.into())])
}

pub(super) fn order_story(f: &mut Frame, area: Rect, app: &App, s: &OrderStory) {
    let o = &s.order;
    let [left, right] = if area.width >= 100 {
        Layout::horizontal([Constraint::Length(52), Constraint::Min(40)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(50), Constraint::Percentage(50)]).areas(area)
    };
    let status = o["status"].as_str().unwrap_or("?").to_owned();
    let mut lines = vec![
        kv("order", o["id"].as_str().unwrap_or("?")),
        Line::from(vec![
            Span::raw(format!("{:<10}", "status")).dark_gray(),
            Span::styled(status.clone(), Style::new().fg(status_colour(&status)).bold()),
        ]),
        kv("store", o["store"].as_str().unwrap_or("?")),
        kv("shopper", o["user_id"].as_str().unwrap_or("?")),
        kv("placed", when(app, o["created_at"].as_str().unwrap_or(""))),
        kv(
            "total",
            format!(
                "{} ({} items + {} fees)",
                rupees(o["total_paise"].as_i64().unwrap_or(0)),
                rupees(o["items_paise"].as_i64().unwrap_or(0)),
                rupees(o["fees_paise"].as_i64().unwrap_or(0))
            ),
        ),
    ];
    if let Some(r) = o["failure_reason"].as_str() {
        lines.push(Line::from(vec![
            Span::raw(format!("{:<10}", "why")).dark_gray(),
            Span::raw(r.to_owned()).red(),
        ]));
    }
    match &s.payment {
        Ok(p) => {
            let refunded = p["refunded_paise"].as_i64().unwrap_or(0);
            lines.push(kv(
                "payment",
                format!(
                    "{} {} · {} kept{}",
                    p["kind"].as_str().unwrap_or("?"),
                    p["status"].as_str().unwrap_or("?"),
                    rupees(p["captured_paise"].as_i64().unwrap_or(0)),
                    if refunded > 0 {
                        format!(" · {} refunded", rupees(refunded))
                    } else {
                        String::new()
                    }
                ),
            ))
        }
        Err(e) => lines.push(kv("payment", format!("unavailable: {e}"))),
    }
    match &s.delivery {
        Ok(d) => {
            let partner = d["partner"]["name"]
                .as_str()
                .map(|n| format!(" · {n} ({})", d["partner"]["vehicle"].as_str().unwrap_or("?")));
            lines.push(kv(
                "delivery",
                format!("{}{}", d["status"].as_str().unwrap_or("?"), partner.unwrap_or_default()),
            ));
            if let Some(m) = d["promise"]["promised_minutes"].as_i64() {
                let breached = d["promise"]["breached"].as_bool() == Some(true);
                lines.push(kv(
                    "promise",
                    format!("{m} min{}", if breached { " · BREACHED" } else { "" }),
                ));
            }
        }
        Err(e) => lines.push(kv("delivery", format!("none yet ({e})"))),
    }
    // The trace to open in the trace UI (Jaeger, Tempo) when tracing is on.
    if let Some(t) = s.events.iter().flatten().find_map(|e| e.trace_id.as_deref()) {
        lines.push(kv("trace", t.to_owned()));
    }
    lines.push(Line::from(""));
    for l in o["lines"].as_array().into_iter().flatten() {
        lines.push(Line::from(format!(
            "{:>3} × {} {} · {}{}",
            l["quantity"].as_i64().unwrap_or(0),
            l["name"].as_str().unwrap_or("?"),
            l["unit"].as_str().unwrap_or(""),
            rupees(l["line_total_paise"].as_i64().unwrap_or(0)),
            match l["status"].as_str() {
                Some("ok" | "active") | None => String::new(),
                Some(other) => format!(" ({other})"),
            }
        )));
    }
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(panel("Order")),
        left,
    );

    // The timeline across services from the event log; the order's own history when the
    // log has nothing (older than its retention, or the analytics service is down).
    let (title, rows): (String, Vec<Row>) = match &s.events {
        Ok(ev) if !ev.is_empty() => (
            format!("Timeline across services · {} events", ev.len()),
            ev.iter()
                .map(|e| event_row(app, e, &[Col::Time, Col::Source, Col::Type, Col::Payload]))
                .collect(),
        ),
        other => {
            let why = match other {
                Err(e) => format!("event log unavailable: {e}"),
                _ => "not in the event log".to_owned(),
            };
            (
                format!("Order history ({why})"),
                o["timeline"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|t| {
                        let st = t["status"].as_str().unwrap_or("?").to_owned();
                        Row::new(vec![
                            Span::raw(clock(app, t["at"].as_str().unwrap_or(""))),
                            Span::raw(t["actor"].as_str().unwrap_or("").to_owned()).dark_gray(),
                            Span::styled(st.clone(), Style::new().fg(status_colour(&st))),
                            Span::raw(t["note"].as_str().unwrap_or("").to_owned()),
                        ])
                    })
                    .collect(),
            )
        }
    };
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(8),
                Constraint::Length(12),
                Constraint::Length(24),
                Constraint::Min(10),
            ],
        )
        .block(panel(title)),
        right,
    );
}
