//! Tokens per RFC 8725: each key has one algorithm, chosen by configuration.

use jsonwebtoken::{Algorithm, EncodingKey, Header};

use super::*;

const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

fn claims(exp_offset: i64) -> Claims {
    Claims {
        sub: "partner-7".into(),
        exp: chrono::Utc::now().timestamp() + exp_offset,
        nbf: None,
        role: "PARTNER".into(),
        scopes: vec!["billing:read".into()],
        legal_entities: vec!["3".into()],
        iss: None,
        aud: None,
    }
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{name}")).expect("test key")
}

fn ring() -> JwtKeys {
    let mut keys = JwtKeys::hs256(&[7u8; 32]).expect("secret");
    for spec in [
        "rsa1=RS256:rsa.pub.pem",
        "ec1=ES256:ec.pub.pem",
        "ed1=EdDSA:ed.pub.pem",
    ] {
        let spec = spec.replace(':', &format!(":{KEYS}/"));
        let (kid, alg, key) = parse_public_key(&spec).expect("public key");
        keys = keys.with_public_key(kid, alg, key);
    }
    for (kid, alg, key) in parse_jwks(Path::new(&format!("{KEYS}/jwks.json"))).expect("jwks") {
        keys = keys.with_public_key(kid, alg, key);
    }
    keys
}

fn sign(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Claims) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).expect("sign")
}

#[test]
fn rs256_es256_and_eddsa_tokens_verify_by_kid() {
    let keys = ring();
    let rsa = EncodingKey::from_rsa_pem(&read("rsa.key")).expect("rsa");
    let ec = EncodingKey::from_ec_pem(&read("ec.pk8.key")).expect("ec");
    let ed = EncodingKey::from_ed_pem(&read("ed.key")).expect("ed");
    for (alg, kid, key) in [
        (Algorithm::RS256, "rsa1", &rsa),
        (Algorithm::ES256, "ec1", &ec),
        (Algorithm::EdDSA, "ed1", &ed),
        (Algorithm::EdDSA, "ed-jwks", &ed),
    ] {
        let token = sign(alg, Some(kid), key, &claims(600));
        let principal = keys.decode(&token).unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(principal.subject, "partner-7");
    }
}

#[test]
fn a_token_cannot_choose_its_algorithm_or_key() {
    let keys = ring();
    // Algorithm confusion: HS256 keyed with the RSA public key's bytes.
    let confused = sign(
        Algorithm::HS256,
        Some("rsa1"),
        &EncodingKey::from_secret(&read("rsa.pub.pem")),
        &claims(600),
    );
    assert!(
        keys.decode(&confused).is_err(),
        "HS256 signed with a public key is refused"
    );
    let no_kid = sign(
        Algorithm::HS256,
        None,
        &EncodingKey::from_secret(&read("rsa.pub.pem")),
        &claims(600),
    );
    assert!(keys.decode(&no_kid).is_err());
    // The right key but another algorithm than configured for it.
    let rsa = EncodingKey::from_rsa_pem(&read("rsa.key")).expect("rsa");
    assert!(keys
        .decode(&sign(Algorithm::RS384, Some("rsa1"), &rsa, &claims(600)))
        .is_err());
    // Unknown, path-like, SQL-like and huge kids are never looked up.
    for kid in [
        "nope",
        "../../etc/passwd",
        "1' OR '1'='1",
        &"k".repeat(10_000),
    ] {
        assert!(
            keys.decode(&sign(Algorithm::RS256, Some(kid), &rsa, &claims(600)))
                .is_err(),
            "kid {kid:.20}"
        );
    }
    // jku / x5u / embedded jwk headers are refused outright.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa1".into());
    header.jku = Some("http://127.0.0.1:1/keys".into());
    let token = jsonwebtoken::encode(&header, &claims(600), &rsa).expect("sign");
    assert!(keys.decode(&token).is_err(), "jku is refused");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("rsa1".into());
    header.x5u = Some("http://127.0.0.1:1/cert".into());
    let token = jsonwebtoken::encode(&header, &claims(600), &rsa).expect("sign");
    assert!(keys.decode(&token).is_err(), "x5u is refused");
}

#[test]
fn alg_none_and_empty_signatures_are_refused() {
    use base64::Engine;
    let keys = ring();
    let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    let body = b64(&serde_json::to_string(&claims(600)).expect("json"));
    for alg in ["none", "None", "NONE", "nOnE"] {
        let head = b64(&format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        assert!(
            keys.decode(&format!("{head}.{body}.")).is_err(),
            "alg {alg}"
        );
    }
    let valid = keys.mint(&claims(600)).expect("mint");
    let (signed, _) = valid.rsplit_once('.').expect("three parts");
    assert!(
        keys.decode(&format!("{signed}.")).is_err(),
        "empty signature"
    );
}

#[test]
fn claims_edited_with_the_signature_kept_are_refused() {
    use base64::Engine;
    let keys = ring();
    let token = keys.mint(&claims(600)).expect("mint");
    let parts: Vec<&str> = token.split('.').collect();
    let mut edited = claims(600);
    edited.role = "ADMIN".into();
    edited.legal_entities = vec!["*".into()];
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(serde_json::to_string(&edited).expect("json"));
    assert!(keys
        .decode(&format!("{}.{body}.{}", parts[0], parts[2]))
        .is_err());
}

#[test]
fn exp_nbf_iss_aud_and_sub_are_enforced() {
    let keys =
        ring().with_issuer_audience(Some("https://idp.example".into()), Some("billrun".into()));
    let mut good = claims(600);
    good.iss = Some("https://idp.example".into());
    good.aud = Some("billrun".into());
    assert!(keys.decode(&keys.mint(&good).expect("mint")).is_ok());
    let mut wrong_iss = claims(600);
    wrong_iss.iss = Some("https://evil.example".into());
    wrong_iss.aud = Some("billrun".into());
    assert!(
        keys.decode(&keys.mint(&wrong_iss).expect("mint")).is_err(),
        "wrong iss"
    );
    let mut wrong_aud = good.clone();
    wrong_aud.aud = Some("other".into());
    assert!(
        keys.decode(&keys.mint(&wrong_aud).expect("mint")).is_err(),
        "wrong aud"
    );
    let mut future = good.clone();
    future.nbf = Some(chrono::Utc::now().timestamp() + 3600);
    assert!(
        keys.decode(&keys.mint(&future).expect("mint")).is_err(),
        "nbf in the future"
    );
    let mut expired = good.clone();
    expired.exp = chrono::Utc::now().timestamp() - 3600;
    assert!(
        keys.decode(&keys.mint(&expired).expect("mint")).is_err(),
        "expired"
    );
    let mut no_sub = good.clone();
    no_sub.sub = String::new();
    assert!(
        keys.decode(&keys.mint(&no_sub).expect("mint")).is_err(),
        "empty sub"
    );
    // exp and nbf as strings (CVE-2026-25537's type confusion).
    let secret = EncodingKey::from_secret(&[7u8; 32]);
    for body in [
        serde_json::json!({"sub": "x", "role": "ADMIN", "exp": "9999999999", "iss": "https://idp.example", "aud": "billrun"}),
        serde_json::json!({"sub": "x", "role": "ADMIN", "exp": 9_999_999_999_i64, "nbf": "0", "iss": "https://idp.example", "aud": "billrun"}),
        serde_json::json!({"role": "ADMIN", "exp": 9_999_999_999_i64, "iss": "https://idp.example", "aud": "billrun"}),
    ] {
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &body, &secret).expect("sign");
        assert!(keys.decode(&token).is_err(), "{body}");
    }
}
