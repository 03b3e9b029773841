//! The WebSocket endpoint's own limits (SECURITY.md items 24 and 26): a
//! protocol violation closes only that socket, with the close code
//! graphql-transport-ws names, and the server stays up for the next
//! client. Tokens at connection_init are in `access::live`.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::ws::{completed, Client, AUDIT, DOMAIN};
use crate::helpers::{admin, spawn_app};

/// Another client connects, is acked and gets an answer: the server is up.
async fn still_up(port: u16) {
    Client::authed(port, &admin()).await.barrier().await;
}

#[tokio::test]
async fn a_second_connection_init_closes_with_4429_and_an_invalid_message_with_4400() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.init(json!({ "Authorization": format!("Bearer {}", admin()) }))
        .await;
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    assert_eq!(
        (frames.len(), code),
        (0, Some(4429)),
        "SECURITY 24, graphql-transport-ws: a second connection_init closes the socket with \
         4429 Too many initialisation requests, no second ack: {frames:?}"
    );
    // async-graphql closes a frame it cannot read with 1002; the server
    // sends the 4400 graphql-transport-ws names.
    let invalid = [
        "this is not JSON",
        "{\"type\":\"subscribe\"}",
        "[1,2,3]",
        "{\"type\":\"no_such_type\",\"id\":\"1\"}",
        "{\"type\":\"subscribe\",\"id\":\"1\",\"payload\":{\"query\":7}}",
    ];
    for garbage in invalid {
        let mut c = Client::authed(app.port, &admin()).await;
        c.text(garbage.into()).await;
        let (frames, code) = c.closing(Duration::from_secs(5)).await;
        assert_eq!(
            (frames.len(), code),
            (0, Some(4400)),
            "SECURITY 24, graphql-transport-ws: an invalid message {garbage:?} closes the \
             socket with 4400, no data: {frames:?}"
        );
    }
    still_up(app.port).await;
}

#[tokio::test]
async fn an_idle_socket_that_never_initialises_is_closed_with_4408() {
    let app = spawn_app().await;
    let mut c = Client::open(app.port).await;
    let started = Instant::now();
    // The 10 s deadline is what is under test: the test waits for it.
    let (frames, code) = c.closing(Duration::from_secs(14)).await;
    let after = started.elapsed();
    assert_eq!(
        (frames.len(), code),
        (0, Some(4408)),
        "SECURITY 24: no connection_init within 10 s: 4408 Connection initialisation timeout"
    );
    assert!(
        after >= Duration::from_secs(9),
        "closed at the deadline: {after:?}"
    );
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_the_socket_with_4409() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    let missing = "subscription { billingRunUpdated(runId: \"424242\") { id } }";
    assert_eq!(c.refused("once", missing, json!({})).await, "NOT_FOUND");
    assert_eq!(
        c.refused("once", missing, json!({})).await,
        "NOT_FOUND",
        "graphql-transport-ws: the id of a completed subscription is free again"
    );
    let q = "subscription { auditEvents { id } }";
    c.subscribe("same", q, json!({})).await;
    c.subscribe("same", q, json!({})).await;
    let (_, code) = c.closing(Duration::from_secs(5)).await;
    assert_eq!(
        code,
        Some(4409),
        "SECURITY 26: Subscriber for <id> already exists closes with 4409"
    );
    still_up(app.port).await;
}

#[tokio::test]
async fn the_hundred_and_first_subscription_on_one_socket_closes_it_with_4429() {
    let app = spawn_app().await;
    let max = billrun::http::ws::MAX_SUBSCRIPTIONS;
    assert_eq!(max, 100);
    let mut c = Client::authed(app.port, &admin()).await;
    let q = "subscription { auditEvents { id } }";
    for i in 0..max {
        c.subscribe(&format!("s{i}"), q, json!({})).await;
    }
    // No barrier here: its subscription would count against the cap.
    assert!(
        c.drain(Duration::from_millis(500)).await.is_empty(),
        "100 subscriptions are allowed"
    );
    // A client complete frees a slot.
    c.text(json!({ "id": "s0", "type": "complete" }).to_string())
        .await;
    c.subscribe("s100", q, json!({})).await;
    let quiet = c.drain(Duration::from_millis(500)).await;
    assert!(
        quiet.iter().all(|f| f["type"] == "complete"),
        "a completed subscription no longer counts: {quiet:?}"
    );
    c.subscribe("s101", q, json!({})).await;
    let (_, code) = c.closing(Duration::from_secs(5)).await;
    assert_eq!(
        code,
        Some(4429),
        "SECURITY 26: at most 100 subscriptions per connection; the 101st closes it with 4429"
    );
    still_up(app.port).await;
}

#[tokio::test]
async fn a_message_over_64_kib_closes_the_connection_and_the_server_stays_up() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    let padding = "x".repeat(100 * 1024);
    let query = format!("subscription {{ auditEvents(after: \"0\") {{ id }} }} # {padding}");
    c.subscribe("big", &query, json!({})).await;
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    // The WebSocket layer drops the connection without a close frame (it
    // does not send 1009 Message Too Big): the client sees no code at all.
    assert_eq!(
        (frames.len(), code),
        (0, None),
        "SECURITY 26: a 100 KiB message is refused (limit 64 KiB), no data: {frames:?}"
    );
    still_up(app.port).await;
}

#[tokio::test]
async fn shutdown_completes_open_streams_and_closes_the_socket_with_1001() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("domain", DOMAIN, json!({})).await;
    c.barrier().await;
    app.shutdown.cancel();
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    assert!(
        completed(&frames, "audit") && completed(&frames, "domain"),
        "shutdown: every open stream receives complete before the socket closes: {frames:?}"
    );
    assert_eq!(code, Some(1001), "shutdown: 1001 Going Away");
}

/// The upgrade's HTTP status for a handshake that sends `origin` (none:
/// no `Origin` header, as clients that are not browsers do).
async fn handshake_status(port: u16, origin: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://127.0.0.1:{port}/graphql/ws")
        .into_client_request()
        .expect("ws request");
    let headers = request.headers_mut();
    headers.insert(
        "Sec-WebSocket-Protocol",
        "graphql-transport-ws".parse().expect("header"),
    );
    if let Some(origin) = origin {
        headers.insert("Origin", origin.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(other) => panic!("handshake failed without a status: {other}"),
    }
}

#[tokio::test]
async fn a_browser_page_of_another_origin_cannot_open_a_websocket() {
    // The test server allows http://allowed.example (--cors-origins).
    let app = spawn_app().await;
    let port = app.port;
    let own = format!("http://127.0.0.1:{port}");
    for (origin, status) in [
        (None, 101),
        (Some("http://allowed.example"), 101),
        (Some(own.as_str()), 101),
        (Some("http://evil.example"), 403),
        (Some("null"), 403),
    ] {
        assert_eq!(
            handshake_status(port, origin).await,
            status,
            "SECURITY: browsers apply no CORS to WebSockets, so the upgrade checks Origin \
             against --cors-origins and the server's own origin ({origin:?})"
        );
    }
    still_up(port).await;
}
