//! SECURITY.md Tokens (items 13-19), Tenancy and scopes (20-22) and the rate
//! limit per token subject, over HTTP, beside hardening.rs and the key-ring
//! unit tests in src/auth_tests.rs: every forged, confused, stale or
//! misplaced token is a 401 UNAUTHENTICATED; another legal entity looks like
//! nothing at all; a missing scope is FORBIDDEN and audited. Always: no data,
//! nothing written, nothing internal in the body, the server still up.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use entity::audit_event;
use jsonwebtoken::{Algorithm, EncodingKey};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::billing::{run, run_invoices};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token_with, TestApp, SECRET};
use crate::security::{clean, post, send, still_up_as, written, Reply};

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");
const QUERY: &str = "{ legalEntities { id } }";

fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn read_key(file: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{file}")).expect("test key")
}

/// An HMAC key made of a file's bytes (a public key used as a secret).
fn secret_of(file: &str) -> EncodingKey {
    EncodingKey::from_secret(&read_key(file))
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read_key("rsa.key")).expect("rsa key")
}

fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_pem(&read_key("ed.key")).expect("ed key")
}

/// Claims an ADMIN token would carry.
fn claims() -> Value {
    json!({ "sub": "token-tester", "exp": now() + 600, "role": "ADMIN",
            "scopes": [], "legal_entities": ["*"] })
}

