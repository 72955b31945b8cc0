//! Drawing the dashboard from [`App`]: pure (no I/O), so the tests draw it on ratatui's
//! `TestBackend` from known data. Wide terminals get the overview in columns, narrow ones
//! the panels stacked by importance; anything under [`MIN_WIDTH`]×[`MIN_HEIGHT`] gets a
//! message instead of a broken layout.

use chrono::{DateTime, FixedOffset, Offset, Utc};
use ratatui::backend::TestBackend;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Row, Sparkline, Table, Wrap};
use ratatui::{Frame, Terminal};
use serde_json::Value;

use super::data::{Feed, Lookup, OrderStory};
use super::{App, Editing, Support, Tab};
use nakku_core::analytics::event_log::LoggedEvent;

mod overview;
mod support;

use overview::*;
use support::*;

pub const MIN_WIDTH: u16 = 60;
pub const MIN_HEIGHT: u16 = 16;
/// From this width the overview sets its panels side by side.
const WIDE: u16 = 110;

/// Draws `app` on a `width`×`height` test terminal and returns the screen as text (trailing
/// spaces trimmed): `--once` and the tests.
pub fn render_text(app: &App, width: u16, height: u16) -> anyhow::Result<String> {
    let mut t = Terminal::new(TestBackend::new(width, height))?;
    t.draw(|f| draw(f, app))?;
    let buf = t.backend().buffer();
    let mut out = Vec::with_capacity(height as usize);
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buf[(x, y)].symbol());
        }
        out.push(line.trim_end().to_owned());
    }
    Ok(out.join("\n"))
}

pub fn draw(f: &mut Frame, app: &App) {
    let area = f.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let msg = format!(
            "The terminal is {}×{}; the dashboard needs at least {MIN_WIDTH}×{MIN_HEIGHT}. Make it larger, or press q to quit.",
            area.width, area.height
        );
        f.render_widget(Paragraph::new(msg).wrap(Wrap { trim: true }), area);
        return;
    }
    let banner = banner(app);
    let [top, warn, body, foot] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(banner.as_ref().map_or(0, |_| 1)),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    header(f, top, app);
    if let Some(b) = banner {
        f.render_widget(Paragraph::new(b), warn);
    }
    match app.tab {
        Tab::Overview => overview(f, body, app),
        Tab::Events => events_tab(f, body, app),
        Tab::Support => support_tab(f, body, app),
    }
    footer(f, foot, app);
    if app.help {
        help(f, area);
    }
}

fn tz(app: &App) -> FixedOffset {
    FixedOffset::east_opt((app.offset_minutes * 60) as i32).unwrap_or(Utc.fix())
}

/// An RFC 3339 time as local `HH:MM:SS` (or as it came when it is not a time).
fn clock(app: &App, t: &str) -> String {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&tz(app)).format("%H:%M:%S").to_string())
        .unwrap_or_else(|_| t.to_owned())
}

/// An RFC 3339 time as local `DD Mon HH:MM`.
fn when(app: &App, t: &str) -> String {
    DateTime::parse_from_rfc3339(t)
        .map(|d| d.with_timezone(&tz(app)).format("%d %b %H:%M").to_string())
        .unwrap_or_else(|_| t.to_owned())
}

/// When something began: `HH:MM` within the last day, else `DD Mon`.
fn since(app: &App, t: &str) -> String {
    match DateTime::parse_from_rfc3339(t) {
        Ok(d) if Utc::now().signed_duration_since(d) < chrono::Duration::hours(24) => {
            d.with_timezone(&tz(app)).format("%H:%M").to_string()
        }
        Ok(d) => d.with_timezone(&tz(app)).format("%d %b").to_string(),
        Err(_) => t.to_owned(),
    }
}

