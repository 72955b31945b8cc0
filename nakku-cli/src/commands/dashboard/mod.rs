//! `nakku dashboard`: the support staff's live view of a deployment, in the terminal
//! (ratatui + crossterm), through the gateway: orders per minute, the saga funnel, GMV
//! today, stock alerts by store, partners by state, delivery times, service health, a live
//! event tail with a filter, and a support view that finds an order by id or by the
//! shopper's phone number and shows its timeline across services.
//!
//! The state ([`App`]) and its key handling are plain data and functions; [`view`] draws
//! it; the loop here feeds it (refreshes, the tail, lookups and keys arrive as [`Msg`]s).
//! `--once` draws one frame as text, for scripts and for the tests.

pub mod data;
pub mod view;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, ValueEnum};
use nakku_core::analytics::event_log::LoggedEvent;
use nakku_core::config::Settings;
use ratatui::crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use tokio::sync::mpsc;

use data::{Auth, Client, Feeds, Lookup};

#[derive(Debug, Args)]
pub struct Opts {
    /// The gateway (default: this deployment's, http://127.0.0.1:8080)
    #[arg(long)]
    url: Option<String>,
    /// An admin's access token (default: sign in with --email, or, on the deployment's own
    /// machine, a token for the seeded admin)
    #[arg(long, env = "NAKKU_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Sign in as this admin (password from NAKKU_PASSWORD)
    #[arg(long)]
    email: Option<String>,
    /// Seconds between refreshes of the figures (the event tail polls every second)
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(1..=3600))]
    refresh: u64,
    /// Draw one frame as text on stdout and exit (no terminal needed); exits 2 when the
    /// gateway does not answer
    #[arg(long)]
    once: bool,
    /// With --once: the screen to draw
    #[arg(long, value_enum, default_value_t = Tab::Overview)]
    tab: Tab,
    /// Open the support view on this order id or phone number
    #[arg(long, value_name = "ID_OR_PHONE")]
    order: Option<String>,
    /// With --once: the frame's size, as COLUMNSxROWS
    #[arg(long, default_value = "120x40", value_parser = parse_size)]
    size: (u16, u16),
}

fn parse_size(s: &str) -> Result<(u16, u16), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not COLUMNSxROWS, e.g. 120x40"))?;
    let n = |v: &str| v.trim().parse::<u16>().ok().filter(|n| (10..=1000).contains(n));
    match (n(w), n(h)) {
        (Some(w), Some(h)) => Ok((w, h)),
        _ => Err(format!("{s:?}: columns and rows must be whole numbers from 10 to 1000")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Tab {
    Overview,
    Events,
    Support,
}

impl Tab {
    pub const ALL: [Tab; 3] = [Tab::Overview, Tab::Events, Tab::Support];

    pub fn title(self) -> &'static str {
        match self {
            Tab::Overview => "Overview",
            Tab::Events => "Events",
            Tab::Support => "Support",
        }
    }
}

/// Events kept for the tail (the newest).
pub const TAIL_KEEP: usize = 1_000;

/// What is being typed, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Editing {
    Filter,
    Lookup,
}

/// The support view.
#[derive(Debug, Clone, Default)]
pub enum Support {
    #[default]
    Empty,
    Looking(String),
    Found(Lookup),
    Failed(String),
}

/// Everything the screen shows.
pub struct App {
    pub url: String,
    pub tab: Tab,
    pub help: bool,
    pub feeds: Feeds,
    /// The newest events, oldest first.
    pub events: VecDeque<LoggedEvent>,
    pub last_seq: Option<i64>,
    pub tail_error: Option<String>,
    /// Paused: the tail holds new events here until it resumes.
    pub paused: bool,
    pub held: Vec<LoggedEvent>,
    /// Words every shown event must contain (`order.*` matches types by prefix).
    pub filter: String,
    /// Rows scrolled up from the newest event (events) or the selected row (support lists).
    pub scroll: usize,
    pub selected: usize,
    pub editing: Option<Editing>,
    /// What is typed in the support view's search box.
    pub query: String,
    pub support: Support,
    /// Minutes east of UTC for the times shown and for "today".
    pub offset_minutes: i64,
    pub quit: bool,
}

/// What the loop must do after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    None,
    Refresh,
    Lookup(String),
    /// Show this order (picked from a list or from an event).
    Open(String),
}

impl App {
    pub fn new(url: &str, offset_minutes: i64) -> App {
        App {
            url: url.to_owned(),
            tab: Tab::Overview,
            help: false,
            feeds: Feeds::default(),
            events: VecDeque::new(),
            last_seq: None,
            tail_error: None,
            paused: false,
            held: Vec::new(),
            filter: String::new(),
            scroll: 0,
            selected: 0,
            editing: None,
            query: String::new(),
            support: Support::Empty,
            offset_minutes,
            quit: false,
        }
    }

