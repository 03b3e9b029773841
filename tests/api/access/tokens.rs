//! Tokens that are unsigned, signed with the wrong key or algorithm, stale
//! or early, or from another issuer or audience (SECURITY.md items 13-16):
//! each is a 401 UNAUTHENTICATED, and the right one is accepted.

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::{accepted, refuses, unauthenticated, QUERY};
use crate::helpers::http::{post, send, still_up_as, written};
use crate::helpers::tokens::{
    b64, claims, ed_key, edited, hs, now, read_key, rsa_key, secret_of, signed, KEYS,
};
use crate::helpers::{admin, spawn_app, spawn_app_with, SECRET};

#[tokio::test]
async fn alg_none_in_any_spelling_and_missing_signatures_are_401() {
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
            unauthenticated(&send(write).await, "a mutation");
            let read = app.client.get(&get_url).query(&[("query", QUERY)]);
            unauthenticated(&send(read.bearer_auth(&tok)).await, "over GET");
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
async fn every_key_takes_only_its_own_algorithm_and_public_keys_are_not_secrets() {
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
async fn a_public_key_only_server_accepts_no_hs256_token_at_all() {
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
async fn stale_early_and_string_typed_time_claims_are_401() {
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

#[tokio::test]
async fn issuer_audience_and_subject_are_exact_when_configured() {
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
