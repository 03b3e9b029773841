//! DESIGN.md, Webhooks: "Exactly one replica sends each attempt", and the
//! queue is durable: the real binary twice on one database, and SIGKILLed
//! with deliveries pending, then restarted.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::json;

use super::{endpoint, events_after, last_position, settled, Receiver, Reply, PROCESS_ARGS};
use crate::helpers::billing::{entity_with, trigger_run};
use crate::helpers::{fresh_database, TestApp};
use crate::process::{Opts, Server};

fn opts() -> Opts {
    Opts {
        args: PROCESS_ARGS.iter().map(|a| a.to_string()).collect(),
        ..Opts::default()
    }
}

/// How often each webhook-id arrived.
fn arrivals(hook: &Receiver) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    for hit in hook.hits() {
        *seen
            .entry(hit.header("webhook-id").to_string())
            .or_default() += 1;
    }
    seen
}

#[tokio::test]
async fn two_processes_on_one_database_send_each_attempt_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let a = Server::start("A", &url, &opts()).await;
    let b = Server::start("B", &url, &opts()).await;
    let app = TestApp::external(dir, url, a.port).await;
    let entity = entity_with(&app, "WR1", 8).await;
    let hooks = [
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    ];
    let mut ids = Vec::new();
    for hook in &hooks {
        ids.push(endpoint(&app, &hook.url, json!({})).await.0);
    }
    let from = last_position(&app).await;
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let events = events_after(&app, from, None).await;
    for (hook, id) in hooks.iter().zip(&ids) {
        settled(&app, id, events.len()).await;
        let seen = arrivals(hook);
        assert_eq!(
            seen.len(),
            events.len(),
            "every event delivered\n{}\n{}",
            a.tail(20),
            b.tail(20)
        );
        assert!(
            seen.values().all(|n| *n == 1),
            "Webhooks: exactly one replica sends each attempt: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_server_killed_with_deliveries_pending_delivers_them_all_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let mut first = Server::start("first", &url, &opts()).await;
    let app = TestApp::external(dir, url.clone(), first.port).await;
    let entity = entity_with(&app, "WR2", 10).await;
    let hook = Receiver::start().await;
    // Slow answers keep deliveries queued, one in flight at the kill.
    hook.always(Reply::Slow(Duration::from_millis(300)));
    let (id, _) = endpoint(&app, &hook.url, json!({})).await;
    let from = last_position(&app).await;
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let events = events_after(&app, from, None).await;
    hook.await_hits(2, "deliveries started").await;
    first.kill();
    let before = arrivals(&hook).len();
    assert!(
        before < events.len(),
        "test setup: the kill came with deliveries pending ({before}/{})",
        events.len()
    );

    hook.always(Reply::Status(200));
    let second = Server::start("second", &url, &opts()).await;
    let mut app = app;
    app.retarget(second.port);
    let rows = settled(&app, &id, events.len()).await;
    assert!(
        rows.iter().all(|d| d["status"] == "SUCCEEDED"),
        "{rows:?}\n{}",
        second.tail(30)
    );
    let seen = arrivals(&hook);
    let expected: Vec<String> = events.iter().map(|e| e.id.to_string()).collect();
    let mut got: Vec<String> = seen.keys().cloned().collect();
    got.sort_by_key(|k| k.parse::<i64>().unwrap_or(0));
    assert_eq!(
        got, expected,
        "Webhooks: nothing lost across kill -9 (at least once)"
    );
}
