//! Events delivered live over graphql-transport-ws: run progress chunk by
//! chunk, the audit trail and the outbox as they commit, a catch-up from a
//! cursor that overlaps live delivery, and a run executed by another
//! server on the same database.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{json, Value};

use super::{ascending, outbox_ids, rank};
use crate::helpers::billing::{
    entity_with, trigger_run, COMPLETED_EVENT, DELIVERY, ONE_CHUNK_TRAIL,
};
use crate::helpers::ws::{
    completed, count, id_of, ids, nexts, seen, Client, AUDIT, BY_ENTITY, BY_RUN, DOMAIN,
};
use crate::helpers::{admin, is_postgres, serve_args, spawn_app, spawn_app_with, TestApp};

const COUNTS: [&str; 4] = [
    "contractCount",
    "processedCount",
    "invoiceCount",
    "skippedCount",
];

#[tokio::test]
async fn billing_run_updated_sends_a_finished_run_once_and_a_live_run_chunk_by_chunk() {
    let app = spawn_app_with(|a| a.run_chunk_size = 5).await;
    let old = entity_with(&app, "SU1", 1).await;
    let done = trigger_run(&app, &old, "2026-11-27", true).await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("done", BY_RUN, json!({ "id": done })).await;
    let frames = c.gather(|f| completed(f, "done")).await;
    let state = nexts(&frames, "done", "billingRunUpdated");
    assert_eq!(
        (frames.len(), &state[0]["id"], &state[0]["status"]),
        (2, &json!(done), &json!("COMPLETED")),
        "Subscription: with runId a finished run sends its current state once, then complete: {frames:?}"
    );

    let fresh = entity_with(&app, "SU2", 20).await;
    c.subscribe("entity", BY_ENTITY, json!({ "e": fresh }))
        .await;
    c.barrier().await;
    let run_id = trigger_run(&app, &fresh, "2026-11-27", false).await;
    c.subscribe("run", BY_RUN, json!({ "id": run_id })).await;
    let frames = c
        .gather(|f| {
            completed(f, "run")
                && nexts(f, "entity", "billingRunUpdated")
                    .last()
                    .is_some_and(|r| r["status"] == "COMPLETED")
        })
        .await;
    let updates = nexts(&frames, "entity", "billingRunUpdated");
    assert!(
        updates.iter().all(|u| u["id"] == run_id.as_str()),
        "legalEntityId filter: only this entity's run: {updates:?}"
    );
    let order = |u: &[&Value]| -> Vec<(usize, i64)> {
        let n = |r: &Value| r["processedCount"].as_i64().expect("count");
        u.iter().map(|r| (rank(&r["status"]), n(r))).collect()
    };
    let steps = order(&updates);
    assert_eq!(
        updates.first().map(|u| &u["status"]),
        Some(&json!("QUEUED")),
        "The run: the entity's stream sees it QUEUED first: {updates:?}"
    );
    assert!(
        steps.windows(2).all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1),
        "Subscription: QUEUED, RUNNING, COMPLETED in order, processedCount never decreasing: {steps:?}"
    );
    let running: HashSet<i64> = steps.iter().filter(|s| s.0 == 1).map(|s| s.1).collect();
    assert!(
        running.len() >= 4,
        "Subscription: at least one message per processed chunk (20 contracts, chunks of 5): {running:?}"
    );
    let counts = |r: &Value| COUNTS.map(|k| r[k].as_i64());
    let expected = [Some(20), Some(20), Some(20), Some(0)];
    let last = updates.last().expect("final state");
    assert_eq!(counts(last), expected, "final counts: {last}");
    let by_id = nexts(&frames, "run", "billingRunUpdated");
    let finals = by_id.iter().filter(|r| r["status"] == "COMPLETED").count();
    assert!(
        order(&by_id).windows(2).all(|w| w[0] <= w[1]),
        "Subscription: with runId, the current state first, then in order: {by_id:?}"
    );
    assert_eq!(
        (finals, by_id.last().map(|r| counts(r))),
        (1, Some(expected)),
        "Subscription: with runId, ending with COMPLETED once, then complete: {by_id:?}"
    );
}

