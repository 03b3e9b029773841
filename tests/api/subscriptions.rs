//! Live subscriptions over graphql-transport-ws (api-contract.graphql,
//! Subscription; SECURITY.md, WebSocket 23-26): run progress, audit and
//! outbox events live and from a cursor, tenancy checked per event, the
//! handshake, token expiry, per-connection limits, shutdown, and a run on
//! one server process seen from another (PostgreSQL).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use base64::Engine;
use entity::domain_event;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::{admin, serve_args, spawn_app, spawn_app_with, token, token_with, TestApp};
use crate::ws_client::{completed, Client, Frame};

const BY_RUN: &str = "subscription($id: ID!) { billingRunUpdated(runId: $id) {
  id status contractCount processedCount invoiceCount skippedCount } }";
const BY_ENTITY: &str = "subscription($e: ID) { billingRunUpdated(legalEntityId: $e) {
  id status contractCount processedCount invoiceCount skippedCount } }";
const AUDIT: &str = "subscription($e: ID, $a: ID) { auditEvents(legalEntityId: $e, after: $a) {
  id action subjectType subjectId legalEntityId } }";
const DOMAIN: &str = "subscription($e: ID, $t: [String!], $a: ID) {
  domainEvents(legalEntityId: $e, types: $t, after: $a) { id type legalEntityId subjectId } }";
const COUNTS: [&str; 4] = [
    "contractCount",
    "processedCount",
    "invoiceCount",
    "skippedCount",
];
const DELIVERY: &str = "invoice.delivery_requested";
const COMPLETED_EVENT: &str = "billing_run.completed";

fn nexts<'a>(frames: &'a [Value], id: &str, field: &str) -> Vec<&'a Value> {
    frames
        .iter()
        .filter(|v| v["id"] == id && v["type"] == "next")
        .map(|v| &v["payload"]["data"][field])
        .collect()
}

/// The ids of `nexts`.
fn ids(frames: &[Value], id: &str, field: &str) -> Vec<i64> {
    nexts(frames, id, field).into_iter().map(num).collect()
}

/// How many `next`s of subscription `id` have `field.key` = `value`.
fn count(frames: &[Value], id: &str, field: &str, key: &str, value: &str) -> usize {
    let all = nexts(frames, id, field);
    all.iter().filter(|x| x[key] == value).count()
}

fn seen(frames: &[Value], id: &str, field: &str, key: &str, value: &str) -> bool {
    count(frames, id, field, key, value) > 0
}

fn num(v: &Value) -> i64 {
    v["id"].as_str().and_then(|s| s.parse().ok()).expect("id")
}

fn ascending(ids: &[i64]) -> bool {
    ids.windows(2).all(|w| w[0] < w[1])
}

/// QUEUED, RUNNING, then COMPLETED or FAILED.
fn rank(status: &Value) -> usize {
    ["QUEUED", "RUNNING"]
        .iter()
        .take_while(|s| status != **s)
        .count()
}

async fn entity_with(app: &TestApp, code: &str, contracts: usize) -> String {
    let e = app.create_entity(code, "EUR").await;
    let customer = app.create_customer(&e, &format!("{code} customer")).await;
    for _ in 0..contracts {
        app.create_contract(&customer, "2026-11-01", "10.00", None)
            .await;
    }
    e
}

const TRIGGER: &str = "mutation($e: ID, $a: Date, $w: Boolean) {
  triggerBillingRun(input: { legalEntityId: $e, asOf: $a, wait: $w }) { runs { id status } } }";

/// Triggers a run of `entity` as admin over HTTP; its id.
async fn trigger(app: &TestApp, entity: &str, as_of: &str, wait: bool) -> String {
    let data = app
        .data(
            &admin(),
            TRIGGER,
            json!({ "e": entity, "a": as_of, "w": wait }),
        )
        .await;
    data["triggerBillingRun"]["runs"][0]["id"]
        .as_str()
        .expect("run id")
        .to_string()
}

/// Outbox ids in the database, ascending, of `entity` or all.
async fn outbox_ids(app: &TestApp, entity: Option<&str>) -> Vec<i64> {
    let rows = domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Id)
        .all(&app.db)
        .await
        .expect("domain events");
    rows.iter()
        .filter(|r| entity.is_none_or(|e| r.legal_entity_id.to_string() == e))
        .map(|r| r.id)
        .collect()
}