/// Any header and claims text, signed with `alg` and `key`.
fn forge_raw(header: &Value, claims: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

fn forge(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    forge_raw(header, &claims.to_string(), alg, key)
}

/// `claims` signed with `alg` and `key`, the header naming `alg` and `kid` ("": none).
fn signed(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = json!({ "alg": format!("{alg:?}"), "typ": "JWT" });
    if !kid.is_empty() {
        header["kid"] = json!(kid);
    }
    forge(&header, claims, alg, key)
}

/// An HS256 token with the server's own secret.
fn hs(claims: &Value) -> String {
    signed(
        claims,
        Algorithm::HS256,
        "",
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

async fn ask(app: &TestApp, tok: &str) -> Reply {
    send(post(app).bearer_auth(tok).json(&json!({ "query": QUERY }))).await
}

/// 401, UNAUTHENTICATED, no data, nothing internal.
fn refused(reply: &Reply, what: &str) {
    let status = (reply.status, code(&reply.body));
    assert_eq!(status, (401, "UNAUTHENTICATED"), "{what}: {}", reply.body);
    assert!(reply.body.get("data").is_none(), "{what}: no data");
    clean(&reply.body);
}

async fn accepted(app: &TestApp, tok: &str, what: &str) {
    let reply = ask(app, tok).await;
    let ok = reply.status == 200 && reply.body.get("errors").is_none();
    assert!(ok, "{what}: {}", reply.body);
}

async fn refuses(app: &TestApp, tok: &str, what: &str) {
    refused(&ask(app, tok).await, what);
}

#[tokio::test]
async fn item_13_alg_none_in_any_spelling_and_missing_signatures_are_401() {
    let app = spawn_app().await;
    let e = app.create_entity("NON", "EUR").await;
    let payload = b64(claims().to_string());
    let before = written(&app).await;
    let input = format!("legalEntityId: \"{e}\", name: \"Forged\"");
    let mutation = format!("mutation {{ createCustomer(input: {{ {input} }}) {{ id }} }}");
    let get_url = format!("{}/graphql", app.addr);
    let secret = EncodingKey::from_secret(SECRET.as_bytes());
    for alg in ["none", "None", "NONE", "nOnE", "none ", ""] {
        let header = b64(json!({ "alg": alg, "typ": "JWT" }).to_string());
        let message = format!("{header}.{payload}");
        // Even a valid HMAC over the same text does not make `none` acceptable.
        let hmac = jsonwebtoken::crypto::sign(message.as_bytes(), &secret, Algorithm::HS256);
        let hmac = hmac.expect("sign");
        for tok in [
            format!("{message}."),
            message.clone(),
            format!("{message}.{hmac}"),
        ] {
            refuses(&app, &tok, alg).await;
            let write = post(&app)
                .bearer_auth(&tok)
                .json(&json!({ "query": mutation }));
            refused(&send(write).await, "a mutation");
            let read = app.client.get(&get_url).query(&[("query", QUERY)]);
            refused(&send(read.bearer_auth(&tok)).await, "over GET");
        }
    }
    // HS256 named in the header, but no signature or an empty one.
    let header = b64(r#"{"alg":"HS256","typ":"JWT"}"#);
    for sig in [".", "", ".="] {
        refuses(&app, &format!("{header}.{payload}{sig}"), "unsigned").await;
    }
    assert_eq!(written(&app).await, before, "nothing written");
    accepted(&app, &hs(&claims()), "the same claims, properly signed").await;
}

#[tokio::test]
async fn item_14_every_key_takes_only_its_own_algorithm_and_public_keys_are_not_secrets() {
    use Algorithm::{EdDSA, ES256, HS256, HS384, PS256, RS256, RS512};
    let app = spawn_app_with(|a| {
        let rsa = format!("rsa1=RS256:{KEYS}/rsa.pub.pem");
        a.jwt_public_keys = vec![rsa, format!("ec1=ES256:{KEYS}/ec.pub.pem")];
        a.jwt_jwks_file = Some(format!("{KEYS}/jwks.json").into());
    })
    .await;
    let ec = EncodingKey::from_ec_pem(&read_key("ec.pk8.key")).expect("ec key");
    let c = claims();
    // Each configured key verifies tokens of its own algorithm.
    accepted(&app, &signed(&c, RS256, "rsa1", &rsa_key()), "RS256").await;
    accepted(&app, &signed(&c, ES256, "ec1", &ec), "ES256").await;
    accepted(
        &app,
        &signed(&c, EdDSA, "ed-jwks", &ed_key()),
        "EdDSA (JWKS)",
    )
    .await;
    accepted(&app, &hs(&c), "HS256 without kid").await;
    let confused = [
        // HMAC keyed with a public key's bytes, naming that key or none.
        signed(&c, HS256, "rsa1", &secret_of("rsa.pub.pem")),
        signed(&c, HS256, "ec1", &secret_of("ec.pub.pem")),
        signed(&c, HS256, "ed-jwks", &secret_of("ed.pub.pem")),
        signed(&c, HS256, "ed-jwks", &secret_of("jwks.json")),
        signed(&c, HS256, "", &secret_of("rsa.pub.pem")),
        signed(&c, HS384, "rsa1", &secret_of("rsa.pub.pem")),
        // The right RSA key under another algorithm of its family.
        signed(&c, PS256, "rsa1", &rsa_key()),
        signed(&c, RS512, "rsa1", &rsa_key()),
        // A valid signature naming another key, or no key.
        signed(&c, RS256, "ec1", &rsa_key()),
        signed(&c, RS256, "ed-jwks", &rsa_key()),
        signed(&c, RS256, "", &rsa_key()),
        signed(&c, EdDSA, "", &ed_key()),
    ];
    for (i, tok) in confused.iter().enumerate() {
        refuses(&app, tok, &format!("confused #{i}")).await;
    }
    still_up_as(&app, &admin()).await;
}

#[tokio::test]
async fn item_14_a_public_key_only_server_accepts_no_hs256_token_at_all() {
    let app = spawn_app_with(|a| {
        a.jwt_secret = None;
        a.jwt_public_keys = vec![format!("rsa1=RS256:{KEYS}/rsa.pub.pem")];
    })
    .await;
    let c = claims();
    let rs = signed(&c, Algorithm::RS256, "rsa1", &rsa_key());
    accepted(&app, &rs, "RS256 with the configured key").await;
    let secrets = [
        b"".to_vec(),
        SECRET.as_bytes().to_vec(),
        read_key("rsa.pub.pem"),
    ];
    for secret in secrets {
        let key = EncodingKey::from_secret(&secret);
        for kid in ["", "rsa1"] {
            let tok = signed(&c, Algorithm::HS256, kid, &key);
            refuses(&app, &tok, &String::from_utf8_lossy(&secret)).await;
        }
    }
    still_up_as(&app, &rs).await;
}

#[tokio::test]
async fn item_15_stale_early_and_string_typed_time_claims_are_401() {
    let app = spawn_app().await;
    let t = now();
    let with = |key: &str, value: Value| {
        let mut c = claims();
        c[key] = value;
        c
    };
    let no_exp = edited(claims(), &json!({ "exp": null }));
    let cases = [
        with("exp", json!(t - 120)),          // beyond the 30 s leeway
        with("exp", json!(t - 86_400 * 365)), // a year ago
        with("exp", json!(0)),
        with("exp", json!(-1)),
        with("nbf", json!(t + 600)),                  // in ten minutes
        with("exp", json!((t + 600).to_string())),    // a string
        with("exp", json!(format!("{}.0", t + 600))), // a decimal string
        with("nbf", json!((t + 600).to_string())),    // future, as a string
        with("nbf", json!((t - 600).to_string())),    // past, as a string
        with("exp", json!(null)),
        with("exp", json!(true)),
        with("exp", json!([t + 600])),
        with("exp", json!({ "value": t + 600 })),
        with("exp", json!(u64::MAX)), // beyond i64
        with("exp", json!(1e300)),
        no_exp,
    ];
    for (i, c) in cases.iter().enumerate() {
        refuses(&app, &hs(c), &format!("case #{i}: {c}")).await;
    }
    // The documented 30 s leeway, and an nbf that has passed.
    accepted(&app, &hs(&with("exp", json!(t - 5))), "exp 5 s ago").await;
    accepted(&app, &hs(&with("nbf", json!(t - 60))), "nbf a minute ago").await;
    still_up_as(&app, &admin()).await;
}

/// Edits to the claims of a token from the configured issuer for billrun.
const CLAIM_EDITS: [&str; 16] = [
    r#"{ "iss": "https://evil.example" }"#,
    r#"{ "iss": "https://idp.example/" }"#,
    r#"{ "iss": "HTTPS://IDP.EXAMPLE" }"#,
    r#"{ "iss": "" }"#,
    r#"{ "iss": ["https://idp.example"] }"#,
    r#"{ "iss": null }"#,
    r#"{ "aud": "billrun-staging" }"#,
    r#"{ "aud": "Billrun" }"#,
    r#"{ "aud": ["other"] }"#,
    r#"{ "aud": null }"#,
    r#"{ "sub": null }"#,
    r#"{ "sub": "" }"#,
    r#"{ "sub": "   " }"#,
    r#"{ "sub": 42 }"#,
    r#"{ "role": "SUPERUSER" }"#,
    r#"{ "role": "admin" }"#,
];

/// `claims` with each key of `edits` set, or removed when null.
fn edited(mut claims: Value, edits: &Value) -> Value {
    for (k, v) in edits.as_object().expect("object") {
        match v {
            Value::Null => drop(claims.as_object_mut().expect("object").remove(k)),
            v => claims[k] = v.clone(),
        }
    }
    claims
}

#[tokio::test]
async fn item_16_issuer_audience_and_subject_are_exact_when_configured() {
    let app = spawn_app_with(|a| {
        a.claims.jwt_issuer = Some("https://idp.example".into());
        a.claims.jwt_audience = Some("billrun".into());
    })
    .await;
    let proper = edited(
        claims(),
        &json!({ "iss": "https://idp.example", "aud": "billrun" }),
    );
    accepted(&app, &hs(&proper), "the configured iss and aud").await;
    for edit in CLAIM_EDITS {
        let edit: Value = serde_json::from_str(edit).expect("JSON");
        refuses(&app, &hs(&edited(proper.clone(), &edit)), &edit.to_string()).await;
    }
    // Without iss/aud configured, a subject is still required.
    let plain = spawn_app().await;
    let no_sub = edited(claims(), &json!({ "sub": null }));
    refuses(&plain, &hs(&no_sub), "no subject, nothing configured").await;
    still_up_as(&app, &hs(&proper)).await;
}

#[tokio::test]
async fn item_17_kids_are_looked_up_nowhere_but_the_key_ring_and_key_urls_are_never_fetched() {
    // Anything that connects here fetched a key URL taken from a token.
    let trap = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = trap.local_addr().expect("addr").port();
    let url = format!("http://127.0.0.1:{port}/keys.json");
    let app = spawn_app_with(|a| {
        a.jwt_public_keys = vec![format!("rsa1=RS256:{KEYS}/rsa.pub.pem")];
        a.jwt_jwks_file = Some(format!("{KEYS}/jwks.json").into());
    })
    .await;
    let c = claims();
    let rs = |header: Value| forge(&header, &c, Algorithm::RS256, &rsa_key());
    let ed = |header: Value| forge(&header, &c, Algorithm::EdDSA, &ed_key());
    let pem = format!("{KEYS}/rsa.pub.pem");
    let jwks: Value = serde_json::from_slice(&read_key("jwks.json")).expect("jwks");
    let jwk = &jwks["keys"][0];
    let kid = |kid: Value| rs(json!({ "alg": "RS256", "kid": kid }));
    let linked = |field: &str, value: Value| {
        let mut header = json!({ "alg": "RS256", "kid": "rsa1" });
        header[field] = value;
        rs(header)
    };
    // Each carries a valid signature by a configured key: only the header decides.
    let hostile = [
        kid(json!(pem)), // the key file's path
        kid(json!(format!("RS256:{pem}"))),
        kid(json!(format!("rsa1=RS256:{pem}"))), // a whole key spec
        kid(json!("../keys/rsa.pub.pem")),
        kid(json!("file:///etc/passwd")),
        kid(json!("rsa1' OR '1'='1")),
        kid(json!("rsa1\u{0}")),
        kid(json!("RSA1")),
        kid(json!(" rsa1")),
        kid(json!(["rsa1"])),
        kid(json!("r".repeat(10_240))), // 10 KiB
        linked("jku", json!(url)),
        linked("x5u", json!(url)),
        linked("x5c", json!(["MIIB"])),
        rs(json!({ "alg": "RS256", "jku": url })),
        ed(json!({ "alg": "EdDSA", "kid": "ed-jwks", "jwk": jwk })),
        ed(json!({ "alg": "EdDSA", "kid": "mine", "jwk": jwk })),
    ];
    let before = written(&app).await;
    for (i, tok) in hostile.iter().enumerate() {
        refuses(&app, tok, &format!("hostile header #{i}")).await;
    }
    // Random kids at a high rate, all at once.
    let random = (0..200).map(|_| kid(json!(uuid::Uuid::new_v4().to_string())));
    let random: Vec<String> = random.collect();
    let replies = futures_util::future::join_all(random.iter().map(|t| ask(&app, t))).await;
    replies
        .iter()
        .for_each(|reply| refused(reply, "a random kid"));
    // Speed is not asserted here (a loaded CI machine makes any bound
    // flaky); that no lookup happens is: nothing reaches the trap.
    let fetched = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(fetched.is_err(), "no key URL from a token is ever fetched");
    assert_eq!(written(&app).await, before);
    still_up_as(&app, &kid(json!("rsa1"))).await;
}

/// Claims an attacker would like a partner token of entity `a` to carry.
fn escalations(a: &str) -> [Value; 6] {
    [
        json!({ "role": "ADMIN" }),
        json!({ "legal_entities": ["*"] }),
        json!({ "legal_entities": [a, "2"] }),
        json!({ "scopes": ["billing:read", "billing:run", "config:write"] }),
        json!({ "sub": "dev-admin" }),
        json!({ "exp": now() + 86_400 * 365 }),
    ]
}

const EVIL_ENTITY: &str = "mutation { createLegalEntity(input: { code: \"EVIL\", name: \"E\", \
    currency: \"EUR\", country: \"EE\", timezone: \"UTC\" }) { id } }";

#[tokio::test]
async fn item_18_any_edit_to_a_signed_token_is_401() {
    let app = spawn_app_with(|a| {
        a.jwt_public_keys = vec![format!("rsa1=RS256:{KEYS}/rsa.pub.pem")];
    })
    .await;
    let a = app.create_entity("EDA", "EUR").await;
    app.create_entity("EDB", "EUR").await;
    let partner = json!({ "sub": "partner-a", "exp": now() + 600, "role": "PARTNER",
                          "scopes": ["billing:read"], "legal_entities": [a] });
    let rs_tok = signed(&partner, Algorithm::RS256, "rsa1", &rsa_key());
    let before = written(&app).await;
    for original in [hs(&partner), rs_tok] {
        let reply = ask(&app, &original).await;
        assert_eq!(reply.body["data"]["legalEntities"], json!([{ "id": a }]));
        let parts: Vec<&str> = original.split('.').collect();
        let (header, payload, sig) = (parts[0], parts[1], parts[2]);
        for edit in escalations(&a) {
            let claims = b64(edited(partner.clone(), &edit).to_string());
            let forged = format!("{header}.{claims}.{sig}");
            refuses(&app, &forged, &edit.to_string()).await;
            let write = post(&app)
                .bearer_auth(&forged)
                .json(&json!({ "query": EVIL_ENTITY }));
            refused(&send(write).await, "an edited token writing");
        }
        let mut flipped: Vec<char> = sig.chars().collect();
        let mid = flipped.len() / 2;
        flipped[mid] = if flipped[mid] == 'A' { 'B' } else { 'A' };
        let flipped: String = flipped.into_iter().collect();
        let pretty = b64(serde_json::to_string_pretty(&partner).expect("JSON"));
        let other_header = b64(r#"{"alg":"HS256","kid":"rsa1"}"#);
        let variants = [
            format!("{header}.{payload}.{flipped}"), // one character changed
            format!("{header}.{payload}.{}", &sig[..sig.len() / 2]),
            format!("{header}.{payload}.{sig}{sig}"),
            format!("{header}.{payload}="),       // signature dropped
            format!("{header}.{payload}=.{sig}"), // padded payload
            format!("{header}.{pretty}.{sig}"),   // same claims, other bytes
            format!("{other_header}.{payload}.{sig}"), // header edited
            format!("{header}.{payload}.{sig}.{payload}"), // four segments
            format!(" {header}.{payload}.{sig}x"), // trailing junk
        ];
        for (i, tok) in variants.iter().enumerate() {
            refuses(&app, tok, &format!("variant #{i}")).await;
        }
    }
    assert_eq!(written(&app).await, before, "nothing written");
}

const PARAMS: [&str; 6] = [
    "access_token",
    "token",
    "jwt",
    "bearer",
    "authorization",
    "Authorization",
];

#[tokio::test]
async fn item_19_tokens_outside_the_authorization_header_are_never_read() {
    let app = spawn_app().await;
    let e = app.create_entity("QST", "EUR").await;
    let tok = admin();
    let before = written(&app).await;
    let url = format!("{}/graphql", app.addr);
    let input = format!("legalEntityId: \"{e}\", name: \"Leaked\"");
    let mutation = format!("mutation {{ createCustomer(input: {{ {input} }}) {{ id }} }}");
    let body = json!({ "query": mutation });
    let bearer = format!("Bearer {tok}");
    for param in PARAMS {
        for value in [&tok, &bearer] {
            let get = app
                .client
                .get(&url)
                .query(&[("query", QUERY), (param, value)]);
            refused(&send(get).await, &format!("GET ?{param}="));
        }
        let posted = app.client.post(format!("{url}?{param}={tok}")).json(&body);
        refused(&send(posted).await, &format!("POST ?{param}="));
    }
    let in_body = [
        json!({ "query": mutation, "extensions": { "authorization": bearer } }),
        json!({ "query": mutation, "variables": { "access_token": tok } }),
        json!({ "query": mutation, "access_token": tok, "Authorization": bearer }),
    ];
    for body in in_body {
        refused(&send(post(&app).json(&body)).await, "a token in the body");
    }
    let cookie = format!("token={tok}; access_token={tok}");
    let with_cookie = post(&app).header("cookie", cookie).json(&body);
    refused(&send(with_cookie).await, "a token in a cookie");
    let other_header = post(&app).header("x-access-token", &tok).json(&body);
    refused(&send(other_header).await, "a token in another header");
    assert_eq!(written(&app).await, before, "nothing written");
    still_up_as(&app, &tok).await;
}

/// Log lines written while the guard lives (on this test's thread, where
/// a tokio test also runs the server).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self, filter: &str) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// The server's logs at TRACE (the HTTP client's own logs left out).
const SERVER_TRACE: &str = "trace,reqwest=off,hyper_util::client=off,hyper::client=off";

fn signature(tok: &str) -> &str {
    tok.rsplit('.').next().expect("signature")
}

#[tokio::test]
async fn item_19_tokens_in_the_authorization_header_are_never_logged() {
    let logs = Logs::default();
    let _guard = logs.capture(SERVER_TRACE);
    let app = spawn_app().await;
    let good = admin();
    let forged = format!("{}x", token_with(|c| c.sub = "forger".into()));
    let expired = token_with(|c| c.exp = now() - 3600);
    for tok in [&good, &forged, &expired] {
        send(post(&app).bearer_auth(tok).json(&json!({ "query": QUERY }))).await;
        send(
            post(&app)
                .bearer_auth(tok)
                .json(&json!({ "query": "{ nope }" })),
        )
        .await;
    }
    let text = logs.text();
    assert!(text.contains("/graphql"), "the capture saw the requests");
    for tok in [&good, &forged, &expired] {
        assert!(!text.contains(signature(tok)), "a token reached the logs");
    }
}

#[tokio::test]
async fn item_19_a_token_sent_in_a_query_string_is_not_logged_either() {
    let logs = Logs::default();
    let _guard = logs.capture(SERVER_TRACE);
    let app = spawn_app().await;
    let tok = admin();
    let url = format!("{}/graphql", app.addr);
    let get = app
        .client
        .get(&url)
        .query(&[("query", QUERY), ("access_token", &tok)]);
    refused(&send(get).await, "GET ?access_token=");
    assert!(
        logs.text().contains("/graphql"),
        "the capture saw the request"
    );
    assert!(
        !logs.text().contains(signature(&tok)),
        "a query-string token was logged"
    );
}

#[tokio::test]
async fn item_19_the_development_admin_token_is_printed_but_not_logged() {
    if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) {
        return; // a development secret exists only with SQLite
    }
    let logs = Logs::default();
    let _guard = logs.capture("info");
    let _app = spawn_app_with(|a| a.jwt_secret = None).await;
    let text = logs.text();
    assert!(!text.contains("eyJ"), "no JWT in the logs: {text:.2000}");
}

/// (entity, customer, contract, run, invoice) of two legal entities, each
/// billed once with a posted invoice.
async fn world(app: &TestApp) -> [[String; 5]; 2] {
    let mut made = Vec::new();
    for code in ["TNA", "TNB"] {
        let e = app.create_entity(code, "EUR").await;
        let c = app.create_customer(&e, &format!("{code} customer")).await;
        let k = app.create_contract(&c, "2026-01-01", "10.00", None).await;
        let r = run(app, &e, "2026-01-15").await;
        let invoice = run_invoices(app, &r["id"]).await[0]["id"].clone();
        let id = |v: &Value| v.as_str().expect("id").to_string();
        made.push([e, c, k, id(&r["id"]), id(&invoice)]);
    }
    [made[0].clone(), made[1].clone()]
}

fn partner_of(entity: &str) -> String {
    let entity = entity.to_string();
    let scopes = [
        "billing:read",
        "billing:run",
        "ar:read",
        "contracts:write",
        "events:read",
    ];
    token_with(move |c| {
        c.sub = "partner-a".into();
        c.role = "PARTNER".into();
        c.scopes = scopes.map(String::from).to_vec();
        c.legal_entities = vec![entity];
    })
}

const MISSING: &str = "999999";

/// Documents taking `$id`; `FOREIGN_ID` says which of B's ids each gets
/// (0 entity, 1 customer, 3 run, 4 invoice).
const FOREIGN: [&str; 13] = [
    "query($id: ID!) { billingRun(id: $id) { id runNumber invoiceTotal } }",
    "query($id: ID!) { invoice(id: $id) { id total customer { name } } }",
    "query($id: ID!) { contracts(legalEntityId: $id) { edges { node { id } } } }",
    "query($id: ID!) { arAging(legalEntityId: $id, asOf: \"2026-01-20\") { asOf } }",
    "query($id: ID!) { auditEvents(subjectId: $id) { id action details } }",
    "query($id: ID!) { legalEntity(id: $id) { id name } }",
    "mutation($id: ID!) { postInvoice(id: $id) { id } }",
    "mutation($id: ID!) { voidInvoice(id: $id, reason: \"x\") { id } }",
    "mutation($id: ID!) { recordPayment(input: { invoiceId: $id, amount: \"1.00\", \
     receivedOn: \"2026-01-20\" }) { id } }",
    "mutation($id: ID!) { triggerBillingRun(input: { legalEntityId: $id, \
     asOf: \"2026-02-15\" }) { runs { id } } }",
    "mutation($id: ID!) { createCustomer(input: { legalEntityId: $id, name: \"S\" }) { id } }",
    "mutation($id: ID!) { createTaxCode(input: { legalEntityId: $id, code: \"T\", \
     rate: \"5\" }) { id } }",
    "mutation($id: ID!) { createContract(input: { customerId: $id, startDate: \"2026-01-01\", \
     interval: MONTH, lines: [{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }] }) \
     { id } }",
];
const FOREIGN_ID: [usize; 13] = [3, 4, 0, 0, 3, 0, 4, 4, 4, 0, 0, 0, 1];

#[tokio::test]
async fn item_20_another_entitys_objects_answer_exactly_like_missing_ones() {
    let app = spawn_app().await;
    let [a, b] = world(&app).await;
    let partner = partner_of(&a[0]);
    let q = "query($id: ID!) { billingRun(id: $id) { id } }";
    let own = app.data(&partner, q, json!({ "id": a[3] })).await;
    assert_eq!(own["billingRun"]["id"], a[3].as_str(), "its own run");
    let before = written(&app).await;
    for (q, which) in FOREIGN.into_iter().zip(FOREIGN_ID) {
        let theirs = app.gql(&partner, q, json!({ "id": b[which] })).await;
        let missing = app.gql(&partner, q, json!({ "id": MISSING })).await;
        assert_eq!(theirs, missing, "{q}: B's object looks missing");
        let code = code(&theirs);
        let expected = ["<no code>", "NOT_FOUND", "BAD_USER_INPUT"].contains(&code);
        assert!(expected, "{theirs}");
        clean(&theirs);
    }
    assert_eq!(written(&app).await, before, "nothing written in B");
    let q = "query($id: ID!) { invoice(id: $id) { status amountPaid } }";
    let b_invoice = app.data(&admin(), q, json!({ "id": b[4] })).await;
    let expected = json!({ "status": "POSTED", "amountPaid": "0.00" });
    assert_eq!(b_invoice["invoice"], expected);
}

const LISTS: &str = "query($e: ID!, $c: ID) {
    customers(legalEntityId: $e) { id }
    contracts(legalEntityId: $e) { edges { node { id } } }
    billingRuns(legalEntityId: $e) { edges { node { id } } }
    invoices(legalEntityId: $e, customerId: $c) { edges { node { id } } }
    auditEvents(legalEntityId: $e) { id legalEntityId }
    domainEvents(legalEntityId: $e) { id legalEntityId } }";
const UNFILTERED: &str =
    "{ auditEvents { legalEntityId action } domainEvents { legalEntityId } legalEntities { id } }";
const ODD_FILTERS: [&str; 9] = [MISSING, "2 OR 1=1", "1,2", "*", "%", "-1", "0", " 2", "02"];

#[tokio::test]
async fn item_21_a_foreign_legal_entity_filter_never_returns_foreign_rows() {
    let app = spawn_app().await;
    let [a, b] = world(&app).await;
    let partner = partner_of(&a[0]);
    let own = app.data(&partner, LISTS, json!({ "e": a[0] })).await;
    for key in ["customers", "auditEvents", "domainEvents"] {
        let some = own[key].as_array().is_some_and(|l| !l.is_empty());
        assert!(some, "{key}: {own}");
    }
    let empty = json!({ "customers": [], "contracts": { "edges": [] },
        "billingRuns": { "edges": [] }, "invoices": { "edges": [] },
        "auditEvents": [], "domainEvents": [] });
    for filter in [b[0].as_str()].into_iter().chain(ODD_FILTERS) {
        let body = app.gql(&partner, LISTS, json!({ "e": filter })).await;
        assert_eq!(body["data"], empty, "filter {filter:?}: {body}");
    }
    // Its own entity with B's customer: nothing.
    let mixed = app
        .data(&partner, LISTS, json!({ "e": a[0], "c": b[1] }))
        .await;
    assert_eq!(mixed["invoices"]["edges"], json!([]));
    // No filter at all: A's rows only.
    let all = app.data(&partner, UNFILTERED, json!({})).await;
    for key in ["auditEvents", "domainEvents"] {
        let items = all[key].as_array().expect("list");
        let only_a = items.iter().all(|i| i["legalEntityId"] == a[0].as_str());
        assert!(!items.is_empty() && only_a, "{key}: {all}");
    }
    assert_eq!(all["legalEntities"], json!([{ "id": a[0] }]));
}

/// Root fields, the scope each needs, and a document using %E entity,
/// %C customer, %I invoice.
const GUARDED: &str = "triggerBillingRun createContract updateBillingAgentConfig \
    recordPayment voidInvoice createCustomer createScheduledJob arAging domainEvents";
const SCOPES: &str = "billing:run contracts:write config:write billing:run billing:run \
    contracts:write config:write ar:read events:read";
const GUARDED_DOCS: [&str; 9] = [
    "mutation { triggerBillingRun(input: { legalEntityId: \"%E\" }) { runs { id } } }",
    "mutation { createContract(input: { customerId: \"%C\", startDate: \"2026-01-01\", \
     interval: MONTH, lines: [{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }] }) \
     { id } }",
    "mutation { updateBillingAgentConfig(input: { autoPostInvoices: false }) \
     { autoPostInvoices } }",
    "mutation { recordPayment(input: { invoiceId: \"%I\", amount: \"1.00\", \
     receivedOn: \"2026-01-20\" }) { id } }",
    "mutation { voidInvoice(id: \"%I\", reason: \"x\") { id } }",
    "mutation { createCustomer(input: { legalEntityId: \"%E\", name: \"N\" }) { id } }",
    "mutation { createScheduledJob(input: { cron: \"0 6 * * MON\", timezone: \"UTC\" }) \
     { id } }",
    "{ arAging(legalEntityId: \"%E\") { asOf } }",
    "{ domainEvents { id } }",
];
const CONFIG: &str = "{ agentDefinitions { config { autoPostInvoices defaultBillingEntityId } } }";

fn reader(role: &str, entity: &str) -> String {
    let (sub, role, entity) = (
        format!("reader-{role}"),
        role.to_string(),
        entity.to_string(),
    );
    token_with(move |c| {
        (c.sub, c.role) = (sub, role);
        c.scopes = vec!["billing:read".into()];
        c.legal_entities = vec![entity];
    })
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

#[tokio::test]
async fn item_22_each_missing_scope_is_forbidden_writes_nothing_and_is_audited() {
    let app = spawn_app().await;
    let [a, _] = world(&app).await;
    let config_before = app.data(&admin(), CONFIG, json!({})).await;
    let before = written(&app).await;
    let fields: Vec<&str> = GUARDED.split_whitespace().collect();
    let scopes: Vec<&str> = SCOPES.split_whitespace().collect();
    for role in ["ACCOUNTANT", "PARTNER"] {
        let tok = reader(role, &a[0]);
        for doc in GUARDED_DOCS {
            let doc = doc
                .replace("%E", &a[0])
                .replace("%C", &a[1])
                .replace("%I", &a[4]);
            let body = app.gql(&tok, &doc, json!({})).await;
            assert_eq!(code(&body), "FORBIDDEN", "{role}: {body}");
            assert!(body["data"].is_null(), "{role}: {body}");
            clean(&body);
        }
        let audited = denied(&app, &format!("reader-{role}")).await;
        assert_eq!(
            audited.len(),
            fields.len(),
            "{role}: one ACCESS_DENIED each"
        );
        for ((field, scope), row) in fields.iter().zip(&scopes).zip(&audited) {
            let subject = (row.subject_type.as_str(), row.subject_id.as_str());
            assert_eq!(subject, ("Access", *field));
            let details = row.details.as_deref().unwrap_or("null");
            let details: Value = serde_json::from_str(details).expect("JSON details");
            assert_eq!(details["missingScope"], *scope, "{field}");
        }
        // The denials belong to no legal entity: a partner never reads them.
        let seen = app.gql(&tok, "{ auditEvents { action } }", json!({})).await;
        assert!(!seen.to_string().contains("ACCESS_DENIED"), "{seen}");
    }
    assert_eq!(written(&app).await, before, "nothing written");
    let config_after = app.data(&admin(), CONFIG, json!({})).await;
    assert_eq!(config_after, config_before, "configuration unchanged");
    let q = "query($id: ID!) { invoice(id: $id) { status } }";
    let status = app.data(&admin(), q, json!({ "id": a[4] })).await;
    assert_eq!(status["invoice"]["status"], "POSTED");
}

#[tokio::test]
async fn rate_limit_is_per_subject_across_its_tokens_and_a_limited_request_runs_nothing() {
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
    assert_eq!(response.status(), 429, "one budget per subject");
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
