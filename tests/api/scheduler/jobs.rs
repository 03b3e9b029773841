//! Scheduled jobs (DESIGN.md, Parts: the scheduler; the product page's
//! "weekly on Mondays") as the API creates them, cron and timezone
//! validated and a disabled job without a next run, and a stored job whose
//! cron no longer parses: reported and moved past its firing while the
//! other jobs still fire.

use billrun::service::scheduler::Firing;
use chrono::{DateTime, Utc};
use entity::scheduled_job;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};
use serde_json::json;

use super::{app_and_scheduler, audit_actions, entity_with_contract, tick, utc, weekly_job};
use crate::helpers::{admin, code, spawn_app};

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
    let (app, ctx) = app_and_scheduler().await;
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