#[tokio::test]
async fn billing_run_updated_sends_a_finished_run_once_and_a_live_run_chunk_by_chunk() {
    let app = spawn_app_with(|a| a.run_chunk_size = 5).await;
    let old = entity_with(&app, "SU1", 1).await;
    let done = trigger(&app, &old, "2026-11-27", true).await;
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
    let run_id = trigger(&app, &fresh, "2026-11-27", false).await;
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
    let run_id = trigger(&app, &e, "2026-11-27", false).await;
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
        "auditEvents: the whole lifecycle of a one-chunk run, live, in order"
    );
    let q = "query($id: ID!) { billingRun(id: $id) { auditTrail { id } } }";
    let trail = app.data(&admin(), q, json!({ "id": run_id })).await;
    let trail = trail["billingRun"]["auditTrail"].as_array().expect("trail");
    let mut recorded: Vec<i64> = trail.iter().map(num).collect();
    recorded.sort_unstable();
    let live: Vec<i64> = of_run.into_iter().map(num).collect();
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
    trigger(&app, &e, "2026-11-27", false).await;
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
        .map(num)
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
    assert_eq!(before.len(), 7, "3 deliveries + 3 collections + completed");
    let mut late = Client::authed(app.port, &admin()).await;
    late.subscribe("cursor", DOMAIN, json!({ "e": e, "a": "0" }))
        .await;
    trigger(&app, &e, "2026-12-27", false).await;
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

/// Every page of the domainEvents query, 2 at a time: ids, and an error code.
async fn pages(app: &TestApp, tok: &str, entity: Option<&str>) -> (Vec<i64>, Option<String>) {
    let q = "query($a: ID, $e: ID) { domainEvents(after: $a, first: 2, legalEntityId: $e) { id } }";
    let (mut all, mut after) = (Vec::new(), Value::Null);
    loop {
        let body = app.gql(tok, q, json!({ "a": after, "e": entity })).await;
        let Some(rows) = body["data"]["domainEvents"].as_array().cloned() else {
            return (all, Some(crate::helpers::code(&body).to_string()));
        };
        assert!(rows.len() <= 2, "first bounds a page");
        let Some(last) = rows.last() else {
            return (all, None);
        };
        after = last["id"].clone();
        all.extend(rows.iter().map(num));
    }
}

#[tokio::test]
async fn the_domain_events_query_pages_in_id_order_and_a_partner_sees_only_its_entity() {
    let app = spawn_app().await;
    let a = entity_with(&app, "PA1", 3).await;
    let b = entity_with(&app, "PB1", 2).await;
    trigger(&app, &a, "2026-11-27", true).await;
    trigger(&app, &b, "2026-11-27", true).await;
    assert_eq!(
        pages(&app, &admin(), None).await.0,
        outbox_ids(&app, None).await,
        "domainEvents(after, first): paging returns every event once, in id order"
    );
    let partner = token("PARTNER", &["billing:read", "events:read"], &[&a]);
    let own = pages(&app, &partner, None).await.0;
    assert_eq!(
        own,
        outbox_ids(&app, Some(&a)).await,
        "Tenancy: a partner pages through exactly its entity's events"
    );
    let (theirs, error) = pages(&app, &partner, Some(&b)).await;
    assert!(
        theirs.is_empty(),
        "Tenancy: another entity's events are invisible (error {error:?}): {theirs:?}"
    );

    let mut c = Client::authed(app.port, &partner).await;
    c.subscribe("replay", DOMAIN, json!({ "a": "0" })).await;
    let mut frames = c
        .gather(|f| nexts(f, "replay", "domainEvents").len() == own.len())
        .await;
    frames.extend(c.drain(Duration::from_millis(500)).await);
    assert_eq!(
        ids(&frames, "replay", "domainEvents"),
        own,
        "Tenancy: the subscription replays the partner's events only"
    );
    let code = c.refused("b", DOMAIN, json!({ "e": b })).await;
    assert_eq!(
        code, "NOT_FOUND",
        "Tenancy: another entity's events are NOT_FOUND"
    );
}

#[tokio::test]
async fn a_partner_subscribed_without_an_entity_receives_only_its_entitys_events() {
    let app = spawn_app().await;
    let a = entity_with(&app, "TA1", 2).await;
    let b = entity_with(&app, "TB1", 2).await;
    let partner = token("PARTNER", &["billing:read", "events:read"], &[&a]);
    let mut c = Client::authed(app.port, &partner).await;
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("domain", DOMAIN, json!({})).await;
    c.subscribe("runs", BY_ENTITY, json!({})).await;
    c.barrier().await;
    let run_b = trigger(&app, &b, "2026-11-27", true).await;
    let run_a = trigger(&app, &a, "2026-11-27", true).await;
    let mut frames = c
        .gather(|f| {
            seen(f, "audit", "auditEvents", "action", "RUN_COMPLETED")
                && seen(f, "domain", "domainEvents", "type", COMPLETED_EVENT)
                && seen(f, "runs", "billingRunUpdated", "status", "COMPLETED")
        })
        .await;
    frames.extend(c.drain(Duration::from_millis(500)).await);
    let audit = nexts(&frames, "audit", "auditEvents");
    let domain = nexts(&frames, "domain", "domainEvents");
    assert!(
        audit
            .iter()
            .chain(&domain)
            .all(|x| x["legalEntityId"] == a.as_str()),
        "SECURITY 23: every event is checked against the token's entities: {audit:?} {domain:?}"
    );
    assert!(domain.len() >= 5, "its own events arrived: {domain:?}");
    let runs = nexts(&frames, "runs", "billingRunUpdated");
    assert!(
        runs.iter().all(|r| r["id"] == run_a.as_str()),
        "SECURITY 23: run updates of another entity never reach the partner: {runs:?}"
    );
    let refusals = [
        ("x1", AUDIT, json!({ "e": b })),
        ("x2", DOMAIN, json!({ "e": b })),
        ("x3", BY_RUN, json!({ "id": run_b })),
        ("x4", BY_ENTITY, json!({ "e": b })),
    ];
    for (id, query, vars) in refusals {
        let code = c.refused(id, query, vars.clone()).await;
        assert_eq!(
            code, "NOT_FOUND",
            "SECURITY 23: another entity is NOT_FOUND, no data ({vars})"
        );
    }
}

