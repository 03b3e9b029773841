//! Billing runs as processes (DESIGN.md, The run; Events, audit,
//! notifications; Access): one active run per legal entity, concurrency,
//! bad data (resuming after a real crash: `faults`), dry runs, the agent's configuration,
//! tenancy and live progress over WebSocket.

use std::collections::HashSet;

use chrono::{NaiveDate, Utc};
use entity::{billing_run, contract_line, legal_entity, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{json, Value};

use crate::billing::{
    actions, all_invoices, configure, contracts, count_type, edit_contract, entity_with_contracts,
    field, num, outbox, run, run_invoices, trigger,
};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token, token_with, TestApp};

fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// A billing_run row written directly: a state only a crash or a
/// concurrent trigger can leave.
async fn insert_run(
    app: &TestApp,
    entity: &str,
    seq: i32,
    status: &str,
    count: i32,
    after: i64,
) -> i64 {
    billing_run::ActiveModel {
        legal_entity_id: Set(num(entity)),
        seq: Set(seq),
        run_number: Set(format!("BR-{seq:06}")),
        status: Set(sea_orm::ActiveEnum::try_from_value(&status.to_string()).expect("a run status")),
        trigger_source: Set(entity::status::TriggerSource::Manual),
        triggered_by: Set("test-user".into()),
        as_of: Set(date("2026-11-27")),
        dry_run: Set(false),
        period_start: Set(None),
        period_end: Set(None),
        contract_count: Set(count),
        processed_count: Set(0),
        invoice_count: Set(0),
        invoice_total_e4: Set(0),
        posted_count: Set(0),
        event_count: Set(0),
        skipped_count: Set(0),
        last_contract_id: Set(after),
        started_at: Set((status == "RUNNING").then(Utc::now)),
        completed_at: Set(None),
        duration_ms: Set(None),
        error: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("insert billing_run")
    .id
}

async fn run_count(app: &TestApp) -> u64 {
    billing_run::Entity::find()
        .count(&app.db)
        .await
        .expect("count runs")
}

#[tokio::test]
async fn a_second_trigger_while_a_run_is_active_is_a_conflict_naming_the_active_run() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "CF1", &["2026-11-01"]).await;
    let active = insert_run(&app, &e, 99, "QUEUED", 0, 0).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-11-27", "wait": true });
    let body = trigger(&app, &admin(), input).await;
    assert_eq!(
        code(&body),
        "CONFLICT",
        "The run: at most one QUEUED or RUNNING run per legal entity: {body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["activeRunId"],
        active.to_string(),
        "The run: the CONFLICT names the active run's id"
    );
    assert_eq!(
        run_count(&app).await,
        1,
        "The run: a refused trigger creates no run"
    );
    assert!(
        all_invoices(&app).await.is_empty() && outbox(&app).await.is_empty(),
        "a refused trigger bills nothing"
    );

    let dry = json!({ "legalEntityId": e, "asOf": "2026-11-27", "dryRun": true });
    let body = trigger(&app, &admin(), dry).await;
    let r = &body["data"]["triggerBillingRun"]["runs"][0];
    assert_eq!(
        (
            r["status"].as_str(),
            r["dryRun"].as_bool(),
            r["invoiceCount"].as_i64()
        ),
        (Some("COMPLETED"), Some(true), Some(1)),
        "The run: a dry run writes nothing, so an active run does not block it: {body}"
    );
    assert!(
        all_invoices(&app).await.is_empty(),
        "The run: a dry run writes no invoice"
    );
}

