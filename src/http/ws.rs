//! GraphQL over WebSocket (graphql-transport-ws, and the legacy
//! subscriptions-transport-ws). async-graphql runs the protocol; this layer
//! adds what it lacks: a token check before any data, a cap on subscriptions
//! per connection, refusal of a duplicate subscription id (4409, as the
//! protocol says), a deadline for connection_init (4408), a message size
//! limit, closing every stream on shutdown, and the close codes
//! graphql-transport-ws names where async-graphql sends generic ones
//! (4400, 4401, 4403; see [`spec_close`]).

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_graphql::http::{
    WebSocket as Protocol, WebSocketProtocols as Protocols, WsMessage, ALL_WEBSOCKET_PROTOCOLS,
};
use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{State, WebSocketUpgrade};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{future, SinkExt, Stream, StreamExt};
use tokio_util::sync::WaitForCancellationFutureOwned;

use super::AppState;
use crate::graphql::loaders::loaders;

/// Subscriptions one connection may hold at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// A connection must authenticate within this time.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

/// A browser always sends `Origin` on a WebSocket upgrade and applies no
/// CORS to it, so a page of any site could open one with the user's
/// cookies or a token it holds: only the server's own origin and the
/// `--cors-origins` list may. Clients that are not browsers send no
/// `Origin` and are let through (they authenticate in `connection_init`).
fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return headers.get(header::ORIGIN).is_none();
    };
    let same_origin = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|host| {
            let authority = origin
                .strip_prefix("http://")
                .or_else(|| origin.strip_prefix("https://"));
            authority == Some(host)
        });
    same_origin || allowed.iter().any(|a| a.trim() == origin)
}

pub async fn handler(
    State(state): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Response {
    // The sub-protocol the client offers (graphql-transport-ws first).
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|list| {
            list.split(',')
                .find_map(|p| p.trim().parse::<Protocols>().ok())
        });
    if !origin_allowed(&headers, &state.ws_origins) {
        return super::json_error(
            StatusCode::FORBIDDEN,
            "this origin may not open a WebSocket here (see --cors-origins)",
            crate::graphql::error::FORBIDDEN,
        );
    }
    let Some(protocol) = protocol else {
        return super::json_error(
            StatusCode::BAD_REQUEST,
            "offer the graphql-transport-ws (or graphql-ws) sub-protocol",
            crate::graphql::error::BAD_USER_INPUT,
        );
    };
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(MAX_MESSAGE_BYTES)
        .max_frame_size(MAX_MESSAGE_BYTES)
        // Small buffers keep an idle connection cheap (the defaults reserve
        // 128 KiB to read); a slow reader is bounded by the write cap.
        .read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(MAX_MESSAGE_BYTES * 4)
        .on_upgrade(move |socket| async move {
            // Served on the live runtime; this task only waits for the end.
            let live = state.live.clone();
            let _ = live.spawn(serve(socket, state, protocol)).await;
        })
        .into_response()
}

/// What the connection holds, shared by the inbound filter and the
/// outbound watcher.
#[derive(Default)]
struct Held {
    active: HashSet<String>,
    initialised: bool,
    violation: Option<(u16, String)>,
    /// graphql-transport-ws (not the legacy graphql-ws sub-protocol).
    modern: bool,
    /// connection_init came with a token that was refused.
    init_refused: bool,
}

/// A message's `type` (empty if it has none) and `id`.
fn type_and_id(message: &serde_json::Value) -> (&str, Option<&str>) {
    let kind = message.get("type").and_then(|t| t.as_str());
    let id = message.get("id").and_then(|i| i.as_str());
    (kind.unwrap_or_default(), id)
}

/// Checks a client's message against the connection's rules. False (with
/// the violation recorded in `held`) ends the inbound stream.
fn inspect(held: &Mutex<Held>, bytes: &[u8]) -> bool {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return true; // the protocol layer answers malformed frames itself
    };
    let (kind, id) = type_and_id(&message);
    let id = id.map(str::to_string);
    let Ok(mut held) = held.lock() else {
        return false;
    };
    match (kind, id) {
        ("connection_init", _) => held.initialised = true,
        ("subscribe" | "start", Some(id)) => {
            if held.active.contains(&id) {
                held.violation = Some((4409, format!("Subscriber for {id} already exists")));
                return false;
            }
            if held.active.len() >= MAX_SUBSCRIPTIONS {
                held.violation = Some((
                    4429,
                    format!("At most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
                ));
                return false;
            }
            held.active.insert(id);
        }
        ("complete" | "stop", Some(id)) => {
            held.active.remove(&id);
        }
        _ => {}
    }
    true
}

/// Forgets a subscription the server ended (`complete` or `error`), so that
/// it no longer counts against the cap and its id may be used again.
fn finished(held: &Mutex<Held>, text: &str) {
    // Every `next` to every subscriber passes here: parse only the frames
    // that can end a subscription.
    if !(text.contains("\"complete\"") || text.contains("\"error\"")) {
        return;
    }
    let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let (kind, id) = type_and_id(&message);
    if matches!(kind, "complete" | "error") {
        if let (Some(id), Ok(mut held)) = (id, held.lock()) {
            held.active.remove(id);
        }
    }
}

/// The client's side of a connection.
type Sink = SplitSink<WebSocket, Message>;

