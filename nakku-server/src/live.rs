//! Live views for app clients: an order's or a delivery's view each time it changes, as
//! server-sent events (`…/stream`) or over a plain WebSocket (`…/live`). Both are one
//! [`Feed`]: the view as its caller may see it, read every second and sent when it differs
//! from the last one sent, until a final status or the caller's token expiry. GraphQL's
//! subscriptions at the gateway are fed by the server-sent events (see
//! [`crate::graphql_ws`]).
//!
//! Reading once a second per open feed is what lets any instance of a service serve any
//! client (a change committed by another instance, or by the saga's consumer on another
//! machine, is seen the same way). The feeds of a process read together: they read at
//! the same moments (each whole second of one clock), and the asks within 25 ms of each
//! other share one read of all their orders or deliveries (`OrderService::follow`,
//! `DeliveryService::follow`, through [`nakku_core::gather`]), so a thousand open feeds
//! cost one read a second, not a thousand.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use futures_util::{SinkExt, StreamExt};
use nakku_core::auth::Claims;
use nakku_core::CoreError;
use serde_json::Value;

use crate::error::ApiError;

/// How often an open feed reads its view.
pub const EVERY: Duration = Duration::from_secs(1);
/// How many readings in a row may fail for a passing reason (the database or a service
/// briefly away) before a feed gives up: about half a minute.
pub const PATIENCE: u32 = 30;
/// How often an idle WebSocket is pinged (proxies and phones drop silent connections).
pub const PING_EVERY: Duration = Duration::from_secs(25);
/// The WebSocket close code for an expired token (graphql-transport-ws uses 4401 for an
/// unauthorised connection too).
pub const CLOSE_EXPIRED: u16 = 4401;

/// Reads the view as its caller may see it.
pub type Read = Arc<dyn Fn() -> BoxFuture<'static, Result<Value, CoreError>> + Send + Sync>;

/// One live view: its name (`order`, `delivery`: the SSE event's name and the WebSocket
/// message's `event`), how to read it, the first reading (taken before answering, so a
/// caller who may not see it is refused with the view's own 404), when it is over, and
/// when the caller's token expires.
pub struct Feed {
    pub name: &'static str,
    pub read: Read,
    pub first: Value,
    pub is_final: fn(&Value) -> bool,
    /// The token's `exp` (seconds since the epoch).
    pub expires: i64,
}

impl Feed {
    /// The first reading of `read` (its error, such as a 404 for someone else's order, is
    /// the answer) as a feed for `claims`' owner.
    pub async fn open(
        name: &'static str,
        claims: &Claims,
        is_final: fn(&Value) -> bool,
        read: Read,
    ) -> Result<Feed, ApiError> {
        let first = read().await?;
        Ok(Feed {
            name,
            read,
            first,
            is_final,
            expires: claims.exp,
        })
    }
}

/// The next whole [`EVERY`] of a clock every feed of this process shares: the feeds read
/// at the same moments, so their reads are gathered into one (see the module's notes)
/// rather than spread over the second.
fn next_tick() -> tokio::time::Instant {
    static EPOCH: std::sync::OnceLock<tokio::time::Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(tokio::time::Instant::now);
    let every = EVERY.as_nanos().max(1);
    let ticks = epoch.elapsed().as_nanos() / every + 1;
    epoch + Duration::from_nanos(u64::try_from(ticks * every).unwrap_or(u64::MAX))
}

/// What a feed gives.
#[derive(Debug)]
pub enum Update {
    /// The view, changed since the last one (the first reading first).
    View(Value),
    /// Reading it failed (then the feed ends).
    Failed(String),
    /// The caller's token expired (then the feed ends).
    Expired,
}

