//! DESIGN.md, Webhooks: real HTTP receivers on 127.0.0.1 (allowed by the
//! test server's allow-list) get a run's events signed as Standard
//! Webhooks, verified here by an HMAC computed independently of the
//! server's code. By rule: what is delivered and to whom (`delivery`),
//! what each answer does (`outcomes`), rotation and manual retry
//! (`secrets`), SSRF refusals and owner-only endpoints (`guard`), and two
//! processes or a SIGKILL (`replicas`). Here: the receiver and helpers.

mod delivery;
mod guard;
mod outcomes;
mod replicas;
mod secrets;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::helpers::{admin, poll_until, spawn_app_with, TestApp};

/// What a receiver answers to one request.
#[derive(Clone, Debug)]
pub enum Reply {
    Status(u16),
    /// A status with one header (Retry-After, Location).
    With(u16, &'static str, String),
    /// 200 after this long (longer than the server's timeout).
    Slow(Duration),
}

/// One request a receiver got.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Hit {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(String::as_str).unwrap_or("")
    }
    /// The event's position (`data.position`).
    pub fn position(&self) -> i64 {
        self.json()["data"]["position"].as_i64().expect("position")
    }
}

#[derive(Default)]
struct Script {
    hits: Mutex<Vec<Hit>>,
    replies: Mutex<VecDeque<Reply>>,
    default: Mutex<Option<Reply>>,
}

/// A tiny HTTP server on 127.0.0.1: records every request and answers
/// from its script (then with its default, 200 unless set).
pub struct Receiver {
    pub url: String,
    script: Arc<Script>,
    server: tokio::task::JoinHandle<()>,
}

async fn answer(
    State(script): State<Arc<Script>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let hit = Hit {
        path: uri.path().to_string(),
        headers,
        body: body.to_vec(),
    };
    script.hits.lock().expect("hits").push(hit);
    let next = script.replies.lock().expect("replies").pop_front();
    let reply = next.or_else(|| script.default.lock().expect("default").clone());
    match reply.unwrap_or(Reply::Status(200)) {
        Reply::Status(code) => status(code).into_response(),
        Reply::With(code, name, value) => (status(code), [(name, value)], "").into_response(),
        Reply::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK.into_response()
        }
    }
}

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("a status code")
}

impl Receiver {
    pub async fn start() -> Receiver {
        let script = Arc::new(Script::default());
        let router = axum::Router::new()
            .fallback(answer)
            .with_state(script.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            script,
            server,
        }
    }

    /// Answers these first, in order.
    pub fn then(&self, replies: impl IntoIterator<Item = Reply>) {
        self.script.replies.lock().expect("replies").extend(replies);
    }

    /// Answers this once the script is used up.
    pub fn always(&self, reply: Reply) {
        *self.script.default.lock().expect("default") = Some(reply);
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.script.hits.lock().expect("hits").clone()
    }

    /// Waits until at least `n` requests came.
    pub async fn await_hits(&self, n: usize, what: &str) -> Vec<Hit> {
        poll_until(
            what,
            Duration::from_secs(60),
            Duration::from_millis(20),
            || async {
                let hits = self.hits();
                (hits.len() >= n).then_some(hits)
            },
        )
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// The test server's webhook knobs: 127.0.0.1 allowed, short retries, a
/// short timeout, a fast poll.
pub const PROCESS_ARGS: &[&str] = &[
    "--webhook-allow-hosts",
    "127.0.0.1",
    "--webhook-retry-schedule",
    "100ms,200ms",
    "--webhook-timeout",
    "1s",
    "--webhook-poll",
    "50ms",
];

/// The same knobs for an in-process server.
pub fn configure(a: &mut billrun::config::ServeArgs) {
    a.webhooks.webhook_allow_hosts = vec!["127.0.0.1".into()];
    a.webhooks.webhook_retry_schedule =
        billrun::config::Schedule(vec![Duration::from_millis(100), Duration::from_millis(200)]);
    a.webhooks.webhook_timeout = Duration::from_secs(1);
    a.webhooks.webhook_poll = Duration::from_millis(50);
}

pub async fn hooks_app() -> TestApp {
    spawn_app_with(configure).await
}

pub const CREATE: &str = "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) {
  secret endpoint { id url description enabled disabledReason legalEntityId eventTypes createdAt } } }";