    /// Adds a page of the tail (oldest first), keeping the newest [`TAIL_KEEP`]; while
    /// paused, holds it until [`App::toggle_pause`] resumes.
    pub fn push_events(&mut self, items: Vec<LoggedEvent>, last_seq: i64) {
        for e in items {
            if self.last_seq.is_none_or(|s| e.seq > s) {
                if self.paused {
                    self.held.push(e);
                } else {
                    self.events.push_back(e);
                }
            }
        }
        if self.held.len() > TAIL_KEEP {
            self.held.drain(..self.held.len() - TAIL_KEEP);
        }
        self.keep_newest();
        self.last_seq = Some(last_seq.max(self.last_seq.unwrap_or(0)));
        self.tail_error = None;
    }

    pub fn toggle_pause(&mut self) {
        self.paused = !self.paused;
        if !self.paused {
            let held = std::mem::take(&mut self.held);
            self.events.extend(held);
            self.keep_newest();
        }
    }

    /// Drops the oldest events beyond [`TAIL_KEEP`].
    fn keep_newest(&mut self) {
        let over = self.events.len().saturating_sub(TAIL_KEEP);
        self.events.drain(..over);
    }

    /// The events the filter lets through, oldest first.
    pub fn shown_events(&self) -> Vec<&LoggedEvent> {
        let words: Vec<String> = self.filter.split_whitespace().map(str::to_lowercase).collect();
        self.events
            .iter()
            .filter(|e| words.iter().all(|w| event_matches(e, w)))
            .collect()
    }

    /// The orders listed in the support view, if a list is shown.
    fn listed_orders(&self) -> Option<&Vec<serde_json::Value>> {
        match &self.support {
            Support::Found(Lookup::Orders { orders, .. }) => Some(orders),
            _ => None,
        }
    }

