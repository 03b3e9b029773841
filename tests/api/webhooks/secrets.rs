//! DESIGN.md, Webhooks: "during a secret rotation both signatures are
//! sent for 24 h" and "a failed delivery can be retried by hand"; secrets
//! are shown only by create and rotate and stored encrypted.

use entity::webhook_endpoint;
use sea_orm::EntityTrait;
use serde_json::json;

use super::{deliveries, endpoint, hooks_app, settled, valid_signatures, Receiver, Reply};
use crate::helpers::billing::{entity_with, trigger_run, COMPLETED_EVENT};
use crate::helpers::{admin, code};

const ROTATE: &str =
    "mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret endpoint { id } } }";
const RETRY: &str =
    "mutation($id: ID!) { retryWebhookDelivery(id: $id) { id status attemptCount } }";

#[tokio::test]
async fn after_a_rotation_both_secrets_sign_and_the_database_holds_neither_in_clear() {
    let app = hooks_app().await;
    let entity = entity_with(&app, "WS1", 1).await;
    let hook = Receiver::start().await;
    let (id, old) = endpoint(&app, &hook.url, json!({ "eventTypes": [COMPLETED_EVENT] })).await;
    assert!(old.starts_with("whsec_") && old.len() > 40, "{old}");
    let data = app.data(&admin(), ROTATE, json!({ "id": id })).await;
    let new = data["rotateWebhookSecret"]["secret"]
        .as_str()
        .expect("secret")
        .to_string();
    assert_ne!(new, old);
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let hits = hook.await_hits(1, "the completed event").await;
    assert_eq!(
        hits[0].header("webhook-signature").split(' ').count(),
        2,
        "{:?}",
        hits[0]
    );
    assert_eq!(valid_signatures(&new, &hits[0]), 1, "the new secret signs");
    assert_eq!(
        valid_signatures(&old, &hits[0]),
        1,
        "the old one too, for 24 h"
    );

    let row = webhook_endpoint::Entity::find()
        .one(&app.db)
        .await
        .expect("read")
        .expect("row");
    for stored in [Some(&row.secret), row.previous_secret.as_ref()] {
        let stored = stored.expect("both stored");
        assert!(
            !stored.contains(&new[6..]) && !stored.contains(&old[6..]) && stored.starts_with("v1:"),
            "secrets are encrypted at rest: {stored}"
        );
    }
    let listed = app
        .gql(&admin(), "{ webhookEndpoints { id secret } }", json!({}))
        .await;
    assert_eq!(
        code(&listed),
        "BAD_USER_INPUT",
        "an endpoint has no secret field: {listed}"
    );
}

#[tokio::test]
async fn a_failed_delivery_is_retried_by_hand_and_a_succeeded_one_is_refused() {
    let app = hooks_app().await;
    let entity = entity_with(&app, "WS2", 1).await;
    let hook = Receiver::start().await;
    hook.then([Reply::Status(500), Reply::Status(500), Reply::Status(500)]);
    let (id, _) = endpoint(&app, &hook.url, json!({ "eventTypes": [COMPLETED_EVENT] })).await;
    trigger_run(&app, &entity, "2026-11-27", true).await;
    let rows = settled(&app, &id, 1).await;
    assert_eq!(rows[0]["status"], "FAILED", "test setup: {rows:?}");
    let delivery = rows[0]["id"].clone();

    let retried = app.data(&admin(), RETRY, json!({ "id": delivery })).await;
    assert_eq!(retried["retryWebhookDelivery"]["status"], "RETRYING");
    let rows = settled(&app, &id, 1).await;
    assert_eq!(
        (rows[0]["status"].clone(), rows[0]["attemptCount"].clone()),
        (json!("SUCCEEDED"), json!(4)),
        "one more attempt: {rows:?}"
    );
    assert_eq!(hook.hits().len(), 4);

    let again = app.gql(&admin(), RETRY, json!({ "id": delivery })).await;
    assert_eq!(code(&again), "BAD_USER_INPUT", "{again}");
    assert_eq!(again["errors"][0]["extensions"]["field"], "id");
    assert_eq!(
        deliveries(&app, &id).await[0]["attemptCount"],
        4,
        "nothing re-sent"
    );
}
