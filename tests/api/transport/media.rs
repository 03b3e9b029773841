//! GraphQL over HTTP's media types: a client accepting
//! `application/graphql-response+json` gets that type and the spec's status
//! codes (400 for a request that never reached execution, 200 once it ran);
//! a plain JSON client keeps 200. Either way a request error has no `data`.

use serde_json::{json, Value};

use super::new_customer;
use crate::helpers::http::{post, send, Reply};
use crate::helpers::{admin, code, spawn_app, TestApp};

const GRAPHQL: &str = "application/graphql-response+json";

async fn ask(app: &TestApp, accept: Option<&str>, body: String) -> Reply {
    let request = post(app)
        .bearer_auth(admin())
        .header("content-type", "application/json")
        .body(body);
    send(match accept {
        Some(accept) => request.header("accept", accept),
        None => request,
    })
    .await
}

async fn doc(app: &TestApp, accept: Option<&str>, query: &str) -> Reply {
    ask(app, accept, json!({ "query": query }).to_string()).await
}

fn media(reply: &Reply) -> &str {
    reply.headers["content-type"].to_str().unwrap_or_default()
}

/// A request error: no `data` key at all, a BAD_USER_INPUT error.
fn request_error(reply: &Reply, want_status: u16, what: &str) {
    assert_eq!(reply.status, want_status, "{what}: {}", reply.body);
    assert!(
        reply.body.get("data").is_none(),
        "GraphQL over HTTP: a request error has no data key ({what}): {}",
        reply.body
    );
    assert_eq!(
        code(&reply.body),
        "BAD_USER_INPUT",
        "{what}: {}",
        reply.body
    );
}

/// Documents that fail before execution, each with a reason.
const REQUEST_ERRORS: [(&str, &str); 4] = [
    ("{ legalEntities { id }", "a parse error"),
    ("{ noSuchField }", "a validation error"),
    (
        "query A { __typename } query B { __typename }",
        "no operation chosen",
    ),
    ("query ($n: Int!) { __typename }", "a missing variable"),
];

#[tokio::test]
async fn graphql_response_json_clients_get_400_for_request_errors_and_200_once_run() {
    let app = spawn_app().await;
    for (query, what) in REQUEST_ERRORS {
        let reply = doc(&app, Some(GRAPHQL), query).await;
        request_error(&reply, 400, what);
        assert!(
            media(&reply).starts_with(GRAPHQL),
            "{what}: {}",
            media(&reply)
        );
    }
    let bad_body = ask(&app, Some(GRAPHQL), "{\"query\": 1".into()).await;
    assert_eq!(bad_body.status, 400, "a malformed body: {}", bad_body.body);
    assert!(
        media(&bad_body).starts_with(GRAPHQL),
        "{}",
        media(&bad_body)
    );

    let ok = doc(&app, Some(GRAPHQL), "{ __typename }").await;
    assert_eq!(
        (ok.status, &ok.body),
        (200, &json!({ "data": { "__typename": "Query" } }))
    );
    assert!(media(&ok).starts_with(GRAPHQL), "{}", media(&ok));
    // Ran and failed in a resolver: still 200, and `data` is there (null).
    let failed = doc(&app, Some(GRAPHQL), &new_customer("999999", "Nobody")).await;
    assert_eq!(failed.status, 200, "{}", failed.body);
    assert_eq!(
        failed.body.get("data"),
        Some(&Value::Null),
        "{}",
        failed.body
    );
    assert_eq!(code(&failed.body), "NOT_FOUND", "{}", failed.body);
}

#[tokio::test]
async fn json_clients_keep_200_and_their_media_type_with_no_data_on_request_errors() {
    let app = spawn_app().await;
    for accept in [None, Some("application/json"), Some("*/*")] {
        for (query, what) in REQUEST_ERRORS {
            let reply = doc(&app, accept, query).await;
            request_error(&reply, 200, what);
            assert!(media(&reply).starts_with("application/json"), "{accept:?}");
        }
    }
}

#[tokio::test]
async fn the_accept_header_is_read_with_its_weights_and_on_get_too() {
    let app = spawn_app().await;
    let cases = [
        (
            "application/graphql-response+json, application/json;q=0.9",
            GRAPHQL,
        ),
        (
            "application/json;q=0.5, application/graphql-response+json",
            GRAPHQL,
        ),
        ("application/graphql-response+json;q=0", "application/json"),
        (
            "application/graphql-response+json;q=0.2, application/json",
            "application/json",
        ),
    ];
    for (accept, want) in cases {
        let reply = doc(&app, Some(accept), "{ nope }").await;
        assert!(
            media(&reply).starts_with(want),
            "{accept}: {}",
            media(&reply)
        );
        request_error(&reply, if want == GRAPHQL { 400 } else { 200 }, accept);
    }
    let url = format!("{}/graphql", app.addr);
    let get = |query: &str| {
        app.client
            .get(&url)
            .query(&[("query", query)])
            .bearer_auth(admin())
            .header("accept", GRAPHQL)
    };
    let bad = send(get("{ nope }")).await;
    request_error(&bad, 400, "GET with a validation error");
    let ok = send(get("{ __typename }")).await;
    assert_eq!(ok.status, 200, "{}", ok.body);
    assert!(media(&ok).starts_with(GRAPHQL), "{}", media(&ok));
}
