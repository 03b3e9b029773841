//! JWT → [`Principal`]. HS256 with the configured secret; the algorithm is
//! pinned by the key, never read from the token header (RFC 8725).

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::access::{EntityAccess, Principal, Role, Scope};

pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECS: u64 = 30;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub role: String,
    #[serde(default)]
    pub scopes: Vec<String>,
    #[serde(default)]
    pub legal_entities: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token")]
    Invalid,
}

/// Largest token accepted; anything longer is refused before parsing.
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Largest `kid` looked up.
const MAX_KID_BYTES: usize = 128;

/// The keys tokens may be signed with. Each key has exactly one algorithm,
/// chosen by configuration, never by the token: a token names its key by
/// `kid` (public keys) or carries none (the HS256 secret), and its `alg`
/// must equal the key's. `jku`, `x5u`, `x5c` and embedded `jwk` headers are
/// refused: no key is ever fetched or built from a token.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Option<(EncodingKey, DecodingKey)>,
    public: HashMap<String, (Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
}

/// One configured public key: `kid=ALG:path/to/key.pem`.
pub fn parse_public_key(spec: &str) -> anyhow::Result<(String, Algorithm, DecodingKey)> {
    let (kid, rest) = spec
        .split_once('=')
        .with_context(|| format!("public key {spec:?}: expected kid=ALG:path"))?;
    let (alg, path) = rest
        .split_once(':')
        .with_context(|| format!("public key {spec:?}: expected kid=ALG:path"))?;
    let alg: Algorithm = alg
        .parse()
        .map_err(|_| anyhow::anyhow!("public key {kid}: unknown algorithm {alg}"))?;
    let pem = std::fs::read(path).with_context(|| format!("Failed to read public key {path}"))?;
    let key = match alg {
        Algorithm::RS256
        | Algorithm::RS384
        | Algorithm::RS512
        | Algorithm::PS256
        | Algorithm::PS384
        | Algorithm::PS512 => DecodingKey::from_rsa_pem(&pem),
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
        _ => anyhow::bail!("public key {kid}: {alg:?} is not a public-key algorithm"),
    }
    .with_context(|| format!("public key {kid}: not a valid {alg:?} PEM public key"))?;
    Ok((kid.to_string(), alg, key))
}

/// Keys of a JWKS file; each needs a `kid` and gets one algorithm (its
/// `alg`, or the usual one for its key type).
pub fn parse_jwks(path: &Path) -> anyhow::Result<Vec<(String, Algorithm, DecodingKey)>> {
    use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("Failed to read {}", path.display()))?;
    let set: JwkSet =
        serde_json::from_str(&text).with_context(|| format!("{} is not a JWKS", path.display()))?;
    let mut out = Vec::new();
    for jwk in &set.keys {
        let kid = jwk
            .common
            .key_id
            .clone()
            .context("every JWKS key needs a kid")?;
        let alg = match &jwk.common.key_algorithm {
            Some(a) => a
                .to_string()
                .parse::<Algorithm>()
                .map_err(|_| anyhow::anyhow!("key {kid}: unusable alg {a:?}"))?,
            None => match &jwk.algorithm {
                AlgorithmParameters::RSA(_) => Algorithm::RS256,
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Algorithm::ES256
                }
                AlgorithmParameters::EllipticCurve(_) => Algorithm::ES384,
                AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                _ => anyhow::bail!(
                    "key {kid}: symmetric or unknown key types do not belong in a JWKS"
                ),
            },
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            anyhow::bail!("key {kid}: HMAC keys do not belong in a JWKS");
        }
        let key = DecodingKey::from_jwk(jwk).with_context(|| format!("key {kid} is not usable"))?;
        out.push((kid, alg, key));
    }
    Ok(out)
}

impl JwtKeys {
    pub fn hs256(secret: &[u8]) -> anyhow::Result<Self> {
        if secret.len() < MIN_SECRET_BYTES {
            anyhow::bail!("the JWT secret must be at least {MIN_SECRET_BYTES} bytes");
        }
        Ok(JwtKeys {
            secret: Some((
                EncodingKey::from_secret(secret),
                DecodingKey::from_secret(secret),
            )),
            public: HashMap::new(),
            issuer: None,
            audience: None,
        })
    }

    /// No HS256 secret: public keys only.
    pub fn public_only() -> Self {
        JwtKeys {
            secret: None,
            public: HashMap::new(),
            issuer: None,
            audience: None,
        }
    }

    pub fn with_public_key(mut self, kid: String, alg: Algorithm, key: DecodingKey) -> Self {
        self.public.insert(kid, (alg, key));
        self
    }