#[tokio::test]
async fn twenty_simultaneous_triggers_invoice_every_contract_period_exactly_once() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "CC1", &["2026-11-01"; 50]).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-11-27", "wait": true });
    let tok = admin();
    let bodies =
        futures_util::future::join_all((0..20).map(|_| trigger(&app, &tok, input.clone()))).await;
    let mut invoiced = 0;
    let mut completed = 0;
    for body in &bodies {
        match body.get("errors") {
            None => {
                let r = &body["data"]["triggerBillingRun"]["runs"][0];
                assert_eq!(
                    r["status"], "COMPLETED",
                    "The run: an accepted run completes: {body}"
                );
                invoiced += r["invoiceCount"].as_i64().expect("count");
                completed += 1;
            }
            Some(_) => assert_eq!(
                code(body),
                "CONFLICT",
                "The run: a concurrent trigger is refused with CONFLICT: {body}"
            ),
        }
    }
    assert!(completed >= 1, "The run: one trigger wins");
    assert_eq!(
        invoiced, 50,
        "The run: the completed runs invoiced 50 between them"
    );
    let invoices = all_invoices(&app).await;
    assert_eq!(
        invoices.len(),
        50,
        "The billing schedule: each contract period invoiced exactly once"
    );
    let periods: HashSet<_> = invoices
        .iter()
        .map(|i| (i.contract_id, i.period_start))
        .collect();
    let expected: HashSet<_> = ids
        .iter()
        .map(|id| (Some(num(id)), date("2026-11-01")))
        .collect();
    assert_eq!(
        periods, expected,
        "The billing schedule: every contract, once"
    );
    let mut numbers: Vec<String> = invoices.iter().filter_map(|i| i.number.clone()).collect();
    numbers.sort();
    let gapless: Vec<String> = (1..=50).map(|n| format!("CC1-2026-{n:06}")).collect();
    assert_eq!(
        numbers, gapless,
        "Invoices: numbers gapless per legal entity and year"
    );
    assert_eq!(
        run_count(&app).await,
        completed,
        "The run: refused triggers create no run"
    );
}

#[tokio::test]
async fn a_contract_with_bad_data_is_skipped_and_named_while_the_others_are_billed() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "BD1", &["2026-11-01"; 3]).await;
    edit_contract(&app, &ids[1], |c| c.billing_interval = Set("DAY".into())).await;
    let r = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        r["status"], "COMPLETED",
        "The run: one bad contract does not fail the run: {r}"
    );
    assert_eq!(
        [
            &r["contractCount"],
            &r["processedCount"],
            &r["invoiceCount"],
            &r["skippedCount"]
        ],
        [&json!(3), &json!(3), &json!(2), &json!(1)],
        "The run: the bad contract is counted as skipped"
    );
    let billed: Vec<Option<i64>> = all_invoices(&app)
        .await
        .iter()
        .map(|i| i.contract_id)
        .collect();
    assert_eq!(billed, [Some(num(&ids[0])), Some(num(&ids[2]))]);
    let skipped: Vec<&Value> = r["auditTrail"]
        .as_array()
        .expect("trail")
        .iter()
        .filter(|a| a["action"] == "CONTRACT_SKIPPED")
        .collect();
    assert_eq!(
        skipped.len(),
        1,
        "Events, audit: the skipped contract is in the audit trail: {r}"
    );
    assert_eq!(
        skipped[0]["details"]["contractId"],
        ids[1].as_str(),
        "the audit names the contract"
    );
    let reason = skipped[0]["details"]["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("DAY"),
        "the audit gives the reason: {reason:?}"
    );
}

