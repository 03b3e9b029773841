//! DESIGN.md, Events, audit, notifications: the Notification Level decides
//! which finished runs notify; a notification is readable by whoever may
//! read the entity's runs, newest first with an unread count per caller,
//! read state per token subject, and pushed live on `notifications`.

use serde_json::{json, Value};

use crate::helpers::billing::{configure, entity_with_contracts, run};
use crate::helpers::ws::{nexts, Client};
use crate::helpers::{admin, spawn_app, token, token_with, TestApp};

const LIST: &str = "query($e: ID, $u: Boolean, $f: Int, $a: String) { \
    notifications(legalEntityId: $e, unreadOnly: $u, first: $f, after: $a) { \
      unreadCount pageInfo { hasNextPage } \
      edges { cursor node { id severity title subjectType subjectId read legalEntityId } } } }";

async fn list(app: &TestApp, tok: &str, vars: Value) -> Value {
    let body = app.gql(tok, LIST, vars).await;
    assert!(body.get("errors").is_none(), "notifications: {body}");
    body["data"]["notifications"].clone()
}

fn nodes(page: &Value) -> Vec<Value> {
    page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"].clone())
        .collect()
}

/// A run of `e` that fails mid-run (the database refuses its invoice lines).
async fn failed_run(app: &TestApp, e: &str, as_of: &str) -> Value {
    let rename = |from: &str, to: &str| format!("ALTER TABLE {from} RENAME TO {to}");
    let db = &app.db;
    use sea_orm::ConnectionTrait;
    db.execute_unprepared(&rename("invoice_line", "invoice_line_away"))
        .await
        .expect("rename");
    let r = run(app, e, as_of).await;
    db.execute_unprepared(&rename("invoice_line_away", "invoice_line"))
        .await
        .expect("rename back");
    assert_eq!(r["status"], "FAILED", "{r}");
    r
}

#[tokio::test]
async fn each_level_notifies_the_finished_runs_it_names_with_a_readable_title() {
    let app = spawn_app().await;
    for (level, code, completed, failed) in [
        ("ALL", "NL1", 1, 1),
        ("FAILURES_ONLY", "NL2", 0, 1),
        ("NONE", "NL3", 0, 0),
    ] {
        configure(&app, json!({ "notificationLevel": level })).await;
        let (e, _) = entity_with_contracts(&app, code, &["2026-11-01"]).await;
        let ok = run(&app, &e, "2026-11-27").await;
        assert_eq!(ok["status"], "COMPLETED", "{ok}");
        failed_run(&app, &e, "2026-12-27").await;
        let got = nodes(&list(&app, &admin(), json!({ "e": e })).await);
        let of = |severity: &str| got.iter().filter(|n| n["severity"] == severity).count();
        assert_eq!(
            (of("INFO"), of("FAILURE")),
            (completed, failed),
            "Notification Level {level}: ALL notifies every finished run, FAILURES_ONLY failed ones, NONE none: {got:?}"
        );
        if level == "ALL" {
            // Newest first: the failure, then the completion.
            assert!(
                got[0]["title"]
                    .as_str()
                    .is_some_and(|t| t.starts_with("Billing run BR-000002 failed: ")),
                "the title says what happened: {got:?}"
            );
            assert_eq!(
                got[1]["title"], "Billing run BR-000001 completed: 1 invoices, 10.00 EUR",
                "run number, outcome, invoice count and total with currency"
            );
            assert_eq!(got[1]["subjectType"], "BillingRun");
            assert_eq!(got[1]["subjectId"], ok["id"]);
        }
    }
}

