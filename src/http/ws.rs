//! GraphQL over WebSocket (graphql-transport-ws, and the legacy
//! subscriptions-transport-ws). async-graphql runs the protocol; this layer
//! adds what it lacks: a token check before any data, a cap on subscriptions
//! per connection, refusal of a duplicate subscription id (4409, as the
//! protocol says), a deadline for connection_init (4408), a message size
//! limit, and closing every stream on shutdown.

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
use futures_util::{future, SinkExt, StreamExt};

use super::AppState;
use crate::graphql::loaders::loaders;

/// Subscriptions one connection may hold at once.
pub const MAX_SUBSCRIPTIONS: usize = 100;
/// Largest message a client may send.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// A connection must authenticate within this time.
pub const INIT_TIMEOUT: Duration = Duration::from_secs(10);

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
}

fn inspect(held: &Mutex<Held>, bytes: &[u8]) -> bool {
    let Ok(message) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return true; // the protocol layer answers malformed frames itself
    };
    let kind = message
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    let id = message
        .get("id")
        .and_then(|i| i.as_str())
        .map(str::to_string);
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

fn finished(held: &Mutex<Held>, text: &str) {
    // Every `next` to every subscriber passes here: parse only the frames
    // that can end a subscription.
    if !(text.contains("\"complete\"") || text.contains("\"error\"")) {
        return;
    }
    let Ok(message) = serde_json::from_str::<serde_json::Value>(text) else {
        return;
    };
    let kind = message
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default();
    if matches!(kind, "complete" | "error") {
        if let (Some(id), Ok(mut held)) = (message.get("id").and_then(|i| i.as_str()), held.lock())
        {
            held.active.remove(id);
        }
    }
}

async fn serve(socket: WebSocket, state: AppState, protocol: Protocols) {
    let (mut sink, stream) = socket.split();
    let held = Arc::new(Mutex::new(Held::default()));
    let (violation_tx, mut violation_rx) = tokio::sync::mpsc::channel::<()>(1);

    let inbound_held = held.clone();
    let inbound = stream
        .take_while(|m| future::ready(m.is_ok()))
        .filter_map(|m| {
            future::ready(match m {
                Ok(Message::Text(t)) => Some(t.as_str().as_bytes().to_vec()),
                Ok(Message::Binary(b)) => Some(b.to_vec()),
                _ => None,
            })
        })
        .take_while(move |bytes| {
            let ok = inspect(&inbound_held, bytes);
            if !ok {
                let _ = violation_tx.try_send(());
            }
            future::ready(ok)
        });

    let init_state = state.clone();
    let outbound = Protocol::new(state.schema.clone(), inbound, protocol).on_connection_init(
        move |payload| async move {
            let header = payload
                .get("Authorization")
                .or_else(|| payload.get("authorization"))
                .and_then(|v| v.as_str());
            let principal = init_state
                .keys
                .from_header(header)
                .map_err(|_| async_graphql::Error::new("invalid or missing token"))?;
            let mut data = Data::default();
            data.insert(loaders(init_state.ctx.clone(), principal.clone()));
            data.insert(principal);
            Ok(data)
        },
    );
    futures_util::pin_mut!(outbound);

    let init_deadline = tokio::time::sleep(INIT_TIMEOUT);
    futures_util::pin_mut!(init_deadline);
    // Made once: each message wakes this loop, and a fresh `cancelled()`
    // per wake would register with the token's tree every time.
    let shutdown = state.ctx.shutdown.clone().cancelled_owned();
    futures_util::pin_mut!(shutdown);
    let close = |code: u16, reason: String| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        let initialised = held.lock().map(|h| h.initialised).unwrap_or(false);
        tokio::select! {
            biased;
            _ = &mut shutdown => {
                // Streams end through `bounded` and send `complete`; give
                // them a moment to flush, then close.
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
                let _ = sink.send(close(1001, "Server shutting down".into())).await;
                return;
            }
            message = outbound.next() => match message {
                Some(WsMessage::Text(text)) => {
                    finished(&held, &text);
                    if sink.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Some(WsMessage::Close(code, reason)) => {
                    let _ = sink.send(close(code, reason)).await;
                    return;
                }
                None => {
                    // Inbound ended: a protocol violation of ours, or the client left.
                    let violation = held.lock().ok().and_then(|mut h| h.violation.take());
                    if let Some((code, reason)) = violation {
                        let _ = sink.send(close(code, reason)).await;
                    }
                    return;
                }
            },
            Some(()) = violation_rx.recv() => {
                let violation = held.lock().ok().and_then(|mut h| h.violation.take());
                if let Some((code, reason)) = violation {
                    let _ = sink.send(close(code, reason)).await;
                }
                return;
            }
            _ = &mut init_deadline, if !initialised => {
                let _ = sink.send(close(4408, "Connection initialisation timeout".into())).await;
                return;
            }
        }
    }
}