pub const DELIVERIES: &str = "query($e: ID!, $s: WebhookDeliveryStatus, $a: String) {
  webhookDeliveries(endpointId: $e, status: $s, first: 100, after: $a) {
  edges { cursor node { id status attemptCount nextAttemptAt endpoint { id } event { id type legalEntityId }
  attempts { at statusCode durationMs error responseBody } } } pageInfo { hasNextPage } } }";

/// An endpoint of the caller `tok` at `url` with `extra` input fields:
/// its id and secret.
pub async fn endpoint_as(app: &TestApp, tok: &str, url: &str, extra: Value) -> (String, String) {
    let mut input = json!({ "url": url });
    for (k, v) in extra.as_object().expect("object") {
        input[k] = v.clone();
    }
    let data = app.data(tok, CREATE, json!({ "i": input })).await;
    let made = &data["createWebhookEndpoint"];
    let id = made["endpoint"]["id"].as_str().expect("id").to_string();
    (id, made["secret"].as_str().expect("secret").to_string())
}

pub async fn endpoint(app: &TestApp, url: &str, extra: Value) -> (String, String) {
    endpoint_as(app, &admin(), url, extra).await
}

/// The endpoint's deliveries (newest first), as admin.
pub async fn deliveries(app: &TestApp, endpoint: &str) -> Vec<Value> {
    let data = app
        .data(&admin(), DELIVERIES, json!({ "e": endpoint }))
        .await;
    data["webhookDeliveries"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// Waits until every delivery of the endpoint is finished and at least
/// `n` exist; they, newest first.
pub async fn settled(app: &TestApp, endpoint: &str, n: usize) -> Vec<Value> {
    poll_until(
        "deliveries settle",
        Duration::from_secs(60),
        Duration::from_millis(50),
        || async {
            let rows = deliveries(app, endpoint).await;
            let done = rows.len() >= n
                && rows
                    .iter()
                    .all(|d| d["status"] == "SUCCEEDED" || d["status"] == "FAILED");
            done.then_some(rows)
        },
    )
    .await
}

/// How many of the hit's `webhook-signature` entries are a valid
/// Standard Webhooks signature with `secret`, computed here: base64 of
/// HMAC-SHA256, keyed with the bytes after `whsec_`, over id.timestamp.body.
pub fn valid_signatures(secret: &str, hit: &Hit) -> usize {
    let key = B64
        .decode(secret.strip_prefix("whsec_").expect("a whsec_ secret"))
        .expect("base64 secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("hmac key");
    mac.update(hit.header("webhook-id").as_bytes());
    mac.update(b".");
    mac.update(hit.header("webhook-timestamp").as_bytes());
    mac.update(b".");
    mac.update(&hit.body);
    let expected = format!("v1,{}", B64.encode(mac.finalize().into_bytes()));
    hit.header("webhook-signature")
        .split(' ')
        .filter(|s| *s == expected)
        .count()
}

/// The outbox events written after `after` (positions), of `entity` if given.
pub async fn events_after(
    app: &TestApp,
    after: i64,
    entity: Option<&str>,
) -> Vec<entity::domain_event::Model> {
    crate::helpers::billing::outbox(app)
        .await
        .into_iter()
        .filter(|e| e.id > after)
        .filter(|e| entity.is_none_or(|id| e.legal_entity_id.to_string() == id))
        .collect()
}

/// The newest outbox position now.
pub async fn last_position(app: &TestApp) -> i64 {
    crate::helpers::billing::outbox(app)
        .await
        .last()
        .map_or(0, |e| e.id)
}
