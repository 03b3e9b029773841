//! SECURITY.md items 1-12 and 28-30, beside
//! hardening.rs, server.rs and setup.rs: the right status and code, no data
//! of another legal entity, nothing written, nothing internal in the body,
//! the server still up. Tokens, tenancy, scopes and the rate limit (13-22)
//! are in security_tokens.rs.

use std::time::{Duration, Instant};

use entity::{
    audit_event, billing_run, contract, contract_line, customer, domain_event, idempotency_key,
    invoice, legal_entity, payment, scheduled_job, tax_code,
};
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::billing::{contract_with, run, run_invoices, trigger};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token, token_with, TestApp};

const NEEDLES: &str = "select |insert |constraint|sqlx|sqlite|postgres|sea_orm|dberr|\
    panicked|backtrace|locked|canceling|/src/|.rs:|/tmp/|secret_";

/// The first internal detail found in a response body, if any.
pub fn leak(body: &Value) -> Option<&'static str> {
    let text = body.to_string().to_lowercase();
    NEEDLES.split('|').find(|needle| text.contains(needle))
}

pub fn clean(body: &Value) {
    assert_eq!(leak(body), None, "nothing internal: {body}");
}

/// `extensions.code` is `want`, and nothing internal shows.
fn expect(body: &Value, want: &str) {
    assert_eq!(code(body), want, "{body:.600}");
    clean(body);
}

/// Refused as the client's fault, with no data.
fn refused(body: &Value) {
    expect(body, "BAD_USER_INPUT");
    assert!(body["data"].is_null(), "ran: {body:.600}");
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
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:.300}"));
    Reply {
        status,
        headers,
        body,
    }
}

pub fn post(app: &TestApp) -> reqwest::RequestBuilder {
    app.client.post(format!("{}/graphql", app.addr))
}

/// A GraphQL document without variables, as `tok`.
async fn ask(app: &TestApp, tok: &str, doc: &str) -> Value {
    app.gql(tok, doc, json!({})).await
}

/// A document without variables, as ADMIN.
async fn adm(app: &TestApp, doc: &str) -> Value {
    app.gql(&admin(), doc, json!({})).await
}

/// A GraphQL request as ADMIN.
async fn gql(app: &TestApp, doc: &str, vars: Value) -> Value {
    app.gql(&admin(), doc, vars).await
}

/// A GraphQL request as ADMIN that must succeed: its data.
async fn data(app: &TestApp, doc: &str, vars: Value) -> Value {
    app.data(&admin(), doc, vars).await
}

/// An admin POST with any content type (or none) and any body.
async fn raw(app: &TestApp, content_type: Option<&str>, body: String) -> Reply {
    let request = post(app).bearer_auth(admin()).body(body);
    send(match content_type {
        Some(ct) => request.header("content-type", ct),
        None => request,
    })
    .await
}

async fn raw_json(app: &TestApp, body: String) -> Reply {
    raw(app, Some("application/json"), body).await
}

async fn get(app: &TestApp, params: &[(&str, String)]) -> Reply {
    let url = format!("{}/graphql", app.addr);
    send(app.client.get(url).query(params).bearer_auth(admin())).await
}