/// Paise as rupees with Indian digit grouping: `₹12,34,567.50`.
pub fn rupees(paise: i64) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let p = paise.unsigned_abs();
    let (whole, frac) = (p / 100, p % 100);
    let digits = whole.to_string();
    let mut grouped = String::new();
    let n = digits.len();
    for (i, c) in digits.chars().enumerate() {
        let left = n - i;
        if i > 0 && (left == 3 || (left > 3 && (left - 3) % 2 == 0)) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}₹{grouped}.{frac:02}")
}

/// The last 8 characters of an id (a UUIDv7 starts with its time, so its end tells
/// orders apart).
fn short(id: &str) -> &str {
    id.get(id.len().saturating_sub(8)..).unwrap_or(id)
}

fn panel(title: impl Into<String>) -> Block<'static> {
    Block::bordered().title(Span::styled(
        format!(" {} ", title.into()),
        Style::new().add_modifier(Modifier::BOLD),
    ))
}

/// A panel's text when its feed has nothing to show (yet, or any more).
fn missing<T>(feed: &Feed<T>) -> Option<Paragraph<'static>> {
    match (&feed.value, &feed.error) {
        (Some(_), _) => None,
        (None, Some(e)) => Some(
            Paragraph::new(format!("unavailable: {e}"))
                .red()
                .wrap(Wrap { trim: true }),
        ),
        (None, None) => Some(Paragraph::new("loading…").dark_gray()),
    }
}

/// The feed's value; without one, the panel says why (loading, or the error) and there is
/// nothing more to draw.
fn ready<'a, T>(f: &mut Frame, area: Rect, title: &str, feed: &'a Feed<T>) -> Option<&'a T> {
    if feed.value.is_none() {
        let p = missing(feed).unwrap_or_default();
        f.render_widget(p.block(titled(title, feed)), area);
    }
    feed.value.as_ref()
}

/// A panel's title with "stale" when the last fetch failed but an older value shows.
fn titled<T>(title: &str, feed: &Feed<T>) -> Block<'static> {
    match (&feed.value, &feed.error) {
        (Some(_), Some(_)) => panel(format!("{title} · stale")).border_style(Style::new().yellow()),
        (None, Some(_)) => panel(title).border_style(Style::new().red()),
        _ => panel(title),
    }
}

fn header(f: &mut Frame, area: Rect, app: &App) {
    let mut spans = vec![
        Span::styled(" Nakku ", Style::new().black().on_green().bold()),
        Span::raw(" "),
    ];
    for (i, t) in Tab::ALL.iter().enumerate() {
        let label = format!(" {} {} ", i + 1, t.title());
        spans.push(if *t == app.tab {
            Span::styled(label, Style::new().reversed().bold())
        } else {
            Span::raw(label)
        });
    }
    spans.push(Span::raw(format!("  {}", app.url)).dark_gray());
    if let Some(at) = &app.feeds.refreshed_at {
        spans.push(Span::raw(format!("  refreshed {}", clock(app, at))).dark_gray());
    }
    f.render_widget(Paragraph::new(Line::from(spans)), area);
}

/// The warning line: the gateway unreachable, or services degraded.
fn banner(app: &App) -> Option<Line<'static>> {
    let h = &app.feeds.health;
    if let Some(e) = &h.error {
        let mut s = format!(" ✖ gateway {} unreachable ({e})", app.url);
        if h.value.is_some() || app.feeds.today.value.is_some() {
            s.push_str(" — showing the last figures; retrying");
        } else {
            s.push_str(" — retrying");
        }
        return Some(Line::from(s).white().on_red().bold());
    }
    let v = h.value.as_ref()?;
    let down: Vec<&str> = v["checks"]
        .as_object()
        .map(|c| {
            c.iter()
                .filter(|(_, c)| c["status"] == "down")
                .map(|(k, _)| k.as_str())
                .collect()
        })
        .unwrap_or_default();
    if down.is_empty() {
        return None;
    }
    Some(
        Line::from(format!(
            " ⚠ degraded: {} down — their panels show what is missing",
            down.join(", ")
        ))
        .black()
        .on_yellow(),
    )
}

