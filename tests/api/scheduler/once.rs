//! DESIGN.md, Scale: "a scheduled job fires once, not once per replica",
//! and The run: "at most one QUEUED or RUNNING run per legal entity at a
//! time": two replicas ticking at the same instant, and a firing that
//! meets an entity whose run is already active.

use billrun::service::scheduler::{self, Firing};
use entity::{audit_event, billing_run};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::{
    active_run, app_and_scheduler, audit_actions, entity_with_contract, replica, runs_of, settle,
    tick, utc, weekly_job,
};
use crate::helpers::spawn_app;

#[tokio::test]
async fn two_replicas_racing_for_the_same_firing_produce_one_run() {
    let app = spawn_app().await;
    let entity = entity_with_contract(&app, "SCH").await;
    // Two replicas: separate pools on the same database.
    let a = replica(&app, "a").await;
    let b = replica(&app, "b").await;
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
async fn an_active_run_makes_the_firing_record_a_conflict_not_an_error() {
    let (app, ctx) = app_and_scheduler().await;
    let entity = entity_with_contract(&app, "SCH").await;
    let job = weekly_job(&ctx, entity, utc(2026, 10, 18, 0, 0), true).await;
    let as_of = utc(2026, 10, 19, 0, 0).date_naive();
    let active = active_run(&app, entity, "someone", as_of, None).await;
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
async fn an_all_entities_job_starts_the_free_entities_and_records_a_conflict_for_the_busy_one() {
    let (app, ctx) = app_and_scheduler().await;
    let busy = entity_with_contract(&app, "SBZ").await;
    let free = entity_with_contract(&app, "SFR").await;
    // Another replica is executing a run of the busy entity: a QUEUED run
    // whose lease that replica holds.
    let as_of = "2026-11-27".parse().expect("date");
    let held = active_run(&app, busy, "test-user", as_of, Some("other-replica/1")).await;
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