pub async fn still_up_as(app: &TestApp, tok: &str) {
    let body = ask(app, tok, "{ legalEntities { id } }").await;
    let up = body.get("errors").is_none() && body["data"]["legalEntities"].is_array();
    assert!(up, "the server still answers: {body}");
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
pub async fn written(app: &TestApp) -> [u64; 11] {
    [
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

/// A token with no scope: each resolver it reaches audits a denial, which
/// shows whether a refused document ran anything at all.
fn scopeless(sub: &str) -> String {
    let sub = sub.to_string();
    token_with(move |c| {
        c.sub = sub;
        c.role = "ACCOUNTANT".into();
    })
}

/// `doc` with `%E` replaced by `e`.
fn with(doc: &str, e: &str) -> String {
    doc.replace("%E", e)
}

fn customer_field(entity: &str, name: &str) -> String {
    let input = format!("legalEntityId: \"{entity}\", name: \"{name}\"");
    format!("createCustomer(input: {{ {input} }}) {{ id }}")
}

fn new_customer(entity: &str, name: &str) -> String {
    format!("mutation {{ {} }}", customer_field(entity, name))
}

fn nested_connections(levels: usize) -> String {
    let mut inner = "id".to_string();
    for _ in 0..levels {
        inner = format!("invoices {{ edges {{ node {{ billingRun {{ {inner} }} }} }} }}");
    }
    inner
}

const RUNS: &str = "{ billingRuns(legalEntityId: \"%E\") { edges { node { INNER } } } }";
const DEEP_TRIGGER: &str = "mutation { triggerBillingRun(input: { legalEntityId: \"%E\", \
    asOf: \"2026-01-15\", wait: true }) { runs { INNER } } }";

#[tokio::test]
async fn item_01_a_fifty_level_connection_bomb_is_refused_before_any_resolver_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("DEP", "EUR").await;
    let prober = scopeless("depth-prober");
    let before = written(&app).await;
    for levels in [3, 50] {
        let inner = nested_connections(levels);
        let query = with(RUNS, &e).replace("INNER", &inner);
        refused(&ask(&app, &prober, &query).await);
        let mutation = with(DEEP_TRIGGER, &e).replace("INNER", &inner);
        refused(&adm(&app, &mutation).await);
    }
    let ran = denied(&app, "depth-prober").await;
    assert!(ran.is_empty(), "no resolver ran");
    assert_eq!(written(&app).await, before, "no run was started");
    // The probe works: a shallow query does reach the guard.
    let shallow = ask(&app, &prober, "{ legalEntities { id } }").await;
    expect(&shallow, "FORBIDDEN");
    assert_eq!(denied(&app, "depth-prober").await.len(), 1);
    still_up(&app).await;
}

const MULTIPLIED: &str = "{ billingRuns(legalEntityId: \"%E\", first: 100) { edges { node { \
    invoices(first: 100) { edges { node { id lines { netAmount } } } } } } } }";
const DRY_RUN: &str =
    "triggerBillingRun(input: { legalEntityId: \"%E\", dryRun: true }) { runs { id } }";

fn aliases(n: usize, field: &str) -> String {
    (0..n).map(|i| format!("a{i}: {field} ")).collect()
}

#[tokio::test]
async fn item_02_alias_floods_and_multiplied_connections_are_refused_aliased_writes_too() {
    let app = spawn_app().await;
    let e = app.create_entity("ALS", "EUR").await;
    let prober = scopeless("alias-prober");
    let flood = aliases(3000, "legalEntities { id }");
    refused(&ask(&app, &prober, &format!("{{ {flood} }}")).await);
    refused(&ask(&app, &prober, &with(MULTIPLIED, &e)).await);
    let ran = denied(&app, "alias-prober").await;
    assert!(ran.is_empty(), "no resolver ran");
    // Sixty aliased reads are cheap; sixty aliased writes weigh too much.
    let reads = aliases(60, &format!("legalEntity(id: \"{e}\") {{ id }}"));
    let body = adm(&app, &format!("{{ {reads} }}")).await;
    assert_eq!(body["data"]["a59"]["id"], e.as_str(), "{body:.300}");
    let before = written(&app).await;
    let creates = aliases(60, &customer_field(&e, "C"));
    refused(&adm(&app, &format!("mutation {{ {creates} }}")).await);
    let runs = aliases(60, &with(DRY_RUN, &e));
    refused(&adm(&app, &format!("mutation {{ {runs} }}")).await);
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_03_a_batched_array_body_is_refused_before_anything_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("BAT", "EUR").await;
    let one = json!({ "query": new_customer(&e, "Batched") });
    let bodies = [
        json!([one, one]),
        json!([one]),
        json!([one, one["query"]]),
        json!(one["query"]),
        json!(null),
        json!(42),
        json!({ "query": [one["query"], one["query"]] }),
        json!({ "query": one["query"], "variables": [one] }),
        // Found by this suite and fixed in f90a2a9: serde read a struct from an array.
        json!([one["query"]]),
        json!([one["query"], null, {}]),
        json!([]),
    ];
    let mut bodies: Vec<String> = bodies.iter().map(Value::to_string).collect();
    bodies.push(format!(" \n\t[{one}]"));
    let before = written(&app).await;
    for body in bodies {
        let reply = raw_json(&app, body.clone()).await;
        assert_eq!(reply.status, 400, "{body:.100}: {}", reply.body);
        refused(&reply.body);
    }
    assert_eq!(written(&app).await, before, "no batched mutation ran");
    still_up(&app).await;
}

const SPREAD: &str = "{ legalEntities { ...F SKIPS } } fragment F on LegalEntity { id }";
const CYCLES: [&str; 3] = [
    "{ legalEntities { ...A } } fragment A on LegalEntity { id ...A }",
    "{ legalEntities { ...A } } fragment A on LegalEntity { ... on LegalEntity { ...A } }",
    "mutation { createCustomer(input: { legalEntityId: \"1\", name: \"C\" }) { ...A } } \
     fragment A on Customer { id ...B } fragment B on Customer { name ...A }",
];

#[tokio::test]
async fn item_04_directive_floods_fragment_cycles_and_fragment_bombs_are_refused() {
    let app = spawn_app().await;
    app.create_entity("DIR", "EUR").await;
    let before = written(&app).await;
    let create = new_customer("1", "D");
    let includes = "@include(if: true) ".repeat(300) + "{ id }";
    refused(&adm(&app, &create.replace("{ id }", &includes)).await);
    let skips = "@skip(if: false) ".repeat(300);
    refused(&adm(&app, &SPREAD.replace("SKIPS", &skips)).await);
    let eleven = "@include(if: true) ".repeat(11);
    refused(&adm(&app, &format!("{{ legalEntities {eleven} {{ id }} }}")).await);
    for doc in CYCLES {
        refused(&adm(&app, doc).await);
    }
    // A fragment "billion laughs": each spreads the one before twice (2^40 fields).
    let mut bomb = String::from("{ legalEntities { ...F40 } } fragment F0 on LegalEntity { id }");
    for i in 1..=40 {
        let p = i - 1;
        bomb += &format!(" fragment F{i} on LegalEntity {{ ...F{p} ...F{p} }}");
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(Duration::from_secs(20), adm(&app, &bomb));
    let body = answer.await.expect("a fragment bomb is answered promptly");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(10), "{took:?}");
    let answered = body["errors"].is_array() || body["data"]["legalEntities"].is_array();
    assert!(answered, "{body:.300}");
    clean(&body);
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

fn nest(open: &str, close: &str, n: usize) -> String {
    open.repeat(n) + "\"x\"" + &close.repeat(n)
}

const NESTED_VARIABLES: [&str; 4] = [
    r#"{"query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
        "variables": {"i": OBJECT}}"#,
    r#"{"query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
        "variables": {"i": {"legalEntityId": "1", "name": LIST}}}"#,
    r#"{"query": "{ __typename }", "extensions": OBJECT}"#,
    r#"{"query": "query($t: [String!]) { domainEvents(types: $t) { id } }",
        "variables": {"t": SHALLOW}}"#,
];
const NESTED_LITERALS: [&str; 5] = [
    "mutation { createCustomer(input: { legalEntityId: \"1\", name: LIST }) { id } }",
    "mutation { createCustomer(input: OBJECT) { id } }",
    "{ legalEntity(id: OBJECT) { id } }",
    "{ domainEvents(types: LIST) { id } }",
    "{ legalEntities { FRAGMENTS } }",
];

