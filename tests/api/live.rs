//! Live updates over graphql-transport-ws: audit and outbox events in
//! commit order, catch-up from a cursor, per-event tenancy, the protocol
//! limits of the WebSocket layer, token expiry, shutdown, and a run executed
//! by one server process seen from another (PostgreSQL).

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{admin, serve_args, spawn_app, token, token_with, TestApp};
use crate::ws_client::{Client, Frame};

/// `next` payloads of subscription `id` until `done` says stop.
async fn collect(raw: &mut Client, id: &str, mut done: impl FnMut(&Value) -> bool) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        match raw.recv(Duration::from_secs(15)).await {
            Frame::Msg(v) if v["type"] == "next" && v["id"] == id => {
                let stop = done(&v["payload"]);
                out.push(v["payload"].clone());
                if stop {
                    return out;
                }
            }
            Frame::Msg(v) if v["type"] == "complete" && v["id"] == id => return out,
            Frame::Msg(v) if v["type"] == "error" => panic!("subscription error: {v}"),
            Frame::Msg(_) => continue,
            other => panic!("stream ended early: {other:?} after {out:?}"),
        }
    }
}

async fn entity_with_contracts(app: &TestApp, code: &str, n: usize) -> String {
    let entity = app.create_entity(code, "EUR").await;
    let customer = app.create_customer(&entity, "Bolt").await;
    for _ in 0..n {
        app.create_contract(&customer, "2026-11-01", "49.00", None)
            .await;
    }
    entity
}

async fn trigger(app: &TestApp, entity: &str, wait: bool) -> Value {
    app.data(
        &admin(),
        "mutation($e: ID, $w: Boolean) { triggerBillingRun(input: { legalEntityId: $e, asOf: \"2026-11-27\", wait: $w }) { runs { id status } } }",
        json!({ "e": entity, "w": wait }),
    )
    .await["triggerBillingRun"]["runs"][0]
        .clone()
}

#[tokio::test]
async fn audit_events_arrive_live_in_commit_order() {
    let app = spawn_app().await;
    let entity = entity_with_contracts(&app, "AUD", 3).await;
    let mut raw = Client::authed(app.port, &admin()).await;
    raw.subscribe(
        "a",
        "subscription($e: ID) { auditEvents(legalEntityId: $e) { id action subjectType legalEntityId } }",
        json!({ "e": entity }),
    )
    .await;
    raw.barrier().await;
    trigger(&app, &entity, false).await;
    let events = collect(&mut raw, "a", |p| {
        p["data"]["auditEvents"]["action"] == "RUN_COMPLETED"
    })
    .await;
    let actions: Vec<&str> = events
        .iter()
        .map(|e| e["data"]["auditEvents"]["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        actions,
        [
            "RUN_TRIGGERED",
            "RUN_STARTED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "RUN_COMPLETED"
        ],
        "the audit lifecycle, live"
    );
    let ids: Vec<i64> = events
        .iter()
        .map(|e| {
            e["data"]["auditEvents"]["id"]
                .as_str()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0)
        })
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "commit order: {ids:?}");
}

