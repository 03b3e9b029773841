//! Runs that meet bad data or a failing database (DESIGN.md, The run): a
//! contract that cannot be billed is skipped and named while the others
//! are billed; a run that cannot go on ends FAILED, its chunk rolled back
//! whole, and never blocks its entity.

use entity::{billing_run, contract_line, legal_entity, notification};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{json, Value};

use crate::helpers::billing::{
    actions, all_invoices, audited, configure, count_type, edit_contract, entity_with_contracts,
    field, num, outbox, outbox_types, run, run_invoices, trigger,
};
use crate::helpers::{admin, code, spawn_app};

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
    let skipped = audited(&r, "CONTRACT_SKIPPED");
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
    let skipped = audited(&r, "CONTRACT_SKIPPED");
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
    assert_eq!(
        outbox_types(&app).await,
        ["notification.created", "billing_run.failed"],
        "Events: the run ends with its notification (FAILURES_ONLY) and billing_run.failed, nothing else"
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

/// Statuses are read through typed enums: a value billrun does not know is
/// an INTERNAL error where it is read, never shown as another state (the
/// old code read any unknown run status as FAILED and any unknown invoice
/// status as POSTED).
#[tokio::test]
async fn an_unknown_stored_status_is_an_internal_error_never_another_state() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "UNK", &["2026-11-01"]).await;
    let r = run(&app, &e, "2026-11-27").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(invoices.len(), 1, "the run billed its contract: {r}");
    for statement in [
        "UPDATE billing_run SET status = 'PAUSED'",
        "UPDATE invoice SET status = 'DISPUTED'",
    ] {
        app.db
            .execute_unprepared(statement)
            .await
            .expect("corrupt a status");
    }
    let run_query = "query($id: ID!) { billingRun(id: $id) { status } }";
    let body = app.gql(&admin(), run_query, json!({ "id": r["id"] })).await;
    assert_eq!(code(&body), "INTERNAL", "an unknown run status: {body}");
    assert!(
        !body.to_string().contains("FAILED"),
        "never shown as FAILED: {body}"
    );
    let invoice_query = "query($id: ID!) { invoice(id: $id) { status } }";
    let body = app
        .gql(&admin(), invoice_query, json!({ "id": invoices[0]["id"] }))
        .await;
    assert_eq!(code(&body), "INTERNAL", "an unknown invoice status: {body}");
    assert!(
        !body.to_string().contains("POSTED"),
        "never shown as POSTED: {body}"
    );
}