#[tokio::test]
async fn item_05_inputs_nested_thousands_deep_are_errors_not_crashes() {
    let app = spawn_app().await;
    app.create_entity("NST", "EUR").await;
    let before = written(&app).await;
    // Built as text: serialising values this deep would overflow the test's own stack.
    let object = nest("{\"a\":", "}", 10_000);
    let (list, shallow) = (nest("[", "]", 10_000), nest("[", "]", 100));
    for body in NESTED_VARIABLES {
        let body = body.replace("OBJECT", &object).replace("LIST", &list);
        let reply = raw_json(&app, body.replace("SHALLOW", &shallow)).await;
        assert!(matches!(reply.status, 200 | 400), "{}", reply.status);
        refused(&reply.body);
    }
    let (list, object) = (nest("[", "]", 5_000), nest("{a: ", "}", 10_000));
    let fragments = nest("... on LegalEntity { ", " }", 5_000).replace("\"x\"", "id");
    for doc in NESTED_LITERALS {
        let doc = doc.replace("LIST", &list).replace("OBJECT", &object);
        refused(&adm(&app, &doc.replace("FRAGMENTS", &fragments)).await);
    }
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_06_a_20_mib_body_is_413_before_it_is_read_and_multipart_is_415() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let e = app.create_entity("BIG", "EUR").await;
    let before = written(&app).await;
    // Announce 20 MiB and send none of it: the answer comes from the headers alone.
    let address = ("127.0.0.1", app.port);
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("tcp");
    let (auth, length) = (admin(), 20 * 1024 * 1024);
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer));
    let n = read.await.expect("answered before any body").expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    let shaped = answer.contains("\"code\":\"BAD_USER_INPUT\"");
    assert!(shaped, "GraphQL-shaped: {answer}");

    // A real 20 MiB body holding a mutation.
    let query = json!(new_customer(&e, "Big"));
    let padding = " ".repeat(length);
    let reply = raw_json(&app, format!("{{\"query\": {query}{padding}}}")).await;
    assert_eq!(reply.status, 413);
    expect(&reply.body, "BAD_USER_INPUT");

    let part = |name: &str, value: &str| {
        format!("--x\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let operations = json!({ "query": query }).to_string();
    let multipart = part("operations", &operations) + &part("map", "{}") + "--x--\r\n";
    let reply = raw(&app, Some("multipart/form-data; boundary=x"), multipart).await;
    assert_eq!(reply.status, 415);
    expect(&reply.body, "BAD_USER_INPUT");
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

/// Each introspects through the field named in `PROBED`.
const PROBES: [&str; 4] = [
    "{ __schema { mutationType { fields { name } } } }",
    "{ __type(name: \"Mutation\") { fields { name } } }",
    "{ ...F } fragment F on Query { __schema { types { name } } }",
    "{ ... on Query { __type(name: \"Invoice\") { fields { name } } } }",
];
const PROBED: [&str; 4] = ["__schema", "__type", "__schema", "__type"];

const TYPOS: [&str; 6] = [
    "{ legalEntitie { id } }",
    "{ legalEntities { idd code nam } }",
    "{ legalEntity(idd: \"1\") { id } }",
    "{ legalEntities { ...F } } fragment F on LegalEntit { id }",
    "{ invoices(legalEntityId: \"1\", status: POSTE) { edges { node { id } } } }",
    "mutation { createCustomer(input: { legalEntityId: \"1\", nam: \"x\" }) { id } }",
];

#[tokio::test]
async fn item_07_introspection_follows_the_policy_and_errors_never_suggest_names() {
    use billrun::config::Introspection;
    let app = spawn_app().await;
    let partner = token("PARTNER", &["billing:read"], &["1"]);
    let accountant = token("ACCOUNTANT", &["billing:read"], &["*"]);
    for (probe, field) in PROBES.into_iter().zip(PROBED) {
        // A partner learns nothing about the schema: the field answers null.
        let body = ask(&app, &partner, probe).await;
        assert!(body["data"][field].is_null(), "{probe}: {body:.300}");
        let named = body.to_string().contains("createContract");
        assert!(!named, "{body:.300}");
        let staff = ask(&app, &accountant, probe).await;
        assert!(staff["data"][field].is_object(), "{staff:.300}");
    }
    let typename = "{ __typename legalEntities { __typename } }";
    let body = ask(&app, &partner, typename).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    let schema = "{ __schema { queryType { name } } }";
    let off = spawn_app_with(|a| a.introspection = Introspection::Off).await;
    let body = adm(&off, schema).await;
    let hidden = body["data"]["__schema"].is_null();
    assert!(hidden, "off for ADMIN too: {body}");
    let body = adm(&off, "{ __typename }").await;
    assert_eq!(body["data"]["__typename"], "Query");
    let all = spawn_app_with(|a| a.introspection = Introspection::All).await;
    let body = ask(&all, &partner, schema).await;
    let name = &body["data"]["__schema"]["queryType"]["name"];
    assert_eq!(name, "Query", "{body}");

    for tok in [&admin(), &partner] {
        for doc in TYPOS {
            let body = ask(&app, tok, doc).await;
            expect(&body, "BAD_USER_INPUT");
            let text = body.to_string().to_lowercase();
            assert!(!text.contains("did you mean"), "no suggestion: {body}");
        }
    }
}

#[tokio::test]
async fn item_08_get_carrying_a_mutation_is_405_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("GET", "EUR").await;
    let create = new_customer(&e, "ViaGet");
    let body = create.trim_start_matches("mutation ");
    let two = format!("query Q {{ __typename }} mutation M {body}");
    let var = new_customer(&e, "N").replace("mutation {", "mutation($n: String!) {");
    let var = var.replace("\"N\"", "$n");
    let before = written(&app).await;
    let q = |s: &str| ("query", s.to_string());
    let cases = [
        vec![q(&create)],
        vec![q(&format!("# a comment first\n  mutation M {body}"))],
        vec![q(&two), ("operationName", "M".into())],
        vec![q(&two), ("operation_name", "M".into())],
        vec![q(&two)],
        vec![q(&var), ("variables", "{\"n\":\"V\"}".into())],
    ];
    for params in &cases {
        let reply = get(&app, params).await;
        assert_eq!(reply.status, 405, "{params:?}: {}", reply.body);
        expect(&reply.body, "BAD_USER_INPUT");
    }
    // Naming the query of a mixed document: the query runs, or all is refused.
    for name in ["operationName", "operation_name"] {
        let reply = get(&app, &[q(&two), (name, "Q".into())]).await;
        let ran_query = reply.body["data"]["__typename"] == "Query";
        assert!(ran_query || reply.status == 405, "{}", reply.body);
    }
    // A document that does not parse runs nothing either.
    let reply = get(&app, &[q(&format!("{create} }}"))]).await;
    assert!(reply.body["errors"].is_array() && reply.body["data"].is_null());
    assert_eq!(written(&app).await, before, "nothing written over GET");
    still_up(&app).await;
}

/// Content types a cross-site form or fetch can send without a preflight, and others.
const NOT_JSON: &str = "text/plain|text/plain;charset=UTF-8|TEXT/PLAIN|\
    text/plain; application/json|application/x-www-form-urlencoded|\
    application/x-www-form-urlencoded; charset=utf-8|multipart/form-data; boundary=x|\
    application/graphql|text/html||none";

#[tokio::test]
async fn item_09_text_form_and_unlabelled_posts_are_415_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("CTY", "EUR").await;
    let mutation = new_customer(&e, "Csrf");
    let json_body = json!({ "query": mutation }).to_string();
    let form = format!("query={}", mutation.replace(' ', "+").replace('"', "%22"));
    let before = written(&app).await;
    for content_type in NOT_JSON.split('|') {
        let body = match content_type {
            "application/x-www-form-urlencoded" => form.clone(),
            "application/graphql" => mutation.clone(),
            _ => json_body.clone(),
        };
        let header = Some(content_type).filter(|ct| *ct != "none");
        let reply = raw(&app, header, body).await;
        assert_eq!(reply.status, 415, "{content_type:?}: {}", reply.body);
        expect(&reply.body, "BAD_USER_INPUT");
    }
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

fn is_postgres(app: &TestApp) -> bool {
    app.database_url.starts_with("postgres")
}

const FAILING_TRIGGER_PG: [&str; 2] = [
    "CREATE FUNCTION secret_fn() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION \
     'constraint secret_guard violated: SELECT * FROM customer' USING ERRCODE = '23514'; \
     END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER secret_guard BEFORE INSERT ON customer FOR EACH ROW \
     EXECUTE FUNCTION secret_fn()",
];
const FAILING_TRIGGER_SQLITE: &str = "CREATE TRIGGER secret_guard BEFORE INSERT ON customer \
     BEGIN SELECT RAISE(ABORT, 'constraint secret_guard violated: SELECT * FROM customer'); END";
const DROP_TRIGGER: [&str; 2] = [
    "DROP TRIGGER secret_guard",
    "DROP TRIGGER secret_guard ON customer",
];
const RENAME: [&str; 2] = [
    "ALTER TABLE contract_line RENAME TO contract_line_gone",
    "ALTER TABLE contract_line_gone RENAME TO contract_line",
];
const CREATE_CONTRACT: &str = "mutation($i: CreateContractInput!, $k: String) \
    { createContract(input: $i, idempotencyKey: $k) { id } }";

fn monthly(customer: &str, price: &str) -> Value {
    let line = json!([{ "description": "Plan", "quantity": "1", "unitPrice": price }]);
    json!({ "customerId": customer, "startDate": "2026-01-01", "interval": "MONTH", "lines": line })
}

async fn sql(app: &TestApp, statement: &str) {
    app.db.execute_unprepared(statement).await.expect(statement);
}

async fn post_with_id(app: &TestApp, doc: &str, id: &str) -> Reply {
    let request = post(app).bearer_auth(admin()).header("x-request-id", id);
    send(request.json(&json!({ "query": doc }))).await
}

#[tokio::test]
async fn item_10_database_failures_are_generic_with_a_request_id_and_roll_back() {
    let app = spawn_app().await;
    let e = app.create_entity("DBF", "EUR").await;
    let c = app.create_customer(&e, "Existing").await;
    let pg = usize::from(is_postgres(&app));
    let install = [&[FAILING_TRIGGER_SQLITE][..], &FAILING_TRIGGER_PG[..]][pg];
    for statement in install {
        sql(&app, statement).await;
    }
    let before = written(&app).await;
    let reply = post_with_id(&app, &new_customer(&e, "Boom"), "sec-req-42").await;
    expect(&reply.body, "INTERNAL");
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    let id = reply.headers.get("x-request-id").map(|v| v.as_bytes());
    assert_eq!(id, Some(&b"sec-req-42"[..]), "the caller's request id");
    let reply = raw_json(&app, r#"{"query": "{"}"#.into()).await;
    let id = reply.headers.get("x-request-id");
    assert!(id.is_some_and(|v| !v.is_empty()), "a request id to quote");
    sql(&app, DROP_TRIGGER[pg]).await;
    assert_eq!(written(&app).await, before, "nothing written");
    // A unique constraint the API does not know about: CONFLICT, unnamed.
    sql(&app, "CREATE UNIQUE INDEX secret_idx ON customer (name)").await;
    expect(&adm(&app, &new_customer(&e, "Existing")).await, "CONFLICT");
    // A table gone in the middle of a write: the contract rolls back with its lines.
    sql(&app, RENAME[0]).await;
    let vars = json!({ "i": monthly(&c, "10.00") });
    expect(&gql(&app, CREATE_CONTRACT, vars.clone()).await, "INTERNAL");
    sql(&app, RENAME[1]).await;
    assert_eq!(written(&app).await, before, "the contract rolled back");
    data(&app, CREATE_CONTRACT, vars).await;
    still_up(&app).await;
}

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
async fn item_11_pages_clamp_at_100_and_bad_first_or_after_are_bad_user_input() {
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
        assert_eq!(len(&head["edges"]), 100, "{q}: clamped to 100");
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
    let runs = data(&app, &with(ALL_RUNS, &e), json!({})).await;
    assert_eq!(runs["billingRuns"]["nodes"][0]["id"], r["id"]);
    for q in BAD_PAGING {
        refused(&adm(&app, q).await);
    }
    let events = data(&app, ALL_EVENTS, json!({})).await;
    let (audit, outbox) = (len(&events["auditEvents"]), len(&events["domainEvents"]));
    assert!((1..=500).contains(&audit) && (101..=500).contains(&outbox));
    still_up(&app).await;
}

/// Holds the write lock on legal_entity (reads still pass) until rolled back.
async fn lock_legal_entities(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let options = TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    let blocker = app.db.begin_with_options(options).await.expect("begin");
    if is_postgres(app) {
        let lock = "LOCK TABLE legal_entity IN EXCLUSIVE MODE";
        blocker.execute_unprepared(lock).await.expect("lock");
    }
    blocker
}

const NEW_ENTITY: &str = "mutation { createLegalEntity(input: { code: \"%E\", name: \"S\", \
    currency: \"EUR\", country: \"EE\", timezone: \"UTC\" }) { id } }";

async fn create_entity(app: &TestApp, code: String) -> Reply {
    let doc = with(NEW_ENTITY, &code);
    let request = post(app).bearer_auth(admin());
    send(request.json(&json!({ "query": doc }))).await
}

async fn slow_entities(app: &TestApp) -> u64 {
    let slow = legal_entity::Column::Code.starts_with("SLOW");
    let query = legal_entity::Entity::find().filter(slow);
    query.count(&app.db).await.expect("count")
}

#[tokio::test]
async fn item_12_timed_out_requests_are_408_and_the_pool_recovers() {
    let app = spawn_app_with(|a| {
        a.request_timeout_secs = 1;
        a.db.db_pool_size = 2;
    })
    .await;
    let blocker = lock_legal_entities(&app).await;
    let started = Instant::now();
    // More waiting writers than the pool has connections.
    let writes = (0..4).map(|i| create_entity(&app, format!("SLOW{i}")));
    for reply in join_all(writes).await {
        assert_eq!(reply.status, 408, "{}", reply.body);
        let code = &reply.body["errors"][0]["extensions"]["code"];
        assert!(code.is_string(), "GraphQL-shaped: {}", reply.body);
        clean(&reply.body);
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    blocker.rollback().await.expect("release");
    let recovering = Instant::now();
    while create_entity(&app, "AFTER".into())
        .await
        .body
        .get("errors")
        .is_some()
    {
        let waited = recovering.elapsed();
        assert!(waited < Duration::from_secs(15), "the pool is exhausted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    still_up(&app).await;
}

#[tokio::test]
async fn item_12_a_timed_out_write_never_lands() {
    let app = spawn_app_with(|a| a.request_timeout_secs = 1).await;
    let blocker = lock_legal_entities(&app).await;
    let reply = create_entity(&app, "SLOW1".into()).await;
    assert_eq!(reply.status, 408, "{}", reply.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    blocker.rollback().await.expect("release");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(slow_entities(&app).await, 0, "told 408, yet written");
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
    let reply = create_entity(&app, "SLOWDB".into()).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "{took:?}");
    expect(&reply.body, "INTERNAL");
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    blocker.rollback().await.expect("release");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(slow_entities(&app).await, 0, "nothing written");
    still_up(&app).await;
}

const MISSING: &str = "999999";
const CONFIG: &str = "{ agentDefinitions { config { defaultBillingEntityId } } }";

const TRIGGER: &str = "mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, \
    asOf: \"2026-01-15\", wait: true }) { runs { id status invoiceCount } } }";
const PAY: &str = "mutation($i: ID!, $a: Decimal!) { recordPayment(input: { invoiceId: $i, \
    amount: $a, receivedOn: \"2026-01-20\" }) { id amountPaid } }";
const FIRST_INVOICE: &str =
    "query($e: ID!) { invoices(legalEntityId: $e, first: 1) { nodes { id } } }";

#[tokio::test]
async fn item_28_idempotency_keys_replay_refuse_other_input_are_per_subject_and_survive_races() {
    let app = spawn_app().await;
    let e = app.create_entity("IDK", "EUR").await;
    let c = app.create_customer(&e, "Retry").await;
    let keyed = |key: &str, query: &str, vars: Value| {
        let request = post(&app)
            .bearer_auth(admin())
            .header("Idempotency-Key", key);
        send(request.json(&json!({ "query": query, "variables": vars })))
    };
    let contracts = || rows(&app, contract::Entity);
    // The argument: a replay, a conflict, per subject.
    let arg = |price: &str, key: &str| json!({ "i": monthly(&c, price), "k": key });
    let a1 = data(&app, CREATE_CONTRACT, arg("10.00", "arg-1")).await;
    assert_eq!(data(&app, CREATE_CONTRACT, arg("10.00", "arg-1")).await, a1);
    assert_eq!(contracts().await, 1, "the argument replays");
    let other = gql(&app, CREATE_CONTRACT, arg("11.00", "arg-1")).await;
    expect(&other, "CONFLICT");
    let colleague = token_with(|c| c.sub = "colleague".into());
    let theirs = app.data(&colleague, CREATE_CONTRACT, arg("10.00", "arg-1"));
    assert_ne!(theirs.await, a1, "keys are per subject");
    assert_eq!(contracts().await, 2);
    // Bad keys are refused before anything runs.
    let long = "k".repeat(201);
    for key in ["", long.as_str(), "tab\there"] {
        let body = gql(&app, CREATE_CONTRACT, arg("10.00", key)).await;
        expect(&body, "BAD_USER_INPUT");
    }
    // A failed first attempt releases its key for the corrected retry.
    let failed = gql(&app, CREATE_CONTRACT, arg("-1", "fix-1")).await;
    expect(&failed, "BAD_USER_INPUT");
    let fixed = data(&app, CREATE_CONTRACT, arg("12.00", "fix-1")).await;
    let again = data(&app, CREATE_CONTRACT, arg("12.00", "fix-1")).await;
    assert_eq!(again, fixed);
    assert_eq!(contracts().await, 3);
    // Eight racing requests with one header key: one contract.
    let vars = json!({ "i": monthly(&c, "13.00") });
    let racing = (0..8).map(|_| keyed("race-1", CREATE_CONTRACT, vars.clone()));
    let mut ids = Vec::new();
    for reply in join_all(racing).await {
        match reply.body.get("errors") {
            None => ids.push(reply.body["data"]["createContract"]["id"].clone()),
            Some(_) => expect(&reply.body, "CONFLICT"),
        }
    }
    let one = !ids.is_empty() && ids.iter().all(|id| *id == ids[0]);
    assert!(one, "one id: {ids:?}");
    assert_eq!(contracts().await, 4, "one contract for eight");

    // The header on a waited trigger and on a payment.
    let t1 = keyed("run-h", TRIGGER, json!({ "e": e })).await;
    let after_first = written(&app).await;
    let t2 = keyed("run-h", TRIGGER, json!({ "e": e })).await;
    assert_eq!(t1.body["data"], t2.body["data"], "the same runs");
    let runs = &t1.body["data"]["triggerBillingRun"]["runs"];
    assert_eq!(runs[0]["invoiceCount"], 4, "{runs}");
    assert_eq!(written(&app).await, after_first, "the retry wrote nothing");
    let invoices = data(&app, FIRST_INVOICE, json!({ "e": e })).await;
    let invoice = &invoices["invoices"]["nodes"][0]["id"];
    let p1 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "4.00" })).await;
    let p2 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "4.00" })).await;
    assert_eq!(p1.body, p2.body);
    assert_eq!(p2.body["data"]["recordPayment"]["amountPaid"], "4.00");
    let p3 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "5.00" })).await;
    expect(&p3.body, "CONFLICT");
    // The same key on another operation is another request.
    let vars = json!({ "i": monthly(&c, "10.00") });
    let cross = keyed("pay-h", CREATE_CONTRACT, vars).await;
    expect(&cross.body, "CONFLICT");
    let payments = rows(&app, payment::Entity).await;
    assert_eq!((payments, contracts().await), (1, 4));
}

