//! DESIGN.md, The run, precisely: "a run fails only after the retries run
//! out, and `retryBillingRun` continues a FAILED run after its last
//! committed chunk": a run the database refuses mid-run, retried once the
//! refusal is lifted, and retries that must be refused.

use std::time::Duration;

use entity::{domain_event, invoice};
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait};
use serde_json::{json, Value};

use super::end_state::run_count;
use super::{await_finished, book, due_periods, processed, start_run};
use crate::helpers::{admin, code, spawn_app_with, today, TestApp};

const RETRY: &str = "mutation($id: ID!) { retryBillingRun(id: $id) { id status } }";

/// What the tests compare to see that nothing changed.
async fn snapshot(app: &TestApp, run_id: &str) -> (Value, u64, u64, i64) {
    let q = "query($id: ID!) { billingRun(id: $id) { status contractCount processedCount
      invoiceCount skippedCount completedAt durationMs error auditTrail { id action } } }";
    let run = app.data(&admin(), q, json!({ "id": run_id })).await["billingRun"].clone();
    let invoices = invoice::Entity::find().count(&app.db).await.expect("count");
    let events = domain_event::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    (run, invoices, events, run_count(&app.db).await)
}

/// Makes the database refuse invoices of contracts after `last` (a fault
/// in the middle of a run: the chunks before it commit), or lifts that.
async fn refuse_invoices_after(db: &DatabaseConnection, last: Option<i64>) {
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let sql = match (postgres, last) {
        (true, Some(id)) => format!(
            "ALTER TABLE invoice ADD CONSTRAINT faults_refuse_invoice \
             CHECK (contract_id IS NULL OR contract_id <= {id}) NOT VALID"
        ),
        (true, None) => "ALTER TABLE invoice DROP CONSTRAINT faults_refuse_invoice".into(),
        (false, Some(id)) => format!(
            "CREATE TRIGGER faults_refuse_invoice BEFORE INSERT ON invoice \
             WHEN NEW.contract_id > {id} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ),
        (false, None) => "DROP TRIGGER faults_refuse_invoice".into(),
    };
    db.execute_unprepared(&sql).await.expect("fault DDL");
}

/// retryBillingRun continues a FAILED run from its last committed chunk to
/// COMPLETED, billing nothing twice; a COMPLETED run cannot be retried and
/// an unknown id is NOT_FOUND.
#[tokio::test]
async fn retry_billing_run_continues_a_failed_run_and_refuses_a_completed_one() {
    let app = spawn_app_with(|a| a.run_chunk_size = 10).await;
    let as_of = today();
    let book = book(&app, "RT1", 200, 1).await;
    let total = book.contracts.len() as i64;
    // The 11th chunk (contracts 101-110) is refused: not a transient error.
    refuse_invoices_after(&app.db, Some(book.contracts[99])).await;
    let run_id = start_run(&app, &book.entity, as_of).await;
    let failed = await_finished(&app, &run_id, Duration::from_secs(60), String::new).await;
    refuse_invoices_after(&app.db, None).await;
    assert_eq!(
        failed["status"], "FAILED",
        "a run the database refuses mid-run ends FAILED: {failed}"
    );
    assert_eq!(
        processed(&failed),
        100,
        "the ten chunks before the refused one stay committed, the refused one is rolled back: {failed}"
    );
    let before = invoice::Entity::find().count(&app.db).await.expect("count");
    assert_eq!(
        before as usize,
        100 * due_periods(book.start, as_of).len(),
        "the invoices of the committed chunks stay, the refused chunk's are gone"
    );

    let body = app.gql(&admin(), RETRY, json!({ "id": run_id })).await;
    assert!(
        body.get("errors").is_none(),
        "retryBillingRun accepts a FAILED run: {body}"
    );
    assert_eq!(
        body["data"]["retryBillingRun"]["id"], run_id,
        "the same run continues: {body}"
    );
    let done = await_finished(&app, &run_id, Duration::from_secs(60), String::new).await;
    assert_eq!(
        done["status"], "COMPLETED",
        "a retried run completes: {done}"
    );
    assert_eq!(
        processed(&done),
        total,
        "the retried run processed every contract once: {done}"
    );
    assert_eq!(run_count(&app.db).await, 1, "a retry creates no new run");
    book.assert_billed_once(&app.db, as_of, &run_id).await;

    let was = snapshot(&app, &run_id).await;
    let body = app.gql(&admin(), RETRY, json!({ "id": run_id })).await;
    assert_eq!(
        (code(&body), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("id")),
        "The run, precisely: only a FAILED run can be retried: {body}"
    );
    // Watch for a second for anything the refused retry might have started:
    // the sleep is the observation window, nothing is awaited through it.
    for _ in 0..10 {
        assert_eq!(
            snapshot(&app, &run_id).await,
            was,
            "a refused retry changes nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let body = app.gql(&admin(), RETRY, json!({ "id": "987654321" })).await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "retryBillingRun of an unknown id: {body}"
    );
}