    /// Applies a key; what the loop must fetch, if anything.
    pub fn key(&mut self, k: KeyEvent) -> Action {
        if k.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && k.code == KeyCode::Char('c') {
            self.quit = true;
            return Action::None;
        }
        if let Some(what) = self.editing.clone() {
            let text = match what {
                Editing::Filter => &mut self.filter,
                Editing::Lookup => &mut self.query,
            };
            match k.code {
                KeyCode::Esc => {
                    if what == Editing::Filter {
                        text.clear();
                    }
                    self.editing = None;
                }
                KeyCode::Enter => {
                    self.editing = None;
                    if what == Editing::Lookup && !self.query.trim().is_empty() {
                        self.selected = 0;
                        self.support = Support::Looking(self.query.trim().to_owned());
                        return Action::Lookup(self.query.trim().to_owned());
                    }
                }
                KeyCode::Backspace => {
                    text.pop();
                }
                KeyCode::Char('u') if ctrl => text.clear(),
                KeyCode::Char(c) if !ctrl && text.chars().count() < 100 => text.push(c),
                _ => {}
            }
            self.scroll = 0;
            return Action::None;
        }
        if self.help {
            // Any key closes the help.
            self.help = false;
            return Action::None;
        }
        match k.code {
            KeyCode::Char('q') | KeyCode::Esc => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('r') => return Action::Refresh,
            KeyCode::Tab | KeyCode::Right => self.switch(1),
            KeyCode::BackTab | KeyCode::Left => self.switch(Tab::ALL.len() - 1),
            KeyCode::Char(c @ '1'..='3') => self.go(Tab::ALL[(c as usize) - ('1' as usize)]),
            KeyCode::Char('/') if self.tab == Tab::Support => self.editing = Some(Editing::Lookup),
            KeyCode::Char('/') => {
                self.go(Tab::Events);
                self.editing = Some(Editing::Filter);
            }
            KeyCode::Char('o') => {
                self.go(Tab::Support);
                self.editing = Some(Editing::Lookup);
            }
            KeyCode::Char(' ') | KeyCode::Char('p') if self.tab != Tab::Support => self.toggle_pause(),
            KeyCode::Char('c') if self.tab == Tab::Events => self.filter.clear(),
            KeyCode::Up | KeyCode::Char('k') => self.move_by(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_by(1),
            KeyCode::PageUp => self.move_by(-10),
            KeyCode::PageDown => self.move_by(10),
            KeyCode::Home | KeyCode::End => {
                self.scroll = 0;
                self.selected = 0;
            }
            KeyCode::Enter => return self.open_selected(),
            _ => {}
        }
        Action::None
    }

    fn switch(&mut self, by: usize) {
        let i = Tab::ALL.iter().position(|t| *t == self.tab).unwrap_or(0);
        self.go(Tab::ALL[(i + by) % Tab::ALL.len()]);
    }

    fn go(&mut self, tab: Tab) {
        if self.tab != tab {
            self.tab = tab;
            self.scroll = 0;
        }
    }

    /// Up (negative) or down: the events view scrolls back in time upwards; a support
    /// list moves its selection.
    fn move_by(&mut self, by: i64) {
        match self.tab {
            Tab::Events => {
                let max = self.shown_events().len().saturating_sub(1) as i64;
                self.scroll = (self.scroll as i64 - by).clamp(0, max) as usize;
            }
            Tab::Support => {
                let n = self.listed_orders().map_or(0, Vec::len) as i64;
                self.selected = (self.selected as i64 + by).clamp(0, (n - 1).max(0)) as usize;
            }
            Tab::Overview => {}
        }
    }

    /// Enter: the selected order of a support list, or the order of the newest shown event.
    fn open_selected(&mut self) -> Action {
        let id = match self.tab {
            Tab::Support => self
                .listed_orders()
                .and_then(|o| o.get(self.selected))
                .and_then(|o| o["id"].as_str())
                .map(str::to_owned),
            Tab::Events => {
                let shown = self.shown_events();
                let i = shown.len().checked_sub(1 + self.scroll);
                i.and_then(|i| shown.get(i)).and_then(|e| e.order_id.clone())
            }
            Tab::Overview => None,
        };
        match id {
            Some(id) => {
                self.tab = Tab::Support;
                self.query = id.clone();
                self.support = Support::Looking(id.clone());
                Action::Open(id)
            }
            None => Action::None,
        }
    }
}

/// Whether an event matches one (lower-case) filter word: `order.*` is a type prefix;
/// any other word is looked for in the type, source, order id, request id and payload.
pub fn event_matches(e: &LoggedEvent, word: &str) -> bool {
    if let Some(prefix) = word.strip_suffix('*') {
        return e.event_type.starts_with(prefix);
    }
    e.event_type.contains(word)
        || e.source.contains(word)
        || e.order_id.as_deref().is_some_and(|o| o.contains(word))
        || e.correlation_id.to_lowercase().contains(word)
        || e.payload.to_string().to_lowercase().contains(word)
}

/// What reaches the loop.
enum Msg {
    Key(KeyEvent),
    Resize,
    Feeds(Box<Feeds>),
    Tail(Result<nakku_core::analytics::event_log::EventPage, data::Fail>),
    Found(String, Result<Lookup, data::Fail>),
}

pub async fn run(settings: &Settings, o: Opts) -> anyhow::Result<()> {
    let base = super::gateway_url(settings, o.url.as_deref());
    anyhow::ensure!(
        base.starts_with("http://") || base.starts_with("https://"),
        "--url must be an http:// or https:// URL, not {base:?}"
    );
    let auth = match (o.token.clone(), o.email.clone()) {
        (Some(t), _) if !t.trim().is_empty() => Auth::Token(t.trim().to_owned()),
        (_, Some(email)) => Auth::Login {
            password: std::env::var("NAKKU_PASSWORD")
                .context("--email needs the password in NAKKU_PASSWORD (it is never taken as a flag)")?,
            email,
        },
        _ => Auth::Local(Box::new(settings.clone())),
    };
    let roots = nakku_core::tls::ExtraRoots::from_settings(settings)?;
    let client = Arc::new(Client::new(&base, auth, &roots)?);
    let mut app = App::new(&client.base, settings.notify_utc_offset_minutes);
    if o.once {
        return once(&client, &mut app, &o).await;
    }
    anyhow::ensure!(
        std::io::stdout().is_terminal(),
        "nakku dashboard needs a terminal; use --once for a text snapshot"
    );
    interactive(client, app, &o).await
}

/// One frame as text.
async fn once(client: &Client, app: &mut App, o: &Opts) -> anyhow::Result<()> {
    app.tab = o.tab;
    let mut feeds = Feeds::default();
    data::refresh(client, &mut feeds, app.offset_minutes).await;
    app.feeds = feeds;
    match data::events_after(client, None).await {
        Ok(p) => app.push_events(p.items, p.last_seq),
        Err(e) => app.tail_error = Some(e.to_string()),
    }
    if let Some(q) = &o.order {
        app.tab = Tab::Support;
        app.query = q.clone();
        app.support = match data::lookup(client, q).await {
            Ok(l) => Support::Found(l),
            Err(e) => Support::Failed(e.to_string()),
        };
    }
    let (w, h) = o.size;
    println!("{}", view::render_text(app, w, h)?);
    if let Some(e) = app
        .feeds
        .health
        .error
        .as_ref()
        .filter(|_| app.feeds.health.value.is_none())
    {
        anyhow::bail!("the gateway at {} did not answer: {e}", app.url);
    }
    Ok(())
}

async fn interactive(client: Arc<Client>, mut app: App, o: &Opts) -> anyhow::Result<()> {
    let (tx, mut rx) = mpsc::unbounded_channel::<Msg>();
    let stop = tokio_util::sync::CancellationToken::new();
    // Keys: a blocking reader on its own thread.
    let keys_tx = tx.clone();
    let keys_stop = stop.clone();
    std::thread::spawn(move || {
        while !keys_stop.is_cancelled() {
            match event::poll(Duration::from_millis(200)) {
                Ok(true) => {
                    let msg = match event::read() {
                        Ok(Event::Key(k)) => Msg::Key(k),
                        Ok(Event::Resize(..)) => Msg::Resize,
                        Ok(_) => continue,
                        Err(_) => break,
                    };
                    if keys_tx.send(msg).is_err() {
                        break;
                    }
                }
                Ok(false) => {}
                Err(_) => break,
            }
        }
    });
    // Figures every --refresh seconds (and at once on `r`).
    let (kick_tx, mut kick_rx) = mpsc::unbounded_channel::<()>();
    {
        let (client, tx, stop) = (client.clone(), tx.clone(), stop.clone());
        let every = Duration::from_secs(o.refresh);
        let offset = app.offset_minutes;
        tokio::spawn(async move {
            // Kept across refreshes: a failed fetch leaves the last value showing, marked stale.
            let mut feeds = Feeds::default();
            loop {
                data::refresh(&client, &mut feeds, offset).await;
                if tx.send(Msg::Feeds(Box::new(feeds.clone()))).is_err() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    Some(()) = kick_rx.recv() => {}
                    _ = stop.cancelled() => break,
                }
            }
        });
    }
    // The tail, every second.
    {
        let (client, tx, stop) = (client.clone(), tx.clone(), stop.clone());
        tokio::spawn(async move {
            let mut after = None;
            loop {
                let page = data::events_after(&client, after).await;
                if let Ok(p) = &page {
                    after = Some(p.last_seq);
                }
                if tx.send(Msg::Tail(page)).is_err() {
                    break;
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = stop.cancelled() => break,
                }
            }
        });
    }
    if let Some(q) = o.order.clone() {
        app.tab = Tab::Support;
        app.query = q.clone();
        app.support = Support::Looking(q.clone());
        spawn_lookup(&client, &tx, q);
    }

    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // Whatever part of the set-up happened (raw mode, the alternate screen) is undone.
            let _ = ratatui::try_restore();
            stop.cancel();
            return Err(anyhow::Error::new(e).context("could not set the terminal up"));
        }
    };
    let result = async {
        loop {
            terminal.draw(|f| view::draw(f, &app))?;
            let Some(msg) = rx.recv().await else { break };
            match msg {
                Msg::Key(k) => match app.key(k) {
                    Action::None => {}
                    Action::Refresh => {
                        let _ = kick_tx.send(());
                    }
                    Action::Lookup(q) | Action::Open(q) => spawn_lookup(&client, &tx, q),
                },
                Msg::Resize => {
                    terminal.autoresize()?;
                }
                Msg::Feeds(f) => app.feeds = *f,
                Msg::Tail(Ok(p)) => app.push_events(p.items, p.last_seq),
                Msg::Tail(Err(e)) => app.tail_error = Some(e.to_string()),
                Msg::Found(q, r) => {
                    // Only the latest search counts.
                    if matches!(&app.support, Support::Looking(l) if *l == q) {
                        app.support = match r {
                            Ok(l) => Support::Found(l),
                            Err(e) => Support::Failed(e.to_string()),
                        };
                    }
                }
            }
            if app.quit {
                break;
            }
        }
        anyhow::Ok(())
    }
    .await;
    stop.cancel();
    let restored = ratatui::try_restore();
    result?;
    restored.context("could not restore the terminal")?;
    Ok(())
}

fn spawn_lookup(client: &Arc<Client>, tx: &mpsc::UnboundedSender<Msg>, q: String) {
    let (client, tx) = (client.clone(), tx.clone());
    tokio::spawn(async move {
        let r = data::lookup(&client, &q).await;
        let _ = tx.send(Msg::Found(q, r));
    });
}