#[tokio::test]
async fn audit_events_of_a_run_arrive_live_in_commit_order() {
    let app = spawn_app().await;
    let e = entity_with(&app, "AU1", 3).await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("audit", AUDIT, json!({ "e": e })).await;
    c.barrier().await;
    let run_id = trigger_run(&app, &e, "2026-11-27", false).await;
    let frames = c
        .gather(|f| seen(f, "audit", "auditEvents", "action", "RUN_COMPLETED"))
        .await;
    let events = nexts(&frames, "audit", "auditEvents");
    let all = ids(&frames, "audit", "auditEvents");
    assert!(
        ascending(&all),
        "auditEvents: in commit order, no repeats: {all:?}"
    );
    assert!(
        events.iter().all(|a| a["legalEntityId"] == e.as_str()),
        "auditEvents(legalEntityId): that entity's events only: {events:?}"
    );
    let of_run: Vec<&Value> = events
        .into_iter()
        .filter(|a| a["subjectType"] == "BillingRun" && a["subjectId"] == run_id.as_str())
        .collect();
    let actions: Vec<&str> = of_run.iter().filter_map(|a| a["action"].as_str()).collect();
    assert_eq!(
        actions, ONE_CHUNK_TRAIL,
        "auditEvents: the whole lifecycle of a one-chunk run, live, in order"
    );
    let q = "query($id: ID!) { billingRun(id: $id) { auditTrail { id } } }";
    let trail = app.data(&admin(), q, json!({ "id": run_id })).await;
    let trail = trail["billingRun"]["auditTrail"].as_array().expect("trail");
    let mut recorded: Vec<i64> = trail.iter().map(id_of).collect();
    recorded.sort_unstable();
    let live: Vec<i64> = of_run.into_iter().map(id_of).collect();
    assert_eq!(
        live, recorded,
        "auditEvents: every audit event of the run arrives live, none missing"
    );
}

#[tokio::test]
async fn domain_events_filter_by_type_live_and_replay_from_a_cursor_without_repeats() {
    let app = spawn_app().await;
    let e = entity_with(&app, "DE1", 3).await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("typed", DOMAIN, json!({ "e": e, "t": [DELIVERY] }))
        .await;
    c.subscribe("all", DOMAIN, json!({ "e": e })).await;
    c.barrier().await;
    trigger_run(&app, &e, "2026-11-27", false).await;
    let mut frames = c
        .gather(|f| seen(f, "all", "domainEvents", "type", COMPLETED_EVENT))
        .await;
    frames.extend(c.drain(Duration::from_millis(500)).await);
    let typed = nexts(&frames, "typed", "domainEvents");
    assert!(
        typed.iter().all(|d| d["type"] == DELIVERY),
        "domainEvents(types): only the types asked for: {typed:?}"
    );
    let all = nexts(&frames, "all", "domainEvents");
    let deliveries: Vec<i64> = all
        .into_iter()
        .filter(|d| d["type"] == DELIVERY)
        .map(id_of)
        .collect();
    let typed_ids = ids(&frames, "typed", "domainEvents");
    assert_eq!(
        (typed_ids.len(), &typed_ids),
        (3, &deliveries),
        "domainEvents(types): every event of that type, live, once, in order"
    );

    // Catch-up: a client back from offline asks from the start while a
    // second run commits, so replay and live delivery overlap.
    let before = outbox_ids(&app, Some(&e)).await;
    assert_eq!(
        before.len(),
        8,
        "3 deliveries + 3 collections + notification.created + completed"
    );
    let mut late = Client::authed(app.port, &admin()).await;
    late.subscribe("cursor", DOMAIN, json!({ "e": e, "a": "0" }))
        .await;
    trigger_run(&app, &e, "2026-12-27", false).await;
    let mut frames = late
        .gather(|f| count(f, "cursor", "domainEvents", "type", COMPLETED_EVENT) == 2)
        .await;
    frames.extend(late.drain(Duration::from_millis(500)).await);
    let got = ids(&frames, "cursor", "domainEvents");
    assert_eq!(
        got[..before.len()],
        before[..],
        "domainEvents(after): the committed events are replayed first, in order"
    );
    assert!(
        ascending(&got),
        "domainEvents(after): no id delivered twice, ids ascending: {got:?}"
    );
    let committed = outbox_ids(&app, Some(&e)).await;
    assert_eq!(
        got, committed,
        "domainEvents(after): replay then live misses nothing"
    );

    // A cursor in the middle: replay starts after it, and nothing else comes.
    let mut resumed = Client::authed(app.port, &admin()).await;
    let cursor = committed[0].to_string();
    resumed
        .subscribe("mid", DOMAIN, json!({ "e": e, "a": cursor }))
        .await;
    let mut frames = resumed
        .gather(|f| ids(f, "mid", "domainEvents").len() == committed.len() - 1)
        .await;
    frames.extend(resumed.drain(Duration::from_millis(500)).await);
    assert_eq!(
        ids(&frames, "mid", "domainEvents"),
        committed[1..],
        "domainEvents(after): the cursor is exclusive, and nothing is sent twice"
    );
}

