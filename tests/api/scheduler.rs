//! Scheduled billing runs (DESIGN.md, Scale: "a scheduled job fires once,
//! not once per replica"; The run: actor `system:scheduler:<job id>`) fire
//! once, on time, across replicas, DST changes, downtime, a bad job and a
//! busy entity. The tests drive the scheduler's clock by calling
//! `tick(now)` directly; nothing sleeps for real minutes.

use billrun::domain::access::Principal;
use billrun::service::scheduler::{self, Firing, JobInput};
use billrun::service::Ctx;
use chrono::{DateTime, TimeZone, Utc};
use entity::{audit_event, billing_run, scheduled_job};
use sea_orm::{ActiveModelTrait, ColumnTrait, Database, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::{json, Value};

use crate::helpers::{admin, code, spawn_app, TestApp};

fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, min, 0)
        .single()
        .expect("valid time")
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

#[tokio::test]
async fn weekly_monday_job_fires_once_per_week_across_the_october_dst_change() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
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
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
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
async fn two_replicas_racing_for_the_same_firing_produce_one_run() {
    let app = spawn_app().await;
    let entity = entity_with_contract(&app, "SCH").await;
    // Two replicas: separate pools on the same database.
    let a = Ctx::new(
        Database::connect(app.database_url.as_str())
            .await
            .expect("replica a"),
    );
    let b = Ctx::new(
        Database::connect(app.database_url.as_str())
            .await
            .expect("replica b"),
    );
    weekly_job(&a, entity, utc(2026, 10, 18, 0, 0), true).await;
    let now = utc(2026, 10, 19, 3, 0);
    let (ra, rb) = tokio::join!(scheduler::tick(&a, now), scheduler::tick(&b, now));
    let all: Vec<Firing> = ra
        .expect("tick a")
        .into_iter()
        .chain(rb.expect("tick b"))
        .collect();
    let fired = all
        .iter()
        .filter(|f| matches!(f, Firing::Fired { .. }))
        .count();
    assert_eq!(
        fired, 1,
        "Scale: a scheduled job fires once, not once per replica: {all:?}"
    );
    settle(&a).await;
    settle(&b).await;
    assert_eq!(
        runs_of(&app, entity).await.len(),
        1,
        "Scale: one run for one firing"
    );
}

#[tokio::test]
async fn a_disabled_job_never_fires_and_a_deleted_job_stops() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
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

#[tokio::test]
async fn an_active_run_makes_the_firing_record_a_conflict_not_an_error() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
    let entity = entity_with_contract(&app, "SCH").await;
    let job = weekly_job(&ctx, entity, utc(2026, 10, 18, 0, 0), true).await;
    let txn = billrun::store::begin_write(&ctx.db).await.expect("txn");
    let active = billrun::store::runs::insert_run(
        &txn,
        billrun::store::runs::NewRun {
            legal_entity_id: entity,
            trigger_source: entity::status::TriggerSource::Manual,
            triggered_by: "someone".into(),
            as_of: utc(2026, 10, 19, 0, 0).date_naive(),
            dry_run: false,
        },
    )
    .await
    .expect("active run");
    txn.commit().await.expect("commit");
    let fired = tick(&ctx, utc(2026, 10, 19, 3, 0)).await;
    assert_eq!(
        fired,
        vec![Firing::Conflict {
            job_id: job,
            active_run_id: Some(active.id)
        }]
    );
    let audit = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("SCHEDULE_CONFLICT"))
        .all(&app.db)
        .await
        .expect("audit");
    assert_eq!(audit.len(), 1, "the conflict is in the audit trail");
    assert!(
        tick(&ctx, utc(2026, 10, 19, 3, 5)).await.is_empty(),
        "no error loop"
    );
}

#[tokio::test]
async fn jobs_are_created_through_the_api_with_validated_cron_and_timezone() {
    let app = spawn_app().await;
    let entity = app.create_entity("SCJ", "EUR").await;
    let create = "mutation($i: CreateScheduledJobInput!) { createScheduledJob(input: $i) { id cron timezone enabled nextRunAt legalEntityId agentKey } }";
    for (cron, tz, field) in [
        ("61 6 * * MON", "Europe/Tallinn", "cron"),
        ("0 6 * *", "Europe/Tallinn", "cron"),
        ("0 6 * * MON", "Mars/Base", "timezone"),
    ] {
        let body = app
            .gql(
                &admin(),
                create,
                json!({ "i": { "cron": cron, "timezone": tz, "legalEntityId": entity } }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{cron} {tz}: {body}");
        assert_eq!(body["errors"][0]["extensions"]["field"], field);
    }
    let body = app
        .data(&admin(), create, json!({ "i": { "cron": "0 6 * * MON", "timezone": "Europe/Tallinn", "legalEntityId": entity } }))
        .await;
    let job = &body["createScheduledJob"];
    assert_eq!(job["agentKey"], "billing-run");
    assert_eq!(job["enabled"], true);
    let next: DateTime<Utc> = job["nextRunAt"]
        .as_str()
        .expect("nextRunAt")
        .parse()
        .expect("RFC 3339");
    assert!(next > Utc::now(), "the next firing is in the future");
    let id = job["id"].as_str().expect("id");
    let body = app
        .data(
            &admin(),
            "mutation($id: ID!) { updateScheduledJob(id: $id, input: { enabled: false }) { enabled nextRunAt } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["updateScheduledJob"]["enabled"], false);
    assert!(
        body["updateScheduledJob"]["nextRunAt"].is_null(),
        "a disabled job has no next run"
    );
}

#[tokio::test]
async fn a_job_whose_stored_cron_no_longer_parses_is_reported_and_the_others_still_fire() {
    let app = spawn_app().await;
    let ctx = Ctx::new(app.db.clone());
    let good_entity = entity_with_contract(&app, "SG1").await;
    let bad_entity = entity_with_contract(&app, "SB1").await;
    // Created first, so it comes first in the tick; then its stored cron
    // is damaged (as an older version's data could be).
    let bad = weekly_job(&ctx, bad_entity, utc(2026, 11, 1, 0, 0), true).await;
    let good = weekly_job(&ctx, good_entity, utc(2026, 11, 1, 0, 0), true).await;
    let mut damaged: scheduled_job::ActiveModel = scheduled_job::Entity::find_by_id(bad)
        .one(&app.db)
        .await
        .expect("read")
        .expect("job")
        .into();
    damaged.cron = Set("every monday".into());
    damaged.update(&app.db).await.expect("damage");

    let fired = tick(&ctx, utc(2026, 11, 2, 5, 0)).await;
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
    let again = tick(&ctx, utc(2026, 11, 2, 5, 0)).await;
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
    let all = weekly_job(&ctx, None, utc(2026, 11, 1, 0, 0), true).await;
    let fired = tick(&ctx, utc(2026, 11, 2, 5, 0)).await;
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
