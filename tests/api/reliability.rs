//! The run, precisely (DESIGN.md): chunks bounded by invoices, pending
//! idempotency keys that expire, and scheduled firings that survive a bad
//! job or a busy entity.

use std::time::Duration;

use billrun::domain::access::Principal;
use billrun::service::scheduler::{self, Firing, JobInput};
use billrun::service::Ctx;
use chrono::{TimeZone, Utc};
use entity::{audit_event, billing_run, invoice, scheduled_job};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::{json, Value};

use crate::billing::{contract_with, run};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, TestApp};

async fn audit_actions(app: &TestApp, subject_type: &str, subject: i64) -> Vec<String> {
    audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq(subject_type))
        .filter(audit_event::Column::SubjectId.eq(subject.to_string()))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.db)
        .await
        .expect("audit rows")
        .into_iter()
        .map(|a| a.action)
        .collect()
}

#[tokio::test]
async fn a_contract_twenty_years_behind_is_billed_in_chunks_of_at_most_the_invoice_cap() {
    let app = spawn_app_with(|a| a.run_chunk_invoices = 100).await;
    let e = app.create_entity("CAP", "EUR").await;
    let c = app.create_customer(&e, "Far behind").await;
    let weekly = json!({ "customerId": c, "startDate": "2006-12-04", "interval": "WEEK",
        "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": "10.00" }] });
    contract_with(&app, weekly).await;
    let done = run(&app, &e, "2026-11-30").await;
    assert_eq!(done["status"], "COMPLETED", "{done}");
    let invoices = invoice::Entity::find()
        .order_by_asc(invoice::Column::PeriodStart)
        .all(&app.db)
        .await
        .expect("invoices");
    assert_eq!(invoices.len(), 1044, "every weekly period since 2006-12-04");
    for pair in invoices.windows(2) {
        assert_eq!(
            pair[1].period_start,
            pair[0].period_end + chrono::Duration::days(1),
            "The run: periods tile, each billed once"
        );
    }
    let mut numbers: Vec<i64> = invoices
        .iter()
        .filter_map(|i| i.number.as_deref()?.rsplit('-').next()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    assert_eq!(numbers, (1..=1044).collect::<Vec<_>>(), "numbers gapless");
    // Each chunk records its progress; with 100 invoices a chunk, the one
    // contract took 11 chunks (the run's event count grew 11 times).
    let run_id: i64 = done["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("id");
    let skipped = audit_actions(&app, "BillingRun", run_id).await;
    assert!(
        skipped.contains(&"RUN_COMPLETED".to_string()),
        "{skipped:?}"
    );
    assert_eq!(done["invoiceCount"], 1044);
    assert_eq!(done["processedCount"], 1, "one contract, finished once");
}

const TRIGGER_WITH_KEY: &str = "mutation($i: TriggerBillingRunInput!, $k: String) {
    triggerBillingRun(input: $i, idempotencyKey: $k) { runs { id status } } }";

#[tokio::test]
async fn a_key_left_pending_by_a_request_cut_at_its_timeout_can_be_retried_once_it_expires() {
    let app = spawn_app_with(|a| {
        a.request_timeout_secs = 1;
        a.idempotency_pending_secs = 2;
    })
    .await;
    let e = app.create_entity("IDK", "EUR").await;
    let c = app.create_customer(&e, "Waiting").await;
    app.create_contract(&c, "2026-11-01", "10.00", None).await;
    // A lock held by another session keeps the trigger's transaction
    // waiting past the request timeout.
    let blocker = billrun::store::begin_write(&app.db).await.expect("begin");
    let lock = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "LOCK TABLE billing_run IN EXCLUSIVE MODE",
        _ => "UPDATE legal_entity SET name = name",
    };
    blocker.execute_unprepared(lock).await.expect("lock");
    let input = json!({ "i": { "legalEntityId": e, "asOf": "2026-11-30", "wait": true }, "k": "nightly-1" });
    let cut = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .json(&json!({ "query": TRIGGER_WITH_KEY, "variables": input }))
        .send()
        .await
        .expect("sent");
    assert_eq!(cut.status().as_u16(), 408, "the request is cut at 1 s");
    blocker.rollback().await.expect("unlock");
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The key's claim committed before the blocked work: pending.
        let retry = app.gql(&admin(), TRIGGER_WITH_KEY, input.clone()).await;
        assert_eq!(
            code(&retry),
            "CONFLICT",
            "still pending right after: {retry}"
        );
    }
    // (On SQLite the lock held the key's claim too; its statement may still
    // land once the lock is gone, leaving the key pending just the same.)
    tokio::time::sleep(Duration::from_millis(2100)).await; // the key's TTL, not background work
    let retried = app.gql(&admin(), TRIGGER_WITH_KEY, input.clone()).await;
    assert!(
        retried.get("errors").is_none(),
        "the expired key is taken over: {retried}"
    );
    assert_eq!(
        retried["data"]["triggerBillingRun"]["runs"][0]["status"],
        "COMPLETED"
    );
    let replay = app.gql(&admin(), TRIGGER_WITH_KEY, input).await;
    assert_eq!(
        replay["data"]["triggerBillingRun"]["runs"][0]["id"],
        retried["data"]["triggerBillingRun"]["runs"][0]["id"],
        "and from then on it replays as usual"
    );
    let runs = billing_run::Entity::find()
        .all(&app.db)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "the cut request created nothing");
}