/// Start dates that are impossible, malformed or centuries away, and
/// start..end pairs that are reversed, impossible or centuries long.
const BAD_STARTS: &str = "2026-02-30 2026-02-29 2026-13-01 2026-00-10 2026-1-5 \
    2026-01-01T00:00:00Z +2026-01-01 0000-01-01 1800-01-01 2300-01-01 1899-12-31";
const BAD_RANGES: &str = "2026-01-01..2026-02-30 2026-03-01..2026-02-28 \
    2026-01-01..2300-01-01 1800-01-01..2300-01-01";
const DATED_TRIGGER: &str = "mutation($e: ID, $d: Date) { triggerBillingRun(input: \
    { legalEntityId: $e, asOf: $d, wait: true }) { runs { id } } }";
/// As-of dates refused for an existing entity.
const BAD_AS_OF: [&str; 4] = ["2026-02-30", "1800-01-01", "2300-01-01", "9999-12-31"];
/// Documents using %E (an entity) or %M (a missing id), refused with BAD_USER_INPUT.
const IMPOSSIBLE: [&str; 4] = [
    "{ arAging(legalEntityId: \"%E\", asOf: \"2026-02-30\") { asOf } }",
    "{ invoices(legalEntityId: \"%E\", dueFrom: \"2026-02-30\") { nodes { id } } }",
    "mutation { recordPayment(input: { invoiceId: \"1\", amount: \"1.00\", \
     receivedOn: \"2026-02-29\" }) { id } }",
    "mutation { updateBillingAgentConfig(input: { defaultBillingEntityId: \"%M\" }) \
     { defaultBillingEntityId } }",
];
/// … and refused with NOT_FOUND.
const UNKNOWN: [&str; 4] = [
    "{ arAging(legalEntityId: \"%M\") { asOf } }",
    "mutation { createCustomer(input: { legalEntityId: \"%M\", name: \"G\" }) { id } }",
    "mutation { createTaxCode(input: { legalEntityId: \"%M\", code: \"G\", rate: \"5\" }) \
     { id } }",
    "mutation { recordPayment(input: { invoiceId: \"%M\", amount: \"1.00\", \
     receivedOn: \"2026-01-20\" }) { id } }",
];

