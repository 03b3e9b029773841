//! Documents built to exhaust the server (SECURITY.md items 1, 2, 4, 5, 7):
//! refused at parsing or validation, before any resolver runs.

use std::time::{Duration, Instant};

use super::{adm, ask, customer_field, new_customer, scopeless, with};
use crate::helpers::http::{denied, expect, raw_json, refused, still_up, written};
use crate::helpers::{admin, spawn_app, spawn_app_with, token};

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

/// Sixteen levels of introspection, one more than its depth limit allows.
fn introspection_bomb() -> String {
    let mut bomb = "__schema { types { fields { type { name } } } }".to_string();
    for _ in 0..11 {
        bomb = bomb.replacen("{ name }", "{ ofType { name } }", 1);
    }
    format!("{{ {bomb} }}")
}

#[tokio::test]
async fn a_fifty_level_bomb_or_a_broken_document_is_refused_before_any_resolver_runs() {
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
    let bomb = adm(&app, &introspection_bomb()).await;
    refused(&bomb);
    let message = bomb["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("too deep"),
        "SECURITY 1: refused by the depth limit: {bomb}"
    );
    for broken in ["{ legalEntities { id ", "{ noSuchField }"] {
        refused(&ask(&app, &prober, broken).await);
    }
    let ran = denied(&app, "depth-prober").await;
    assert!(ran.is_empty(), "SECURITY 1: no resolver ran: {ran:?}");
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
async fn alias_floods_and_multiplied_connections_are_refused_and_aliased_writes_weigh_more() {
    let app = spawn_app().await;
    let e = app.create_entity("ALS", "EUR").await;
    let prober = scopeless("alias-prober");
    let flood = aliases(3000, "legalEntities { id }");
    refused(&ask(&app, &prober, &format!("{{ {flood} }}")).await);
    refused(&ask(&app, &prober, &with(MULTIPLIED, &e)).await);
    let ran = denied(&app, "alias-prober").await;
    assert!(ran.is_empty(), "SECURITY 2: no resolver ran: {ran:?}");
    // Sixty aliased reads are cheap; sixty aliased writes weigh too much.
    let reads = aliases(60, &format!("legalEntity(id: \"{e}\") {{ id }}"));
    let body = adm(&app, &format!("{{ {reads} }}")).await;
    assert_eq!(body["data"]["a59"]["id"], e.as_str(), "{body:.300}");
    let before = written(&app).await;
    let creates = aliases(60, &customer_field(&e, "C"));
    refused(&adm(&app, &format!("mutation {{ {creates} }}")).await);
    let runs = aliases(60, &with(DRY_RUN, &e));
    refused(&adm(&app, &format!("mutation {{ {runs} }}")).await);
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 2: mutations weigh more; nothing written"
    );
    still_up(&app).await;
}

const SPREAD: &str = "{ legalEntities { ...F SKIPS } } fragment F on LegalEntity { id }";
const CYCLES: [&str; 4] = [
    "{ legalEntities { ...A } } fragment A on LegalEntity { id ...A }",
    "{ legalEntities { ...A } } fragment A on LegalEntity { ... on LegalEntity { ...A } }",
    "{ legalEntities { ...A } } fragment A on LegalEntity { id ...B } \
     fragment B on LegalEntity { code ...A }",
    "mutation { createCustomer(input: { legalEntityId: \"1\", name: \"C\" }) { ...A } } \
     fragment A on Customer { id ...B } fragment B on Customer { name ...A }",
];

#[tokio::test]
async fn directive_floods_fragment_cycles_and_fragment_bombs_are_refused() {
    let app = spawn_app().await;
    app.create_entity("DIR", "EUR").await;
    let before = written(&app).await;
    let create = new_customer("1", "D");
    let includes = "@include(if: true) ".repeat(300) + "{ id }";
    refused(&adm(&app, &create.replace("{ id }", &includes)).await);
    let skips = "@skip(if: false) ".repeat(300);
    refused(&adm(&app, &SPREAD.replace("SKIPS", &skips)).await);
    for n in [11, 500] {
        let repeated = "@include(if: true) ".repeat(n);
        refused(&adm(&app, &format!("{{ legalEntities {repeated} {{ id }} }}")).await);
    }
    for doc in CYCLES {
        refused(&adm(&app, doc).await);
    }
    // A fragment "billion laughs": each spreads the one before twice (2^40
    // fields), refused by the recursion limit before it is expanded.
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
    refused(&body);
    assert_eq!(written(&app).await, before, "SECURITY 4: nothing written");
    still_up(&app).await;
}