/// An unsigned token: header {"alg":"none"}, real claims, no signature.
fn alg_none_token() -> String {
    let b64 = |v: Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims = json!({ "sub": "attacker", "exp": chrono::Utc::now().timestamp() + 3600,
                         "role": "ADMIN", "scopes": [], "legal_entities": ["*"] });
    let header = b64(json!({ "alg": "none", "typ": "JWT" }));
    format!("{header}.{}.", b64(claims))
}

#[tokio::test]
async fn no_data_before_connection_init_or_with_a_bad_token_at_init() {
    let app = spawn_app().await;
    let query = "subscription { auditEvents(after: \"0\") { id } }";
    let mut early = Client::open(app.port).await;
    early.subscribe("early", query, json!({})).await;
    let (frames, code) = early.closing(Duration::from_secs(5)).await;
    assert!(
        frames.is_empty(),
        "SECURITY 24: subscribe before connection_init: closed, no data: {frames:?}"
    );
    eprintln!("subscribe before init: closed with {code:?}");

    let good = admin();
    let (payload, signature) = good.rsplit_once('.').expect("a JWT");
    let forged = format!("{payload}.{}", signature.chars().rev().collect::<String>());
    let expired = token_with(|c| c.exp = chrono::Utc::now().timestamp() - 3600);
    let bearer = |t: &str| json!({ "Authorization": format!("Bearer {t}") });
    let cases = [
        ("an expired token", bearer(&expired)),
        ("a token with a wrong signature", bearer(&forged)),
        ("a malformed token", bearer("not.a.jwt")),
        ("an alg-none token", bearer(&alg_none_token())),
        ("no token", json!({})),
        ("a token without Bearer", json!({ "Authorization": good })),
    ];
    for (what, payload) in cases {
        let mut c = Client::open(app.port).await;
        c.init(payload).await;
        c.subscribe("s", query, json!({})).await;
        let (frames, code) = c.closing(Duration::from_secs(5)).await;
        assert!(
            frames.is_empty(),
            "SECURITY 24: {what} at connection_init: no connection_ack, no data, closed: {frames:?}"
        );
        eprintln!("{what}: closed with {code:?}");
    }
    Client::authed(app.port, &admin()).await.barrier().await;
}

#[tokio::test]
async fn a_second_connection_init_or_a_malformed_frame_closes_the_socket_only() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.init(json!({ "Authorization": format!("Bearer {}", admin()) }))
        .await;
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    assert!(
        frames.is_empty(),
        "SECURITY 24: a second connection_init closes the socket, no second ack: {frames:?}"
    );
    eprintln!("second connection_init: closed with {code:?} (graphql-transport-ws: 4429)");
    for garbage in ["this is not JSON", "{\"type\":\"subscribe\"}", "[1,2,3]"] {
        let mut c = Client::authed(app.port, &admin()).await;
        c.text(garbage.into()).await;
        let (frames, code) = c.closing(Duration::from_secs(5)).await;
        assert!(
            frames.is_empty(),
            "SECURITY 24: a malformed frame {garbage:?} closes the socket, no data: {frames:?}"
        );
        eprintln!("malformed {garbage:?}: closed with {code:?}");
    }
    Client::authed(app.port, &admin()).await.barrier().await;
}