#[tokio::test]
async fn read_state_is_per_caller_and_foreign_or_unknown_ids_change_nothing() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "NR1", &["2026-11-01"]).await;
    run(&app, &e, "2026-11-27").await;
    run(&app, &e, "2026-12-27").await;
    let user = |sub: &str| {
        let entity = e.clone();
        let sub = sub.to_string();
        token_with(move |c| {
            c.sub = sub;
            c.role = "ACCOUNTANT".into();
            c.scopes = vec!["billing:read".into()];
            c.legal_entities = vec![entity];
        })
    };
    let (alice, bob) = (user("alice"), user("bob"));
    let mine = nodes(&list(&app, &alice, json!({})).await);
    assert_eq!(mine.len(), 2);
    let mark = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }";
    let ids = json!([mine[0]["id"], "999999", "not-an-id"]);
    let changed = app.data(&alice, mark, json!({ "ids": ids })).await;
    assert_eq!(
        changed["markNotificationsRead"], 1,
        "unknown ids are ignored"
    );
    let again = app
        .data(&alice, mark, json!({ "ids": [mine[0]["id"]] }))
        .await;
    assert_eq!(
        again["markNotificationsRead"], 0,
        "already read changes nothing"
    );
    let a = list(&app, &alice, json!({})).await;
    assert_eq!(
        a["unreadCount"], 1,
        "Notifications: unreadCount is per caller: {a}"
    );
    assert_eq!(
        nodes(&list(&app, &alice, json!({ "u": true })).await).len(),
        1,
        "unreadOnly lists the caller's unread ones"
    );
    let b = list(&app, &bob, json!({})).await;
    assert_eq!(
        b["unreadCount"], 2,
        "Notifications: read state is per token subject: {b}"
    );
    assert!(nodes(&b).iter().all(|n| n["read"] == false), "{b}");
}

#[tokio::test]
async fn a_partner_sees_only_its_entitys_notifications_and_pages_hold_at_most_100() {
    let app = spawn_app().await;
    let (mine, _) = entity_with_contracts(&app, "NP1", &["2026-11-01"]).await;
    let (theirs, _) = entity_with_contracts(&app, "NP2", &["2026-11-01"]).await;
    run(&app, &mine, "2026-11-27").await;
    run(&app, &theirs, "2026-11-27").await;
    let partner = token("PARTNER", &["billing:read"], &[&mine]);
    let seen = nodes(&list(&app, &partner, json!({})).await);
    assert_eq!(
        seen.len(),
        1,
        "Access: another entity's notification is never listed: {seen:?}"
    );
    assert_eq!(seen[0]["legalEntityId"], json!(mine));
    let foreign = app.gql(&partner, LIST, json!({ "e": theirs })).await;
    assert_eq!(crate::helpers::code(&foreign), "NOT_FOUND", "{foreign}");
    let mark = "mutation($ids: [ID!]!) { markNotificationsRead(ids: $ids) }";
    let all = nodes(&list(&app, &admin(), json!({})).await);
    let ids: Vec<Value> = all.iter().map(|n| n["id"].clone()).collect();
    let changed = app.data(&partner, mark, json!({ "ids": ids })).await;
    assert_eq!(
        changed["markNotificationsRead"], 1,
        "foreign ids are ignored"
    );
    let page = list(&app, &admin(), json!({ "f": 1000 })).await;
    assert!(nodes(&page).len() <= 100, "pages of at most 100");
    let first = list(&app, &admin(), json!({ "f": 1 })).await;
    assert_eq!(first["pageInfo"]["hasNextPage"], true);
    let cursor = first["edges"][0]["cursor"].clone();
    let next = nodes(&list(&app, &admin(), json!({ "f": 1, "a": cursor })).await);
    assert_eq!(next.len(), 1, "the next page continues after the cursor");
    assert_ne!(next[0]["id"], nodes(&first)[0]["id"]);
}

#[tokio::test]
async fn the_subscription_receives_one_notification_per_finished_run() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "NS1", &["2026-11-01"]).await;
    let mut ws = Client::authed(app.port, &admin()).await;
    let q = "subscription($e: ID) { notifications(legalEntityId: $e) { id severity title read } }";
    ws.subscribe("n", q, json!({ "e": e })).await;
    ws.barrier().await;
    run(&app, &e, "2026-11-27").await;
    failed_run(&app, &e, "2026-12-27").await;
    let frames = ws
        .gather(|got| nexts(got, "n", "notifications").len() >= 2)
        .await;
    let got = nexts(&frames, "n", "notifications");
    let severities: Vec<&Value> = got.iter().map(|n| &n["severity"]).collect();
    assert_eq!(
        severities,
        [&json!("INFO"), &json!("FAILURE")],
        "Notifications: pushed live, one per finished run: {got:?}"
    );
    assert!(
        got.iter().all(|n| n["read"] == false),
        "new ones are unread"
    );
    let more = ws.drain(std::time::Duration::from_millis(500)).await;
    assert!(
        nexts(&more, "n", "notifications").is_empty(),
        "each notification once: {more:?}"
    );
}
