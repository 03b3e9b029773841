//! DESIGN.md, Webhooks: "Only a 2xx is success; redirects are not
//! followed; 410 disables the endpoint; 429 and 503 honour Retry-After.
//! Retries back off with jitter, then FAILED. Every attempt is logged."
//! The test server retries after 100 ms and 200 ms (three attempts) and
//! gives an attempt 1 s.

use chrono::DateTime;
use serde_json::{json, Value};

use super::{deliveries, endpoint, hooks_app, settled, Receiver, Reply};
use crate::helpers::billing::{entity_with, outbox, trigger_run, COMPLETED_EVENT};
use std::time::Duration;

use crate::helpers::{admin, poll_until, spawn_app_with, TestApp};

/// An endpoint for `billing_run.completed` only, answering from `hook`'s
/// script, and one run: the endpoint's id.
async fn one_event(app: &TestApp, code: &str, hook: &Receiver) -> String {
    let entity = entity_with(app, code, 1).await;
    let (id, _) = endpoint(
        app,
        &hook.url,
        json!({ "eventTypes": [COMPLETED_EVENT],
                                                   "legalEntityId": entity }),
    )
    .await;
    trigger_run(app, &entity, "2026-11-27", true).await;
    id
}

fn statuses(delivery: &Value) -> Vec<Value> {
    delivery["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["statusCode"].clone())
        .collect()
}

fn at(attempt: &Value) -> DateTime<chrono::Utc> {
    attempt["at"]
        .as_str()
        .expect("at")
        .parse()
        .expect("RFC 3339")
}

#[tokio::test]
async fn a_500_is_retried_and_the_200_after_it_succeeds() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    hook.then([Reply::Status(500)]);
    let id = one_event(&app, "WO1", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "SUCCEEDED", "{rows:?}");
    assert_eq!(rows[0]["attemptCount"], 2);
    assert_eq!(
        statuses(&rows[0]),
        vec![json!(500), json!(200)],
        "every attempt is logged"
    );
    let hits = hook.hits();
    assert_eq!(
        hits[0].header("webhook-id"),
        hits[1].header("webhook-id"),
        "the same id on every retry"
    );
}

#[tokio::test]
async fn always_500_ends_failed_after_the_schedule_and_disables_nothing() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    hook.always(Reply::Status(500));
    let id = one_event(&app, "WO2", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "FAILED", "{rows:?}");
    assert_eq!(
        statuses(&rows[0]),
        vec![json!(500); 3],
        "one attempt and the schedule's two retries"
    );
    let endpoint = app
        .data(&admin(), "{ webhookEndpoints { id enabled } }", json!({}))
        .await;
    assert_eq!(
        endpoint["webhookEndpoints"][0]["enabled"], true,
        "failing < 5 days keeps it enabled"
    );
}

#[tokio::test]
async fn a_410_disables_the_endpoint_and_says_so_in_an_event() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    hook.always(Reply::Status(410));
    let id = one_event(&app, "WO3", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(
        (rows[0]["status"].clone(), rows[0]["attemptCount"].clone()),
        (json!("FAILED"), json!(1))
    );
    let data = app
        .data(
            &admin(),
            "{ webhookEndpoints { id enabled disabledReason } }",
            json!({}),
        )
        .await;
    assert_eq!(
        data["webhookEndpoints"][0],
        json!({ "id": id, "enabled": false, "disabledReason": "410 Gone" }),
        "Webhooks: 410 disables the endpoint"
    );
    let disabled: Vec<_> = outbox(&app)
        .await
        .into_iter()
        .filter(|e| e.event_type == "webhook_endpoint.disabled")
        .collect();
    assert_eq!(disabled.len(), 1, "one webhook_endpoint.disabled event");
    assert_eq!(disabled[0].subject_id, id);
}