#[tokio::test]
async fn an_idle_socket_that_never_initialises_is_closed_with_4408() {
    let app = spawn_app().await;
    let mut c = Client::open(app.port).await;
    let started = Instant::now();
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
async fn a_stream_ends_when_its_token_expires_and_no_later_stream_gets_data() {
    let app = spawn_app().await;
    let e = entity_with(&app, "EX1", 1).await;
    let short = token_with(|c| c.exp = chrono::Utc::now().timestamp() + 3);
    let mut c = Client::authed(app.port, &short).await;
    let started = Instant::now();
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("runs", BY_ENTITY, json!({ "e": e })).await;
    c.gather(|f| completed(f, "audit") && completed(f, "runs"))
        .await;
    let at = started.elapsed();
    assert!(
        at >= Duration::from_secs(1) && at <= Duration::from_secs(8),
        "SECURITY 25: the streams end at exp (about 3 s), not at once: {at:?}"
    );
    // The socket may stay open, but what it subscribes now gets nothing.
    c.subscribe("late", AUDIT, json!({ "e": e })).await;
    trigger(&app, &e, "2026-11-27", true).await;
    match c.recv(Duration::from_secs(5)).await {
        Frame::Msg(v) => assert_eq!(
            (v["id"].as_str(), v["type"].as_str()),
            (Some("late"), Some("complete")),
            "SECURITY 25: a subscription after exp ends at once, without data: {v}"
        ),
        Frame::Closed(_) => {}
        Frame::Silent => panic!("SECURITY 25: a subscription after exp stays open"),
    }
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
    Client::authed(app.port, &admin()).await.barrier().await;
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
        "SECURITY 26: at most 100 subscriptions per connection; the 101st closes it"
    );
}

#[tokio::test]
async fn a_message_over_64_kib_closes_the_connection_and_the_server_stays_up() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    let padding = "x".repeat(100 * 1024);
    let query = format!("subscription {{ auditEvents(after: \"0\") {{ id }} }} # {padding}");
    c.subscribe("big", &query, json!({})).await;
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    assert!(
        frames.is_empty(),
        "SECURITY 26: a 100 KiB message is refused (limit 64 KiB), no data: {frames:?}"
    );
    eprintln!("100 KiB message: closed with {code:?}");
    Client::authed(app.port, &admin()).await.barrier().await;
}

#[tokio::test]
async fn shutdown_completes_open_streams_and_closes_the_socket() {
    let app = spawn_app().await;
    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("domain", DOMAIN, json!({})).await;
    c.barrier().await;
    let started = Instant::now();
    app.shutdown.cancel();
    let (frames, code) = c.closing(Duration::from_secs(5)).await;
    eprintln!(
        "shutdown: closed with {code:?} after {:?}",
        started.elapsed()
    );
    assert!(
        completed(&frames, "audit") && completed(&frames, "domain"),
        "shutdown: every open stream receives complete before the socket closes: {frames:?}"
    );
}

/// Two server processes on one PostgreSQL: B executes the run, a client of
/// A sees every update (NOTIFY in B's transactions, LISTEN in A).
#[tokio::test]
async fn a_run_executed_by_another_process_is_seen_live_on_this_one() {
    let app = spawn_app().await;
    if !app.database_url.starts_with("postgres") {
        eprintln!("note: two processes share a database only on PostgreSQL; skipped on SQLite");
        return;
    }
    let e = entity_with(&app, "XP1", 20).await;
    let mut args = serve_args(&app.database_url);
    args.run_chunk_size = 5;
    let b = billrun::app::Application::build(args)
        .await
        .expect("second process builds");
    let b_port = b.port();
    let b_stop = b.shutdown_token();
    tokio::spawn(b.run_until_stopped());

    let mut c = Client::authed(app.port, &admin()).await;
    c.subscribe("runs", BY_ENTITY, json!({ "e": e })).await;
    c.subscribe("domain", DOMAIN, json!({ "e": e })).await;
    c.barrier().await;
    let body: Value = app
        .client
        .clone()
        .post(format!("http://127.0.0.1:{b_port}/graphql"))
        .bearer_auth(admin())
        .json(&json!({ "query": TRIGGER, "variables": { "e": e, "a": "2026-11-27", "w": false } }))
        .send()
        .await
        .expect("sent to B")
        .json()
        .await
        .expect("JSON");
    let run_id = body["data"]["triggerBillingRun"]["runs"][0]["id"].clone();
    assert!(run_id.is_string(), "B accepted the trigger: {body}");
    let frames = c
        .gather(|f| {
            nexts(f, "runs", "billingRunUpdated")
                .last()
                .is_some_and(|r| r["status"] == "COMPLETED")
                && seen(f, "domain", "domainEvents", "type", COMPLETED_EVENT)
        })
        .await;
    b_stop.cancel();
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
    assert_eq!(
        ids(&frames, "domain", "domainEvents"),
        outbox_ids(&app, Some(&e)).await,
        "Scale: every outbox event B committed reaches A's subscriber once, in order"
    );
    assert_eq!(
        count(&frames, "domain", "domainEvents", "type", DELIVERY),
        20,
        "one invoice.delivery_requested per invoice"
    );
}
