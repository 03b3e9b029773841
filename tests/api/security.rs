//! SECURITY.md items 1-12, 20-22 and 28-30 and the rate limit, complementing
//! hardening.rs, server.rs and setup.rs: the right status and code, no data
//! of another legal entity, nothing written, nothing internal in the body,
//! and the server still up. Tokens (13-19) are in security_tokens.rs.

use std::time::{Duration, Instant};

use entity::{
    audit_event, billing_run, contract, contract_line, customer, domain_event, idempotency_key,
    invoice, legal_entity, payment, scheduled_job, tax_code,
};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::billing::{contract_with, run, run_invoices};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token, token_with, TestApp};

/// The first internal detail found in a response body, if any.
pub fn leak(body: &Value) -> Option<&'static str> {
    let text = body.to_string().to_lowercase();
    [
        "select ",
        "insert ",
        "update ",
        "constraint",
        "sqlx",
        "sqlite",
        "postgres",
        "sea_orm",
        "dberr",
        "panicked",
        "backtrace",
        "locked",
        "canceling",
        "/src/",
        ".rs:",
        "/tmp/",
        "/work/",
        "secret_",
    ]
    .into_iter()
    .find(|needle| text.contains(needle))
}

pub fn clean(body: &Value) {
    assert_eq!(leak(body), None, "nothing internal in the body: {body}");
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Sends and insists on a JSON body, whatever the status.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("a JSON body with status {status}, got {text:.300}"));
    Reply {
        status,
        headers,
        body,
    }
}

pub fn post(app: &TestApp) -> reqwest::RequestBuilder {
    app.client.post(format!("{}/graphql", app.addr))
}

pub async fn still_up_as(app: &TestApp, tok: &str) {
    let body = app.gql(tok, "{ legalEntities { id } }", json!({})).await;
    assert!(
        body.get("errors").is_none() && body["data"]["legalEntities"].is_array(),
        "the server still answers: {body}"
    );
}

async fn still_up(app: &TestApp) {
    still_up_as(app, &admin()).await;
}

async fn rows<E: EntityTrait>(app: &TestApp, _: E) -> u64
where
    E::Model: Sync,
{
    E::find().count(&app.db).await.expect("count")
}

/// Row counts of every table a request could write (the audit trail aside).
pub async fn written(app: &TestApp) -> Vec<u64> {
    vec![
        rows(app, legal_entity::Entity).await,
        rows(app, customer::Entity).await,
        rows(app, tax_code::Entity).await,
        rows(app, contract::Entity).await,
        rows(app, contract_line::Entity).await,
        rows(app, billing_run::Entity).await,
        rows(app, invoice::Entity).await,
        rows(app, payment::Entity).await,
        rows(app, domain_event::Entity).await,
        rows(app, scheduled_job::Entity).await,
        rows(app, idempotency_key::Entity).await,
    ]
}

async fn denied(app: &TestApp, actor: &str) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("ACCESS_DENIED"))
        .filter(audit_event::Column::Actor.eq(actor))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.db)
        .await
        .expect("audit rows")
}

/// A token with no scope at all: any resolver it reaches audits a denial,
/// which shows whether a refused document ran anything.
fn scopeless(sub: &str) -> String {
    let sub = sub.to_string();
    token_with(move |c| {
        c.sub = sub;
        c.role = "ACCOUNTANT".into();
    })
}

/// Refused as the client's fault, with no data and nothing internal.
fn refused(body: &Value, what: &str) {
    assert_eq!(code(body), "BAD_USER_INPUT", "{what}: {body:.600}");
    assert!(
        body["data"].is_null(),
        "{what}: nothing executed: {body:.600}"
    );
    clean(body);
}

fn create_customer_doc(entity: &str, name: &str) -> String {
    format!("createCustomer(input: {{ legalEntityId: \"{entity}\", name: \"{name}\" }}) {{ id }}")
}

fn nested_connections(levels: usize) -> String {
    let mut inner = "id".to_string();
    for _ in 0..levels {
        inner = format!("invoices {{ edges {{ node {{ billingRun {{ {inner} }} }} }} }}");
    }
    inner
}

#[tokio::test]
async fn item_01_a_fifty_level_connection_bomb_is_refused_before_any_resolver_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("DEP", "EUR").await;
    let prober = scopeless("depth-prober");
    let before = written(&app).await;
    for levels in [3, 50] {
        let q = format!(
            "query($e: ID!) {{ billingRuns(legalEntityId: $e) {{ edges {{ node {{ {} }} }} }} }}",
            nested_connections(levels)
        );
        let body = app.gql(&prober, &q, json!({ "e": e })).await;
        refused(&body, &format!("{levels} nested connections"));
        let m = format!(
            "mutation {{ triggerBillingRun(input: {{ legalEntityId: \"{e}\", asOf: \"2026-01-15\", wait: true }}) {{ runs {{ {} }} }} }}",
            nested_connections(levels)
        );
        refused(&app.gql(&admin(), &m, json!({})).await, "a deep mutation");
    }
    assert!(
        denied(&app, "depth-prober").await.is_empty(),
        "no resolver ran"
    );
    assert_eq!(written(&app).await, before, "no run was started");
    // The probe works: a shallow query does reach the guard.
    let shallow = app
        .gql(&prober, "{ legalEntities { id } }", json!({}))
        .await;
    assert_eq!(code(&shallow), "FORBIDDEN");
    assert_eq!(denied(&app, "depth-prober").await.len(), 1);
    still_up(&app).await;
}

#[tokio::test]
async fn item_02_aliases_and_multiplied_connections_are_refused_and_aliased_mutations_write_nothing(
) {
    let app = spawn_app().await;
    let e = app.create_entity("ALS", "EUR").await;
    let prober = scopeless("alias-prober");
    let flood: String = (0..3000)
        .map(|i| format!("a{i}: legalEntities {{ id }} "))
        .collect();
    refused(
        &app.gql(&prober, &format!("{{ {flood} }}"), json!({})).await,
        "3000 aliases",
    );
    let multiplied = format!(
        "{{ billingRuns(legalEntityId: \"{e}\", first: 100) {{ edges {{ node {{ invoices(first: 100) {{ edges {{ node {{ id lines {{ netAmount }} }} }} }} }} }} }} }}"
    );
    refused(
        &app.gql(&prober, &multiplied, json!({})).await,
        "100 × 100 connections",
    );
    assert!(
        denied(&app, "alias-prober").await.is_empty(),
        "no resolver ran"
    );

    // Sixty aliased reads are cheap; sixty aliased writes weigh too much.
    let reads: String = (0..60)
        .map(|i| format!("r{i}: legalEntity(id: \"{e}\") {{ id }} "))
        .collect();
    let body = app
        .gql(&admin(), &format!("{{ {reads} }}"), json!({}))
        .await;
    assert_eq!(body["data"]["r59"]["id"], e.as_str(), "{body:.300}");
    let before = written(&app).await;
    let creates: String = (0..60)
        .map(|i| format!("m{i}: {} ", create_customer_doc(&e, &format!("C{i}"))))
        .collect();
    refused(
        &app.gql(&admin(), &format!("mutation {{ {creates} }}"), json!({}))
            .await,
        "60 creates",
    );
    let triggers: String = (0..60)
        .map(|i| format!("t{i}: triggerBillingRun(input: {{ legalEntityId: \"{e}\", dryRun: true }}) {{ runs {{ id }} }} "))
        .collect();
    refused(
        &app.gql(&admin(), &format!("mutation {{ {triggers} }}"), json!({}))
            .await,
        "60 triggers",
    );
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_03_a_batched_array_body_is_refused_before_anything_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("BAT", "EUR").await;
    let one = json!({ "query": format!("mutation {{ {} }}", create_customer_doc(&e, "Batched")) });
    let bodies = [
        json!([one, one]).to_string(),
        json!([one]).to_string(),
        format!(" \n\t[{one}]"),
        "[]".to_string(),
        json!(one["query"]).to_string(),
        "null".into(),
        "42".into(),
        json!({ "query": [one["query"], one["query"]] }).to_string(),
        json!({ "queries": [one] }).to_string(),
    ];
    let before = written(&app).await;
    for body in bodies {
        let reply = send(
            post(&app)
                .bearer_auth(admin())
                .header("content-type", "application/json")
                .body(body.clone()),
        )
        .await;
        assert_eq!(reply.status, 400, "{body:.100}: {}", reply.body);
        assert_eq!(code(&reply.body), "BAD_USER_INPUT", "{body:.100}");
        clean(&reply.body);
    }
    assert_eq!(written(&app).await, before, "no batched mutation ran");
    still_up(&app).await;
}