fn footer(f: &mut Frame, area: Rect, app: &App) {
    let keys = match (&app.editing, app.tab) {
        (Some(Editing::Filter), _) => "type words to filter (order.* = type prefix) · Enter keep · Esc clear",
        (Some(Editing::Lookup), _) => "order id or phone number · Enter look up · Esc cancel · Ctrl-U clear",
        (None, Tab::Overview) => "1-3/Tab screens · / filter events · o find an order · r refresh · ? help · q quit",
        (None, Tab::Events) => "/ filter · c clear · space pause · ↑↓ scroll · Enter open its order · ? help · q quit",
        (None, Tab::Support) => "/ search · ↑↓ choose · Enter open · 1-3/Tab screens · ? help · q quit",
    };
    f.render_widget(Paragraph::new(Line::from(format!(" {keys}")).dark_gray()), area);
}

fn help(f: &mut Frame, area: Rect) {
    let rows = [
        ("1 2 3, Tab, ← →", "Overview, Events, Support"),
        ("r", "refresh the figures now (they refresh every --refresh seconds)"),
        ("/", "Events: filter; Support: search"),
        ("o", "find an order by id or phone number"),
        ("space or p", "pause / resume the event tail (new events are held)"),
        ("c", "Events: clear the filter"),
        ("↑ ↓ PgUp PgDn", "scroll the events, choose an order"),
        ("Enter", "open the chosen order, or the order of the newest shown event"),
        ("Esc", "stop typing; quit when not typing"),
        ("q, Ctrl-C", "quit (the terminal is restored)"),
        ("?", "this help; any key closes it"),
    ];
    let h = rows.len() as u16 + 4;
    let box_area = area.centered(Constraint::Max(78), Constraint::Length(h.min(area.height)));
    let table = Table::new(
        rows.iter()
            .map(|(k, v)| Row::new(vec![Span::raw(*k).bold().cyan(), Span::raw(*v)])),
        [Constraint::Length(16), Constraint::Min(10)],
    )
    .block(panel("Keys").border_style(Style::new().cyan()))
    .column_spacing(2);
    f.render_widget(Clear, box_area);
    f.render_widget(table, box_area);
}

// The overview and support tabs are in `view/`; the events tab is here.

// ----- events -----

fn events_tab(f: &mut Frame, area: Rect, app: &App) {
    let [bar, list] = Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
    let editing = app.editing == Some(Editing::Filter);
    let cursor = if editing { "▏" } else { "" };
    f.render_widget(
        Paragraph::new(Line::from(vec![
            Span::raw(" filter: ").bold(),
            Span::raw(format!("{}{cursor}", app.filter)),
            Span::raw(if app.filter.is_empty() && !editing {
                "  (press / — words must all match; order.* matches types)"
            } else {
                ""
            })
            .dark_gray(),
        ])),
        bar,
    );
    let shown = app.shown_events();
    let room = list.height.saturating_sub(3) as usize;
    let end = shown.len().saturating_sub(app.scroll);
    let start = end.saturating_sub(room);
    let rows: Vec<Row> = shown[start..end].iter().map(|e| event_row(app, e, &FULL)).collect();
    let mut block = tail_block(app, shown.len());
    if app.scroll > 0 {
        block = block.title_bottom(format!(" {} newer below · End for the newest ", app.scroll));
    }
    f.render_widget(
        Table::new(rows, EVENT_COLS)
            .header(Row::new(vec!["time", "type", "source", "order", "payload"]).bold())
            .block(block),
        list,
    );
}

#[cfg(test)]
mod tests {
    use super::super::data::{Fail, Feed};
    use super::super::{Action, App, Tab};
    use super::*;
    use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use serde_json::json;

    fn key(app: &mut App, code: KeyCode) -> Action {
        app.key(KeyEvent::new(code, KeyModifiers::NONE))
    }

    fn typed(app: &mut App, s: &str) {
        for c in s.chars() {
            key(app, KeyCode::Char(c));
        }
    }

    const ORDER: &str = "01a21a20-9c28-776f-b67a-de44eb47a39f";