fn nest(open: &str, close: &str, n: usize) -> String {
    open.repeat(n) + "\"x\"" + &close.repeat(n)
}

/// JSON bodies with values nested deep, and the status of each: a body
/// too deep to read as JSON is 400 before any GraphQL work; a shallow but
/// ill-typed variable is a validation error (200 with errors).
const NESTED_VARIABLES: [(&str, u16); 5] = [
    (
        r#"{"query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            "variables": {"i": OBJECT}}"#,
        400,
    ),
    (
        r#"{"query": "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }",
            "variables": {"i": {"legalEntityId": "1", "name": LIST}}}"#,
        400,
    ),
    (r#"{"query": "{ __typename }", "extensions": OBJECT}"#, 400),
    (
        r#"{"query": "query($v: JSON) { __typename }", "variables": {"v": OBJECT}}"#,
        400,
    ),
    (
        r#"{"query": "query($t: [String!]) { domainEvents(types: $t) { id } }",
            "variables": {"t": SHALLOW}}"#,
        200,
    ),
];
const NESTED_LITERALS: [&str; 6] = [
    "mutation { createCustomer(input: { legalEntityId: \"1\", name: LIST }) { id } }",
    "mutation { createCustomer(input: OBJECT) { id } }",
    "{ legalEntity(id: OBJECT) { id } }",
    "{ legalEntity(id: LIST) { id } }",
    "{ domainEvents(types: LIST) { id } }",
    "{ legalEntities { FRAGMENTS } }",
];

#[tokio::test]
async fn inputs_nested_thousands_deep_are_errors_not_crashes() {
    let app = spawn_app().await;
    app.create_entity("NST", "EUR").await;
    let before = written(&app).await;
    // Built as text: serialising values this deep would overflow the test's own stack.
    let object = nest("{\"a\":", "}", 10_000);
    let (list, shallow) = (nest("[", "]", 10_000), nest("[", "]", 100));
    for (body, status) in NESTED_VARIABLES {
        let body = body.replace("OBJECT", &object).replace("LIST", &list);
        let reply = raw_json(&app, body.replace("SHALLOW", &shallow)).await;
        assert_eq!(reply.status, status, "SECURITY 5: {}", reply.body);
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

/// The introspection query GraphiQL sends (graphql-js's
/// `getIntrospectionQuery`, as captured from the page billrun serves).
const GRAPHIQL_INTROSPECTION: &str = include_str!("fixtures/graphiql-introspection.graphql");

#[tokio::test]
async fn the_introspection_query_of_graphiql_and_graphql_tools_passes_the_limits() {
    let app = spawn_app().await;
    let body = adm(&app, GRAPHIQL_INTROSPECTION).await;
    assert!(body.get("errors").is_none(), "{body:.300}");
    let schema = &body["data"]["__schema"];
    assert_eq!(schema["queryType"]["name"], "Query", "{body:.300}");
    assert_eq!(schema["subscriptionType"]["name"], "Subscription");
    let types = schema["types"].as_array().map(Vec::len).unwrap_or(0);
    assert!(types > 50, "the whole schema: {types} types");
}

#[tokio::test]
async fn introspection_follows_the_policy_and_errors_never_suggest_names() {
    use billrun::config::Introspection;
    let app = spawn_app().await;
    let partner = token("PARTNER", &["billing:read"], &["1"]);
    let accountant = token("ACCOUNTANT", &["billing:read"], &["*"]);
    for (probe, field) in PROBES.into_iter().zip(PROBED) {
        // A partner learns nothing about the schema: the field answers null.
        let body = ask(&app, &partner, probe).await;
        assert!(
            body["data"][field].is_null(),
            "SECURITY 7: no introspection for partners: {probe}: {body:.300}"
        );
        let named = body.to_string().contains("createContract");
        assert!(!named, "{body:.300}");
        for staff in [&accountant, &admin()] {
            let body = ask(&app, staff, probe).await;
            assert!(body["data"][field].is_object(), "staff may: {body:.300}");
        }
    }
    let typename = "{ __typename legalEntities { __typename } }";
    let body = ask(&app, &partner, typename).await;
    assert_eq!(body["data"]["__typename"], "Query", "{body}");

    let schema = "{ __schema { queryType { name } } }";
    let off = spawn_app_with(|a| a.introspection = Introspection::Off).await;
    let body = adm(&off, schema).await;
    let hidden = body["data"]["__schema"].is_null();
    assert!(hidden, "SECURITY 7: off for ADMIN too: {body}");
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
            assert!(
                !text.contains("did you mean"),
                "SECURITY 7: no suggestion: {body}"
            );
        }
    }
}
