//! The server as a whole (DESIGN.md, Parts: API and CLI; Operations):
//! health, request ids, CORS, GraphQL over GET and WebSocket, the CLI, the
//! schema's faithfulness to api-contract.graphql, and `--live-cpus`.

mod contract;
mod graphiql;
mod ids;
mod live_cpus;
mod metrics;
mod otlp;

use std::path::Path;
use std::process::Command;

use serde_json::json;

use crate::helpers::http::{get, send};
use crate::helpers::ws::{completed, Client};
use crate::helpers::{admin, code, spawn_app, SECRET};

#[tokio::test]
async fn health_and_ready_answer_200() {
    let app = spawn_app().await;
    for path in ["/health", "/ready"] {
        let response = app
            .client
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "API: {path} answers 200 when up");
    }
}

/// GET runs queries; a route the server does not have is a GraphQL-shaped
/// 404. What /graphql refuses (mutations over GET, other content types,
/// batches, oversized bodies) is in `transport::http`.
#[tokio::test]
async fn get_runs_queries_and_an_unknown_route_is_a_graphql_shaped_404() {
    let app = spawn_app().await;
    let reply = get(&app, &[("query", "{legalEntities{id}}".into())]).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({ "data": { "legalEntities": [] } })),
        "API: GET /graphql runs queries"
    );
    let unknown = app.client.get(format!("{}/no/such/route", app.addr));
    let reply = send(unknown).await;
    assert_eq!(
        (reply.status, code(&reply.body)),
        (404, "NOT_FOUND"),
        "API: an unknown route is 404 with extensions.code: {}",
        reply.body
    );
}

#[tokio::test]
async fn responses_carry_a_request_id_and_keep_a_supplied_one() {
    let app = spawn_app().await;
    let url = format!("{}/health", app.addr);
    let response = app.client.get(&url).send().await.expect("sent");
    let generated = response
        .headers()
        .get("x-request-id")
        .expect("API: every response has x-request-id");
    assert!(!generated.is_empty());
    let response = app
        .client
        .get(&url)
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().expect("ascii")),
        Some("trace-42"),
        "API: a supplied request id is propagated back"
    );
}

#[tokio::test]
async fn cors_preflight_allows_only_configured_origins() {
    let app = spawn_app().await;
    for (origin, allowed) in [
        ("http://allowed.example", true),
        ("http://evil.example", false),
    ] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.addr))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .expect("sent");
        let allow = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_string());
        if allowed {
            assert_eq!(
                allow.as_deref(),
                Some(origin),
                "API: a configured origin passes preflight"
            );
        } else {
            assert_eq!(allow, None, "API: an unknown origin gets no CORS grant");
        }
    }
}

#[tokio::test]
async fn websocket_acks_a_valid_token_and_runs_a_query_to_completion() {
    let app = spawn_app().await;
    app.create_entity("WS", "EUR").await;
    let mut ws = Client::authed(app.port, &admin()).await;
    ws.subscribe("1", "{ legalEntities { code } }", json!({}))
        .await;
    let frames = ws.gather(|f| completed(f, "1")).await;
    assert_eq!(
        frames,
        [
            json!({ "id": "1", "type": "next", "payload": { "data": { "legalEntities": [{ "code": "WS" }] } } }),
            json!({ "id": "1", "type": "complete" })
        ],
        "API: a query over WebSocket answers once, then completes"
    );
}

fn billrun(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("BILLRUN_JWT_SECRET")
        .output()
        .expect("billrun runs")
}

#[tokio::test]
async fn cli_prints_the_checked_in_schema_and_issues_tokens_the_server_accepts() {
    let schema = billrun(&["schema"]);
    assert!(schema.status.success(), "billrun schema: {schema:?}");
    let checked_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"))
            .expect("schema.graphql");
    assert!(
        String::from_utf8_lossy(&schema.stdout) == checked_in,
        "CLI: schema.graphql has drifted from the code; regenerate it with `billrun schema > schema.graphql`"
    );

    let app = spawn_app().await;
    let entity = app.create_entity("CLI", "EUR").await;
    app.create_entity("OTHER", "EUR").await;
    let out = billrun(&[
        "token",
        "--role",
        "PARTNER",
        "--scopes",
        "billing:read",
        "--legal-entities",
        &entity,
        "--jwt-secret",
        SECRET,
    ]);
    assert!(out.status.success(), "billrun token: {out:?}");
    let tok = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let data = app.data(&tok, "{ legalEntities { id } }", json!({})).await;
    assert_eq!(
        data["legalEntities"],
        json!([{ "id": entity }]),
        "CLI: the token is the partner's"
    );

    let bad = billrun(&["token", "--role", "NOPE", "--jwt-secret", SECRET]);
    assert!(!bad.status.success(), "CLI: an unknown role is refused");
    assert!(bad.stdout.is_empty(), "CLI: no token for an unknown role");
}