#[tokio::test]
async fn item_29_impossible_reversed_and_century_dates_and_unknown_entities_write_nothing() {
    let app = spawn_app().await;
    let e = app.create_entity("DAT", "EUR").await;
    let c = app.create_customer(&e, "Dates").await;
    let before = written(&app).await;
    let starts = BAD_STARTS.split_whitespace().map(|s| (s, None));
    let ranges = BAD_RANGES
        .split_whitespace()
        .map(|r| r.split_once("..").expect("range"));
    for (start, end) in starts.chain(ranges.map(|(s, e)| (s, Some(e)))) {
        let mut input = monthly(&c, "10.00");
        (input["startDate"], input["endDate"]) = (json!(start), json!(end));
        let body = gql(&app, CREATE_CONTRACT, json!({ "i": input })).await;
        expect(&body, "BAD_USER_INPUT");
    }
    let ghost = json!({ "i": monthly(MISSING, "10.00") });
    expect(&gql(&app, CREATE_CONTRACT, ghost).await, "BAD_USER_INPUT");
    for as_of in BAD_AS_OF {
        let body = gql(&app, DATED_TRIGGER, json!({ "e": e, "d": as_of })).await;
        expect(&body, "BAD_USER_INPUT");
    }
    for entity in [MISSING, "not-an-id"] {
        let vars = json!({ "e": entity, "d": "2026-01-15" });
        expect(&gql(&app, DATED_TRIGGER, vars).await, "NOT_FOUND");
    }
    for (docs, want) in [(IMPOSSIBLE, "BAD_USER_INPUT"), (UNKNOWN, "NOT_FOUND")] {
        for doc in docs {
            let doc = with(doc, &e).replace("%M", MISSING);
            expect(&adm(&app, &doc).await, want);
        }
    }
    assert_eq!(written(&app).await, before, "nothing written");
    let config = data(&app, CONFIG, json!({})).await;
    let default = &config["agentDefinitions"][0]["config"]["defaultBillingEntityId"];
    assert_eq!(*default, Value::Null);
}