    fn summary(placed: i64, gmv: i64) -> nakku_core::analytics::Summary {
        let points: Vec<Value> = (0..60)
            .map(
                |i| json!({"at": "2026-11-26T22:00:00Z", "orders": if i == 59 { 7 } else { i % 3 }, "per_minute": 1.0}),
            )
            .collect();
        serde_json::from_value(json!({
            "from": "2026-11-26T18:30:00Z", "to": "2026-11-26T23:00:00Z", "store": null,
            "orders": {"placed": placed, "confirmed": 40, "delivered": 31, "cancelled": 4, "failed": 2,
                       "gmv_paise": gmv, "refunded_paise": 5_000, "net_gmv_paise": gmv - 5_000, "average_order_paise": 30_864,
                       "funnel": [{"stage": "placed", "orders": placed}, {"stage": "stock_reserved", "orders": 44},
                                  {"stage": "payment_secured", "orders": 42}, {"stage": "confirmed", "orders": 40},
                                  {"stage": "delivered", "orders": 31}]},
            "orders_per_minute": {"bucket_minutes": 1, "points": points},
            "cancellation_reasons": [], "failure_reasons": [],
            "delivery_minutes": {"all": {"p50": 12.5, "p90": 19.0, "delivered": 31}, "by_store": {}},
            "top_products": [], "top_categories": [],
            "stock_alerts_open": {"low": 5, "out": 2, "by_store": {"BLR-KOR": {"low": 1, "out": 2}, "BOM-AND": {"low": 4, "out": 0}}},
            "slot_utilisation": {"slots": 0, "capacity": 0, "booked": 0, "full_slots": 0, "utilisation": null}
        }))
        .unwrap()
    }

    fn event(seq: i64, t: &str, payload: Value) -> LoggedEvent {
        serde_json::from_value(json!({
            "seq": seq, "id": format!("e{seq}"), "type": t, "source": t.split('.').next().unwrap(),
            "aggregate_id": ORDER, "correlation_id": "req-1", "order_id": ORDER,
            "occurred_at": "2026-11-26T23:10:05Z", "payload": payload
        }))
        .unwrap()
    }

    /// A dashboard with every feed answered.
    fn known() -> App {
        let mut app = App::new("http://gw:8080", 330);
        app.feeds.today = Feed {
            value: Some(summary(46, 123_456_750)),
            error: None,
        };
        app.feeds.hour = Feed {
            value: Some(summary(46, 1)),
            error: None,
        };
        app.feeds.alerts = Feed {
            value: Some(serde_json::from_value(json!({"items": [
                {"store": "BLR-KOR", "sku": "AMUL-MILK-500", "name": "Amul Taaza 500 ml", "kind": "out", "available": 0, "opened_at": "2026-11-26T20:00:00Z"}
            ]})).unwrap()),
            error: None,
        };
        let partner = |state: &str, in_hand: i64| {
            json!({"user_id": "p", "name": "Ravi", "vehicle": "ev", "home_store": "BLR-KOR", "on_shift": state != "off_shift",
                   "shift_started_at": null, "state": state, "deliveries_in_hand": in_hand, "position": null,
                   "created_at": "2026-11-26T20:00:00Z", "updated_at": "2026-11-26T20:00:00Z"})
        };
        app.feeds.partners = Feed {
            value: Some(
                serde_json::from_value(json!({"items": [
                    partner("available", 0), partner("available", 2), partner("available", 1), partner("available", 1),
                    partner("offline", 0), partner("off_shift", 0)
                ]}))
                .unwrap(),
            ),
            error: None,
        };
        app.feeds.health = Feed {
            value: Some(json!({"status": "ok", "degraded": [], "checks": {
                "order": {"status": "up", "latency_ms": 1.5}, "payment": {"status": "up", "latency_ms": 2.0}}})),
            error: None,
        };
        app.feeds.refreshed_at = Some("2026-11-26T23:10:06Z".into());
        app.push_events(
            vec![
                event(
                    1,
                    "order.created",
                    json!({"order_id": ORDER, "status": "pending", "store": "BLR-KOR"}),
                ),
                event(
                    2,
                    "payment.failed",
                    json!({"order_id": ORDER, "status": "failed", "failure_reason": "upi declined by the issuer"}),
                ),
                event(
                    3,
                    "inventory.low_stock",
                    json!({"store": "BLR-KOR", "sku": "AMUL-MILK-500", "available": 2}),
                ),
            ],
            3,
        );
        app
    }

