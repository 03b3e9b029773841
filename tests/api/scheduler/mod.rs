//! Scheduled billing runs (DESIGN.md, Scale: "a scheduled job fires once,
//! not once per replica"; The run: actor `system:scheduler:<job id>`) fire
//! once, on time, across DST changes and downtime (here), across replicas
//! and beside a busy entity (`once`), and as jobs created through the API
//! or damaged in the database (`jobs`). The tests drive the scheduler's
//! clock by calling `tick(now)` directly; nothing sleeps for real minutes.

mod jobs;
mod once;

use billrun::domain::access::Principal;
use billrun::service::scheduler::{self, Firing, JobInput};
use billrun::service::Ctx;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use entity::{audit_event, billing_run};
use sea_orm::{ColumnTrait, Database, EntityTrait, QueryFilter, QueryOrder};
use serde_json::json;

use crate::helpers::{admin, spawn_app, TestApp};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
}

/// A server, and a scheduler on its database whose clock the test drives
/// with `tick`.
async fn app_and_scheduler() -> (TestApp, Ctx) {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
    (app, ctx)
}

/// One scheduler poll at `now`; what it fired. A tick that errs fails the
/// test: a bad job or a busy entity is a firing outcome, not an error.
async fn tick(ctx: &Ctx, now: DateTime<Utc>) -> Vec<Firing> {
    scheduler::tick(ctx, now).await.expect("the tick goes on")
}

/// Waits for the runs a tick started (they run in the background).
async fn settle(ctx: &Ctx) {
    ctx.tasks.close();
    ctx.tasks.wait().await;
    ctx.tasks.reopen();
}

async fn entity_with_contract(app: &TestApp, code: &str) -> i64 {
    let entity = app.create_entity(code, "EUR").await;
    let customer = app.create_customer(&entity, "Bolt").await;
    app.create_contract(&customer, "2026-09-01", "49.00", None)
        .await;
    entity.parse().expect("numeric id")
}

/// Mondays 06:00 Tallinn time, for `entity` (None: every entity).
async fn weekly_job(
    ctx: &Ctx,
    entity: impl Into<Option<i64>>,
    created: DateTime<Utc>,
    enabled: bool,
) -> i64 {
    let input = JobInput {
        cron: "0 6 * * MON".into(),
        timezone: "Europe/Tallinn".into(),
        legal_entity_id: entity.into(),
        enabled,
    };
    scheduler::create_job(ctx, &Principal::system("test"), input, created)
        .await
        .expect("job created")
        .id
}

/// The actions audited for one subject, oldest first.
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

async fn runs_of(app: &TestApp, entity: i64) -> Vec<billing_run::Model> {
    billing_run::Entity::find()
        .filter(billing_run::Column::LegalEntityId.eq(entity))
        .all(&app.db)
        .await
        .expect("runs")
}

/// A replica's scheduler: its own pool on the app's database.
async fn replica(app: &TestApp, name: &str) -> Ctx {
    let db = Database::connect(app.database_url.as_str())
        .await
        .unwrap_or_else(|e| panic!("replica {name}: {e}"));
    Ctx::new(db)
}

/// A QUEUED run of `entity`, written as a manual trigger by `triggered_by`
/// would; when `lease_holder` is named, that replica claims the run's
/// lease in the same transaction (it is executing the run).
async fn active_run(
    app: &TestApp,
    entity: i64,
    triggered_by: &str,
    as_of: NaiveDate,
    lease_holder: Option<&str>,
) -> billing_run::Model {
    let txn = billrun::store::begin_write(&app.db).await.expect("begin");
    let new = billrun::store::runs::NewRun {
        legal_entity_id: entity,
        trigger_source: entity::status::TriggerSource::Manual,
        triggered_by: triggered_by.into(),
        as_of,
        dry_run: false,
    };
    let run = billrun::store::runs::insert_run(&txn, new)
        .await
        .expect("active run");
    if let Some(holder) = lease_holder {
        let claimed = billrun::store::lease::claim(&txn, run.id, holder, 600_000).await;
        assert!(claimed.expect("claim"), "the other replica holds the lease");
    }
    txn.commit().await.expect("commit");
    run
}