fn utc(y: i32, m: u32, d: u32, h: u32) -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0)
        .single()
        .expect("time")
}

async fn job(ctx: &Ctx, entity: Option<i64>) -> i64 {
    let input = JobInput {
        cron: "0 6 * * MON".into(),
        timezone: "Europe/Tallinn".into(),
        legal_entity_id: entity,
        enabled: true,
    };
    scheduler::create_job(ctx, &Principal::system("test"), input, utc(2026, 11, 1, 0))
        .await
        .expect("job")
        .id
}

async fn entity_with_contract(app: &TestApp, code: &str) -> i64 {
    let e = app.create_entity(code, "EUR").await;
    let c = app.create_customer(&e, "Bolt").await;
    app.create_contract(&c, "2026-09-01", "49.00", None).await;
    e.parse().expect("id")
}

#[tokio::test]
async fn a_job_whose_stored_cron_no_longer_parses_is_reported_and_the_others_still_fire() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
    let good_entity = entity_with_contract(&app, "SG1").await;
    let bad_entity = entity_with_contract(&app, "SB1").await;
    // Created first, so it comes first in the tick; then its stored cron
    // is damaged (as an older version's data could be).
    let bad = job(&ctx, Some(bad_entity)).await;
    let good = job(&ctx, Some(good_entity)).await;
    let mut damaged: scheduled_job::ActiveModel = scheduled_job::Entity::find_by_id(bad)
        .one(&app.db)
        .await
        .expect("read")
        .expect("job")
        .into();
    damaged.cron = Set("every monday".into());
    damaged.update(&app.db).await.expect("damage");

    let fired = scheduler::tick(&ctx, utc(2026, 11, 2, 5))
        .await
        .expect("the tick goes on");
    assert!(fired.contains(&Firing::Failed { job_id: bad }), "{fired:?}");
    assert!(
        fired.iter().any(|f| matches!(f, Firing::Fired { job_id, run_ids, .. } if *job_id == good && run_ids.len() == 1)),
        "the good job fired: {fired:?}"
    );
    let actions = audit_actions(&app, "ScheduledJob", bad).await;
    assert!(
        actions.contains(&"SCHEDULE_FAILED".to_string()),
        "{actions:?}"
    );
    let again = scheduler::tick(&ctx, utc(2026, 11, 2, 5))
        .await
        .expect("tick");
    assert!(
        again.is_empty(),
        "the bad job is moved past its firing, not retried every poll: {again:?}"
    );
}

#[tokio::test]
async fn an_all_entities_job_starts_the_free_entities_and_records_a_conflict_for_the_busy_one() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
    let busy = entity_with_contract(&app, "SBZ").await;
    let free = entity_with_contract(&app, "SFR").await;
    // Another replica is executing a run of the busy entity: a QUEUED run
    // whose lease that replica holds.
    let txn = billrun::store::begin_write(&app.db).await.expect("begin");
    let new = billrun::store::runs::NewRun {
        legal_entity_id: busy,
        trigger_source: entity::status::TriggerSource::Manual,
        triggered_by: "test-user".into(),
        as_of: "2026-11-27".parse().expect("date"),
        dry_run: false,
    };
    let held = billrun::store::runs::insert_run(&txn, new)
        .await
        .expect("run");
    let claimed = billrun::store::lease::claim(&txn, held.id, "other-replica/1", 600_000).await;
    assert!(claimed.expect("claim"), "the other replica holds the lease");
    txn.commit().await.expect("commit");
    let all = job(&ctx, None).await;
    let fired = scheduler::tick(&ctx, utc(2026, 11, 2, 5))
        .await
        .expect("tick");
    let [Firing::Fired {
        job_id, run_ids, ..
    }] = fired.as_slice()
    else {
        panic!("one firing: {fired:?}");
    };
    assert_eq!(*job_id, all);
    assert_eq!(run_ids.len(), 1, "the free entity's run started");
    let started = billing_run::Entity::find_by_id(run_ids[0])
        .one(&app.db)
        .await
        .expect("read")
        .expect("run");
    assert_eq!(started.legal_entity_id, free);
    let actions = audit_actions(&app, "ScheduledJob", all).await;
    assert!(
        actions.contains(&"SCHEDULE_CONFLICT".to_string()),
        "{actions:?}"
    );
    assert!(
        actions.contains(&"SCHEDULE_FIRED".to_string()),
        "{actions:?}"
    );
    let conflict = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("SCHEDULE_CONFLICT"))
        .one(&app.db)
        .await
        .expect("read")
        .expect("conflict row");
    let details: Value =
        serde_json::from_str(conflict.details.as_deref().unwrap_or("{}")).expect("json");
    assert_eq!(
        details["activeRunId"],
        json!(held.id.to_string()),
        "names the busy entity's run"
    );
}
