//! DESIGN.md, Webhooks: "Deliveries are fed by the outbox, at least once,
//! in position order per endpoint, and carry the event's id and position"
//! and "an endpoint sees only what its creator's token could see".

use serde_json::json;

use super::{
    deliveries, endpoint, endpoint_as, events_after, hooks_app, last_position, settled,
    valid_signatures, Receiver,
};
use crate::helpers::billing::{entity_with, trigger_run, COMPLETED_EVENT};
use crate::helpers::{code, token};

#[tokio::test]
async fn a_run_s_events_arrive_signed_in_position_order_with_the_event_id_and_position() {
    let app = hooks_app().await;
    let entity = entity_with(&app, "WH1", 3).await;
    let hook = Receiver::start().await;
    let (id, secret) = endpoint(&app, &hook.url, json!({ "description": "ERP" })).await;
    let from = last_position(&app).await;
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let events = events_after(&app, from, None).await;
    assert!(
        events.len() >= 4,
        "test setup: the run wrote its events: {events:?}"
    );
    let hits = hook
        .await_hits(events.len(), "every event of the run is delivered")
        .await;
    settled(&app, &id, events.len()).await;
    let hits = hook.hits().into_iter().take(hits.len()).collect::<Vec<_>>();

    let positions: Vec<i64> = hits.iter().map(|h| h.position()).collect();
    let expected: Vec<i64> = events.iter().map(|e| e.id).collect();
    assert_eq!(
        positions, expected,
        "Webhooks: every event once, in position order"
    );
    for (hit, event) in hits.iter().zip(&events) {
        assert_eq!(
            valid_signatures(&secret, hit),
            1,
            "Webhooks: signed as Standard Webhooks: {hit:?}"
        );
        let body = hit.json();
        assert_eq!(
            hit.header("webhook-id"),
            event.id.to_string(),
            "webhook-id is the event id"
        );
        assert_eq!(body["type"], event.event_type.as_str());
        assert_eq!(body["data"]["id"], event.id.to_string());
        assert_eq!(body["data"]["legalEntityId"], entity.as_str());
        assert_eq!(
            body["data"]["payload"],
            serde_json::from_str::<serde_json::Value>(&event.payload).expect("payload")
        );
        assert!(
            body["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')),
            "{body}"
        );
        let ts: i64 = hit
            .header("webhook-timestamp")
            .parse()
            .expect("unix seconds");
        assert!(
            (ts - chrono::Utc::now().timestamp()).abs() < 600,
            "webhook-timestamp is unix seconds"
        );
        assert_eq!(hit.header("content-type"), "application/json");
    }
    let rows = deliveries(&app, &id).await;
    assert!(
        rows.iter()
            .all(|d| d["status"] == "SUCCEEDED" && d["attemptCount"] == 1),
        "{rows:?}"
    );
    assert!(rows[0]["attempts"][0]["statusCode"] == 200 && rows[0]["nextAttemptAt"].is_null());
}

#[tokio::test]
async fn an_endpoint_gets_only_the_event_types_it_asked_for() {
    let app = hooks_app().await;
    let entity = entity_with(&app, "WH2", 2).await;
    let all = Receiver::start().await;
    let some = Receiver::start().await;
    let (all_id, _) = endpoint(&app, &all.url, json!({})).await;
    endpoint(&app, &some.url, json!({ "eventTypes": [COMPLETED_EVENT] })).await;
    let from = last_position(&app).await;
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let events = events_after(&app, from, None).await;
    settled(&app, &all_id, events.len()).await;
    let hits = some.await_hits(1, "the completed event").await;
    let types: Vec<String> = some
        .hits()
        .iter()
        .map(|h| h.json()["type"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        types,
        vec![COMPLETED_EVENT.to_string()],
        "Webhooks: the event-type filter: {hits:?}"
    );
}

#[tokio::test]
async fn a_partner_endpoint_never_gets_another_entity_s_events_and_cannot_name_one() {
    let app = hooks_app().await;
    let a = entity_with(&app, "WHA", 1).await;
    let b = entity_with(&app, "WHB", 1).await;
    let partner = token("PARTNER", &["events:read", "webhooks:write"], &[&a]);
    let theirs = Receiver::start().await;
    let ours = Receiver::start().await;
    let (partner_id, _) = endpoint_as(&app, &partner, &theirs.url, json!({})).await;
    let (admin_id, _) = endpoint(&app, &ours.url, json!({})).await;
    let from = last_position(&app).await;
    trigger_run(&app, &a, "2026-11-27", true).await;
    trigger_run(&app, &b, "2026-11-27", true).await;
    let everything = events_after(&app, from, None).await;
    settled(&app, &admin_id, everything.len()).await;
    let own = events_after(&app, from, Some(&a)).await;
    settled(&app, &partner_id, own.len()).await;
    let got: Vec<i64> = theirs.hits().iter().map(|h| h.position()).collect();
    assert_eq!(
        got,
        own.iter().map(|e| e.id).collect::<Vec<_>>(),
        "Webhooks: the partner's endpoint gets exactly entity A's events, none of B's"
    );
    let body = app
        .gql(
            &partner,
            super::CREATE,
            json!({ "i": { "url": theirs.url, "legalEntityId": b } }),
        )
        .await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "another entity is NOT_FOUND: {body}"
    );
    let no_read = token("PARTNER", &["webhooks:write"], &[&a]);
    let blind = Receiver::start().await;
    let (blind_id, _) = endpoint_as(&app, &no_read, &blind.url, json!({})).await;
    trigger_run(&app, &a, "2026-12-27", true).await;
    let later = events_after(&app, from, None).await;
    settled(&app, &admin_id, later.len()).await;
    assert!(
        blind.hits().is_empty() && deliveries(&app, &blind_id).await.is_empty(),
        "an owner without events:read receives nothing"
    );
}

#[tokio::test]
async fn a_queued_event_its_owner_may_no_longer_read_is_never_sent() {
    use entity::webhook_delivery::{self as delivery, WebhookDeliveryStatus};
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

    let app = hooks_app().await;
    let a = entity_with(&app, "WHC", 1).await;
    let b = entity_with(&app, "WHD", 1).await;
    let from = last_position(&app).await;
    trigger_run(&app, &b, "2026-11-27", true).await;
    let theirs = events_after(&app, from, Some(&b))
        .await
        .pop()
        .expect("an event of B");
    let partner = crate::helpers::token_with(|c| {
        c.sub = "narrowed-partner".into();
        c.role = "PARTNER".into();
        c.scopes = vec!["events:read".into(), "webhooks:write".into()];
        c.legal_entities = vec![a.clone()];
    });
    let hook = Receiver::start().await;
    let (id, _) = endpoint_as(&app, &partner, &hook.url, json!({})).await;
    // Queued as if before the owner's access narrowed to entity A.
    let queued = delivery::ActiveModel {
        endpoint_id: Set(id.parse().expect("id")),
        event_id: Set(theirs.id),
        legal_entity_id: Set(theirs.legal_entity_id),
        status: Set(WebhookDeliveryStatus::Pending),
        attempt_count: Set(0),
        next_attempt_ms: Set(Some(0)),
        created_at: Set(chrono::Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("a queued delivery");
    let row = crate::helpers::poll_until(
        "the delivery is settled",
        std::time::Duration::from_secs(30),
        std::time::Duration::from_millis(50),
        || async {
            let row = delivery::Entity::find_by_id(queued.id)
                .one(&app.db)
                .await
                .ok()
                .flatten()?;
            (row.status == WebhookDeliveryStatus::Failed).then_some(row)
        },
    )
    .await;
    let attempts = entity::webhook_attempt::Entity::find()
        .filter(entity::webhook_attempt::Column::DeliveryId.eq(row.id))
        .all(&app.db)
        .await
        .expect("attempts");
    assert!(
        hook.hits().is_empty(),
        "Webhooks: checked when delivering: nothing was sent"
    );
    assert_eq!(attempts.len(), 1, "refused once, not retried: {attempts:?}");
    assert!(
        attempts[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("may not read")),
        "{attempts:?}"
    );
    assert!(attempts[0].status_code.is_none());
}