#[tokio::test]
async fn domain_events_replay_from_a_cursor_then_go_live_without_duplicates() {
    let app = spawn_app().await;
    let entity = entity_with_contracts(&app, "DOM", 2).await;
    trigger(&app, &entity, true).await;
    // Committed before anyone listened: 2 delivery + 2 collection requests + 1 completed.
    let page = app
        .data(
            &admin(),
            "{ domainEvents(first: 100) { id type legalEntityId } }",
            json!({}),
        )
        .await;
    let all = page["domainEvents"].as_array().expect("list").clone();
    assert_eq!(
        all.len(),
        5,
        "catch-up query lists committed events: {all:?}"
    );
    let first_id = all[0]["id"].as_str().expect("id").to_string();
    let paged = app
        .data(
            &admin(),
            "query($a: ID) { domainEvents(after: $a, first: 2) { id } }",
            json!({ "a": first_id }),
        )
        .await;
    assert_eq!(
        paged["domainEvents"].as_array().map(Vec::len),
        Some(2),
        "first bounds a page"
    );
    assert_eq!(
        paged["domainEvents"][0]["id"], all[1]["id"],
        "after is exclusive and ordered"
    );

    let mut raw = Client::authed(app.port, &admin()).await;
    raw.subscribe(
        "d",
        "subscription($a: ID, $e: ID) { domainEvents(after: $a, legalEntityId: $e) { id type } }",
        json!({ "a": first_id, "e": entity }),
    )
    .await;
    // Replay: the 4 events after the cursor, then live.
    let mut seen = 0;
    let replayed = collect(&mut raw, "d", |_| {
        seen += 1;
        seen == 4
    })
    .await;
    let replayed_ids: Vec<&str> = replayed
        .iter()
        .map(|p| p["data"]["domainEvents"]["id"].as_str().unwrap_or(""))
        .collect();
    let expected: Vec<&str> = all[1..]
        .iter()
        .map(|e| e["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        replayed_ids, expected,
        "replay is every committed event after the cursor, in order"
    );
    // A second run bills nothing new but completes: one live event.
    trigger(&app, &entity, false).await;
    let live = collect(&mut raw, "d", |_| true).await;
    assert_eq!(
        live[0]["data"]["domainEvents"]["type"],
        "billing_run.completed"
    );
    let live_id: i64 = live[0]["data"]["domainEvents"]["id"]
        .as_str()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    let last_replayed: i64 = replayed_ids
        .last()
        .copied()
        .unwrap_or("0")
        .parse()
        .unwrap_or(0);
    assert!(
        live_id > last_replayed,
        "no event delivered twice across replay and live"
    );
    match raw.recv(Duration::from_millis(500)).await {
        Frame::Silent => {}
        other => panic!("nothing more expected, got {other:?}"),
    }

    // A types filter passes only those types.
    let mut typed = Client::authed(app.port, &admin()).await;
    typed
        .subscribe(
            "t",
            "subscription { domainEvents(after: \"0\", types: [\"payment.collection_requested\"]) { type } }",
            json!({}),
        )
        .await;
    let mut n = 0;
    let only = collect(&mut typed, "t", |_| {
        n += 1;
        n == 2
    })
    .await;
    assert!(only
        .iter()
        .all(|p| p["data"]["domainEvents"]["type"] == "payment.collection_requested"));
}

#[tokio::test]
async fn a_partner_receives_only_its_own_entities_events_checked_per_event() {
    let app = spawn_app().await;
    let mine = entity_with_contracts(&app, "MINE", 1).await;
    let theirs = entity_with_contracts(&app, "THEIRS", 1).await;
    let partner = token("PARTNER", &["billing:read", "events:read"], &[&mine]);
    let mut raw = Client::authed(app.port, &partner).await;
    raw.subscribe(
        "a",
        "subscription { auditEvents { action legalEntityId } }",
        json!({}),
    )
    .await;
    raw.subscribe(
        "d",
        "subscription { domainEvents { type legalEntityId } }",
        json!({}),
    )
    .await;
    raw.barrier().await;
    trigger(&app, &theirs, true).await;
    trigger(&app, &mine, true).await;
    // Everything of the partner's run arrives; nothing of the other's.
    let mut completed = (false, false);
    while completed != (true, true) {
        match raw.recv(Duration::from_secs(10)).await {
            Frame::Msg(v) if v["type"] == "next" => {
                let payload = &v["payload"]["data"];
                let event = if v["id"] == "a" {
                    &payload["auditEvents"]
                } else {
                    &payload["domainEvents"]
                };
                assert_eq!(
                    event["legalEntityId"],
                    mine.as_str(),
                    "another entity's event leaked: {v}"
                );
                if event["action"] == "RUN_COMPLETED" {
                    completed.0 = true;
                }
                if event["type"] == "billing_run.completed" {
                    completed.1 = true;
                }
            }
            Frame::Msg(_) => continue,
            other => panic!("stream ended: {other:?}"),
        }
    }
    // Asking for the other entity outright is refused, with no data.
    raw.subscribe(
        "x",
        "subscription($e: ID) { auditEvents(legalEntityId: $e) { action } }",
        json!({ "e": theirs }),
    )
    .await;
    loop {
        match raw.recv(Duration::from_secs(5)).await {
            Frame::Msg(v) if v["id"] == "x" => {
                // async-graphql reports a resolver error as a `next` with
                // errors and no data (then `complete`), or as `error`.
                let errors = if v["type"] == "error" {
                    &v["payload"]
                } else {
                    &v["payload"]["errors"]
                };
                assert!(v["payload"]["data"].is_null(), "no data: {v}");
                assert_eq!(errors[0]["extensions"]["code"], "NOT_FOUND", "{v}");
                break;
            }
            Frame::Msg(_) => continue,
            other => panic!("no answer: {other:?}"),
        }
    }
}

#[tokio::test]
async fn a_duplicate_subscription_id_closes_the_connection_with_4409() {
    let app = spawn_app().await;
    let mut raw = Client::authed(app.port, &admin()).await;
    let q = "subscription { auditEvents { id } }";
    raw.subscribe("same", q, json!({})).await;
    raw.subscribe("same", q, json!({})).await;
    assert!(
        matches!(
            raw.recv(Duration::from_secs(5)).await,
            Frame::Closed(Some(4409))
        ),
        "graphql-transport-ws: Subscriber for <id> already exists"
    );
    // The server is still up.
    Client::authed(app.port, &admin()).await;
}

#[tokio::test]
async fn too_many_subscriptions_on_one_socket_close_it() {
    let app = spawn_app().await;
    let mut raw = Client::authed(app.port, &admin()).await;
    for i in 0..=billrun::http::ws::MAX_SUBSCRIPTIONS {
        raw.subscribe(
            &format!("s{i}"),
            "subscription { auditEvents { id } }",
            json!({}),
        )
        .await;
    }
    assert!(
        matches!(
            raw.recv(Duration::from_secs(5)).await,
            Frame::Closed(Some(4429))
        ),
        "a per-connection cap on subscriptions"
    );
}

#[tokio::test]
async fn an_oversized_message_closes_the_connection_and_the_server_stays_up() {
    let app = spawn_app().await;
    let mut raw = Client::authed(app.port, &admin()).await;
    let huge = "x".repeat(200 * 1024);
    raw.subscribe(
        "big",
        &format!("subscription {{ auditEvents {{ id }} }} # {huge}"),
        json!({}),
    )
    .await;
    assert!(matches!(
        raw.recv(Duration::from_secs(5)).await,
        Frame::Closed(_)
    ));
    Client::authed(app.port, &admin()).await;
}

#[tokio::test]
async fn subscribing_before_connection_init_gets_no_data() {
    let app = spawn_app().await;
    let mut raw = Client::open(app.port).await;
    raw.subscribe("early", "subscription { auditEvents { id } }", json!({}))
        .await;
    match raw.recv(Duration::from_secs(5)).await {
        Frame::Closed(_) => {}
        Frame::Msg(v) => assert_ne!(v["type"], "next", "no data before init: {v}"),
        Frame::Silent => {}
    }
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires() {
    let app = spawn_app().await;
    let short = token_with(|c| c.exp = chrono::Utc::now().timestamp() + 3);
    let mut raw = Client::authed(app.port, &short).await;
    raw.subscribe("a", "subscription { auditEvents { id } }", json!({}))
        .await;
    let started = std::time::Instant::now();
    loop {
        match raw.recv(Duration::from_secs(10)).await {
            Frame::Msg(v) if v["id"] == "a" && v["type"] == "complete" => break,
            Frame::Closed(_) => break,
            Frame::Msg(_) => continue,
            Frame::Silent => panic!("the stream outlived its token"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(9), "ended at exp");
}

#[tokio::test]
async fn shutdown_completes_open_streams() {
    let app = spawn_app().await;
    let mut raw = Client::authed(app.port, &admin()).await;
    raw.subscribe("a", "subscription { auditEvents { id } }", json!({}))
        .await;
    raw.barrier().await;
    app.shutdown.cancel();
    let mut completed = false;
    loop {
        match raw.recv(Duration::from_secs(5)).await {
            Frame::Msg(v) if v["id"] == "a" && v["type"] == "complete" => completed = true,
            Frame::Msg(_) => continue,
            Frame::Closed(_) => break,
            Frame::Silent => panic!("the connection was left open after shutdown"),
        }
    }
    assert!(completed, "the stream completed before the socket closed");
}

/// Two server processes on one PostgreSQL: a client connected to A sees a
/// run that B executes (NOTIFY inside B's transactions, LISTEN in A).
#[tokio::test]
async fn a_run_executed_by_one_replica_is_seen_live_on_another() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        eprintln!("cross-replica delivery needs PostgreSQL; on SQLite billrun is one process");
        return;
    }
    let entity = entity_with_contracts(&app, "XREP", 3).await;
    let replica = billrun::app::Application::build(serve_args(&app.database_url))
        .await
        .expect("second replica");
    let b_port = replica.port();
    tokio::spawn(replica.run_until_stopped());

    let mut raw = Client::authed(app.port, &admin()).await;
    raw.subscribe(
        "r",
        "subscription($e: ID) { billingRunUpdated(legalEntityId: $e) { status processedCount invoiceCount } }",
        json!({ "e": entity }),
    )
    .await;
    raw.subscribe(
        "d",
        "subscription($e: ID) { domainEvents(legalEntityId: $e) { type } }",
        json!({ "e": entity }),
    )
    .await;
    raw.barrier().await;
    let b = app.client.clone();
    let body: Value = b
        .post(format!("http://127.0.0.1:{b_port}/graphql"))
        .bearer_auth(admin())
        .json(&json!({ "query": format!("mutation {{ triggerBillingRun(input: {{ legalEntityId: \"{entity}\", asOf: \"2026-11-27\" }}) {{ runs {{ id }} }} }}") }))
        .send()
        .await
        .expect("sent to B")
        .json()
        .await
        .expect("JSON");
    assert!(body.get("errors").is_none(), "{body}");
    let (mut statuses, mut events) = (Vec::new(), Vec::new());
    while !(statuses
        .last()
        .is_some_and(|s: &Value| s["status"] == "COMPLETED")
        && events.len() >= 4)
    {
        match raw.recv(Duration::from_secs(15)).await {
            Frame::Msg(v) if v["type"] == "next" && v["id"] == "r" => {
                statuses.push(v["payload"]["data"]["billingRunUpdated"].clone())
            }
            Frame::Msg(v) if v["type"] == "next" && v["id"] == "d" => {
                events.push(v["payload"]["data"]["domainEvents"]["type"].clone())
            }
            Frame::Msg(_) => continue,
            other => panic!(
                "A stopped hearing B's run: {other:?}; statuses {statuses:?}, events {events:?}"
            ),
        }
    }
    assert!(
        statuses.iter().any(|s| s["status"] == "RUNNING"),
        "RUNNING seen on A: {statuses:?}"
    );
    let last = statuses.last().expect("final state");
    assert_eq!(last["invoiceCount"], 3, "final counts on A");
    assert_eq!(
        events
            .iter()
            .filter(|t| *t == "invoice.delivery_requested")
            .count(),
        3
    );
}
