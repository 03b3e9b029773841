//! Webhook secrets at rest: sealed with ChaCha20-Poly1305 under a key from
//! configuration (`--webhook-secret-key`, else derived from the JWT
//! secret), so a database dump alone does not reveal them. Stored as
//! `v1:` + base64 of a random 12-byte nonce and the ciphertext; the `v1`
//! names this key derivation, so another one can be added beside it.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

const VERSION: &str = "v1:";
const NONCE_LEN: usize = 12;

/// `None`: no key is configured (PostgreSQL with public JWT keys only and
/// no `--webhook-secret-key`); webhook secrets can then be neither made
/// nor read, and the server says so at start.
#[derive(Clone)]
pub struct SecretCipher(Option<ChaCha20Poly1305>);

impl std::fmt::Debug for SecretCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretCipher(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("a stored webhook secret cannot be opened (wrong --webhook-secret-key?)")]
pub struct Unreadable;

#[derive(Debug, thiserror::Error)]
#[error("webhook secrets need a key: set BILLRUN_WEBHOOK_SECRET_KEY")]
pub struct NoKey;

impl SecretCipher {
    /// The key is SHA-256 of the configured text under a fixed label, so
    /// the same text used as the JWT secret yields a different key.
    pub fn from_passphrase(passphrase: &str) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"billrun webhook secrets v1\0");
        hash.update(passphrase.as_bytes());
        let key: [u8; 32] = hash.finalize().into();
        SecretCipher(Some(ChaCha20Poly1305::new(&Key::from(key))))
    }

    pub fn unconfigured() -> Self {
        SecretCipher(None)
    }

    pub fn is_configured(&self) -> bool {
        self.0.is_some()
    }

    fn aead(&self) -> Result<&ChaCha20Poly1305, anyhow::Error> {
        self.0.as_ref().ok_or_else(|| NoKey.into())
    }

    /// A key that lives as long as the process (an in-memory database).
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        SecretCipher(Some(ChaCha20Poly1305::new(&Key::from(key))))
    }

    pub fn seal(&self, plain: &str) -> anyhow::Result<String> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .aead()?
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| Unreadable)?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(format!("{VERSION}{}", B64.encode(out)))
    }

    pub fn open(&self, stored: &str) -> anyhow::Result<String> {
        let raw = B64
            .decode(stored.strip_prefix(VERSION).ok_or(Unreadable)?)
            .map_err(|_| Unreadable)?;
        if raw.len() < NONCE_LEN {
            return Err(Unreadable.into());
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| Unreadable)?;
        let plain = self
            .aead()?
            .decrypt(&Nonce::from(nonce), sealed)
            .map_err(|_| Unreadable)?;
        Ok(String::from_utf8(plain).map_err(|_| Unreadable)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_secret_opens_with_its_key_only_and_never_shows_in_clear() {
        let cipher = SecretCipher::from_passphrase("key one");
        let sealed = cipher.seal("whsec_abc").expect("seal");
        assert!(sealed.starts_with("v1:") && !sealed.contains("whsec_abc"));
        assert_ne!(
            sealed,
            cipher.seal("whsec_abc").expect("seal"),
            "fresh nonce"
        );
        assert_eq!(cipher.open(&sealed).expect("open"), "whsec_abc");
        assert!(SecretCipher::from_passphrase("key two")
            .open(&sealed)
            .is_err());
        assert!(cipher.open("whsec_abc").is_err());
        assert!(SecretCipher::unconfigured().seal("x").is_err());
    }
}