#[tokio::test]
async fn item_04_directive_floods_fragment_cycles_and_fragment_bombs_are_refused() {
    let app = spawn_app().await;
    let e = app.create_entity("DIR", "EUR").await;
    let before = written(&app).await;
    let includes = "@include(if: true) ".repeat(300);
    let m = format!("mutation {{ createCustomer(input: {{ legalEntityId: \"{e}\", name: \"D\" }}) {includes} {{ id }} }}");
    refused(
        &app.gql(&admin(), &m, json!({})).await,
        "300 directives on a mutation",
    );
    let skips = "@skip(if: false) ".repeat(300);
    let q = format!("{{ legalEntities {{ ...F {skips} }} }} fragment F on LegalEntity {{ id }}");
    refused(
        &app.gql(&admin(), &q, json!({})).await,
        "300 directives on a spread",
    );
    let eleven = "@include(if: true) ".repeat(11);
    refused(
        &app.gql(
            &admin(),
            &format!("{{ legalEntities {eleven} {{ id }} }}"),
            json!({}),
        )
        .await,
        "11 directives",
    );
    let cycles = [
        "{ legalEntities { ...A } } fragment A on LegalEntity { id ...A }".to_string(),
        format!("mutation {{ createCustomer(input: {{ legalEntityId: \"{e}\", name: \"Cyc\" }}) {{ ...A }} }} fragment A on Customer {{ id ...B }} fragment B on Customer {{ name ...A }}"),
        "{ legalEntities { ...A } } fragment A on LegalEntity { ... on LegalEntity { ...A } }".to_string(),
    ];
    for doc in &cycles {
        refused(&app.gql(&admin(), doc, json!({})).await, "a fragment cycle");
    }
    // A fragment "billion laughs": each fragment spreads the previous twice,
    // 2^40 fields once expanded.
    let mut bomb =
        String::from("{ legalEntities { ...F40 } } fragment F0 on LegalEntity { id code }");
    for i in 1..=40 {
        bomb.push_str(&format!(
            " fragment F{i} on LegalEntity {{ ...F{} ...F{} }}",
            i - 1,
            i - 1
        ));
    }
    let started = Instant::now();
    let reply = tokio::time::timeout(
        Duration::from_secs(20),
        send(
            post(&app)
                .bearer_auth(admin())
                .json(&json!({ "query": bomb })),
        ),
    )
    .await
    .expect("a fragment bomb is answered promptly");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        reply.body["errors"].is_array(),
        "refused: {:.300}",
        reply.body
    );
    clean(&reply.body);
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_05_inputs_nested_thousands_deep_are_errors_not_crashes() {
    let app = spawn_app().await;
    let e = app.create_entity("NST", "EUR").await;
    let before = written(&app).await;
    let create = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    // Built as text: serialising a value this deep would overflow the test's stack.
    let deep_object = format!("{}\"x\"{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let deep_list = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let raw_bodies = [
        format!("{{\"query\": {}, \"variables\": {{\"i\": {deep_object}}}}}", json!(create)),
        format!("{{\"query\": {}, \"variables\": {{\"i\": {{\"legalEntityId\": \"{e}\", \"name\": {deep_list}}}}}}}", json!(create)),
        format!("{{\"query\": \"{{ __typename }}\", \"extensions\": {deep_object}}}"),
    ];
    for raw in raw_bodies {
        let reply = send(
            post(&app)
                .bearer_auth(admin())
                .header("content-type", "application/json")
                .body(raw),
        )
        .await;
        assert!(matches!(reply.status, 200 | 400), "{}", reply.status);
        assert_eq!(code(&reply.body), "BAD_USER_INPUT", "{:.300}", reply.body);
        clean(&reply.body);
    }
    let list_literal = format!("{}\"x\"{}", "[".repeat(5_000), "]".repeat(5_000));
    let object_literal = format!("{}\"x\"{}", "{a: ".repeat(10_000), "}".repeat(10_000));
    let docs = [
        format!("mutation {{ createCustomer(input: {{ legalEntityId: \"{e}\", name: {list_literal} }}) {{ id }} }}"),
        format!("mutation {{ createCustomer(input: {object_literal}) {{ id }} }}"),
        format!("{{ legalEntity(id: {object_literal}) {{ id }} }}"),
        format!("{{ domainEvents(types: {list_literal}) {{ id }} }}"),
        format!("{{ legalEntities {{ {}id{} }} }}", "... on LegalEntity { ".repeat(5_000), " }".repeat(5_000)),
    ];
    for doc in docs {
        let reply = send(
            post(&app)
                .bearer_auth(admin())
                .json(&json!({ "query": doc })),
        )
        .await;
        assert_eq!(code(&reply.body), "BAD_USER_INPUT", "{:.300}", reply.body);
        assert!(reply.body["data"].is_null());
        clean(&reply.body);
    }
    // Moderately deep (within the JSON parser's limit) but of the wrong shape.
    let shallow_list = format!("{}\"x\"{}", "[".repeat(100), "]".repeat(100));
    let q = format!("{{\"query\": \"query($t: [String!]) {{ domainEvents(types: $t) {{ id }} }}\", \"variables\": {{\"t\": {shallow_list}}}}}");
    let reply = send(
        post(&app)
            .bearer_auth(admin())
            .header("content-type", "application/json")
            .body(q),
    )
    .await;
    assert_eq!(code(&reply.body), "BAD_USER_INPUT", "{:.300}", reply.body);
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_06_a_20_mib_body_is_413_before_it_is_read_and_multipart_is_415() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let e = app.create_entity("BIG", "EUR").await;
    let before = written(&app).await;
    // Announce 20 MiB and send none of it: the answer comes from the headers.
    let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", app.port))
        .await
        .expect("connect");
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        admin(),
        20 * 1024 * 1024
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer))
        .await
        .expect("answered before the body arrives")
        .expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(
        answer.contains("\"code\":\"BAD_USER_INPUT\""),
        "a GraphQL-shaped body: {answer}"
    );
    drop(socket);

    // A real 20 MiB body holding a mutation.
    let padding = " ".repeat(20 * 1024 * 1024);
    let big = format!(
        "{{\"query\": \"mutation {{ {} }}\"{padding}}}",
        create_customer_doc(&e, "Big").replace('"', "\\\"")
    );
    let reply = send(
        post(&app)
            .bearer_auth(admin())
            .header("content-type", "application/json")
            .body(big),
    )
    .await;
    assert_eq!(reply.status, 413);
    assert_eq!(code(&reply.body), "BAD_USER_INPUT");
    clean(&reply.body);

    let multipart = format!(
        "--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x\r\nContent-Disposition: form-data; name=\"map\"\r\n\r\n{{}}\r\n--x--\r\n",
        json!({ "query": format!("mutation {{ {} }}", create_customer_doc(&e, "Upload")) })
    );
    for content_type in [
        "multipart/form-data; boundary=x",
        "Multipart/Form-Data; boundary=x",
        "multipart/mixed; boundary=x",
    ] {
        let reply = send(
            post(&app)
                .bearer_auth(admin())
                .header("content-type", content_type)
                .body(multipart.clone()),
        )
        .await;
        assert_eq!(reply.status, 415, "{content_type}");
        assert_eq!(code(&reply.body), "BAD_USER_INPUT");
    }
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_07_introspection_follows_the_policy_and_errors_never_suggest_names() {
    let app = spawn_app().await;
    let partner = token("PARTNER", &["billing:read"], &["1"]);
    let accountant = token("ACCOUNTANT", &["billing:read"], &["*"]);
    let probes = [
        "{ __schema { types { name } } }",
        "{ s: __schema { mutationType { fields { name } } } }",
        "{ __type(name: \"MutationRoot\") { fields { name } } }",
        "{ ...F } fragment F on QueryRoot { __schema { queryType { name } } }",
        "query { ... on QueryRoot { __type(name: \"Invoice\") { fields { name } } } }",
    ];
    for probe in probes {
        let body = app.gql(&partner, probe, json!({})).await;
        let text = body.to_string();
        assert!(
            body["errors"].is_array(),
            "a partner is refused {probe}: {body:.300}"
        );
        assert!(
            !text.contains("MutationRoot\",")
                && !text.contains("createContract")
                && !text.contains("totalAmount"),
            "{text:.300}"
        );
        let get = send(
            app.client
                .get(format!("{}/graphql", app.addr))
                .query(&[("query", probe)])
                .bearer_auth(&partner),
        )
        .await;
        assert!(get.body["errors"].is_array(), "over GET too: {probe}");
        let staff = app.gql(&accountant, probe, json!({})).await;
        assert!(
            staff.get("errors").is_none(),
            "staff may introspect {probe}: {staff:.300}"
        );
    }
    let body = app
        .gql(
            &partner,
            "{ __typename legalEntities { __typename } }",
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["__typename"], "QueryRoot", "{body}");

    let off = spawn_app_with(|a| a.introspection = billrun::config::Introspection::Off).await;
    let body = off
        .gql(&admin(), "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert!(
        body["errors"].is_array(),
        "off means off, even for ADMIN: {body}"
    );
    assert_eq!(
        off.gql(&admin(), "{ __typename }", json!({})).await["data"]["__typename"],
        "QueryRoot"
    );
    let all = spawn_app_with(|a| a.introspection = billrun::config::Introspection::All).await;
    let body = all
        .gql(&partner, "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "QueryRoot",
        "all means all: {body}"
    );

    let typos = [
        "{ legalEntitie { id } }",
        "{ legalEntities { idd code nam } }",
        "{ legalEntity(idd: \"1\") { id } }",
        "{ legalEntities { ...F } } fragment F on LegalEntit { id }",
        "{ invoices(legalEntityId: \"1\", status: POSTE) { edges { node { id } } } }",
        "mutation { createCustomer(input: { legalEntityId: \"1\", nam: \"x\" }) { id } }",
        "{ contracts(legalEntityId: \"1\") { edge { node { id } } } }",
    ];
    for tok in [&admin(), &partner] {
        for doc in typos {
            let body = app.gql(tok, doc, json!({})).await;
            assert_eq!(code(&body), "BAD_USER_INPUT", "{doc}: {body}");
            assert!(
                !body.to_string().to_lowercase().contains("did you mean"),
                "no suggestion: {body}"
            );
        }
    }
}