async fn serve(socket: WebSocket, state: AppState, protocol: Protocols) {
    let (sink, stream) = socket.split();
    let held = Arc::new(Mutex::new(Held {
        modern: protocol == Protocols::GraphQLWS,
        ..Held::default()
    }));
    let (violation_tx, violation_rx) = tokio::sync::mpsc::channel::<()>(1);
    let inbound = guarded(stream, held.clone(), violation_tx);
    let (init_state, init_held) = (state.clone(), held.clone());
    let outbound = Protocol::new(state.schema.clone(), inbound, protocol)
        .on_connection_init(move |payload| connection_init(init_state, init_held, payload));
    futures_util::pin_mut!(outbound);
    // Made once: each message wakes the relay loop, and a fresh
    // `cancelled()` per wake would register with the token's tree every time.
    let shutdown = state.ctx.shutdown.clone().cancelled_owned();
    relay(outbound, sink, &held, violation_rx, shutdown).await;
}

/// The client's messages as bytes for the protocol, checked by [`inspect`]:
/// the stream ends at the first violation, which is signalled on
/// `violation_tx` so that the relay closes the connection.
fn guarded(
    stream: SplitStream<WebSocket>,
    held: Arc<Mutex<Held>>,
    violation_tx: tokio::sync::mpsc::Sender<()>,
) -> impl Stream<Item = Vec<u8>> + Send + 'static {
    stream
        .take_while(|m| future::ready(m.is_ok()))
        .filter_map(|m| {
            future::ready(match m {
                Ok(Message::Text(t)) => Some(t.as_str().as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            })
        })
        .take_while(move |bytes| {
            let ok = inspect(&held, bytes);
            if !ok {
                let _ = violation_tx.try_send(());
            }
            future::ready(ok)
        })
}

/// connection_init: the token in the payload becomes the connection's
/// principal, and its loaders the data every operation sees.
async fn connection_init(
    state: AppState,
    held: Arc<Mutex<Held>>,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let header = payload
        .get("Authorization")
        .or_else(|| payload.get("authorization"))
        .and_then(|v| v.as_str());
    let principal = state.keys.from_header(header).map_err(|_| {
        if let Ok(mut held) = held.lock() {
            held.init_refused = true;
        }
        async_graphql::Error::new("invalid or missing token")
    })?;
    let mut data = Data::default();
    data.insert(loaders(state.ctx.clone(), principal.clone()));
    data.insert(principal);
    Ok(data)
}

/// Sends the protocol's messages to the client until the connection ends:
/// by either side, by a violation, by the init deadline or by shutdown.
async fn relay(
    mut outbound: impl Stream<Item = WsMessage> + Unpin,
    mut sink: Sink,
    held: &Mutex<Held>,
    mut violations: tokio::sync::mpsc::Receiver<()>,
    shutdown: WaitForCancellationFutureOwned,
) {
    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    futures_util::pin_mut!(init_deadline);
    futures_util::pin_mut!(shutdown);
    loop {
        let initialised = held.lock().map(|h| h.initialised).unwrap_or(false);
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                flush(&mut outbound, &mut sink).await;
                let _ = sink.send(close(1001, "Server shutting down".into())).await;
                return;
            }
            message = outbound.next() => match message {
                Some(WsMessage::Text(text)) => {
                    finished(held, &text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let (code, reason) = spec_close(held, code, reason);
                    let _ = sink.send(close(code, reason)).await;
                    return;
                }
                // Inbound ended: a protocol violation of ours, or the client left.
                None => return close_on_violation(&mut sink, held).await,
            },
            Some(()) = violations.recv() => return close_on_violation(&mut sink, held).await,
            _ = &mut init_deadline, if !initialised => {
                let _ = sink.send(close(4408, "Connection initialisation timeout".into())).await;
                return;
            }
        }
    }
}

/// At shutdown: streams end through `bounded` and send `complete`; give
/// them a moment to flush.
async fn flush(outbound: &mut (impl Stream<Item = WsMessage> + Unpin), sink: &mut Sink) {
    let flush = tokio::time::sleep(Duration::from_millis(200));
    futures_util::pin_mut!(flush);
    loop {
        tokio::select! {
            _ = &mut flush => break,
            message = outbound.next() => match message {
                Some(WsMessage::Text(text)) => { let _ = sink.send(Message::Text(text.into())).await; }
                _ => break,
            }
        }
    }
}

/// Closes with the violation's code and reason, if [`inspect`] recorded one.
async fn close_on_violation(sink: &mut Sink, held: &Mutex<Held>) {
    let violation = held.lock().ok().and_then(|mut h| h.violation.take());
    if let Some((code, reason)) = violation {
        let _ = sink.send(close(code, reason)).await;
    }
}

/// async-graphql closes a graphql-transport-ws connection with 1002 for a
/// message it cannot read and for a refused connection_init, and with 1011
/// for a subscribe before the ack; the protocol names 4400 Invalid message,
/// 4403 Forbidden and 4401 Unauthorized, which clients such as graphql-ws
/// act on (they do not retry a 4403). The legacy protocol has no codes.
fn spec_close(held: &Mutex<Held>, code: u16, reason: String) -> (u16, String) {
    let (modern, init_refused) = held
        .lock()
        .map(|h| (h.modern, h.init_refused))
        .unwrap_or((false, false));
    match code {
        _ if !modern => (code, reason),
        1002 if init_refused => (4403, "Forbidden".into()),
        1002 => (4400, reason),
        1011 => (4401, "Unauthorized".into()),
        _ => (code, reason),
    }
}

/// A close frame; its reason cut to the 123 bytes a frame can carry.
fn close(code: u16, mut reason: String) -> Message {
    if reason.len() > 123 {
        let cut = (0..=123)
            .rev()
            .find(|&i| reason.is_char_boundary(i))
            .unwrap_or(0);
        reason.truncate(cut);
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