    fn screen(app: &App, w: u16, h: u16) -> String {
        render_text(app, w, h).unwrap()
    }

    #[test]
    fn the_overview_shows_every_figure_from_known_data() {
        let s = screen(&known(), 140, 42);
        for want in [
            "₹12,34,567.50",            // GMV today, Indian grouping
            "46 placed · 31 delivered", // today's orders
            "4 cancelled · 2 failed",   // how they ended
            "now 7 · peak 7",           // the sparkline's title, last hour
            "payment secured",          // funnel stages with counts and shares
            "42   91%",
            "p50 12.5 min · p90 19.0 min", // delivery times
            "1 available",                 // idle on shift
            "3 delivering",                // on shift with deliveries in hand
            "1 offline",
            "1 off shift",
            "2 out · 5 low", // alerts by store
            "BLR-KOR          2     1",
            "Amul Taaza 500 ml",          // the oldest alert by name
            "payment       up    2.0 ms", // services
            "Services · ok",
            "order.created", // the tail
            "pending store=BLR-KOR",
            "failed failure_reason=upi", // gist: the status first, then why
            "refreshed 04:40:06",        // local time (UTC+5:30)
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        assert!(!s.contains("unreachable") && !s.contains("stale"), "{s}");
    }

    #[test]
    fn an_unreachable_gateway_says_so_on_every_panel_and_stale_figures_are_marked() {
        let mut app = App::new("http://gw:8080", 330);
        fn down<T>() -> Result<T, Fail> {
            Err(Fail::Unreachable("cannot connect (Connection refused)".into()))
        }
        app.feeds.today.update(down());
        app.feeds.hour.update(down());
        app.feeds.partners.update(down());
        app.feeds.health.update(down());
        app.tail_error = Some("cannot connect (Connection refused)".into());
        let s = screen(&app, 120, 40);
        assert!(
            s.contains("✖ gateway http://gw:8080 unreachable (cannot connect"),
            "{s}"
        );
        assert!(s.contains("— retrying"), "{s}");
        assert!(s.matches("unavailable: cannot connect").count() >= 4, "{s}");
        assert!(!s.contains("₹"), "no figures were ever fetched: {s}");

        // Figures fetched before the gateway went away stay, marked stale.
        let mut app = known();
        app.feeds.today.update(down());
        app.feeds.health.update(down());
        let s = screen(&app, 140, 42);
        assert!(s.contains("showing the last figures; retrying"), "{s}");
        assert!(s.contains("Today · stale"), "{s}");
        assert!(s.contains("₹12,34,567.50"), "{s}");
    }

    #[test]
    fn a_service_down_behind_the_gateway_is_named_and_the_rest_keeps_showing() {
        let mut app = known();
        app.feeds.health.value = Some(json!({"status": "degraded", "degraded": ["payment"], "checks": {
            "order": {"status": "up", "latency_ms": 1.5},
            "payment": {"status": "down", "error": "circuit open"}}}));
        app.feeds
            .partners
            .update(Err(Fail::Status(503, "delivery is unavailable".into())));
        let s = screen(&app, 140, 42);
        assert!(s.contains("⚠ degraded: payment down"), "{s}");
        assert!(s.contains("payment       down  circuit open"), "{s}");
        assert!(s.contains("Delivery · stale"), "{s}");
        assert!(s.contains("₹12,34,567.50"), "{s}");
    }

    #[test]
    fn small_and_narrow_terminals_get_a_message_or_a_stacked_layout() {
        let app = known();
        let s = screen(&app, 50, 12);
        assert!(s.contains("The terminal is 50×12"), "{s}");
        let s = screen(&app, 80, 36);
        for want in ["Orders per minute", "Today", "Saga funnel", "Delivery", "Services"] {
            assert!(s.contains(want), "missing {want:?} at 80 columns:\n{s}");
        }
        // Every size in between draws without panicking.
        for (w, h) in [(60, 16), (61, 17), (109, 30), (110, 30), (200, 60), (300, 20)] {
            for tab in Tab::ALL {
                let mut a = known();
                a.tab = tab;
                a.help = w == 60;
                render_text(&a, w, h).unwrap();
            }
        }
    }

    #[test]
    fn keys_switch_screens_filter_the_tail_pause_it_and_open_an_order() {
        let mut app = known();
        assert_eq!(key(&mut app, KeyCode::Char('?')), Action::None);
        assert!(screen(&app, 120, 40).contains("Keys"), "help shows");
        key(&mut app, KeyCode::Char('x'));
        assert!(!app.help, "any key closes the help");
        key(&mut app, KeyCode::Char('2'));
        assert_eq!(app.tab, Tab::Events);
        key(&mut app, KeyCode::Char('/'));
        typed(&mut app, "payment.*");
        key(&mut app, KeyCode::Enter);
        let s = screen(&app, 120, 30);
        assert!(s.contains("Live events · 1 shown · filter \"payment.*\""), "{s}");
        assert!(s.contains("payment.failed") && !s.contains("order.created"), "{s}");
        // Words: every one must match somewhere in the event.
        key(&mut app, KeyCode::Char('c'));
        key(&mut app, KeyCode::Char('/'));
        typed(&mut app, "blr-kor amul");
        key(&mut app, KeyCode::Enter);
        assert_eq!(app.shown_events().len(), 1);
        assert_eq!(app.shown_events()[0].event_type, "inventory.low_stock");
        key(&mut app, KeyCode::Char('c'));

        // Paused: new events are held, then shown on resume.
        key(&mut app, KeyCode::Char(' '));
        app.push_events(vec![event(4, "order.updated", json!({"status": "cancelled"}))], 4);
        assert_eq!(app.shown_events().len(), 3);
        assert!(screen(&app, 120, 30).contains("PAUSED (1 held)"));
        key(&mut app, KeyCode::Char(' '));
        assert_eq!(app.shown_events().len(), 4);
        // The same event again (a re-poll) is not shown twice.
        app.push_events(vec![event(4, "order.updated", json!({"status": "cancelled"}))], 4);
        assert_eq!(app.shown_events().len(), 4);

        // Enter opens the newest shown event's order in the support view.
        assert_eq!(key(&mut app, KeyCode::Enter), Action::Open(ORDER.to_owned()));
        assert_eq!(app.tab, Tab::Support);
        // Typing a search there, then Esc twice: stop typing, then quit.
        key(&mut app, KeyCode::Char('/'));
        for _ in 0..40 {
            key(&mut app, KeyCode::Backspace);
        }
        typed(&mut app, "98765 43210");
        assert_eq!(key(&mut app, KeyCode::Enter), Action::Lookup("98765 43210".into()));
        key(&mut app, KeyCode::Esc);
        assert!(app.quit);
        let mut app = known();
        app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
        assert!(app.quit, "Ctrl-C quits");
    }

    fn story(events: Result<Vec<LoggedEvent>, String>) -> OrderStory {
        OrderStory {
            order: json!({"id": ORDER, "status": "cancelled", "store": "BLR-KOR", "user_id": "u-1",
                "created_at": "2026-11-26T23:10:00Z", "total_paise": 45_000, "items_paise": 41_000, "fees_paise": 4_000,
                "failure_reason": "payment declined",
                "lines": [{"quantity": 2, "name": "Amul Taaza", "unit": "500 ml", "line_total_paise": 5_600, "status": "active"}],
                "timeline": [{"status": "pending", "note": "placed", "actor": "user:u-1", "at": "2026-11-26T23:10:00Z"},
                             {"status": "cancelled", "note": "payment declined", "actor": "saga", "at": "2026-11-26T23:10:02Z"}]}),
            delivery: Err("404: no delivery".into()),
            payment: Ok(json!({"kind": "upi", "status": "failed", "captured_paise": 0, "refunded_paise": 0})),
            events,
        }
    }

    #[test]
    fn the_support_view_shows_an_order_with_its_timeline_across_services() {
        let mut app = known();
        app.tab = Tab::Support;
        app.query = ORDER.into();
        // Events emitted while tracing was on carry their trace: the panel names it.
        let mut created = event(1, "order.created", json!({"status": "pending"}));
        created.trace_id = Some("4bf92f3577b34da6a3ce929d0e0e4736".into());
        let evs = vec![
            created,
            event(2, "inventory.reserved", json!({"store": "BLR-KOR", "lines": [1, 2]})),
            event(
                3,
                "payment.failed",
                json!({"status": "failed", "failure_reason": "upi declined"}),
            ),
            event(
                4,
                "order.updated",
                json!({"from": "stock_reserved", "status": "cancelled", "reason": "payment declined"}),
            ),
        ];
        app.support = Support::Found(Lookup::Order(Box::new(story(Ok(evs)))));
        let s = screen(&app, 160, 30);
        for want in [
            "status    cancelled",
            "why       payment declined",
            "₹450.00 (₹410.00 items + ₹40.00 fees)",
            "upi failed · ₹0.00 kept",
            "delivery  none yet (404: no delivery)",
            "trace     4bf92f3577b34da6a3ce929d0e0e4736",
            "2 × Amul Taaza 500 ml · ₹56.00",
            "Timeline across services · 4 events",
            "inventory    inventory.reserved",
            "stock_reserved → cancelled reason=payment declined",
        ] {
            assert!(s.contains(want), "missing {want:?} in\n{s}");
        }
        // Without the event log: the order's own history, saying why.
        app.support = Support::Found(Lookup::Order(Box::new(story(Err(
            "503: analytics is unavailable".into()
        )))));
        let s = screen(&app, 140, 30);
        assert!(
            s.contains("Order history (event log unavailable: 503: analytics is unavailable)"),
            "{s}"
        );
        assert!(s.contains("saga") && s.contains("payment declined"), "{s}");
        assert!(!s.contains("trace "), "no trace line without traced events: {s}");

        // A phone number's orders: a list to choose from.
        app.support = Support::Found(Lookup::Orders {
            who: "Asha Rao · +919876543210 · asha@example.in".into(),
            orders: vec![
                json!({"id": ORDER, "created_at": "2026-11-26T23:10:00Z", "store": "BLR-KOR", "status": "delivered", "total_paise": 17_600}),
                json!({"id": "01a21a20-0000-7000-8000-000000000002", "created_at": "2026-11-26T22:10:00Z", "store": "BLR-KOR", "status": "cancelled", "total_paise": 9_900}),
            ],
        });
        key(&mut app, KeyCode::Down);
        let s = screen(&app, 140, 30);
        assert!(
            s.contains("Asha Rao · +919876543210 · asha@example.in · 2 orders"),
            "{s}"
        );
        assert!(s.contains("› 27 Nov 03:40 01a21a20-0000-7000-8000-000000000002"), "{s}");
        assert_eq!(
            key(&mut app, KeyCode::Enter),
            Action::Open("01a21a20-0000-7000-8000-000000000002".into())
        );
    }

    #[test]
    fn rupees_use_indian_grouping() {
        assert_eq!(rupees(0), "₹0.00");
        assert_eq!(rupees(99_999), "₹999.99");
        assert_eq!(rupees(10_000_000), "₹1,00,000.00");
        assert_eq!(rupees(123_456_750), "₹12,34,567.50");
        assert_eq!(rupees(-5_000), "-₹50.00");
    }
}