#[tokio::test]
async fn item_08_get_carrying_a_mutation_is_405_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("GET", "EUR").await;
    let create = create_customer_doc(&e, "ViaGet");
    let url = format!("{}/graphql", app.addr);
    let before = written(&app).await;
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![("query", format!("mutation {{ {create} }}"))],
        vec![("query", format!("# a comment first\n  mutation M {{ {create} }}"))],
        vec![("query", format!("query Q {{ __typename }} mutation M {{ {create} }}")), ("operationName", "M".into())],
        vec![("query", format!("query Q {{ __typename }} mutation M {{ {create} }}"))],
        vec![("query", format!("mutation {{ {create} }}")), ("operationName", "".into())],
        vec![("query", format!("mutation($n: String!) {{ createCustomer(input: {{ legalEntityId: \"{e}\", name: $n }}) {{ id }} }}")), ("variables", "{\"n\":\"V\"}".into())],
    ];
    for params in &cases {
        let reply = send(app.client.get(&url).query(params).bearer_auth(admin())).await;
        assert_eq!(reply.status, 405, "{params:?}: {}", reply.body);
        assert_eq!(code(&reply.body), "BAD_USER_INPUT");
        clean(&reply.body);
    }
    // Naming a query of a document that also holds a mutation runs the query only.
    let mixed = [
        (
            "query",
            format!("query Q {{ __typename }} mutation M {{ {create} }}"),
        ),
        ("operationName", "Q".into()),
    ];
    let reply = send(app.client.get(&url).query(&mixed).bearer_auth(admin())).await;
    assert_eq!(
        reply.body["data"]["__typename"], "QueryRoot",
        "{}",
        reply.body
    );
    // A document that does not parse runs nothing either.
    let broken = [("query", format!("mutation {{ {create} }} }}"))];
    let reply = send(app.client.get(&url).query(&broken).bearer_auth(admin())).await;
    assert!(
        reply.body["errors"].is_array() && reply.body["data"].is_null(),
        "{}",
        reply.body
    );
    assert_eq!(written(&app).await, before, "nothing written over GET");
    still_up(&app).await;
}

#[tokio::test]
async fn item_09_text_form_and_unlabelled_posts_are_415_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("CTY", "EUR").await;
    let mutation = format!("mutation {{ {} }}", create_customer_doc(&e, "Csrf"));
    let json_body = json!({ "query": mutation }).to_string();
    let form_body = format!("query={}", mutation.replace(' ', "+").replace('"', "%22"));
    let before = written(&app).await;
    let cases = [
        (Some("text/plain"), json_body.clone()),
        (Some("text/plain;charset=UTF-8"), json_body.clone()),
        (Some("TEXT/PLAIN"), json_body.clone()),
        (Some("text/plain; application/json"), json_body.clone()),
        (Some("application/x-www-form-urlencoded"), form_body.clone()),
        (
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            json_body.clone(),
        ),
        (Some("application/graphql"), mutation.clone()),
        (Some("text/html"), json_body.clone()),
        (Some(""), json_body.clone()),
        (None, json_body.clone()),
    ];
    for (content_type, body) in cases {
        let mut request = post(&app).bearer_auth(admin()).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        let reply = send(request).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.body);
        assert_eq!(code(&reply.body), "BAD_USER_INPUT");
        clean(&reply.body);
    }
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url.starts_with("postgres")
}

#[tokio::test]
async fn item_10_database_failures_are_generic_with_a_request_id_and_roll_back() {
    let app = spawn_app().await;
    let e = app.create_entity("DBF", "EUR").await;
    let c = app.create_customer(&e, "Existing").await;
    let create = |name: &str| format!("mutation {{ {} }}", create_customer_doc(&e, name));
    let guard = if is_postgres(&app) {
        vec![
            "CREATE FUNCTION secret_fn_7() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'constraint secret_guard_7 violated: SELECT * FROM customer' USING ERRCODE = '23514'; END $$ LANGUAGE plpgsql",
            "CREATE TRIGGER secret_guard_7 BEFORE INSERT ON customer FOR EACH ROW EXECUTE FUNCTION secret_fn_7()",
        ]
    } else {
        vec!["CREATE TRIGGER secret_guard_7 BEFORE INSERT ON customer BEGIN SELECT RAISE(ABORT, 'constraint secret_guard_7 violated: SELECT * FROM customer'); END"]
    };
    for sql in guard {
        app.db
            .execute_unprepared(sql)
            .await
            .expect("install the failing trigger");
    }
    let before = written(&app).await;
    let reply = send(
        post(&app)
            .bearer_auth(admin())
            .header("x-request-id", "sec-req-42")
            .json(&json!({ "query": create("Boom") })),
    )
    .await;
    assert_eq!(code(&reply.body), "INTERNAL", "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    assert_eq!(
        reply.headers.get("x-request-id").map(|v| v.as_bytes()),
        Some(&b"sec-req-42"[..]),
        "the caller's request id comes back"
    );
    clean(&reply.body);
    let reply = send(
        post(&app)
            .bearer_auth(admin())
            .json(&json!({ "query": create("Boom2") })),
    )
    .await;
    assert!(
        reply
            .headers
            .get("x-request-id")
            .is_some_and(|v| !v.is_empty()),
        "a request id to quote"
    );
    let drop = if is_postgres(&app) {
        "DROP TRIGGER secret_guard_7 ON customer"
    } else {
        "DROP TRIGGER secret_guard_7"
    };
    app.db
        .execute_unprepared(drop)
        .await
        .expect("drop the trigger");
    assert_eq!(written(&app).await, before, "nothing written");

    // A unique constraint the API does not know about: CONFLICT, unnamed.
    app.db
        .execute_unprepared("CREATE UNIQUE INDEX secret_idx_7 ON customer (name)")
        .await
        .expect("index");
    let dup = app.gql(&admin(), &create("Existing"), json!({})).await;
    assert_eq!(code(&dup), "CONFLICT", "{dup}");
    clean(&dup);

    // A table gone in the middle of a write: the contract is rolled back with its lines.
    app.db
        .execute_unprepared("ALTER TABLE contract_line RENAME TO contract_line_gone")
        .await
        .expect("rename");
    let input = json!({ "i": { "customerId": c, "startDate": "2026-01-01", "interval": "MONTH",
                               "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": "10.00" }] } });
    let q = "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }";
    let broken = app.gql(&admin(), q, input.clone()).await;
    assert_eq!(code(&broken), "INTERNAL", "{broken}");
    clean(&broken);
    app.db
        .execute_unprepared("ALTER TABLE contract_line_gone RENAME TO contract_line")
        .await
        .expect("restore");
    assert_eq!(
        written(&app).await,
        before,
        "the half-written contract was rolled back"
    );
    app.data(&admin(), q, input).await;
    still_up(&app).await;
}

