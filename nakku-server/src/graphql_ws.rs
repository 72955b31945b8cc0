//! GraphQL subscriptions over a WebSocket at `GET /api/graphql` (with `Upgrade: websocket`;
//! without it the same path serves GraphiQL). The protocol is `graphql-transport-ws`
//! (the `graphql-ws` library's; the older `graphql-ws` subprotocol of Apollo's
//! subscriptions-transport-ws is accepted too), as async-graphql implements it.
//!
//! Authenticated at connect: the bearer token comes with the upgrade request
//! (`Authorization`), or, for browsers that cannot set headers, in `connection_init`'s
//! payload (`{"Authorization": "Bearer …"}`). A bad token is refused (401 before the
//! upgrade; close 4403 after `connection_init`); no subscription runs before a verified
//! token. The connection is closed with 4401 when the token expires: the client reconnects
//! with a fresh one. A subscription completes when its order has ended.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use async_graphql::http::{WebSocketProtocols as Protocols, WsMessage};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::{SinkExt, StreamExt};

use crate::error::ApiError;
use crate::gateway::GatewayState;
use crate::graphql::Caller;
use crate::live::{close, until, MaybeUpgrade, CLOSE_EXPIRED, PING_EVERY};
use crate::ratelimit::Class;

/// Close code for a connection whose token was refused (graphql-transport-ws: Forbidden).
const CLOSE_FORBIDDEN: u16 = 4403;
/// Close code for a connection not initialised in time (graphql-transport-ws).
const CLOSE_INIT_TIMEOUT: u16 = 4408;
/// How long a connection may wait before `connection_init`.
const INIT_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// `GET /api/graphql`: a WebSocket for subscriptions when asked to upgrade, GraphiQL
/// otherwise.
pub async fn get(
    State(st): State<Arc<GatewayState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ws: MaybeUpgrade,
) -> Result<Response, ApiError> {
    let Some(ws) = ws.0 else {
        return Ok(crate::graphql::graphiql().await.into_response());
    };
    open(st, peer, headers, ws).await
}

async fn open(
    st: Arc<GatewayState>,
    peer: SocketAddr,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let offered = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let protocol = offered
        .split(',')
        .find_map(|p| p.trim().parse::<Protocols>().ok())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "GraphQL over WebSocket needs the `graphql-transport-ws` subprotocol (Sec-WebSocket-Protocol)",
            )
        })?;
    // A token on the upgrade request is checked now (401 before switching protocols).
    let caller = match Caller::at_door(st, peer, &headers).await? {
        Ok(c) => c,
        Err(limited) => return Ok(limited),
    };
    let connection = Connection { caller, peer, headers };
    Ok(crate::live::lean(ws)
        .protocols([protocol.sec_websocket_protocol()])
        .on_upgrade(move |socket| serve(socket, protocol, connection))
        .into_response())
}

/// What a connection knows before `connection_init`: its caller at the door (signed in
/// when the upgrade carried a token), and where it came from.
struct Connection {
    caller: Caller,
    peer: SocketAddr,
    headers: HeaderMap,
}

/// How `connection_init` went: the token's expiry once verified, or why it was refused.
#[derive(Default)]
struct Init {
    expires: Option<i64>,
    refused: Option<String>,
}

async fn serve(socket: WebSocket, protocol: Protocols, c: Connection) {
    let open = metrics::gauge!("nakku_gateway_graphql_connections");
    open.increment(1.0);
    let (mut tx, rx) = socket.split();
    // The client's frames as the protocol reads them: text and binary; the socket answers
    // pings itself; a close or a broken connection ends the input.
    let input = rx
        .take_while(|m| std::future::ready(matches!(m, Ok(m) if !matches!(m, Message::Close(_)))))
        .filter_map(|m| {
            std::future::ready(match m {
                Ok(Message::Text(t)) => Some(t.as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            })
        });
    let init = Arc::new(Mutex::new(Init::default()));
    let seen = init.clone();
    let schema = c.caller.st.graphql.clone();
    let mut out = async_graphql::http::WebSocket::new(schema, input, protocol)
        .on_connection_init(move |payload| async move {
            let caller = admit(&c, &payload);
            let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match caller {
                Ok(caller) => {
                    seen.expires = caller.claims.as_ref().map(|c| c.exp);
                    Ok(caller.data())
                }
                Err(e) => {
                    seen.refused = Some(e.message.clone());
                    Err(async_graphql::Error::new(e.message))
                }
            }
        })
        .keepalive_timeout(None);
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
    // Until acknowledged, the connection has INIT_WAIT to send `connection_init`; after,
    // it lasts as long as its token.
    let mut acked = false;
    let mut deadline = tokio::time::Instant::now() + INIT_WAIT;
    loop {
        tokio::select! {
            m = out.next() => {
                let msg = match m {
                    Some(WsMessage::Text(t)) => Message::Text(t.into()),
                    Some(WsMessage::Close(code, reason)) => {
                        let refused = init.lock().map(|i| i.refused.clone()).unwrap_or_default();
                        match refused {
                            Some(why) => close(CLOSE_FORBIDDEN, &why),
                            None => close(code, &reason),
                        }
                    }
                    None => break,
                };
                let closing = matches!(msg, Message::Close(_));
                if tx.send(msg).await.is_err() || closing {
                    break;
                }
                if !acked {
                    if let Some(exp) = init.lock().ok().and_then(|i| i.expires) {
                        acked = true;
                        deadline = until(exp);
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {
                let frame = if acked {
                    close(CLOSE_EXPIRED, crate::live::EXPIRED)
                } else {
                    close(CLOSE_INIT_TIMEOUT, "connection_init did not arrive in time")
                };
                let _ = tx.send(frame).await;
                break;
            }
            _ = ping.tick() => {
                if tx.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
        }
    }
    open.decrement(1.0);
}

/// The caller a connection runs as: the token of the upgrade request, or else the one in
/// `connection_init`'s payload (`Authorization`, as a header's value). Refused without a
/// valid one.
fn admit(c: &Connection, payload: &serde_json::Value) -> Result<Caller, ApiError> {
    if c.caller.claims.is_some() {
        return Ok(c.caller.clone());
    }
    let given = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str())
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing bearer token: send it as the upgrade's Authorization header or connection_init's {\"Authorization\": \"Bearer …\"}",
            )
        })?;
    let value =
        HeaderValue::from_str(given).map_err(|_| ApiError::new(StatusCode::UNAUTHORIZED, "invalid bearer token"))?;
    let st = &c.caller.st;
    let claims = crate::extract::verify_bearer(Some(&value), &st.jwt)?;
    let key = crate::gateway::limit_key(st, Some(&claims), Class::Read, c.peer.ip(), &c.headers);
    Ok(Caller {
        claims: Some(claims),
        authorization: Some(value),
        key,
        ..c.caller.clone()
    })
}
