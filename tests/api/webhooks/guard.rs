//! DESIGN.md, Webhooks: "URLs that resolve to loopback, private,
//! link-local (169.254.169.254), CGNAT or unique-local addresses are
//! refused, unless an operator allow-list names them", and an endpoint is
//! its creator's: another user's is NOT_FOUND, and managing needs the
//! `webhooks:write` scope.

use entity::webhook_endpoint;
use sea_orm::{EntityTrait, PaginatorTrait};
use serde_json::json;

use super::{endpoint_as, hooks_app, CREATE, DELIVERIES};
use crate::helpers::{admin, code, spawn_app, token, token_with, TestApp};

async fn endpoint_rows(app: &TestApp) -> u64 {
    webhook_endpoint::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn internal_and_plain_http_urls_are_refused_naming_url_unless_allowed() {
    let app = spawn_app().await;
    for url in [
        "https://127.0.0.1/hook",
        "https://10.0.0.1/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://[fd00::1]/hook",
        "https://100.64.0.1/hook",
        "https://localhost/hook",
        "http://hooks.example.com/hook",
        "ftp://hooks.example.com/",
    ] {
        let body = app
            .gql(&admin(), CREATE, json!({ "i": { "url": url } }))
            .await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "SSRF: {url} is refused: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], "url", "{body}");
    }
    assert_eq!(endpoint_rows(&app).await, 0, "nothing written");

    let allowed = hooks_app().await;
    let body = allowed
        .gql(
            &admin(),
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:9/hook" } }),
        )
        .await;
    assert!(
        body.get("errors").is_none(),
        "the allow-list admits 127.0.0.1: {body}"
    );
    let body = allowed
        .gql(
            &admin(),
            CREATE,
            json!({ "i": { "url": "http://10.0.0.1/hook" } }),
        )
        .await;
    assert_eq!(
        code(&body),
        "BAD_USER_INPUT",
        "only what the list names: {body}"
    );
}

#[tokio::test]
async fn another_user_s_endpoint_is_not_found_and_managing_needs_webhooks_write() {
    let app = hooks_app().await;
    let (id, _) = endpoint_as(&app, &admin(), "http://127.0.0.1:9/a", json!({})).await;
    let other = token_with(|c| {
        c.sub = "someone-else".into();
        c.role = "PARTNER".into();
        c.scopes = vec!["webhooks:write".into(), "events:read".into()];
    });
    let listed = app
        .data(&other, "{ webhookEndpoints { id } }", json!({}))
        .await;
    assert_eq!(listed["webhookEndpoints"], json!([]), "owner-only list");
    let attempts = [
        ("mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false }) { id } }", "update"),
        ("mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }", "delete"),
        ("mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }", "rotate"),
    ];
    for (q, what) in attempts {
        let body = app.gql(&other, q, json!({ "id": id })).await;
        assert_eq!(
            code(&body),
            "NOT_FOUND",
            "{what} of another user's endpoint: {body}"
        );
    }
    let body = app.gql(&other, DELIVERIES, json!({ "e": id })).await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "deliveries of another user's endpoint: {body}"
    );

    let reader = token("PARTNER", &["events:read"], &["*"]);
    let body = app
        .gql(
            &reader,
            CREATE,
            json!({ "i": { "url": "http://127.0.0.1:9/b" } }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN", "webhooks:write is needed: {body}");
    assert_eq!(endpoint_rows(&app).await, 1, "nothing written");

    let own = app
        .data(&admin(), "mutation($id: ID!) { updateWebhookEndpoint(id: $id, input: { enabled: false, description: \"x\", eventTypes: [\"a.b\"] }) { enabled disabledReason description eventTypes } }", json!({ "id": id }))
        .await;
    assert_eq!(
        own["updateWebhookEndpoint"],
        json!({ "enabled": false, "disabledReason": "disabled by its owner",
        "description": "x", "eventTypes": ["a.b"] })
    );
    let gone = app
        .data(
            &admin(),
            "mutation($id: ID!) { deleteWebhookEndpoint(id: $id) }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(gone["deleteWebhookEndpoint"], true);
    assert_eq!(endpoint_rows(&app).await, 0);
}