#[tokio::test]
async fn a_dry_run_returns_what_the_real_run_then_bills_and_writes_nothing() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "DR1", &["2026-10-01", "2026-11-01"]).await;
    let before = contracts(&app, &e).await;
    let body = trigger(
        &app,
        &admin(),
        json!({ "legalEntityId": e, "asOf": "2026-11-27", "dryRun": true }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let dry = body["data"]["triggerBillingRun"]["runs"][0].clone();
    let previews = body["data"]["triggerBillingRun"]["dryRunInvoices"]
        .as_array()
        .expect("previews")
        .clone();
    assert_eq!(
        (
            dry["dryRun"].as_bool(),
            dry["status"].as_str(),
            dry["invoiceCount"].as_i64(),
            dry["invoiceTotal"].as_str()
        ),
        (Some(true), Some("COMPLETED"), Some(3), Some("30.00")),
        "The run: a dry run is the same computation: {dry}"
    );
    assert_eq!(
        previews.len(),
        3,
        "The run: a dry run returns the would-be invoices"
    );
    assert!(
        all_invoices(&app).await.is_empty(),
        "The run: a dry run writes no invoice"
    );
    assert!(
        outbox(&app).await.is_empty(),
        "The run: a dry run writes no domain event"
    );
    assert_eq!(
        contracts(&app, &e).await,
        before,
        "The run: a dry run moves no contract"
    );

    let real = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        (&real["invoiceCount"], &real["invoiceTotal"]),
        (&dry["invoiceCount"], &dry["invoiceTotal"]),
        "The run: the dry run predicted the real run"
    );
    let key = |i: &Value| {
        (
            i["contract"]["id"].clone(),
            i["periodStart"].clone(),
            i["total"].clone(),
            i["dueDate"].clone(),
        )
    };
    let predicted: Vec<_> = previews.iter().map(key).collect();
    let billed: Vec<_> = run_invoices(&app, &real["id"])
        .await
        .iter()
        .map(key)
        .collect();
    assert_eq!(
        predicted, billed,
        "The run: the would-be invoices are the invoices"
    );
}

#[tokio::test]
async fn the_default_billing_entity_limits_a_trigger_without_an_entity() {
    let app = spawn_app().await;
    let (a, _) = entity_with_contracts(&app, "DA1", &["2026-11-01"]).await;
    let (b, _) = entity_with_contracts(&app, "DB1", &["2026-11-01"]).await;
    let set = configure(&app, json!({ "defaultBillingEntityId": a })).await;
    assert_eq!(set["defaultBillingEntityId"], a.as_str());
    let input = json!({ "asOf": "2026-11-27", "wait": true });
    let body = trigger(&app, &admin(), input.clone()).await;
    let runs = body["data"]["triggerBillingRun"]["runs"]
        .as_array()
        .expect("runs")
        .clone();
    let entities: Vec<&Value> = runs.iter().map(|r| &r["legalEntity"]["id"]).collect();
    assert_eq!(
        entities,
        [&json!(a)],
        "Events, audit: Default Billing Entity Id set bills only that one: {body}"
    );
    let billed: HashSet<i64> = all_invoices(&app)
        .await
        .iter()
        .map(|i| i.legal_entity_id)
        .collect();
    assert_eq!(billed, HashSet::from([num(&a)]));

    let cleared = configure(&app, json!({ "defaultBillingEntityId": null })).await;
    assert_eq!(
        cleared["defaultBillingEntityId"],
        Value::Null,
        "null clears the default"
    );
    let body = trigger(&app, &admin(), input).await;
    let runs = body["data"]["triggerBillingRun"]["runs"]
        .as_array()
        .expect("runs")
        .clone();
    let per: Vec<(Value, Value)> = runs
        .iter()
        .map(|r| (r["legalEntity"]["id"].clone(), r["invoiceCount"].clone()))
        .collect();
    assert_eq!(
        per,
        [(json!(a), json!(0)), (json!(b), json!(1))],
        "The run: without a default, one run per legal entity: {body}"
    );
}

#[tokio::test]
async fn the_notification_level_decides_whether_a_completed_run_notifies() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let (e, _) = entity_with_contracts(&app, "NL1", &["2026-11-01"]).await;
    for (level, as_of, expected) in [
        ("ALL", "2026-11-27", 1),
        ("FAILURES_ONLY", "2026-12-27", 0),
        ("NONE", "2027-01-27", 0),
    ] {
        assert_eq!(
            configure(&app, json!({ "notificationLevel": level })).await["notificationLevel"],
            level
        );
        let r = run(&app, &e, as_of).await;
        assert_eq!(r["status"], "COMPLETED");
        let rows = notification::Entity::find()
            .filter(notification::Column::BillingRunId.eq(num(r["id"].as_str().expect("id"))))
            .all(&app.db)
            .await
            .expect("notifications");
        assert_eq!(rows.len(), expected, "Notification Level {level}: ALL notifies on every finished run, FAILURES_ONLY on failed, NONE never");
        if let Some(n) = rows.first() {
            assert!(
                n.message.contains(r["runNumber"].as_str().expect("number")),
                "the notification names the run: {}",
                n.message
            );
        }
    }
}