#[tokio::test]
async fn item_11_pages_clamp_at_100_and_bad_first_or_after_are_bad_user_input() {
    let app = spawn_app().await;
    let e = app.create_entity("PAG", "EUR").await;
    let c = app.create_customer(&e, "Many").await;
    for _ in 0..101 {
        app.create_contract(&c, "2026-01-01", "1.00", None).await;
    }
    let r = run(&app, &e, "2026-01-15").await;
    assert_eq!(r["invoiceCount"], 101);
    let run_id = r["id"].as_str().expect("id").to_string();
    let lists = [
        ("contracts", "query($e: ID!, $f: Int, $a: String) { x: contracts(legalEntityId: $e, first: $f, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }"),
        ("invoices", "query($e: ID!, $f: Int, $a: String) { x: invoices(legalEntityId: $e, first: $f, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } }"),
        ("run invoices", "query($r: ID!, $f: Int, $a: String) { billingRun(id: $r) { x: invoices(first: $f, after: $a) { edges { node { id } } pageInfo { hasNextPage endCursor } } } }"),
    ];
    let page = |body: &Value| {
        let x = if body["data"]["x"].is_null() {
            &body["data"]["billingRun"]["x"]
        } else {
            &body["data"]["x"]
        };
        x.clone()
    };
    for (name, q) in lists {
        let vars = |f: Value, a: Value| json!({ "e": e, "r": run_id, "f": f, "a": a });
        let first = app
            .gql(&admin(), q, vars(json!(1_000_000), Value::Null))
            .await;
        let p = page(&first);
        assert_eq!(
            p["edges"].as_array().map(Vec::len),
            Some(100),
            "{name}: clamped to 100"
        );
        assert_eq!(p["pageInfo"]["hasNextPage"], true, "{name}");
        let rest = app
            .gql(
                &admin(),
                q,
                vars(json!(1_000_000), p["pageInfo"]["endCursor"].clone()),
            )
            .await;
        assert_eq!(
            page(&rest)["edges"].as_array().map(Vec::len),
            Some(1),
            "{name}: the rest"
        );
        for (f, a, field) in [
            (json!(-1), Value::Null, Some("first")),
            (json!(i32::MIN), Value::Null, Some("first")),
            (Value::Null, json!("garbage"), Some("after")),
            (Value::Null, json!("99999999999999999999"), Some("after")),
            (Value::Null, json!("1; DROP TABLE invoice"), Some("after")),
            (json!(2_147_483_648_i64), Value::Null, None),
            (json!("10"), Value::Null, None),
        ] {
            let body = app.gql(&admin(), q, vars(f.clone(), a.clone())).await;
            assert_eq!(
                code(&body),
                "BAD_USER_INPUT",
                "{name} first={f} after={a}: {body}"
            );
            if let Some(field) = field {
                assert_eq!(
                    body["errors"][0]["extensions"]["field"], field,
                    "{name}: {body}"
                );
            }
            clean(&body);
        }
    }
    let runs = app.data(&admin(), "query($e: ID!) { billingRuns(legalEntityId: $e, first: 1000000) { edges { node { id } } } }", json!({ "e": e })).await;
    assert_eq!(
        runs["billingRuns"]["edges"].as_array().map(Vec::len),
        Some(1)
    );
    for q in [
        "{ billingRuns(legalEntityId: \"1\", first: -1) { edges { node { id } } } }",
        "{ billingRuns(legalEntityId: \"1\", after: \"garbage\") { edges { node { id } } } }",
        "{ auditEvents(first: -1) { id } }",
        "{ domainEvents(first: -1) { id } }",
        "{ domainEvents(after: \"garbage\") { id } }",
    ] {
        let body = app.gql(&admin(), q, json!({})).await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "{q}: {body}");
    }
    let events = app
        .data(
            &admin(),
            "{ auditEvents(first: 1000000) { id } domainEvents(first: 1000000) { id } }",
            json!({}),
        )
        .await;
    assert!(events["auditEvents"]
        .as_array()
        .is_some_and(|a| !a.is_empty() && a.len() <= 500));
    assert!(events["domainEvents"]
        .as_array()
        .is_some_and(|a| a.len() > 100 && a.len() <= 500));
    still_up(&app).await;
}

/// Holds the write lock on legal_entity until dropped (rolled back).
async fn lock_legal_entities(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let options = TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    let blocker = app.db.begin_with_options(options).await.expect("begin");
    if is_postgres(app) {
        blocker
            .execute_unprepared("LOCK TABLE legal_entity IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");
    }
    blocker
}

fn create_entity_doc(code: &str) -> String {
    format!("mutation {{ createLegalEntity(input: {{ code: \"{code}\", name: \"Slow\", currency: \"EUR\", country: \"EE\", timezone: \"Europe/Tallinn\" }}) {{ id }} }}")
}