/// Two servers on one database: B executes the run, a client of A sees
/// every outbox event it commits, once and in order (Events precisely: A
/// reads everything after its cursor). On PostgreSQL A also sees B's run
/// progress (NOTIFY in B's transactions, LISTEN in A); on SQLite run
/// progress is published in the process that commits it (DESIGN.md, Scale:
/// one process with SQLite), so there only the events are checked.
#[tokio::test]
async fn a_run_executed_by_another_server_is_seen_live_on_this_one() {
    let app = spawn_app().await;
    let progress_crosses = is_postgres(&app.database_url);
    let e = entity_with(&app, "XP1", 20).await;
    let mut args = serve_args(&app.database_url);
    args.run_chunk_size = 5;
    let b = billrun::app::Application::build(args)
        .await
        .expect("second server builds");
    let b_port = b.port();
    let b_stop = b.shutdown_token();
    tokio::spawn(b.run_until_stopped());

    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("runs", BY_ENTITY, json!({ "e": e })).await;
    c.subscribe("domain", DOMAIN, json!({ "e": e })).await;
    c.barrier().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let on_b = TestApp::external(dir, app.database_url.clone(), b_port).await;
    let run_id = json!(trigger_run(&on_b, &e, "2026-11-27", false).await);
    let frames = c
        .gather(|f| {
            let finished = nexts(f, "runs", "billingRunUpdated")
                .last()
                .is_some_and(|r| r["status"] == "COMPLETED");
            (finished || !progress_crosses)
                && seen(f, "domain", "domainEvents", "type", COMPLETED_EVENT)
        })
        .await;
    b_stop.cancel();
    assert_eq!(
        ids(&frames, "domain", "domainEvents"),
        outbox_ids(&app, Some(&e)).await,
        "Scale, Events precisely: every outbox event B committed reaches A's subscriber once, in order"
    );
    assert_eq!(
        count(&frames, "domain", "domainEvents", "type", DELIVERY),
        20,
        "one invoice.delivery_requested per invoice"
    );
    if !progress_crosses {
        return;
    }
    let updates = nexts(&frames, "runs", "billingRunUpdated");
    let processed: Vec<i64> = updates
        .iter()
        .map(|u| u["processedCount"].as_i64().unwrap_or(-1))
        .collect();
    assert!(
        updates.iter().all(|u| u["id"] == run_id)
            && updates.iter().any(|u| u["status"] == "RUNNING")
            && processed.windows(2).all(|w| w[0] <= w[1]),
        "Scale: A sees B's run RUNNING, progress in order: {updates:?}"
    );
    let last = updates.last().expect("final");
    assert_eq!(
        ["processedCount", "invoiceCount", "skippedCount"].map(|k| &last[k]),
        [&json!(20), &json!(20), &json!(0)],
        "Scale: A sees B's final counts"
    );
}