/// (quantity, unit price) pairs refused as input.
/// quantity*unitPrice pairs refused as input.
const BAD_LINES: &str = "1000000*9999999999999 99999999*99999999 -1*10.00 -0.000001*10.00 \
    -0*10.00 1*-0.01 1*0.0000001 1*79228162514264337593543950336 \
    1*-79228162514264337593543950335 1e6*10.00 Infinity*10.00";

fn line(quantity: Value, price: Value) -> Value {
    json!([{ "description": "Edge", "quantity": quantity, "unitPrice": price }])
}

fn field_of(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["field"]
}

#[tokio::test]
async fn item_30_money_edges_are_checked_and_rounded_as_documented() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let e = app.create_entity("MNY", "EUR").await;
    let c = app.create_customer(&e, "Edges").await;
    let contract = |start: &str, interval: &str, lines: Value| json!({ "customerId": c, "startDate": start, "interval": interval, "lines": lines });
    let yearly = |q: Value, p: Value| contract("2029-01-01", "YEAR", line(q, p));
    let before = written(&app).await;
    let lines = BAD_LINES
        .split_whitespace()
        .map(|l| l.split_once('*').expect("pair"));
    let lines = lines.map(|(q, p)| (json!(q), json!(p)));
    let numbers = [(json!(1000000), json!("10")), (json!("1"), json!(0.125))];
    for (quantity, price) in lines.into_iter().chain(numbers) {
        let vars = json!({ "i": yearly(quantity, price) });
        let body = gql(&app, CREATE_CONTRACT, vars).await;
        expect(&body, "BAD_USER_INPUT");
        let named = field_of(&body).as_str().unwrap_or("lines.0");
        assert!(named.starts_with("lines.0"), "{body}");
    }
    assert_eq!(written(&app).await, before, "nothing written");

    // Half-cent ties round away from zero, on the net and on the tax.
    let tie = contract_with(&app, yearly(json!("1"), json!("0.125"))).await;
    let mut taxed = yearly(json!("1"), json!("0.10"));
    taxed["lines"][0]["taxCodeId"] = json!(app.create_tax_code(&e, "V5", "5").await);
    let taxed = contract_with(&app, taxed).await;
    // Feb 29: a yearly contract keeps its anchor; a leap February prorates by 29 days.
    let leap = contract("2028-02-29", "YEAR", line(json!("1"), json!("100.00")));
    let leap = contract_with(&app, leap).await;
    let mut short = contract("2028-02-01", "MONTH", line(json!("1"), json!("29.00")));
    short["endDate"] = json!("2028-02-14");
    let short = contract_with(&app, short).await;
    let r = run(&app, &e, "2029-03-01").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    let of = |k: &str, f: &str| -> Vec<String> {
        let mine = invoices.iter().filter(|i| i["contract"]["id"] == k);
        mine.map(|i| i[f].as_str().unwrap_or("").to_string())
            .collect()
    };
    let tie = [of(&tie, "subtotal"), of(&tie, "total")];
    assert_eq!(tie, [["0.13"], ["0.13"]], "0.125 bills 0.13");
    let taxed = [of(&taxed, "taxTotal"), of(&taxed, "total")];
    assert_eq!(taxed, [["0.01"], ["0.11"]], "a 0.005 tax bills 0.01");
    assert_eq!(of(&leap, "periodStart"), ["2028-02-29", "2029-02-28"]);
    assert_eq!(of(&leap, "periodEnd"), ["2029-02-27", "2030-02-27"]);
    assert_eq!(of(&leap, "total"), ["100.00", "100.00"], "not prorated");
    assert_eq!(of(&short, "total"), ["14.00"], "14 of 29 days of 29.00");
    let later = run(&app, &e, "2032-03-01").await;
    let invoices = run_invoices(&app, &later["id"]).await;
    let leap_starts = invoices
        .iter()
        .filter(|i| i["contract"]["id"] == leap.as_str());
    let starts: Vec<&Value> = leap_starts.map(|i| &i["periodStart"]).collect();
    assert_eq!(starts, ["2030-02-28", "2031-02-28", "2032-02-29"]);
    still_up(&app).await;
}

