//! A raw graphql-transport-ws client for the tests: sends any frame, sees
//! close codes, and can wait until the server has registered earlier
//! subscriptions (a barrier); plus the subscription documents and the
//! readers of gathered frames that several test modules share.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

#[derive(Debug)]
pub enum Frame {
    Msg(Value),
    Closed(Option<u16>),
    Silent,
}

/// A raw graphql-transport-ws client: sends any frame, sees close codes.
pub struct Client {
    ws: Socket,
    held: VecDeque<Value>,
    barriers: u32,
}

impl Client {
    pub async fn open(port: u16) -> Client {
        let mut request = format!("ws://127.0.0.1:{port}/graphql/ws")
            .into_client_request()
            .expect("ws request");
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            "graphql-transport-ws".parse().expect("header"),
        );
        let (ws, _) = tokio_tungstenite::connect_async(request)
            .await
            .expect("ws connect");
        Client {
            ws,
            held: VecDeque::new(),
            barriers: 0,
        }
    }

    /// Connected, initialised with `token` and acknowledged.
    pub async fn authed(port: u16, token: &str) -> Client {
        let mut c = Client::open(port).await;
        c.init(json!({ "Authorization": format!("Bearer {token}") }))
            .await;
        match c.recv(Duration::from_secs(5)).await {
            Frame::Msg(v) if v["type"] == "connection_ack" => c,
            other => panic!("graphql-transport-ws: a valid token is acknowledged: {other:?}"),
        }
    }

    pub async fn init(&mut self, payload: Value) {
        let init = json!({ "type": "connection_init", "payload": payload });
        self.text(init.to_string()).await;
    }

    /// Sends a text frame; a socket the server closed says so at the next recv.
    pub async fn text(&mut self, text: String) {
        let _ = self.ws.send(Message::text(text)).await;
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let payload = json!({ "query": query, "variables": variables });
        let message = json!({ "id": id, "type": "subscribe", "payload": payload });
        self.text(message.to_string()).await;
    }

    pub async fn recv(&mut self, wait: Duration) -> Frame {
        if let Some(v) = self.held.pop_front() {
            return Frame::Msg(v);
        }
        loop {
            return match tokio::time::timeout(wait, self.ws.next()).await {
                Err(_) => Frame::Silent,
                Ok(None) | Ok(Some(Err(_))) => Frame::Closed(None),
                Ok(Some(Ok(Message::Close(f)))) => Frame::Closed(f.map(|f| u16::from(f.code))),
                Ok(Some(Ok(Message::Text(t)))) => {
                    Frame::Msg(serde_json::from_str(&t).expect("server frames are JSON"))
                }
                Ok(Some(Ok(_))) => continue,
            };
        }
    }

    /// Makes sure the subscriptions sent before are live (their resolvers
    /// ran and hold a bus receiver): async-graphql polls every stream of the
    /// socket while this one waits for its database read.
    pub async fn barrier(&mut self) {
        self.barriers += 1;
        let id = format!("barrier-{}", self.barriers);
        let q = "subscription { billingRunUpdated(runId: \"999999999\") { id } }";
        self.subscribe(&id, q, json!({})).await;
        let mut other = Vec::new();
        loop {
            match self.recv(Duration::from_secs(10)).await {
                Frame::Msg(v) if v["id"] == id.as_str() => {
                    if v["type"] == "complete" {
                        break;
                    }
                }
                Frame::Msg(v) => other.push(v),
                f => panic!("no answer to the barrier: {f:?}"),
            }
        }
        self.held.extend(other);
    }

    /// Frames until `stop` holds for those gathered (15 s per frame at most).
    pub async fn gather(&mut self, mut stop: impl FnMut(&[Value]) -> bool) -> Vec<Value> {
        let mut got = Vec::new();
        while !stop(&got) {
            match self.recv(Duration::from_secs(15)).await {
                Frame::Msg(v) => got.push(v),
                other => panic!("the socket stopped early: {other:?} after {got:?}"),
            }
        }
        got
    }

    /// Frames until nothing arrives for `quiet`.
    pub async fn drain(&mut self, quiet: Duration) -> Vec<Value> {
        let mut got = Vec::new();
        loop {
            match self.recv(quiet).await {
                Frame::Msg(v) => got.push(v),
                Frame::Silent => return got,
                Frame::Closed(code) => panic!("closed ({code:?}) after {got:?}"),
            }
        }
    }

    /// Frames until the socket closes, and its close code; panics when it
    /// is still open after `within`.
    pub async fn closing(&mut self, within: Duration) -> (Vec<Value>, Option<u16>) {
        let deadline = Instant::now() + within;
        let mut got = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.recv(left).await {
                Frame::Msg(v) => got.push(v),
                Frame::Closed(code) => return (got, code),
                Frame::Silent => panic!("still open after {within:?}; frames {got:?}"),
            }
        }
    }

    /// Subscribes and expects a refusal: an error, no data, then `complete`.
    pub async fn refused(&mut self, id: &str, query: &str, variables: Value) -> String {
        self.subscribe(id, query, variables).await;
        let frames = self.gather(|f| completed(f, id)).await;
        let mine: Vec<&Value> = frames.iter().filter(|v| v["id"] == id).collect();
        let payload = &mine[0]["payload"];
        assert!(
            mine.len() == 2 && payload["data"].is_null(),
            "a refusal: one error without data, then complete: {mine:?}"
        );
        let code = payload["errors"][0]["extensions"]["code"].as_str();
        code.unwrap_or("<no code>").to_string()
    }
}

/// Whether subscription `id` has completed among `frames`.
pub fn completed(frames: &[Value], id: &str) -> bool {
    frames
        .iter()
        .any(|v| v["id"] == id && v["type"] == "complete")
}

pub const BY_RUN: &str = "subscription($id: ID!) { billingRunUpdated(runId: $id) {
  id status contractCount processedCount invoiceCount skippedCount } }";
pub const BY_ENTITY: &str = "subscription($e: ID) { billingRunUpdated(legalEntityId: $e) {
  id status contractCount processedCount invoiceCount skippedCount } }";
pub const AUDIT: &str = "subscription($e: ID, $a: ID) { auditEvents(legalEntityId: $e, after: $a) {
  id action subjectType subjectId legalEntityId } }";
pub const DOMAIN: &str = "subscription($e: ID, $t: [String!], $a: ID) {
  domainEvents(legalEntityId: $e, types: $t, after: $a) { id type legalEntityId subjectId } }";

/// The payloads of subscription `id`'s `next` frames, at `field`.
pub fn nexts<'a>(frames: &'a [Value], id: &str, field: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|v| v["id"] == id && v["type"] == "next")
        .map(|v| &v["payload"]["data"][field])
        .collect()
}

/// The ids of `nexts`.
pub fn ids(frames: &[Value], id: &str, field: &str) -> Vec<i64> {
    nexts(frames, id, field).into_iter().map(id_of).collect()
}

/// How many `next`s of subscription `id` have `field.key` = `value`.
pub fn count(frames: &[Value], id: &str, field: &str, key: &str, value: &str) -> usize {
    let all = nexts(frames, id, field);
    all.iter().filter(|x| x[key] == value).count()
}

pub fn seen(frames: &[Value], id: &str, field: &str, key: &str, value: &str) -> bool {
    count(frames, id, field, key, value) > 0
}

/// The numeric `id` of an object.
pub fn id_of(v: &Value) -> i64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}
