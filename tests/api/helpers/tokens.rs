//! Tokens the server did not issue, or issued differently: any header and
//! claims, signed with any key of tests/keys or with none.

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{json, Value};

use super::SECRET;

pub const KEYS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/keys");

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn read_key(file: &str) -> Vec<u8> {
    std::fs::read(format!("{KEYS}/{file}")).expect("test key")
}

/// An HMAC key made of a file's bytes (a public key used as a secret).
pub fn secret_of(file: &str) -> EncodingKey {
    EncodingKey::from_secret(&read_key(file))
}

pub fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_pem(&read_key("rsa.key")).expect("rsa key")
}

pub fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_pem(&read_key("ed.key")).expect("ed key")
}

/// Claims an ADMIN token would carry.
pub fn claims() -> Value {
    json!({ "sub": "token-tester", "exp": now() + 600, "role": "ADMIN",
            "scopes": [], "legal_entities": ["*"] })
}

/// `claims` with each key of `edits` set, or removed when null.
pub fn edited(mut claims: Value, edits: &Value) -> Value {
    for (k, v) in edits.as_object().expect("object") {
        match v {
            Value::Null => drop(claims.as_object_mut().expect("object").remove(k)),
            v => claims[k] = v.clone(),
        }
    }
    claims
}

/// Any header and claims text, signed with `alg` and `key`.
pub fn forge_raw(header: &Value, claims: &str, alg: Algorithm, key: &EncodingKey) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims));
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), key, alg).expect("sign");
    format!("{message}.{signature}")
}

pub fn forge(header: &Value, claims: &Value, alg: Algorithm, key: &EncodingKey) -> String {
    forge_raw(header, &claims.to_string(), alg, key)
}

/// `claims` signed with `alg` and `key`, the header naming `alg` and `kid` ("": none).
pub fn signed(claims: &Value, alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut header = json!({ "alg": format!("{alg:?}"), "typ": "JWT" });
    if !kid.is_empty() {
        header["kid"] = json!(kid);
    }
    forge(&header, claims, alg, key)
}

/// An HS256 token with the server's own secret.
pub fn hs(claims: &Value) -> String {
    signed(
        claims,
        Algorithm::HS256,
        "",
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
}

/// An unsigned token: header {"alg":"none"}, ADMIN claims, no signature.
pub fn alg_none() -> String {
    let header = b64(json!({ "alg": "none", "typ": "JWT" }).to_string());
    format!("{header}.{}.", b64(claims().to_string()))
}