/// The updates of `feed`: each view that differs from the last one sent, ending after a
/// final one, a failure, or the token's expiry.
pub fn updates(feed: Feed) -> BoxStream<'static, Update> {
    struct Run {
        feed: Feed,
        next: Option<Value>,
        last: Option<Value>,
        done: bool,
        expiry: tokio::time::Instant,
        /// Readings failed in a row for a passing reason.
        misses: u32,
    }
    let run = Run {
        next: Some(feed.first.clone()),
        expiry: until(feed.expires),
        feed,
        last: None,
        done: false,
        misses: 0,
    };
    futures_util::stream::unfold(run, |mut run| async move {
        if run.done {
            return None;
        }
        loop {
            let view = match run.next.take() {
                Some(v) => Ok(v),
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(run.expiry) => {
                            run.done = true;
                            return Some((Update::Expired, run));
                        }
                        _ = tokio::time::sleep_until(next_tick()) => {}
                    }
                    (run.feed.read)().await
                }
            };
            let v = match view {
                Ok(v) => v,
                Err(e) => {
                    // A database or service briefly away: read again next second, for a while.
                    let passing = matches!(
                        e,
                        CoreError::Unavailable(_)
                            | CoreError::Database(_)
                            | CoreError::Internal(_)
                            | CoreError::TooManyRequests { .. }
                    );
                    if passing && run.misses < PATIENCE {
                        run.misses += 1;
                        tracing::warn!(feed = run.feed.name, error = %e, misses = run.misses, "a live feed could not read its view; trying again");
                        continue;
                    }
                    run.done = true;
                    // The caller's own errors say what they are; an internal one is logged, not shown.
                    let said = if passing {
                        tracing::error!(feed = run.feed.name, error = %e, "a live feed gave up reading its view");
                        "the view could not be read for a while: reconnect to try again".to_owned()
                    } else {
                        e.to_string()
                    };
                    return Some((Update::Failed(said), run));
                }
            };
            run.misses = 0;
            if run.last.as_ref() == Some(&v) {
                continue;
            }
            run.done = (run.feed.is_final)(&v);
            run.last = Some(v.clone());
            return Some((Update::View(v), run));
        }
    })
    .boxed()
}

/// A feed as server-sent events: `event: <name>` with the view as JSON each time it
/// changes; `event: error` with a message when reading fails or the token expires (then
/// the stream ends: reopen it with a fresh token). `T` is the view's type, for the
/// OpenAPI document.
pub struct Events<T>(Feed, PhantomData<fn() -> T>);

impl<T> Events<T> {
    pub fn new(feed: Feed) -> Self {
        Events(feed, PhantomData)
    }
}

impl<T> IntoResponse for Events<T> {
    fn into_response(self) -> Response {
        let name = self.0.name;
        let events = updates(self.0).map(move |u| {
            Ok::<_, std::convert::Infallible>(match u {
                Update::View(v) => Event::default().event(name).data(v.to_string()),
                Update::Failed(e) => Event::default().event("error").data(e),
                Update::Expired => Event::default().event("error").data(EXPIRED),
            })
        });
        Sse::new(events).keep_alive(KeepAlive::default()).into_response()
    }
}

/// The message a feed ends with when its token expires.
pub const EXPIRED: &str = "the access token has expired: sign in again and reconnect";

/// The largest message a client may send on a socket (a GraphQL subscription's document
/// fits many times over).
pub const MAX_MESSAGE: usize = 64 * 1024;

/// An upgrade with buffers sized for many idle sockets: tungstenite's defaults hold
/// 128 KiB to read and 128 KiB to write per connection (about 180 KiB a subscription at
/// the gateway, measured), while these sockets carry small messages.
pub fn lean(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
}

/// The WebSocket upgrade of a request, if it asked for one; the handler checks access
/// first and then refuses a request without it ([`upgrade_required`]).
pub struct MaybeUpgrade(pub Option<WebSocketUpgrade>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeUpgrade {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeUpgrade(
            WebSocketUpgrade::from_request_parts(parts, state).await.ok(),
        ))
    }
}

/// The answer to a plain request at a WebSocket endpoint.
pub fn upgrade_required() -> ApiError {
    ApiError::new(
        StatusCode::UPGRADE_REQUIRED,
        "this endpoint is a WebSocket: connect with `Connection: Upgrade` and `Upgrade: websocket`",
    )
}

/// A feed over a WebSocket: a text message `{"event": "<name>", "data": <view>}` each time
/// it changes; closed with 1000 after a final view, 4401 when the token expires, 1011 when
/// reading fails. Messages from the client are not needed (pings are answered). `T` is
/// the view's type, for the OpenAPI document.
pub struct Socket<T>(Response, PhantomData<fn() -> T>);

impl<T> Socket<T> {
    /// Accepts the upgrade (`ws`, or a 426 without one) and serves `feed` on it.
    pub fn new(ws: MaybeUpgrade, feed: Feed) -> Result<Self, ApiError> {
        let ws = lean(ws.0.ok_or_else(upgrade_required)?);
        Ok(Socket(ws.on_upgrade(move |socket| serve(socket, feed)), PhantomData))
    }
}

impl<T> IntoResponse for Socket<T> {
    fn into_response(self) -> Response {
        self.0
    }
}