#[tokio::test]
async fn a_301_is_not_followed_and_counts_as_a_failure() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    let elsewhere = hook.url.replace("/hook", "/elsewhere");
    hook.always(Reply::With(301, "location", elsewhere));
    let id = one_event(&app, "WO4", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "FAILED", "{rows:?}");
    assert_eq!(statuses(&rows[0]), vec![json!(301); 3]);
    assert!(
        hook.hits().iter().all(|h| h.path == "/hook"),
        "the redirect was never followed"
    );
}

#[tokio::test]
async fn a_429_with_retry_after_is_retried_no_sooner_than_asked() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    hook.then([Reply::With(429, "retry-after", "2".into())]);
    let id = one_event(&app, "WO5", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "SUCCEEDED", "{rows:?}");
    let attempts = rows[0]["attempts"].as_array().expect("attempts");
    assert_eq!(statuses(&rows[0]), vec![json!(429), json!(200)]);
    let gap = at(&attempts[1]) - at(&attempts[0]);
    assert!(
        gap >= chrono::Duration::milliseconds(1900),
        "Retry-After: 2 outweighs the 100 ms schedule; the retry came after {gap:?}"
    );
}

#[tokio::test]
async fn an_endpoint_slower_than_the_timeout_fails_with_a_timeout_logged() {
    let app = hooks_app().await;
    let hook = Receiver::start().await;
    hook.then([Reply::Slow(std::time::Duration::from_secs(3))]);
    let id = one_event(&app, "WO6", &hook).await;
    let rows = settled(&app, &id, 1).await;
    let first = &rows[0]["attempts"][0];
    assert!(first["statusCode"].is_null(), "{first}");
    assert!(
        first["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{first}"
    );
    assert_eq!(
        rows[0]["status"], "SUCCEEDED",
        "the retry succeeds: {rows:?}"
    );
    assert!(deliveries(&app, &id).await.len() == 1);
}

#[tokio::test]
async fn an_endpoint_failing_longer_than_disable_after_is_disabled() {
    let app = spawn_app_with(|a| {
        super::configure(a);
        a.webhooks.webhook_disable_after = std::time::Duration::from_millis(1);
    })
    .await;
    let hook = Receiver::start().await;
    hook.always(Reply::Status(500));
    let id = one_event(&app, "WO7", &hook).await;
    let data = poll_until(
        "the endpoint is disabled",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let data = app
                .data(
                    &admin(),
                    "{ webhookEndpoints { enabled disabledReason } }",
                    json!({}),
                )
                .await;
            (data["webhookEndpoints"][0]["enabled"] == false).then_some(data)
        },
    )
    .await;
    let reason = data["webhookEndpoints"][0]["disabledReason"]
        .as_str()
        .unwrap_or("");
    assert!(
        reason.starts_with("failing since 20"),
        "Webhooks: disabled after failing too long: {reason}"
    );
    let disabled = outbox(&app)
        .await
        .into_iter()
        .filter(|e| e.event_type == "webhook_endpoint.disabled")
        .count();
    assert_eq!(disabled, 1, "one webhook_endpoint.disabled event");
    let rows = deliveries(&app, &id).await;
    assert!(
        rows[0]["attempts"].as_array().is_some_and(|a| a.len() >= 2),
        "{rows:?}"
    );
}

#[tokio::test]
async fn attempt_logs_older_than_the_retention_are_purged() {
    let app = spawn_app_with(|a| {
        super::configure(a);
        a.webhooks.webhook_attempt_retention = std::time::Duration::from_millis(300);
    })
    .await;
    let hook = Receiver::start().await;
    let id = one_event(&app, "WO8", &hook).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "SUCCEEDED", "test setup: {rows:?}");
    poll_until(
        "the attempt log is purged",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || async {
            let rows = deliveries(&app, &id).await;
            (rows[0]["attempts"] == json!([])).then_some(())
        },
    )
    .await;
    assert_eq!(
        deliveries(&app, &id).await[0]["attemptCount"],
        1,
        "the delivery itself stays"
    );
}