/// A customer with one monthly contract for 100 × `price` at 100 % tax.
async fn big_contract(app: &TestApp, e: &str, tax: &str, name: &str, price: &str) -> Value {
    let c = app.create_customer(e, name).await;
    let mut input = monthly(&c, price);
    input["lines"][0]["quantity"] = json!("100");
    input["lines"][0]["taxCodeId"] = json!(tax);
    gql(app, CREATE_CONTRACT, json!({ "i": input })).await
}

/// 100 × this, doubled by 100 % tax, is the largest whole amount storable
/// (i64::MAX at scale 4 is 922,337,203,685,477.5807).
const HALF_MAX_PRICE: &str = "4611686018427.38";
const HALF: &str = "461168601842738.00";
const WHOLE: &str = "922337203685476.00";

#[tokio::test]
async fn item_30_amounts_at_the_storage_limit_bill_exactly_and_run_totals_beyond_it_fail_checked() {
    let app = spawn_app().await;
    let e = app.create_entity("MAX", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    let over = big_contract(&app, &e, &full, "Over", "4611686018427.39").await;
    expect(&over, "BAD_USER_INPUT");
    let x = big_contract(&app, &e, &full, "X", HALF_MAX_PRICE).await;
    assert!(x.get("errors").is_none(), "{x}");
    let r = run(&app, &e, "2026-01-15").await;
    let inv = &run_invoices(&app, &r["id"]).await[0];
    let amounts = [&inv["subtotal"], &inv["taxTotal"], &inv["total"]];
    assert_eq!(amounts, [HALF, HALF, WHOLE], "exact at the edge");
    assert_eq!(r["invoiceTotal"], WHOLE);
    // Two such invoices in one run exceed what a run total can hold.
    let y = big_contract(&app, &e, &full, "Y", HALF_MAX_PRICE).await;
    assert!(y.get("errors").is_none(), "{y}");
    let invoices_before = rows(&app, invoice::Entity).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-02-15", "wait": true });
    let body = trigger(&app, &admin(), input).await;
    clean(&body);
    let status = &body["data"]["triggerBillingRun"]["runs"][0]["status"];
    assert_eq!(status, "FAILED", "checked, not a wrapped total: {body}");
    let invoices_after = rows(&app, invoice::Entity).await;
    assert_eq!(invoices_after, invoices_before, "the chunk wrote nothing");
    still_up(&app).await;
}

const AGING_TOTAL: &str =
    "{ arAging(legalEntityId: \"%E\", asOf: \"2026-01-15\") { totals { total } } }";

#[tokio::test]
async fn item_30_aging_totals_beyond_the_storage_limit_are_a_checked_error_not_a_panic() {
    let app = spawn_app().await;
    let e = app.create_entity("AGM", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    big_contract(&app, &e, &full, "X", HALF_MAX_PRICE).await;
    run(&app, &e, "2026-01-15").await;
    // Billed in a run of its own, so no run total overflows.
    big_contract(&app, &e, &full, "Y", HALF_MAX_PRICE).await;
    assert_eq!(run(&app, &e, "2026-01-15").await["invoiceCount"], 1);
    let query = json!({ "query": with(AGING_TOTAL, &e) });
    let reply = send(post(&app).bearer_auth(admin()).json(&query)).await;
    assert_eq!(reply.status, 200, "no panic: {}", reply.body);
    match reply.body.get("errors") {
        // The data, not the request, is out of range: a checked INTERNAL
        // with a fixed message (the cause is logged).
        Some(_) => expect(&reply.body, "INTERNAL"),
        None => {
            let total = &reply.body["data"]["arAging"]["totals"]["total"];
            assert_eq!(total, "1844674407370952.00", "exact, never wrapped");
        }
    }
    still_up(&app).await;
}
