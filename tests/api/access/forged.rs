//! Tokens a client built or changed itself (SECURITY.md items 17 and 18):
//! key ids and key URLs in a header are looked up nowhere but the key
//! ring, and any edit to a signed token, or a signature by any other key,
//! is a 401.

use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::{ask, refuses, unauthenticated};
use crate::helpers::http::{post, send, still_up_as, written};
use crate::helpers::spawn_app_with;
use crate::helpers::tokens::{
    b64, claims, ed_key, edited, forge, hs, now, read_key, rsa_key, signed, KEYS,
};

#[tokio::test]
async fn kids_are_looked_up_nowhere_but_the_key_ring_and_key_urls_are_never_fetched() {
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
        .for_each(|reply| unauthenticated(reply, "a random kid"));
    // Speed is not asserted here (a loaded CI machine makes any bound
    // flaky); that no lookup happens is: nothing reaches the trap.
    let fetched = tokio::time::timeout(Duration::from_millis(300), trap.accept()).await;
    assert!(
        fetched.is_err(),
        "SECURITY 17: no key URL from a token is ever fetched"
    );
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
async fn any_edit_to_a_signed_token_or_another_key_is_401() {
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
            unauthenticated(&send(write).await, "an edited token writing");
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
    // The same claims signed by a key the server does not have, and no JWT
    // at all (expired ones are in `tokens`).
    let stranger = EncodingKey::from_secret(&[b'x'; 40]);
    let foreign = signed(&partner, Algorithm::HS256, "", &stranger);
    for (tok, what) in [(foreign, "another secret"), ("not.a.jwt".into(), "garbage")] {
        refuses(&app, &tok, what).await;
    }
    assert_eq!(written(&app).await, before, "SECURITY 18: nothing written");
}
