//! Limits on how much one request or one caller may ask for (SECURITY.md
//! item 11, and the rate limit per token subject): pages clamp at 100, bad
//! paging arguments are the client's fault, a burst beyond the rate limit
//! is a GraphQL-shaped 429 that runs nothing.

use serde_json::{json, Value};

use super::{adm, gql, with};
use crate::helpers::billing::run;
use crate::helpers::http::{expect, post, refused, send, still_up, written};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token_with};

const PAGED: [&str; 3] = [
    "query($e: ID!, $f: Int, $a: String) { p: contracts(legalEntityId: $e, first: $f, \
     after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
    "query($e: ID!, $f: Int, $a: String) { p: invoices(legalEntityId: $e, first: $f, \
     after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }",
    "query($r: ID!, $f: Int, $a: String) { billingRun(id: $r) { p: invoices(first: $f, \
     after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }",
];
/// Bad `first` or `after` values, and the field the error names.
const BAD_FIRST: [i64; 2] = [-1, i32::MIN as i64];
const BAD_AFTER: [&str; 3] = ["garbage", "99999999999999999999", "1; DROP TABLE invoice"];

const BAD_PAGING: [&str; 6] = [
    "{ billingRuns(legalEntityId: \"1\", first: -1) { edges { node { id } } } }",
    "{ billingRuns(legalEntityId: \"1\", after: \"garbage\") { edges { node { id } } } }",
    "{ auditEvents(first: -1) { id } }",
    "{ domainEvents(first: -1) { id } }",
    "{ domainEvents(after: \"garbage\") { id } }",
    "{ contracts(legalEntityId: \"1\", first: 2147483648) { nodes { id } } }",
];
const ALL_RUNS: &str = "{ billingRuns(legalEntityId: \"%E\", first: 1000000) { nodes { id } } }";
const ALL_EVENTS: &str =
    "{ auditEvents(first: 1000000) { id } domainEvents(first: 1000000) { id } }";

fn page(body: &Value) -> Value {
    match body["data"]["p"].is_null() {
        true => body["data"]["billingRun"]["p"].clone(),
        false => body["data"]["p"].clone(),
    }
}

fn len(list: &Value) -> usize {
    list.as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn pages_clamp_at_100_and_bad_first_or_after_are_bad_user_input() {
    let app = spawn_app().await;
    let e = app.create_entity("PAG", "EUR").await;
    let c = app.create_customer(&e, "Many").await;
    for _ in 0..101 {
        app.create_contract(&c, "2026-01-01", "1.00", None).await;
    }
    let r = run(&app, &e, "2026-01-15").await;
    assert_eq!(r["invoiceCount"], 101);
    let huge = json!(1_000_000);
    for q in PAGED {
        let vars = |f: &Value, a: Value| json!({ "e": e, "r": r["id"], "f": f, "a": a });
        let head = page(&gql(&app, q, vars(&huge, Value::Null)).await);
        assert_eq!(
            len(&head["edges"]),
            100,
            "SECURITY 11: first: 1000000 is clamped to 100: {q}"
        );
        assert_eq!(head["pageInfo"]["hasNextPage"], true);
        let after = head["pageInfo"]["endCursor"].clone();
        let rest = page(&gql(&app, q, vars(&huge, after)).await);
        assert_eq!(len(&rest["edges"]), 1, "{q}: the rest");
        for first in BAD_FIRST {
            let body = gql(&app, q, vars(&json!(first), Value::Null)).await;
            expect(&body, "BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], "first");
        }
        for after in BAD_AFTER {
            let body = gql(&app, q, vars(&Value::Null, json!(after))).await;
            expect(&body, "BAD_USER_INPUT");
            assert_eq!(body["errors"][0]["extensions"]["field"], "after");
        }
        let body = gql(&app, q, vars(&json!("10"), Value::Null)).await;
        expect(&body, "BAD_USER_INPUT");
    }
    let runs = app.data(&admin(), &with(ALL_RUNS, &e), json!({})).await;
    assert_eq!(runs["billingRuns"]["nodes"][0]["id"], r["id"]);
    for q in BAD_PAGING {
        refused(&adm(&app, q).await);
    }
    let events = app.data(&admin(), ALL_EVENTS, json!({})).await;
    let (audit, outbox) = (len(&events["auditEvents"]), len(&events["domainEvents"]));
    assert!((1..=500).contains(&audit) && (101..=500).contains(&outbox));
    still_up(&app).await;
}

#[tokio::test]
async fn the_rate_limit_is_per_subject_across_its_tokens_and_a_limited_request_runs_nothing() {
    let app = spawn_app_with(|a| a.rate_limit_per_minute = 5).await;
    let e = app.create_entity("RTL", "EUR").await; // the admin subject's budget
    let first = token_with(|c| c.sub = "burst".into());
    let second = token_with(|c| {
        c.sub = "burst".into();
        c.role = "ACCOUNTANT".into();
        c.scopes = vec!["billing:read".into(), "contracts:write".into()];
    });
    let typename = json!({ "query": "{ __typename }" });
    let over_get = |tok: &str| {
        let url = format!("{}/graphql", app.addr);
        let request = app.client.get(url).query(&[("query", "{ __typename }")]);
        send(request.bearer_auth(tok))
    };
    for tok in [&first, &first, &second] {
        let reply = send(post(&app).bearer_auth(tok).json(&typename)).await;
        assert_eq!(reply.status, 200);
    }
    for _ in 0..2 {
        assert_eq!(over_get(&second).await.status, 200, "GET counts too");
    }
    let before = written(&app).await;
    let input = format!("legalEntityId: \"{e}\", name: \"Limited\"");
    let doc = format!("mutation {{ createCustomer(input: {{ {input} }}) {{ id }} }}");
    let request = post(&app)
        .bearer_auth(&second)
        .json(&json!({ "query": doc }));
    let response = request.send().await.expect("sent");
    assert_eq!(
        response.status(),
        429,
        "the rate limit: one budget per token subject"
    );
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.expect("a GraphQL-shaped body");
    assert!(body["errors"][0]["message"].is_string());
    assert_eq!(code(&body), "RATE_LIMITED");
    assert_eq!(
        written(&app).await,
        before,
        "the limited mutation ran nothing"
    );
    let limited = over_get(&first).await;
    assert_eq!((limited.status, code(&limited.body)), (429, "RATE_LIMITED"));
    let other = token_with(|c| c.sub = "someone-else".into());
    let reply = send(post(&app).bearer_auth(&other).json(&typename)).await;
    assert_eq!(reply.status, 200, "another subject is unaffected");
}