#[tokio::test]
async fn a_partner_sees_only_its_own_runs_and_needs_billing_run_to_trigger() {
    let app = spawn_app().await;
    let (a, _) = entity_with_contracts(&app, "TA1", &["2026-11-01"]).await;
    let (b, _) = entity_with_contracts(&app, "TB1", &["2026-11-01"]).await;
    let run_a = run(&app, &a, "2026-11-27").await;
    let run_b = run(&app, &b, "2026-11-27").await;
    let inv_b = run_invoices(&app, &run_b["id"]).await[0]["id"].clone();
    let reader = token("PARTNER", &["billing:read"], &[&a]);
    let q = "query($r: ID!, $i: ID!, $e: ID!) { billingRun(id: $r) { id } invoice(id: $i) { id }
             billingRuns(legalEntityId: $e) { edges { node { id } } } }";
    let theirs = app
        .data(&reader, q, json!({ "r": run_b["id"], "i": inv_b, "e": b }))
        .await;
    assert_eq!(
        theirs,
        json!({ "billingRun": null, "invoice": null, "billingRuns": { "edges": [] } }),
        "Access: another legal entity's runs and invoices are invisible"
    );
    let own = app
        .data(&reader, q, json!({ "r": run_a["id"], "i": inv_b, "e": a }))
        .await;
    assert_eq!(
        own["billingRun"]["id"], run_a["id"],
        "Access: its own run is visible"
    );
    assert_eq!(own["billingRuns"]["edges"][0]["node"]["id"], run_a["id"]);

    let before = run_count(&app).await;
    let body = trigger(
        &app,
        &reader,
        json!({ "legalEntityId": a, "asOf": "2026-12-27", "wait": true }),
    )
    .await;
    assert_eq!(
        code(&body),
        "FORBIDDEN",
        "Access: triggering needs billing:run: {body}"
    );
    let runner = token_with(|c| {
        c.sub = "partner-client-7".into();
        c.role = "PARTNER".into();
        c.scopes = vec!["billing:read".into(), "billing:run".into()];
        c.legal_entities = vec![a.clone()];
    });
    let body = trigger(
        &app,
        &runner,
        json!({ "legalEntityId": b, "asOf": "2026-12-27", "wait": true }),
    )
    .await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "Access: another legal entity is NOT_FOUND: {body}"
    );
    assert_eq!(
        run_count(&app).await,
        before,
        "Access: refused triggers create no run"
    );
    let own = trigger(
        &app,
        &runner,
        json!({ "legalEntityId": a, "asOf": "2026-12-27", "wait": true }),
    )
    .await;
    let r = &own["data"]["triggerBillingRun"]["runs"][0];
    assert_eq!(
        (
            r["trigger"].as_str(),
            r["triggeredBy"].as_str(),
            r["invoiceCount"].as_i64()
        ),
        (Some("API"), Some("partner-client-7"), Some(1)),
        "Events, audit: a partner's run is API, triggered by its client id: {own}"
    );
}