    /// `iss` and `aud` are then required and checked.
    pub fn with_issuer_audience(
        mut self,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> Self {
        self.issuer = issuer.filter(|s| !s.is_empty());
        self.audience = audience.filter(|s| !s.is_empty());
        self
    }

    fn validation(&self, alg: Algorithm) -> Validation {
        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        if let Some(iss) = &self.issuer {
            validation.set_issuer(&[iss]);
            required.push("iss");
        }
        match &self.audience {
            Some(aud) => {
                validation.set_audience(&[aud]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);
        validation
    }

    pub fn decode(&self, token: &str) -> Result<Principal, AuthError> {
        if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.jku.is_some()
            || header.x5u.is_some()
            || header.jwk.is_some()
            || header.x5c.is_some()
        {
            return Err(AuthError::Invalid);
        }
        let (alg, key) = match &header.kid {
            Some(kid) if kid.len() <= MAX_KID_BYTES => self.public.get(kid).map(|(a, k)| (*a, k)),
            Some(_) => None,
            None => self.secret.as_ref().map(|(_, k)| (Algorithm::HS256, k)),
        }
        .ok_or(AuthError::Invalid)?;
        if header.alg != alg {
            return Err(AuthError::Invalid);
        }
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation(alg))
            .map_err(|_| AuthError::Invalid)?;
        principal_from(data.claims)
    }

    /// Decodes an `Authorization` header value (`Bearer <JWT>`).
    pub fn from_header(&self, value: Option<&str>) -> Result<Principal, AuthError> {
        let value = value.ok_or(AuthError::Missing)?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or(AuthError::Invalid)?;
        self.decode(token.trim())
    }

    /// Signs with the HS256 secret (development tokens).
    pub fn mint(&self, claims: &Claims) -> anyhow::Result<String> {
        let (encoding, _) = self
            .secret
            .as_ref()
            .context("no HS256 secret is configured")?;
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, encoding)
            .context("Failed to sign the token")
    }
}

fn principal_from(claims: Claims) -> Result<Principal, AuthError> {
    if claims.sub.trim().is_empty() {
        return Err(AuthError::Invalid);
    }
    let role: Role = claims.role.parse().map_err(|_| AuthError::Invalid)?;
    // Unknown scopes are ignored rather than fatal: a newer issuer may know more.
    let scopes = claims
        .scopes
        .iter()
        .filter_map(|s| s.parse::<Scope>().ok())
        .collect();
    let entities = if claims.legal_entities.iter().any(|e| e == "*") {
        EntityAccess::All
    } else {
        EntityAccess::Only(
            claims
                .legal_entities
                .iter()
                .filter_map(|e| e.parse().ok())
                .collect(),
        )
    };
    Ok(Principal {
        subject: claims.sub,
        role,
        scopes,
        entities,
        expires_at: Some(claims.exp),
    })
}

/// Where the development secret lives: beside the SQLite file.
pub fn secret_file(db_file: &Path) -> std::path::PathBuf {
    let mut name = db_file.as_os_str().to_owned();
    name.push(".jwt-secret");
    name.into()
}

/// Reads the development secret beside the database file, creating a random
/// one on first use.
pub fn load_or_create_secret(path: &Path) -> anyhow::Result<String> {
    if path.exists() {
        let secret = std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read {}", path.display()))?;
        return Ok(secret.trim().to_string());
    }
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    write_private(path, &secret).with_context(|| format!("Failed to write {}", path.display()))?;
    Ok(secret)
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Parses a lifetime: seconds, or a number followed by s, m, h or d.
pub fn parse_ttl(value: &str) -> anyhow::Result<i64> {
    let value = value.trim();
    let (digits, unit) = match value.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&value[..i], c),
        _ => (value, 's'),
    };
    let n: i64 = digits
        .parse()
        .with_context(|| format!("bad ttl {value:?}"))?;
    let factor = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86_400,
        _ => anyhow::bail!("bad ttl unit in {value:?}: use s, m, h or d"),
    };
    n.checked_mul(factor)
        .filter(|s| *s > 0)
        .with_context(|| format!("bad ttl {value:?}"))
}

#[cfg(test)]
#[path = "auth_tests.rs"]
mod key_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> JwtKeys {
        JwtKeys::hs256(&[7u8; 32]).expect("a 32-byte secret is accepted")
    }

    fn claims(role: &str, exp_offset: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            exp: chrono::Utc::now().timestamp() + exp_offset,
            nbf: None,
            role: role.into(),
            scopes: vec!["billing:read".into()],
            legal_entities: vec!["3".into()],
            iss: None,
            aud: None,
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(JwtKeys::hs256(b"short").is_err());
    }

    #[test]
    fn a_minted_token_decodes_to_its_principal() {
        let k = keys();
        let token = k.mint(&claims("PARTNER", 600)).expect("mint");
        let p = k.decode(&token).expect("decode");
        assert_eq!(p.subject, "alice");
        assert_eq!(p.role, Role::Partner);
        assert_eq!(p.entities, EntityAccess::Only(vec![3]));
    }

    #[test]
    fn expired_tampered_and_foreign_tokens_are_refused() {
        let k = keys();
        let expired = k.mint(&claims("ADMIN", -3600)).expect("mint");
        assert!(k.decode(&expired).is_err());
        let other = JwtKeys::hs256(&[9u8; 32])
            .expect("key")
            .mint(&claims("ADMIN", 600))
            .expect("mint");
        assert!(k.decode(&other).is_err());
        let bad_role = k.mint(&claims("ROOT", 600)).expect("mint");
        assert!(k.decode(&bad_role).is_err());
        assert!(matches!(k.from_header(None), Err(AuthError::Missing)));
        assert!(k.from_header(Some("Basic abc")).is_err());
    }

    #[test]
    fn ttl_accepts_units() {
        assert_eq!(parse_ttl("90").ok(), Some(90));
        assert_eq!(parse_ttl("24h").ok(), Some(86_400));
        assert!(parse_ttl("-1").is_err());
        assert!(parse_ttl("5y").is_err());
    }
}