async fn slow_entities(app: &TestApp) -> u64 {
    legal_entity::Entity::find()
        .filter(legal_entity::Column::Code.starts_with("SLOW"))
        .count(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn item_12_timed_out_requests_are_408_drop_their_writes_and_free_the_pool() {
    let app = spawn_app_with(|a| {
        a.request_timeout_secs = 1;
        a.db.db_pool_size = 2;
    })
    .await;
    let blocker = lock_legal_entities(&app).await;
    let started = Instant::now();
    // More waiting writers than the pool has connections.
    let requests = (0..4).map(|i| {
        send(
            post(&app)
                .bearer_auth(admin())
                .json(&json!({ "query": create_entity_doc(&format!("SLOW{i}")) })),
        )
    });
    for reply in join_all(requests).await {
        assert_eq!(reply.status, 408, "{}", reply.body);
        assert!(
            reply.body["errors"][0]["extensions"]["code"].is_string(),
            "GraphQL-shaped: {}",
            reply.body
        );
        clean(&reply.body);
    }
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at the timeout: {:?}",
        started.elapsed()
    );
    blocker.rollback().await.expect("release");
    // The pool recovers and the cancelled writes never land.
    let recovered = Instant::now();
    loop {
        let body = app
            .gql(&admin(), &create_entity_doc("AFTER"), json!({}))
            .await;
        if body.get("errors").is_none() {
            break;
        }
        assert!(
            recovered.elapsed() < Duration::from_secs(15),
            "the pool is not exhausted: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        slow_entities(&app).await,
        0,
        "a timed-out request's write is dropped"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn item_12_the_database_gives_up_on_a_blocked_statement_by_itself() {
    // PostgreSQL: the statement timeout; SQLite: the busy timeout.
    let app = spawn_app_with(|a| {
        a.db.db_statement_timeout_secs = 1;
        a.db.sqlite_busy_timeout_ms = 1000;
    })
    .await;
    let blocker = lock_legal_entities(&app).await;
    let started = Instant::now();
    let reply = send(
        post(&app)
            .bearer_auth(admin())
            .json(&json!({ "query": create_entity_doc("SLOWDB") })),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(code(&reply.body), "INTERNAL", "{}", reply.body);
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    clean(&reply.body);
    blocker.rollback().await.expect("release");
    assert_eq!(slow_entities(&app).await, 0);
    still_up(&app).await;
}

#[tokio::test]
async fn rate_limit_is_per_subject_across_its_tokens_and_a_limited_request_runs_nothing() {
    let app = spawn_app_with(|a| a.rate_limit_per_minute = 5).await;
    let e = app.create_entity("RTL", "EUR").await; // one of the admin subject's five
    let first = token_with(|c| c.sub = "burst".into());
    let second = token_with(|c| {
        c.sub = "burst".into();
        c.role = "ACCOUNTANT".into();
        c.scopes = vec!["billing:read".into(), "contracts:write".into()];
    });
    let url = format!("{}/graphql", app.addr);
    for tok in [&first, &first, &second] {
        let reply = send(
            post(&app)
                .bearer_auth(tok)
                .json(&json!({ "query": "{ __typename }" })),
        )
        .await;
        assert_eq!(reply.status, 200);
    }
    for _ in 0..2 {
        let reply = send(
            app.client
                .get(&url)
                .query(&[("query", "{ __typename }")])
                .bearer_auth(&second),
        )
        .await;
        assert_eq!(reply.status, 200, "GET counts too");
    }
    let before = written(&app).await;
    let response = post(&app)
        .bearer_auth(&second)
        .json(&json!({ "query": format!("mutation {{ {} }}", create_customer_doc(&e, "Limited")) }))
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response.status(),
        429,
        "a fresh token of the same subject shares its budget"
    );
    assert!(response.headers().get("retry-after").is_some());
    let body: Value = response.json().await.expect("a GraphQL-shaped body");
    assert_eq!(code(&body), "RATE_LIMITED");
    assert!(body["errors"][0]["message"].is_string());
    assert_eq!(
        written(&app).await,
        before,
        "the limited mutation ran nothing"
    );
    let get = send(
        app.client
            .get(&url)
            .query(&[("query", "{ __typename }")])
            .bearer_auth(&first),
    )
    .await;
    assert_eq!((get.status, code(&get.body)), (429, "RATE_LIMITED"));
    let other = token_with(|c| c.sub = "someone-else".into());
    let reply = send(
        post(&app)
            .bearer_auth(&other)
            .json(&json!({ "query": "{ legalEntities { id } }" })),
    )
    .await;
    assert_eq!(
        reply.status, 200,
        "another subject is unaffected: {}",
        reply.body
    );
}

/// Two legal entities, each with a customer, a contract, a run and a posted invoice.
struct World {
    a: String,
    b: String,
    b_customer: String,
    b_run: String,
    b_invoice: String,
    a_ids: Vec<String>,
}

async fn world(app: &TestApp) -> World {
    let mut made = Vec::new();
    for code in ["TNA", "TNB"] {
        let e = app.create_entity(code, "EUR").await;
        let c = app.create_customer(&e, &format!("{code} customer")).await;
        let k = app.create_contract(&c, "2026-01-01", "10.00", None).await;
        let r = run(app, &e, "2026-01-15").await;
        let r_id = r["id"].as_str().expect("run id").to_string();
        let inv = run_invoices(app, &r["id"]).await[0]["id"]
            .as_str()
            .expect("invoice id")
            .to_string();
        made.push((e, c, k, r_id, inv));
    }
    let (b, a) = (made.pop().expect("B"), made.pop().expect("A"));
    World {
        a_ids: vec![a.0.clone(), a.1, a.2, a.3, a.4],
        a: a.0,
        b: b.0,
        b_customer: b.1,
        b_run: b.3,
        b_invoice: b.4,
    }
}

fn partner_of(entity: &str) -> String {
    let entity = entity.to_string();
    token_with(move |c| {
        c.sub = "partner-a".into();
        c.role = "PARTNER".into();
        c.scopes = [
            "billing:read",
            "billing:run",
            "ar:read",
            "contracts:write",
            "events:read",
        ]
        .map(String::from)
        .to_vec();
        c.legal_entities = vec![entity];
    })
}

const MISSING: &str = "999999";

#[tokio::test]
async fn item_20_another_entitys_objects_answer_exactly_like_missing_ones() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let partner = partner_of(&w.a);
    let own = app
        .data(
            &partner,
            "query($id: ID!) { billingRun(id: $id) { id } }",
            json!({ "id": w.a_ids[3] }),
        )
        .await;
    assert_eq!(
        own["billingRun"]["id"],
        w.a_ids[3].as_str(),
        "its own run is visible"
    );
    let before = written(&app).await;
    let cases = [
        ("query($id: ID!) { billingRun(id: $id) { id runNumber invoiceTotal } }", w.b_run.as_str()),
        ("query($id: ID!) { invoice(id: $id) { id total customer { name } } }", w.b_invoice.as_str()),
        ("query($id: ID!) { contracts(legalEntityId: $id) { edges { node { id } } pageInfo { hasNextPage } } }", w.b.as_str()),
        ("query($id: ID!) { arAging(legalEntityId: $id, asOf: \"2026-01-20\") { totals { total } } }", w.b.as_str()),
        ("query($id: ID!) { auditEvents(subjectId: $id) { id action details } }", w.b_run.as_str()),
        ("query($id: ID!) { legalEntity(id: $id) { id name } }", w.b.as_str()),
        ("mutation($id: ID!) { postInvoice(id: $id) { id } }", w.b_invoice.as_str()),
        ("mutation($id: ID!) { voidInvoice(id: $id, reason: \"x\") { id } }", w.b_invoice.as_str()),
        ("mutation($id: ID!) { recordPayment(input: { invoiceId: $id, amount: \"1.00\", receivedOn: \"2026-01-20\" }) { id } }", w.b_invoice.as_str()),
        ("mutation($id: ID!) { triggerBillingRun(input: { legalEntityId: $id, asOf: \"2026-02-15\" }) { runs { id } } }", w.b.as_str()),
        ("mutation($id: ID!) { createCustomer(input: { legalEntityId: $id, name: \"Sneaky\" }) { id } }", w.b.as_str()),
        ("mutation($id: ID!) { createTaxCode(input: { legalEntityId: $id, code: \"T\", rate: \"5\" }) { id } }", w.b.as_str()),
        ("mutation($id: ID!) { createContract(input: { customerId: $id, startDate: \"2026-01-01\", interval: MONTH, lines: [{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }] }) { id } }", w.b_customer.as_str()),
    ];
    for (q, foreign) in cases {
        let theirs = app.gql(&partner, q, json!({ "id": foreign })).await;
        let missing = app.gql(&partner, q, json!({ "id": MISSING })).await;
        assert_eq!(
            theirs, missing,
            "{q}: B's object is indistinguishable from a missing one"
        );
        let code = code(&theirs);
        assert!(
            ["<no code>", "NOT_FOUND", "BAD_USER_INPUT"].contains(&code),
            "{q}: {theirs}"
        );
        clean(&theirs);
    }
    assert_eq!(written(&app).await, before, "nothing written in B");
    let b_invoice = app
        .data(
            &admin(),
            "query($id: ID!) { invoice(id: $id) { status amountPaid } }",
            json!({ "id": w.b_invoice }),
        )
        .await;
    assert_eq!(
        b_invoice["invoice"],
        json!({ "status": "POSTED", "amountPaid": "0.00" })
    );
}

#[tokio::test]
async fn item_21_a_foreign_legal_entity_filter_never_returns_foreign_rows() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let partner = partner_of(&w.a);
    let lists = "query($e: ID!, $c: ID) {
        customers(legalEntityId: $e) { id }
        contracts(legalEntityId: $e) { edges { node { id } } }
        billingRuns(legalEntityId: $e) { edges { node { id } } }
        invoices(legalEntityId: $e, customerId: $c) { edges { node { id } } }
        auditEvents(legalEntityId: $e) { id legalEntityId }
        domainEvents(legalEntityId: $e) { id legalEntityId } }";
    let own = app.data(&partner, lists, json!({ "e": w.a })).await;
    for key in ["customers", "auditEvents", "domainEvents"] {
        assert!(
            own[key].as_array().is_some_and(|l| !l.is_empty()),
            "{key}: its own rows: {own}"
        );
    }
    let empty = json!({ "customers": [], "contracts": { "edges": [] }, "billingRuns": { "edges": [] },
                        "invoices": { "edges": [] }, "auditEvents": [], "domainEvents": [] });
    for filter in [
        w.b.as_str(),
        MISSING,
        "2 OR 1=1",
        "1,2",
        "*",
        "%",
        "-1",
        "0",
        " 2",
        "02",
    ] {
        let body = app.gql(&partner, lists, json!({ "e": filter })).await;
        assert_eq!(body["data"], empty, "filter {filter:?}: {body}");
    }
    // Its own entity with B's customer: nothing.
    let mixed = app
        .data(&partner, lists, json!({ "e": w.a, "c": w.b_customer }))
        .await;
    assert_eq!(mixed["invoices"]["edges"], json!([]));
    // No filter at all: only A's rows.
    let all = app.data(&partner, "{ auditEvents { legalEntityId action } domainEvents { legalEntityId } legalEntities { id } }", json!({})).await;
    for key in ["auditEvents", "domainEvents"] {
        let items = all[key].as_array().expect("list");
        assert!(
            !items.is_empty() && items.iter().all(|i| i["legalEntityId"] == w.a.as_str()),
            "{key}: {all}"
        );
    }
    assert_eq!(all["legalEntities"], json!([{ "id": w.a }]));
    let text = all.to_string();
    assert!(
        !text.contains("ACCESS_DENIED") && !text.contains(&format!("\"{}\"", w.b)),
        "{text}"
    );
}

#[tokio::test]
async fn item_22_each_missing_scope_is_forbidden_writes_nothing_and_is_audited() {
    let app = spawn_app().await;
    let w = world(&app).await;
    let config = "{ agentDefinitions { config { autoPostInvoices emitDeliveryEvents notificationLevel defaultBillingEntityId } } }";
    let config_before = app.data(&admin(), config, json!({})).await;
    let before = written(&app).await;
    let cases = [
        ("triggerBillingRun", "billing:run", format!("mutation {{ triggerBillingRun(input: {{ legalEntityId: \"{}\", asOf: \"2026-02-15\", wait: true }}) {{ runs {{ id }} }} }}", w.a)),
        ("createContract", "contracts:write", format!("mutation {{ createContract(input: {{ customerId: \"{}\", startDate: \"2026-01-01\", interval: MONTH, lines: [{{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }}] }}) {{ id }} }}", w.a_ids[1])),
        ("updateBillingAgentConfig", "config:write", "mutation { updateBillingAgentConfig(input: { autoPostInvoices: false, notificationLevel: NONE }) { autoPostInvoices } }".to_string()),
        ("recordPayment", "billing:run", format!("mutation {{ recordPayment(input: {{ invoiceId: \"{}\", amount: \"1.00\", receivedOn: \"2026-01-20\" }}) {{ id }} }}", w.a_ids[4])),
        ("voidInvoice", "billing:run", format!("mutation {{ voidInvoice(id: \"{}\", reason: \"x\") {{ id }} }}", w.a_ids[4])),
        ("createCustomer", "contracts:write", format!("mutation {{ {} }}", create_customer_doc(&w.a, "NoScope"))),
        ("createScheduledJob", "config:write", "mutation { createScheduledJob(input: { cron: \"0 6 * * MON\", timezone: \"UTC\" }) { id } }".to_string()),
        ("arAging", "ar:read", format!("{{ arAging(legalEntityId: \"{}\") {{ totals {{ total }} }} }}", w.a)),
        ("domainEvents", "events:read", "{ domainEvents { id } }".to_string()),
    ];
    for role in ["ACCOUNTANT", "PARTNER"] {
        let sub = format!("reader-{role}");
        let tok = {
            let (sub, role, a) = (sub.clone(), role.to_string(), w.a.clone());
            token_with(move |c| {
                c.sub = sub;
                c.role = role;
                c.scopes = vec!["billing:read".into()];
                c.legal_entities = vec![a];
            })
        };
        for (field, _, doc) in &cases {
            let body = app.gql(&tok, doc, json!({})).await;
            assert_eq!(code(&body), "FORBIDDEN", "{role} {field}: {body}");
            assert!(body["data"].is_null(), "{field}: {body}");
            clean(&body);
        }
        let rows = denied(&app, &sub).await;
        assert_eq!(
            rows.len(),
            cases.len(),
            "{role}: one ACCESS_DENIED per attempt"
        );
        for ((field, scope, _), row) in cases.iter().zip(&rows) {
            assert_eq!(
                (row.subject_type.as_str(), row.subject_id.as_str()),
                ("Access", *field)
            );
            let details: Value = serde_json::from_str(row.details.as_deref().unwrap_or("null"))
                .expect("JSON details");
            assert_eq!(details["missingScope"], *scope, "{field}");
        }
        // A partner cannot read the denials (they belong to no legal entity).
        let seen = app
            .data(&tok, "{ auditEvents { action } }", json!({}))
            .await;
        assert!(!seen.to_string().contains("ACCESS_DENIED"), "{seen}");
    }
    assert_eq!(written(&app).await, before, "nothing written");
    assert_eq!(
        app.data(&admin(), config, json!({})).await,
        config_before,
        "configuration unchanged"
    );
    let status = app
        .data(
            &admin(),
            "query($id: ID!) { invoice(id: $id) { status } }",
            json!({ "id": w.a_ids[4] }),
        )
        .await;
    assert_eq!(status["invoice"]["status"], "POSTED");
}

const CREATE_CONTRACT: &str = "mutation($i: CreateContractInput!, $k: String) { createContract(input: $i, idempotencyKey: $k) { id } }";

#[tokio::test]
async fn item_28_idempotency_keys_replay_refuse_other_input_are_per_subject_and_hold_under_races() {
    let app = spawn_app().await;
    let e = app.create_entity("IDK", "EUR").await;
    let c = app.create_customer(&e, "Retry").await;
    let input = |price: &str| {
        json!({ "customerId": c, "startDate": "2026-01-01", "interval": "MONTH",
                                      "lines": [{ "description": "Plan", "quantity": "1", "unitPrice": price }] })
    };
    let with_key = |tok: &str, key: &str, vars: Value, query: &str| {
        post(&app)
            .bearer_auth(tok)
            .header("Idempotency-Key", key)
            .json(&json!({ "query": query, "variables": vars }))
    };
    let contracts = || rows(&app, contract::Entity);
    // The argument.
    let a1 = app
        .data(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("10.00"), "k": "arg-1" }),
        )
        .await;
    let a2 = app
        .data(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("10.00"), "k": "arg-1" }),
        )
        .await;
    assert_eq!(a1, a2, "the argument replays");
    assert_eq!(contracts().await, 1);
    let other = app
        .gql(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("11.00"), "k": "arg-1" }),
        )
        .await;
    assert_eq!(code(&other), "CONFLICT", "{other}");
    clean(&other);
    // Another subject's key space is its own.
    let colleague = token_with(|c| c.sub = "colleague".into());
    let theirs = app
        .data(
            &colleague,
            CREATE_CONTRACT,
            json!({ "i": input("10.00"), "k": "arg-1" }),
        )
        .await;
    assert_ne!(theirs, a1, "keys are per subject");
    assert_eq!(contracts().await, 2);
    // Bad keys are refused before anything runs.
    let long = "k".repeat(201);
    for key in ["", long.as_str(), "tab\there"] {
        let body = app
            .gql(
                &admin(),
                CREATE_CONTRACT,
                json!({ "i": input("10.00"), "k": key }),
            )
            .await;
        assert_eq!(code(&body), "BAD_USER_INPUT", "key {key:?}: {body}");
    }
    // A failed first attempt releases its key for the corrected retry.
    let bad = app
        .gql(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("-1"), "k": "fix-1" }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT");
    let fixed = app
        .data(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("12.00"), "k": "fix-1" }),
        )
        .await;
    assert_eq!(
        app.data(
            &admin(),
            CREATE_CONTRACT,
            json!({ "i": input("12.00"), "k": "fix-1" })
        )
        .await,
        fixed
    );
    assert_eq!(contracts().await, 3);
    // Eight racing retries with one header key: one contract.
    let racing = (0..8).map(|_| {
        send(with_key(
            &admin(),
            "race-1",
            json!({ "i": input("13.00") }),
            CREATE_CONTRACT,
        ))
    });
    let replies = join_all(racing).await;
    let ids: Vec<Value> = replies
        .iter()
        .map(|r| r.body["data"]["createContract"]["id"].clone())
        .filter(|id| !id.is_null())
        .collect();
    assert!(
        !ids.is_empty() && ids.iter().all(|id| *id == ids[0]),
        "every success names one contract"
    );
    for r in &replies {
        assert!(
            r.body.get("errors").is_none() || code(&r.body) == "CONFLICT",
            "{}",
            r.body
        );
    }
    assert_eq!(
        contracts().await,
        4,
        "one contract for eight racing requests"
    );

    // The header on a trigger (wait) and on a payment.
    let before_runs = written(&app).await;
    let trigger = "mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: \"2026-01-15\", wait: true }) { runs { id status invoiceCount } } }";
    let t1 = send(with_key(&admin(), "run-h", json!({ "e": e }), trigger)).await;
    let after_first = written(&app).await;
    let t2 = send(with_key(&admin(), "run-h", json!({ "e": e }), trigger)).await;
    assert_eq!(t1.body["data"], t2.body["data"], "the same runs");
    assert_eq!(
        t1.body["data"]["triggerBillingRun"]["runs"][0]["invoiceCount"],
        4
    );
    assert_eq!(written(&app).await, after_first, "the retry wrote nothing");
    assert_ne!(after_first, before_runs);
    let invoice_id = app
        .data(
            &admin(),
            "query($e: ID!) { invoices(legalEntityId: $e, first: 1) { edges { node { id } } } }",
            json!({ "e": e }),
        )
        .await["invoices"]["edges"][0]["node"]["id"]
        .clone();
    let pay = "mutation($i: ID!, $a: Decimal!) { recordPayment(input: { invoiceId: $i, amount: $a, receivedOn: \"2026-01-20\" }) { id amountPaid } }";
    let p1 = send(with_key(
        &admin(),
        "pay-h",
        json!({ "i": invoice_id, "a": "4.00" }),
        pay,
    ))
    .await;
    let p2 = send(with_key(
        &admin(),
        "pay-h",
        json!({ "i": invoice_id, "a": "4.00" }),
        pay,
    ))
    .await;
    assert_eq!(p1.body, p2.body);
    assert_eq!(
        p2.body["data"]["recordPayment"]["amountPaid"], "4.00",
        "paid once: {}",
        p2.body
    );
    let p3 = send(with_key(
        &admin(),
        "pay-h",
        json!({ "i": invoice_id, "a": "5.00" }),
        pay,
    ))
    .await;
    assert_eq!(code(&p3.body), "CONFLICT");
    // The same key on another operation is another request.
    let cross = send(with_key(
        &admin(),
        "pay-h",
        json!({ "i": input("10.00") }),
        CREATE_CONTRACT,
    ))
    .await;
    assert_eq!(code(&cross.body), "CONFLICT", "{}", cross.body);
    assert_eq!(rows(&app, payment::Entity).await, 1, "one payment row");
    assert_eq!(contracts().await, 4);
}