#[tokio::test]
async fn run_progress_reaches_websocket_subscribers_ending_with_completed() {
    let app = spawn_app().await;
    let (done_entity, _) = entity_with_contracts(&app, "WS1", &["2026-11-01"]).await;
    let done = run(&app, &done_entity, "2026-11-27").await;
    let mut ws = app
        .ws(json!({ "Authorization": format!("Bearer {}", admin()) }))
        .await;
    assert_eq!(ws.next().await, Some(json!({ "type": "connection_ack" })));
    let by_run = "subscription($id: ID!) { billingRunUpdated(runId: $id) { status invoiceCount } }";
    ws.subscribe("1", by_run, json!({ "id": done["id"] })).await;
    assert_eq!(
        ws.next().await,
        Some(
            json!({ "id": "1", "type": "next", "payload": { "data": { "billingRunUpdated": { "status": "COMPLETED", "invoiceCount": 1 } } } })
        ),
        "The run: with runId the first message is the run's current state"
    );
    assert_eq!(
        ws.next().await,
        Some(json!({ "id": "1", "type": "complete" })),
        "The run: a finished run's stream completes"
    );

    let (fresh, _) = entity_with_contracts(&app, "WS2", &["2026-11-01", "2026-11-01"]).await;
    let by_entity = "subscription($e: ID!) { billingRunUpdated(legalEntityId: $e) { id status processedCount invoiceCount } }";
    ws.subscribe("2", by_entity, json!({ "e": fresh })).await;
    // Stream 3 answers only after a database read, by which time stream 2,
    // subscribed first on the same socket, is listening.
    ws.subscribe("3", by_run, json!({ "id": done["id"] })).await;
    for expected in ["next", "complete"] {
        let message = ws.next().await.expect("a message");
        assert_eq!(
            (message["id"].as_str(), message["type"].as_str()),
            (Some("3"), Some(expected)),
            "{message}"
        );
    }
    let body = trigger(
        &app,
        &admin(),
        json!({ "legalEntityId": fresh, "asOf": "2026-11-27" }),
    )
    .await;
    let run_id = body["data"]["triggerBillingRun"]["runs"][0]["id"].clone();
    assert!(run_id.is_string(), "{body}");
    let mut seen = Vec::new();
    while let Some(message) = ws.next().await {
        assert_eq!(
            message["id"], "2",
            "only the entity stream is open: {message}"
        );
        let update = message["payload"]["data"]["billingRunUpdated"].clone();
        assert_eq!(
            update["id"], run_id,
            "The run: updates of the fresh entity's run only"
        );
        seen.push(update["status"].as_str().expect("status").to_string());
        if update["status"] == "COMPLETED" {
            assert_eq!(
                (
                    update["processedCount"].clone(),
                    update["invoiceCount"].clone()
                ),
                (json!(2), json!(2))
            );
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("COMPLETED"),
        "The run: progress ends with COMPLETED: {seen:?}"
    );
    assert_eq!(
        seen.first().map(String::as_str),
        Some("QUEUED"),
        "The run: QUEUED then RUNNING then COMPLETED: {seen:?}"
    );
    assert!(
        seen.iter().any(|s| s == "RUNNING"),
        "The run: progress while RUNNING is published: {seen:?}"
    );
}

#[tokio::test]
async fn a_contract_whose_amounts_cannot_be_stored_is_skipped_and_the_others_billed() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "OV1", &["2026-11-01"; 3]).await;
    // 1e9 × 1e9 = 1e18, far above the largest storable amount (about 9.2e14).
    let huge = Expr::value(1_000_000_000_000_000_i64);
    contract_line::Entity::update_many()
        .col_expr(contract_line::Column::QuantityE6, huge.clone())
        .col_expr(contract_line::Column::UnitPriceE6, huge)
        .filter(contract_line::Column::ContractId.eq(num(&ids[1])))
        .exec(&app.db)
        .await
        .expect("corrupt the line");
    let body = trigger(
        &app,
        &admin(),
        json!({ "legalEntityId": e, "asOf": "2026-11-27", "dryRun": true }),
    )
    .await;
    assert!(
        body.get("errors").is_none(),
        "The run: a dry run is the same computation, bad data skipped: {body}"
    );
    let queued = billing_run::Entity::find()
        .filter(billing_run::Column::Status.eq("QUEUED"))
        .count(&app.db)
        .await;
    assert_eq!(
        queued.expect("count"),
        0,
        "The run: a dry run leaves no run QUEUED"
    );
    let r = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        r["status"], "COMPLETED",
        "The run: one bad contract does not fail the run: {r}"
    );
    assert_eq!(
        (r["invoiceCount"].clone(), r["skippedCount"].clone()),
        (json!(2), json!(1))
    );
    let skipped: Vec<&Value> = r["auditTrail"]
        .as_array()
        .expect("trail")
        .iter()
        .filter(|a| a["action"] == "CONTRACT_SKIPPED")
        .collect();
    assert_eq!(
        skipped.first().map(|a| &a["details"]["contractId"]),
        Some(&json!(ids[1])),
        "{r}"
    );
}