async fn serve(socket: WebSocket, feed: Feed) {
    let name = feed.name;
    let (mut tx, mut rx) = socket.split();
    let mut updates = updates(feed);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    loop {
        tokio::select! {
            u = updates.next() => {
                let msg = match u {
                    Some(Update::View(v)) => {
                        let text = serde_json::json!({"event": name, "data": v}).to_string();
                        if tx.send(Message::Text(text.into())).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Some(Update::Failed(e)) => close(1011, &e),
                    Some(Update::Expired) => close(CLOSE_EXPIRED, EXPIRED),
                    None => close(1000, &format!("the {name} has ended")),
                };
                let _ = tx.send(msg).await;
                return;
            }
            m = rx.next() => match m {
                // Pings are answered by the socket itself; anything else is ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// When a token expiring at `exp` (seconds since the epoch) runs out, on tokio's clock.
pub fn until(exp: i64) -> tokio::time::Instant {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    tokio::time::Instant::now() + Duration::from_secs(exp.saturating_sub(now).max(0).unsigned_abs())
}

/// A close frame (its reason cut to the 123 bytes a frame allows).
pub fn close(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(120);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A feed reading `script` in turn (the last answer repeated).
    fn scripted(script: Vec<Result<Value, fn() -> CoreError>>) -> Feed {
        let script = Arc::new(Mutex::new(script.into_iter()));
        let read: Read = Arc::new(move || {
            let next = script.lock().ok().and_then(|mut s| s.next());
            Box::pin(async move {
                match next {
                    Some(Ok(v)) => Ok(v),
                    Some(Err(e)) => Err(e()),
                    None => Ok(serde_json::json!({"status": "delivered"})),
                }
            })
        });
        order_feed(read)
    }

    /// An order's feed reading with `read`, first seen confirmed, over once delivered.
    fn order_feed(read: Read) -> Feed {
        Feed {
            name: "order",
            read,
            first: serde_json::json!({"status": "confirmed"}),
            is_final: |v| v["status"] == "delivered",
            expires: i64::MAX,
        }
    }

    fn statuses(got: &[Update]) -> Vec<String> {
        got.iter()
            .map(|u| match u {
                Update::View(v) => v["status"].as_str().unwrap_or_default().to_owned(),
                Update::Failed(e) => format!("failed: {e}"),
                Update::Expired => "expired".to_owned(),
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn a_feed_rides_out_a_passing_failure_and_stops_on_the_callers_own() {
        let away = || CoreError::Unavailable("the database is away".into());
        let feed = scripted(vec![
            Ok(serde_json::json!({"status": "confirmed"})),
            Err(away),
            Err(away),
            Ok(serde_json::json!({"status": "packed"})),
        ]);
        let got: Vec<Update> = updates(feed).collect().await;
        assert_eq!(statuses(&got), ["confirmed", "packed", "delivered"]);

        let gone = || CoreError::NotFound("order".into());
        let got: Vec<Update> = updates(scripted(vec![Err(gone)])).collect().await;
        assert_eq!(statuses(&got), ["confirmed", "failed: order not found"]);

        // Away for longer than its patience: it gives up without showing the cause.
        let script = (0..=PATIENCE).map(|_| Err(away as fn() -> CoreError)).collect();
        let got: Vec<Update> = updates(scripted(script)).collect().await;
        let said = statuses(&got);
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[1].starts_with("failed: the view could not be read"), "{said:?}");
    }

    /// Feeds opened at different moments read at the same moments after their first
    /// reading, so their reads are gathered into one.
    #[tokio::test(start_paused = true)]
    async fn feeds_opened_apart_read_together() {
        let times = Arc::new(Mutex::new(Vec::new()));
        let feed = |who: usize| {
            let times = times.clone();
            let read: Read = Arc::new(move || {
                if let Ok(mut t) = times.lock() {
                    t.push((who, tokio::time::Instant::now()));
                }
                Box::pin(async { Ok(serde_json::json!({"status": "confirmed"})) })
            });
            order_feed(read)
        };
        let mut one = updates(feed(1));
        assert!(one.next().await.is_some(), "the first reading");
        let a = tokio::spawn(async move { one.next().await.is_some() });
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut two = updates(feed(2));
        assert!(two.next().await.is_some(), "the first reading");
        let b = tokio::spawn(async move { two.next().await.is_some() });
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        let times = times.lock().map(|t| t.clone()).unwrap_or_default();
        let at =
            |who| -> Vec<tokio::time::Instant> { times.iter().filter(|(w, _)| *w == who).map(|(_, t)| *t).collect() };
        let (one, two) = (at(1), at(2));
        assert!(one.len() >= 3, "{one:?}");
        assert_eq!(one, two, "read at the same moments");
        for pair in one.windows(2) {
            assert_eq!(pair[1] - pair[0], EVERY, "once a second");
        }
        a.abort();
        b.abort();
    }
}