#[tokio::test]
async fn weekly_monday_job_fires_once_per_week_across_the_october_dst_change() {
    let (app, ctx) = app_and_scheduler().await;
    let entity = entity_with_contract(&app, "SCH").await;
    let job = weekly_job(&ctx, entity, utc(2026, 10, 18, 0, 0), true).await;

    // Monday 2026-10-19 06:00 EEST = 03:00 UTC.
    assert!(
        tick(&ctx, utc(2026, 10, 19, 2, 59)).await.is_empty(),
        "not due yet"
    );
    let fired = tick(&ctx, utc(2026, 10, 19, 3, 0)).await;
    assert!(
        matches!(fired.as_slice(), [Firing::Fired { missed: 0, .. }]),
        "SECURITY.md, Faults: DST in the entity's timezone; fires at 06:00 local: {fired:?}"
    );
    settle(&ctx).await;
    assert!(
        tick(&ctx, utc(2026, 10, 19, 3, 1)).await.is_empty(),
        "Scale: a scheduled job fires once"
    );

    // Clocks went back on 2026-10-25: Monday 06:00 EET = 04:00 UTC.
    assert!(
        tick(&ctx, utc(2026, 10, 26, 3, 0)).await.is_empty(),
        "03:00 UTC is 05:00 EET"
    );
    let fired = tick(&ctx, utc(2026, 10, 26, 4, 0)).await;
    assert_eq!(
        fired.len(),
        1,
        "SECURITY.md, Faults: across DST no firing is skipped or doubled"
    );
    settle(&ctx).await;

    let runs = runs_of(&app, entity).await;
    let as_of: Vec<String> = runs.iter().map(|r| r.as_of.to_string()).collect();
    assert_eq!(
        as_of,
        ["2026-10-19", "2026-10-26"],
        "asOf is the fire date in the job's timezone"
    );
    for run in &runs {
        assert_eq!(run.trigger_source, entity::status::TriggerSource::Scheduled);
        assert_eq!(run.triggered_by, format!("system:scheduler:{job}"));
        assert_eq!(run.status, entity::status::RunStatus::Completed);
    }
    let data = app
        .data(
            &admin(),
            "{ scheduledJobs { id nextRunAt lastRunAt enabled } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["scheduledJobs"][0]["nextRunAt"],
        "2026-11-02T04:00:00+00:00"
    );
}

#[tokio::test]
async fn a_server_down_across_several_firings_fires_once_and_records_the_catch_up() {
    let (app, ctx) = app_and_scheduler().await;
    let entity = entity_with_contract(&app, "SCH").await;
    let job = weekly_job(&ctx, entity, utc(2026, 10, 1, 0, 0), true).await;
    // Due first on Oct 5; the server comes back on Nov 27.
    let fired = tick(&ctx, utc(2026, 11, 27, 12, 0)).await;
    assert_eq!(fired.len(), 1, "catch-up, not a burst: {fired:?}");
    let Firing::Fired { missed, .. } = &fired[0] else {
        panic!("expected a firing: {fired:?}")
    };
    assert_eq!(
        *missed, 7,
        "Oct 12, 19, 26, Nov 2, 9, 16, 23 were missed too"
    );
    settle(&ctx).await;
    assert!(tick(&ctx, utc(2026, 11, 27, 12, 0)).await.is_empty());
    let audit = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("ScheduledJob"))
        .filter(audit_event::Column::SubjectId.eq(job.to_string()))
        .filter(audit_event::Column::Action.eq("SCHEDULE_FIRED"))
        .all(&app.db)
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1);
    let details: serde_json::Value =
        serde_json::from_str(audit[0].details.as_deref().unwrap_or("{}")).expect("json");
    assert_eq!(details["caughtUp"], true, "the catch-up is recorded");
    assert_eq!(details["missedFirings"], 7);
    assert_eq!(runs_of(&app, entity).await.len(), 1);
}

#[tokio::test]
async fn a_disabled_job_never_fires_and_a_deleted_job_stops() {
    let (app, ctx) = app_and_scheduler().await;
    let entity = entity_with_contract(&app, "SCH").await;
    weekly_job(&ctx, entity, utc(2026, 10, 18, 0, 0), false).await;
    let deleted = weekly_job(&ctx, entity, utc(2026, 10, 18, 0, 0), true).await;
    let body = app
        .gql(
            &admin(),
            "mutation($id: ID!) { deleteScheduledJob(id: $id) }",
            json!({ "id": deleted.to_string() }),
        )
        .await;
    assert_eq!(body["data"]["deleteScheduledJob"], true, "{body}");
    for day in [19, 26] {
        let fired = tick(&ctx, utc(2026, 10, day, 12, 0)).await;
        assert!(
            fired.is_empty(),
            "disabled and deleted jobs never fire: {fired:?}"
        );
    }
    assert!(runs_of(&app, entity).await.is_empty());
}