#[tokio::test]
async fn item_29_impossible_reversed_and_century_dates_and_unknown_entities_write_nothing() {
    let app = spawn_app().await;
    let e = app.create_entity("DAT", "EUR").await;
    let c = app.create_customer(&e, "Dates").await;
    let line = json!([{ "description": "Seat", "quantity": "1", "unitPrice": "10.00" }]);
    let contract_input = |start: &str, end: Option<&str>| json!({ "i": { "customerId": c, "startDate": start, "endDate": end, "interval": "MONTH", "lines": line } });
    let q = "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }";
    let before = written(&app).await;
    let contract_cases = [
        ("2026-02-30", None, "BAD_USER_INPUT"),
        ("2026-02-29", None, "BAD_USER_INPUT"),
        ("2026-13-01", None, "BAD_USER_INPUT"),
        ("2026-00-10", None, "BAD_USER_INPUT"),
        ("2026-1-5", None, "BAD_USER_INPUT"),
        ("2026-01-01T00:00:00Z", None, "BAD_USER_INPUT"),
        ("+2026-01-01", None, "BAD_USER_INPUT"),
        ("0000-01-01", None, "BAD_USER_INPUT"),
        ("1800-01-01", None, "BAD_USER_INPUT"),
        ("2300-01-01", None, "BAD_USER_INPUT"),
        ("1899-12-31", None, "BAD_USER_INPUT"),
        ("2026-01-01", Some("2026-02-30"), "BAD_USER_INPUT"),
        ("2026-03-01", Some("2026-02-28"), "BAD_USER_INPUT"),
        ("2026-01-01", Some("2300-01-01"), "BAD_USER_INPUT"),
        ("1800-01-01", Some("2300-01-01"), "BAD_USER_INPUT"),
    ];
    for (start, end, want) in contract_cases {
        let body = app.gql(&admin(), q, contract_input(start, end)).await;
        assert_eq!(code(&body), want, "{start}..{end:?}: {body}");
        clean(&body);
    }
    let unknown_customer = app.gql(&admin(), q, json!({ "i": { "customerId": MISSING, "startDate": "2026-01-01", "interval": "MONTH", "lines": line } })).await;
    assert_eq!(code(&unknown_customer), "BAD_USER_INPUT");
    let trigger = "mutation($e: ID, $d: Date) { triggerBillingRun(input: { legalEntityId: $e, asOf: $d, wait: true }) { runs { id } } }";
    for (entity, as_of, want) in [
        (e.as_str(), "2026-02-30", "BAD_USER_INPUT"),
        (e.as_str(), "1800-01-01", "BAD_USER_INPUT"),
        (e.as_str(), "2300-01-01", "BAD_USER_INPUT"),
        (e.as_str(), "9999-12-31", "BAD_USER_INPUT"),
        (MISSING, "2026-01-15", "NOT_FOUND"),
        ("not-an-id", "2026-01-15", "NOT_FOUND"),
    ] {
        let body = app
            .gql(&admin(), trigger, json!({ "e": entity, "d": as_of }))
            .await;
        assert_eq!(code(&body), want, "trigger {entity} {as_of}: {body}");
        clean(&body);
    }
    let others = [
        (format!("{{ arAging(legalEntityId: \"{e}\", asOf: \"2026-02-30\") {{ asOf }} }}"), "BAD_USER_INPUT"),
        (format!("{{ arAging(legalEntityId: \"{MISSING}\") {{ asOf }} }}"), "NOT_FOUND"),
        (format!("{{ invoices(legalEntityId: \"{e}\", dueFrom: \"2026-02-30\") {{ edges {{ node {{ id }} }} }} }}"), "BAD_USER_INPUT"),
        (format!("mutation {{ createCustomer(input: {{ legalEntityId: \"{MISSING}\", name: \"Ghost\" }}) {{ id }} }}"), "NOT_FOUND"),
        (format!("mutation {{ createTaxCode(input: {{ legalEntityId: \"{MISSING}\", code: \"G\", rate: \"5\" }}) {{ id }} }}"), "NOT_FOUND"),
        (format!("mutation {{ recordPayment(input: {{ invoiceId: \"{MISSING}\", amount: \"1.00\", receivedOn: \"2026-01-20\" }}) {{ id }} }}"), "NOT_FOUND"),
        ("mutation { recordPayment(input: { invoiceId: \"1\", amount: \"1.00\", receivedOn: \"2026-02-29\" }) { id } }".to_string(), "BAD_USER_INPUT"),
        (format!("mutation {{ updateBillingAgentConfig(input: {{ defaultBillingEntityId: \"{MISSING}\" }}) {{ defaultBillingEntityId }} }}"), "BAD_USER_INPUT"),
    ];
    for (doc, want) in &others {
        let body = app.gql(&admin(), doc, json!({})).await;
        assert_eq!(code(&body), *want, "{doc}: {body}");
        clean(&body);
    }
    assert_eq!(written(&app).await, before, "nothing written");
    let config = app
        .data(
            &admin(),
            "{ agentDefinitions { config { defaultBillingEntityId } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        config["agentDefinitions"][0]["config"]["defaultBillingEntityId"],
        Value::Null
    );
}