#[tokio::test]
async fn a_run_the_database_fails_ends_failed_writes_nothing_half_and_a_retry_bills_it() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "DF1", &["2026-11-01"; 2]).await;
    configure(&app, json!({ "notificationLevel": "FAILURES_ONLY" })).await;
    // The database refuses the chunk's invoice lines: a failure mid-run.
    app.db
        .execute_unprepared("ALTER TABLE invoice_line RENAME TO invoice_line_away")
        .await
        .expect("rename");
    let failed = run(&app, &e, "2026-11-27").await;
    app.db
        .execute_unprepared("ALTER TABLE invoice_line_away RENAME TO invoice_line")
        .await
        .expect("rename back");
    assert_eq!(
        failed["status"], "FAILED",
        "The run: QUEUED then RUNNING then COMPLETED or FAILED: {failed}"
    );
    assert!(
        failed["error"].is_string(),
        "a failed run says why: {failed}"
    );
    assert_eq!(
        actions(&failed).last(),
        Some(&"RUN_FAILED"),
        "Events, audit: RUN_FAILED ends the trail"
    );
    assert!(
        all_invoices(&app).await.is_empty(),
        "The run: a failed chunk writes nothing (one transaction)"
    );
    let events = outbox(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["billing_run.failed"],
        "Events: the run ends with billing_run.failed, nothing else"
    );
    let notified = |id: &Value| {
        let id = num(id.as_str().expect("id"));
        notification::Entity::find()
            .filter(notification::Column::BillingRunId.eq(id))
            .count(&app.db)
    };
    assert_eq!(
        notified(&failed["id"]).await.expect("count"),
        1,
        "Notification Level: FAILURES_ONLY notifies on failed runs"
    );

    let retry = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        retry["status"], "COMPLETED",
        "The run: triggering again finishes the work: {retry}"
    );
    let invoices = run_invoices(&app, &retry["id"]).await;
    assert_eq!(
        field(&invoices, "number"),
        ["DF1-2026-000001", "DF1-2026-000002"],
        "Invoices: a rolled-back chunk returns its numbers, so they stay gapless"
    );
    assert_eq!(
        notified(&retry["id"]).await.expect("count"),
        0,
        "Notification Level: FAILURES_ONLY is quiet on success"
    );
}

#[tokio::test]
async fn a_run_that_cannot_start_ends_failed_instead_of_blocking_its_entity() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "CX1", &["2026-11-01"]).await;
    // Data the API refuses: a currency the server does not know.
    let mut entity: legal_entity::ActiveModel = legal_entity::Entity::find_by_id(num(&e))
        .one(&app.db)
        .await
        .expect("read")
        .expect("entity")
        .into();
    entity.currency = Set("XXQ".into());
    entity.update(&app.db).await.expect("corrupt the currency");
    let r = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        r["status"], "FAILED",
        "The run: QUEUED then RUNNING then COMPLETED or FAILED: {r}"
    );
    assert_eq!(
        actions(&r).last(),
        Some(&"RUN_FAILED"),
        "Events, audit: RUN_FAILED ends the trail"
    );
    assert_eq!(
        count_type(&outbox(&app).await, "billing_run.failed"),
        1,
        "Events: each run ends with billing_run.failed"
    );
}
