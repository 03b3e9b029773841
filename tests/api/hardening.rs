//! The API facing the internet (SECURITY.md): hostile documents, requests
//! and tokens get a clear code, nothing is written, nothing internal leaks,
//! and the server stays up.

use std::time::Duration;

use entity::{audit_event, contract, payment};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use crate::helpers::{admin, code, spawn_app, spawn_app_with, token, token_with, TestApp};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn leaks(body: &Value) -> bool {
    let text = body.to_string().to_lowercase();
    [
        "select ",
        "constraint",
        "sqlx",
        "sqlite",
        "postgres",
        "panicked",
        "/src/",
        ".rs:",
    ]
    .iter()
    .any(|needle| text.contains(needle))
}

async fn still_up(app: &TestApp) {
    let body = app
        .gql(&admin(), "{ legalEntities { id } }", json!({}))
        .await;
    assert!(
        body.get("errors").is_none(),
        "the server answers afterwards: {body}"
    );
}

async fn customers(app: &TestApp) -> u64 {
    entity::customer::Entity::find()
        .count(&app.db)
        .await
        .expect("count")
}

#[tokio::test]
async fn item_02_alias_floods_and_aliased_mutations_are_refused_by_complexity() {
    let app = spawn_app().await;
    let entity = app.create_entity("ALI", "EUR").await;
    let flood: String = (0..3000)
        .map(|i| format!("a{i}: legalEntities {{ id }} "))
        .collect();
    let body = app
        .gql(&admin(), &format!("{{ {flood} }}"), json!({}))
        .await;
    assert!(body["data"].is_null(), "refused before execution");
    assert_eq!(code(&body), "BAD_USER_INPUT");
    let before = customers(&app).await;
    let mutations: String = (0..60)
        .map(|i| format!("m{i}: createCustomer(input: {{ legalEntityId: \"{entity}\", name: \"C{i}\" }}) {{ id }} "))
        .collect();
    let body = app
        .gql(&admin(), &format!("mutation {{ {mutations} }}"), json!({}))
        .await;
    assert!(
        body["data"].is_null(),
        "mutations weigh more: 60 aliased creates are refused"
    );
    assert_eq!(customers(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn item_04_directive_overload_and_fragment_cycles_are_refused() {
    let app = spawn_app().await;
    let directives = "@include(if: true) ".repeat(500);
    let body = app
        .gql(
            &admin(),
            &format!("{{ legalEntities {directives} {{ id }} }}"),
            json!({}),
        )
        .await;
    assert!(
        body["data"].is_null() && body["errors"].is_array(),
        "{body}"
    );
    let cycle = "{ legalEntities { ...A } } fragment A on LegalEntity { id ...B } fragment B on LegalEntity { code ...A }";
    let body = app.gql(&admin(), cycle, json!({})).await;
    assert!(
        body["data"].is_null() && body["errors"].is_array(),
        "{body}"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn item_05_deeply_nested_input_is_an_error_not_a_crash() {
    let app = spawn_app().await;
    let depth = 5000;
    let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
    let body = app
        .gql(
            &admin(),
            &format!("{{ legalEntity(id: {nested}) {{ id }} }}"),
            json!({}),
        )
        .await;
    assert!(body["errors"].is_array(), "{body:.200}");
    // Built as text: serialising a value this deep would overflow the
    // client's own stack, which is not what is under test.
    let deep = format!("{}1{}", "{\"a\":".repeat(3000), "}".repeat(3000));
    let raw = format!(
        "{{\"query\": \"query($v: JSON) {{ __typename }}\", \"variables\": {{\"v\": {deep}}}}}"
    );
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .expect("sent");
    assert!(response.status().is_client_error() || response.status().is_success());
    still_up(&app).await;
}

#[tokio::test]
async fn item_06_multipart_uploads_are_refused_before_parsing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .header("content-type", "multipart/form-data; boundary=x")
        .body("--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x--\r\n")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 415);
    let body: Value = response.json().await.expect("JSON body");
    assert_eq!(code(&body), "BAD_USER_INPUT");
}

#[tokio::test]
async fn item_07_partners_get_no_introspection_or_suggestions_but_typename_works() {
    let app = spawn_app().await;
    let partner = token("PARTNER", &["billing:read"], &["1"]);
    let body = app
        .gql(&partner, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(
        body["data"]["__schema"].is_null(),
        "introspection is off for partners: {body:.300}"
    );
    let body = app.gql(&partner, "{ __typename }", json!({})).await;
    assert_eq!(body["data"]["__typename"], "Query");
    let body = app
        .gql(&admin(), "{ __schema { queryType { name } } }", json!({}))
        .await;
    assert_eq!(
        body["data"]["__schema"]["queryType"]["name"], "Query",
        "staff may introspect"
    );
    let body = app
        .gql(&admin(), "{ legalEntitie { id } }", json!({}))
        .await;
    assert!(
        !body.to_string().contains("Did you mean"),
        "no suggestions: {body}"
    );
}

#[tokio::test]
async fn item_10_a_database_error_is_internal_with_a_request_id_and_no_sql() {
    let app = spawn_app().await;
    app.create_entity("DBE", "EUR").await;
    app.db
        .execute_unprepared("ALTER TABLE customer RENAME TO customer_gone")
        .await
        .expect("break the schema");
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .json(&json!({ "query": "{ customers(legalEntityId: \"1\") { id } }" }))
        .send()
        .await
        .expect("sent");
    assert!(
        response.headers().get("x-request-id").is_some(),
        "a request id to quote"
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(code(&body), "INTERNAL");
    assert_eq!(body["errors"][0]["message"], "internal error");
    assert!(!leaks(&body), "nothing internal: {body}");
    app.db
        .execute_unprepared("ALTER TABLE customer_gone RENAME TO customer")
        .await
        .expect("repair");
    still_up(&app).await;
}

#[tokio::test]
async fn item_19_a_token_in_the_query_string_is_never_read() {
    let app = spawn_app().await;
    for param in ["access_token", "token", "authorization"] {
        let response = app
            .client
            .get(format!(
                "{}/graphql?query={{legalEntities{{id}}}}&{param}={}",
                app.addr,
                admin()
            ))
            .send()
            .await
            .expect("sent");
        assert_eq!(
            response.status(),
            401,
            "{param} in the query string is ignored"
        );
    }
}

#[tokio::test]
async fn item_14_public_key_tokens_verify_and_algorithm_confusion_is_refused_over_http() {
    let app = spawn_app_with(|a| {
        a.jwt_public_keys = vec![format!("rsa1=RS256:{KEYS}/rsa.pub.pem")];
        a.jwt_jwks_file = Some(format!("{KEYS}/jwks.json").into());
    })
    .await;
    let claims =
        json!({ "sub": "idp-user", "exp": chrono::Utc::now().timestamp() + 600, "role": "ADMIN" });
    let sign = |alg: jsonwebtoken::Algorithm, kid: &str, key: &jsonwebtoken::EncodingKey| {
        let mut header = jsonwebtoken::Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims, key).expect("sign")
    };
    let read = |f: &str| std::fs::read(format!("{KEYS}/{f}")).expect("key");
    let rsa = sign(
        jsonwebtoken::Algorithm::RS256,
        "rsa1",
        &jsonwebtoken::EncodingKey::from_rsa_pem(&read("rsa.key")).expect("rsa"),
    );
    let ed = sign(
        jsonwebtoken::Algorithm::EdDSA,
        "ed-jwks",
        &jsonwebtoken::EncodingKey::from_ed_pem(&read("ed.key")).expect("ed"),
    );
    for good in [rsa, ed] {
        let body = app.gql(&good, "{ legalEntities { id } }", json!({})).await;
        assert!(
            body.get("errors").is_none(),
            "a configured key verifies: {body}"
        );
    }
    let confused = sign(
        jsonwebtoken::Algorithm::HS256,
        "rsa1",
        &jsonwebtoken::EncodingKey::from_secret(&read("rsa.pub.pem")),
    );
    let body = app
        .gql(&confused, "{ legalEntities { id } }", json!({}))
        .await;
    assert_eq!(
        code(&body),
        "UNAUTHENTICATED",
        "HS256 signed with a public key"
    );
}

#[tokio::test]
async fn item_16_issuer_and_audience_are_checked_when_configured() {
    let app = spawn_app_with(|a| {
        a.claims.jwt_issuer = Some("https://idp.example".into());
        a.claims.jwt_audience = Some("billrun".into());
    })
    .await;
    let with = |iss: &str, aud: &str| {
        let (iss, aud) = (iss.to_string(), aud.to_string());
        token_with(move |c| {
            c.iss = Some(iss);
            c.aud = Some(aud);
        })
    };
    let body = app
        .gql(
            &with("https://idp.example", "billrun"),
            "{ legalEntities { id } }",
            json!({}),
        )
        .await;
    assert!(body.get("errors").is_none(), "{body}");
    for bad in [
        with("https://evil.example", "billrun"),
        with("https://idp.example", "other"),
        admin(),
    ] {
        let body = app.gql(&bad, "{ legalEntities { id } }", json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn item_17_hostile_kids_and_key_url_headers_are_refused_quickly() {
    use base64::Engine;
    let app = spawn_app().await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let claims =
        b64(&json!({ "sub": "x", "exp": chrono::Utc::now().timestamp() + 600, "role": "ADMIN" }));
    let headers = [
        json!({ "alg": "RS256", "kid": "../../../../etc/passwd" }),
        json!({ "alg": "RS256", "kid": "1' OR '1'='1" }),
        json!({ "alg": "RS256", "kid": "k".repeat(10_000) }),
        json!({ "alg": "RS256", "jku": "http://127.0.0.1:9/keys" }),
        json!({ "alg": "RS256", "x5u": "http://127.0.0.1:9/cert" }),
        json!({ "alg": "HS256", "jwk": { "kty": "oct", "k": "AAAA" } }),
    ];
    let started = std::time::Instant::now();
    for header in &headers {
        let token = format!("{}.{claims}.c2lnbmF0dXJl", b64(header));
        let body = app.gql(&token, "{ legalEntities { id } }", json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "{header:.80}");
    }
    for i in 0..200 {
        let token = format!(
            "{}.{claims}.c2ln",
            b64(&json!({ "alg": "RS256", "kid": format!("random-{i}") }))
        );
        assert_eq!(
            code(&app.gql(&token, "{ __typename }", json!({})).await),
            "UNAUTHENTICATED"
        );
    }
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "no lookups behind the refusals"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn item_22_a_missing_scope_is_forbidden_writes_nothing_and_is_audited() {
    let app = spawn_app().await;
    let entity = app.create_entity("SCO", "EUR").await;
    let reader = token_with(|c| {
        c.sub = "reader-9".into();
        c.role = "ACCOUNTANT".into();
        c.scopes = vec!["billing:read".into()];
    });
    let body = app
        .gql(
            &reader,
            "mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e }) { runs { id } } }",
            json!({ "e": entity }),
        )
        .await;
    assert_eq!(code(&body), "FORBIDDEN");
    let runs = entity::billing_run::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(runs, 0, "nothing written");
    let denied = audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("ACCESS_DENIED"))
        .filter(audit_event::Column::Actor.eq("reader-9"))
        .all(&app.db)
        .await
        .expect("audit");
    assert_eq!(denied.len(), 1, "the attempt is audited");
    assert_eq!(denied[0].subject_id, "triggerBillingRun");
}

#[tokio::test]
async fn item_28_a_retried_mutation_with_the_same_idempotency_key_writes_nothing_new() {
    let app = spawn_app().await;
    let entity = app.create_entity("IDE", "EUR").await;
    let customer = app.create_customer(&entity, "Bolt").await;
    let create = "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }";
    let input = |price: &str| {
        json!({ "i": { "customerId": customer, "startDate": "2026-11-01", "interval": "MONTH",
                       "lines": [{ "description": "Plan", "quantity": "1", "unitPrice": price }] } })
    };
    let post = |key: &'static str, vars: Value| {
        let request = app
            .client
            .post(format!("{}/graphql", app.addr))
            .bearer_auth(admin())
            .header("Idempotency-Key", key)
            .json(&json!({ "query": create, "variables": vars }));
        async move {
            request
                .send()
                .await
                .expect("sent")
                .json::<Value>()
                .await
                .expect("JSON")
        }
    };
    let first = post("contract-1", input("49.00")).await;
    let again = post("contract-1", input("49.00")).await;
    assert_eq!(
        first["data"], again["data"],
        "the retry returns the first result"
    );
    let count = contract::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(count, 1, "one contract for two requests");
    let other = post("contract-1", input("59.00")).await;
    assert_eq!(code(&other), "CONFLICT", "the same key with other input");

    // The argument works too, for triggers and payments.
    let trigger = "mutation($e: ID, $k: String) { triggerBillingRun(input: { legalEntityId: $e, asOf: \"2026-11-27\", wait: true }, idempotencyKey: $k) { runs { id } } }";
    let a = app
        .data(&admin(), trigger, json!({ "e": entity, "k": "run-1" }))
        .await;
    let b = app
        .data(&admin(), trigger, json!({ "e": entity, "k": "run-1" }))
        .await;
    assert_eq!(a, b, "the same runs");
    let runs = entity::billing_run::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    assert_eq!(runs, 1, "one run for two triggers");
    let invoice = app
        .data(
            &admin(),
            "{ invoices(legalEntityId: \"1\") { edges { node { id } } } }",
            json!({}),
        )
        .await["invoices"]["edges"][0]["node"]["id"]
        .clone();
    let pay = "mutation($i: ID!, $k: String) { recordPayment(input: { invoiceId: $i, amount: \"10.00\", receivedOn: \"2026-11-27\" }, idempotencyKey: $k) { amountPaid } }";
    let p1 = app
        .data(&admin(), pay, json!({ "i": invoice, "k": "pay-1" }))
        .await;
    let p2 = app
        .data(&admin(), pay, json!({ "i": invoice, "k": "pay-1" }))
        .await;
    assert_eq!(p1, p2);
    assert_eq!(p2["recordPayment"]["amountPaid"], "10.00", "paid once");
    let payments = payment::Entity::find().count(&app.db).await.expect("count");
    assert_eq!(payments, 1);
}

#[tokio::test]
async fn requests_beyond_the_rate_limit_get_a_graphql_shaped_429() {
    let app = spawn_app_with(|a| a.rate_limit_per_minute = 5).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let response = app
            .client
            .post(format!("{}/graphql", app.addr))
            .bearer_auth(admin())
            .json(&json!({ "query": "{ __typename }" }))
            .send()
            .await
            .expect("sent");
        statuses.push(response.status().as_u16());
        if response.status() == 429 {
            let body: Value = response.json().await.expect("JSON");
            assert_eq!(code(&body), "RATE_LIMITED");
        }
    }
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429],
        "the sixth in a burst is limited"
    );
    let other = token_with(|c| c.sub = "someone-else".into());
    let body = app.gql(&other, "{ __typename }", json!({})).await;
    assert!(body.get("errors").is_none(), "limits are per token subject");
}

#[tokio::test]
async fn item_12_a_slow_request_is_stopped_at_the_timeout_and_the_server_recovers() {
    use sea_orm::TransactionTrait;
    let app = spawn_app_with(|a| a.request_timeout_secs = 1).await;
    // Hold the write lock so the server's insert has to wait.
    let blocker = app.db.begin().await.expect("begin");
    if app.database_url.starts_with("postgres") {
        blocker
            .execute_unprepared("LOCK TABLE legal_entity IN ACCESS EXCLUSIVE MODE")
            .await
            .expect("lock");
    } else {
        blocker
            .execute_unprepared(
                "INSERT INTO notification (level, message, created_at) VALUES ('ALL', 'lock', '2026-01-01T00:00:00+00:00')",
            )
            .await
            .expect("take the write lock");
    }
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .json(&json!({ "query": "mutation { createLegalEntity(input: { code: \"SLOW\", name: \"Slow\", currency: \"EUR\", country: \"EE\", timezone: \"Europe/Tallinn\" }) { id } }" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 408, "stopped at the request timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
    let body: Value = response.json().await.expect("a GraphQL-shaped body");
    assert!(body["errors"][0]["extensions"]["code"].is_string());
    blocker.rollback().await.expect("release");
    still_up(&app).await;
}

#[tokio::test]
async fn items_13_and_18_alg_none_and_edited_claims_are_unauthenticated_over_http() {
    use base64::Engine;
    let app = spawn_app().await;
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let claims = b64(&json!({ "sub": "x", "exp": chrono::Utc::now().timestamp() + 600, "role": "ADMIN", "legal_entities": ["*"] }).to_string());
    for alg in ["none", "None", "NONE"] {
        let token = format!(
            "{}.{claims}.",
            b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#))
        );
        let body = app.gql(&token, "{ legalEntities { id } }", json!({})).await;
        assert_eq!(code(&body), "UNAUTHENTICATED", "alg {alg}");
    }
    let partner = token("PARTNER", &["billing:read"], &["1"]);
    let parts: Vec<&str> = partner.split('.').collect();
    let forged = format!("{}.{claims}.{}", parts[0], parts[2]);
    let body = app
        .gql(&forged, "{ legalEntities { id } }", json!({}))
        .await;
    assert_eq!(
        code(&body),
        "UNAUTHENTICATED",
        "claims edited, signature kept"
    );
}

#[tokio::test]
async fn item_03_any_json_array_body_is_refused_before_anything_runs() {
    let app = spawn_app().await;
    for body in [
        "[]",
        "  [{\"query\": \"{ __typename }\"}]",
        "\"{ __typename }\"",
        "null",
    ] {
        let response = app
            .client
            .post(format!("{}/graphql", app.addr))
            .bearer_auth(admin())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 400, "{body}");
        let json: Value = response.json().await.expect("JSON");
        assert_eq!(code(&json), "BAD_USER_INPUT");
    }
}