#[tokio::test]
async fn item_30_money_edges_are_checked_and_rounded_as_documented() {
    let app = spawn_app().await;
    let e = app.create_entity("MNY", "EUR").await;
    let c = app.create_customer(&e, "Edges").await;
    let q = "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }";
    let line_input = |quantity: Value, price: Value| {
        json!({ "i": { "customerId": c, "startDate": "2029-01-01", "interval": "YEAR",
        "lines": [{ "description": "Edge", "quantity": quantity, "unitPrice": price }] } })
    };
    let before = written(&app).await;
    for (quantity, price, field) in [
        (
            json!("1000000"),
            json!("9999999999999"),
            Some("lines.0.unitPrice"),
        ),
        (
            json!("999999999999"),
            json!("999999999999"),
            Some("lines.0.unitPrice"),
        ),
        (json!("-1"), json!("10.00"), Some("lines.0.quantity")),
        (json!("-0.000001"), json!("10.00"), Some("lines.0.quantity")),
        (json!("-0"), json!("10.00"), Some("lines.0.quantity")),
        (json!("1"), json!("-0.01"), Some("lines.0.unitPrice")),
        (json!("1"), json!("0.0000001"), Some("lines.0.unitPrice")),
        (json!("1"), json!("79228162514264337593543950336"), None),
        (json!("1"), json!("-79228162514264337593543950335"), None),
        (json!("1e6"), json!("10.00"), None),
        (json!(1000000), json!("10.00"), None),
        (json!("1"), json!(0.125), None),
        (json!("Infinity"), json!("10.00"), None),
    ] {
        let body = app
            .gql(&admin(), q, line_input(quantity.clone(), price.clone()))
            .await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "{quantity} × {price}: {body}"
        );
        if let Some(field) = field {
            assert_eq!(body["errors"][0]["extensions"]["field"], field, "{body}");
        }
        clean(&body);
    }
    assert_eq!(written(&app).await, before, "nothing written");

    // Half-cent ties round away from zero, on the net and on the tax.
    let vat5 = app.create_tax_code(&e, "V5", "5").await;
    let tie = contract_with(&app, line_input(json!("1"), json!("0.125"))["i"].clone()).await;
    let mut taxed_input = line_input(json!("1"), json!("0.10"))["i"].clone();
    taxed_input["lines"][0]["taxCodeId"] = json!(vat5);
    let taxed = contract_with(&app, taxed_input).await;
    // Feb 29: a yearly contract keeps its anchor, and a leap February prorates by 29 days.
    let leap = contract_with(
        &app,
        json!({ "customerId": c, "startDate": "2028-02-29", "interval": "YEAR",
        "lines": [{ "description": "Leap", "quantity": "1", "unitPrice": "100.00" }] }),
    )
    .await;
    let short = contract_with(&app, json!({ "customerId": c, "startDate": "2028-02-01", "endDate": "2028-02-14", "interval": "MONTH",
        "lines": [{ "description": "Short", "quantity": "1", "unitPrice": "29.00" }] })).await;
    let r = run(&app, &e, "2029-03-01").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    let of = |k: &str| -> Vec<&Value> {
        invoices
            .iter()
            .filter(|i| i["contract"]["id"] == k)
            .collect()
    };
    assert_eq!(
        (
            of(&tie)[0]["subtotal"].as_str(),
            of(&tie)[0]["total"].as_str()
        ),
        (Some("0.13"), Some("0.13")),
        "0.125 bills 0.13"
    );
    assert_eq!(
        (
            of(&taxed)[0]["taxTotal"].as_str(),
            of(&taxed)[0]["total"].as_str()
        ),
        (Some("0.01"), Some("0.11")),
        "5 % of 0.10 is 0.005, billed 0.01"
    );
    let leap_periods: Vec<(&str, &str, &str)> = of(&leap)
        .iter()
        .map(|i| {
            (
                i["periodStart"].as_str().unwrap_or(""),
                i["periodEnd"].as_str().unwrap_or(""),
                i["total"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        leap_periods,
        [
            ("2028-02-29", "2029-02-27", "100.00"),
            ("2029-02-28", "2030-02-27", "100.00")
        ]
    );
    assert_eq!(
        of(&short)[0]["total"],
        "14.00",
        "14 of February 2028's 29 days of 29.00"
    );
    let later = run(&app, &e, "2032-03-01").await;
    let starts: Vec<String> = run_invoices(&app, &later["id"])
        .await
        .iter()
        .filter(|i| i["contract"]["id"] == leap.as_str())
        .map(|i| i["periodStart"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        starts,
        ["2030-02-28", "2031-02-28", "2032-02-29"],
        "the anchor comes back in a leap year"
    );
    still_up(&app).await;
}

/// A customer with one monthly contract of `price` at 100 % tax.
async fn near_limit_contract(app: &TestApp, e: &str, tax: &str, name: &str, price: &str) -> String {
    let c = app.create_customer(e, name).await;
    contract_with(app, json!({ "customerId": c, "startDate": "2026-01-01", "interval": "MONTH",
        "lines": [{ "description": "Max", "quantity": "1", "unitPrice": price, "taxCodeId": tax }] })).await
}

/// Half of the largest storable amount (i64::MAX at scale 4), whole units.
const HALF_MAX: &str = "461168601842738";

#[tokio::test]
async fn item_30_amounts_near_the_storage_limit_bill_exactly_and_a_run_total_beyond_it_is_a_checked_failure(
) {
    let app = spawn_app().await;
    let e = app.create_entity("MAX", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    let over = app.gql(&admin(), "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }", json!({ "i": {
        "customerId": app.create_customer(&e, "Over").await, "startDate": "2026-01-01", "interval": "MONTH",
        "lines": [{ "description": "Max", "quantity": "1", "unitPrice": "461168601842739", "taxCodeId": full }] } })).await;
    assert_eq!(
        code(&over),
        "BAD_USER_INPUT",
        "one unit more does not fit: {over}"
    );
    near_limit_contract(&app, &e, &full, "X", HALF_MAX).await;
    let r = run(&app, &e, "2026-01-15").await;
    let inv = &run_invoices(&app, &r["id"]).await[0];
    assert_eq!(
        (
            inv["subtotal"].as_str(),
            inv["taxTotal"].as_str(),
            inv["total"].as_str()
        ),
        (
            Some("461168601842738.00"),
            Some("461168601842738.00"),
            Some("922337203685476.00")
        ),
        "exact at the edge"
    );
    assert_eq!(r["invoiceTotal"], "922337203685476.00");
    // Two such invoices in one run exceed what a run total can hold.
    near_limit_contract(&app, &e, &full, "Y", HALF_MAX).await;
    let invoices_before = rows(&app, invoice::Entity).await;
    let body = crate::billing::trigger(
        &app,
        &admin(),
        json!({ "legalEntityId": e, "asOf": "2026-02-15", "wait": true }),
    )
    .await;
    clean(&body);
    let status = &body["data"]["triggerBillingRun"]["runs"][0];
    assert_eq!(
        status["status"], "FAILED",
        "a checked failure, not a wrapped total: {body}"
    );
    assert_eq!(status["error"], "internal error", "{body}");
    assert_eq!(
        rows(&app, invoice::Entity).await,
        invoices_before,
        "the failed chunk wrote nothing"
    );
    still_up(&app).await;
}

#[tokio::test]
#[ignore = "bug: src/store/aging.rs Buckets::add and Buckets::total sum i64 amounts unchecked; two customers each owing about 9.2e14 make arAging panic (debug: 500 'internal error' from CatchPanicLayer) or wrap to a negative total (release) instead of a checked error"]
async fn item_30_aging_totals_beyond_the_storage_limit_are_a_checked_error_not_a_panic() {
    let app = spawn_app().await;
    let e = app.create_entity("AGM", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    near_limit_contract(&app, &e, &full, "X", HALF_MAX).await;
    run(&app, &e, "2026-01-15").await;
    // Billed in its own run, so no run total overflows.
    near_limit_contract(&app, &e, &full, "Y", HALF_MAX).await;
    let r = run(&app, &e, "2026-01-15").await;
    assert_eq!(r["invoiceCount"], 1, "{r}");
    let reply = send(post(&app).bearer_auth(admin()).json(&json!({ "query":
        format!("{{ arAging(legalEntityId: \"{e}\", asOf: \"2026-01-15\") {{ totals {{ current total }} rows {{ buckets {{ total }} }} }} }}") }))).await;
    assert_eq!(reply.status, 200, "no panic: {}", reply.body);
    clean(&reply.body);
    match reply.body.get("errors") {
        Some(_) => assert!(
            ["BAD_USER_INPUT", "INTERNAL"].contains(&code(&reply.body)),
            "{}",
            reply.body
        ),
        None => assert_eq!(
            reply.body["data"]["arAging"]["totals"]["total"], "1844674407370952.00",
            "exact or refused, never wrapped"
        ),
    }
    still_up(&app).await;
}
