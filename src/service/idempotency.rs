//! Idempotency keys for mutations a client may retry (trigger a run,
//! create a contract, record a payment). The key is claimed before the work
//! runs: a retry with the same key and input gets the first result and
//! writes nothing new; the same key with other input is CONFLICT; a key
//! whose first request is still running is CONFLICT too. A failed request
//! releases its key so the retry can run; a key left pending by a request
//! that never finished (the process crashed, or the request was cut at its
//! timeout before recording its result) expires after
//! `--idempotency-pending-secs` (`Ctx::pending_key_ttl`, default 120 s,
//! above the default request timeout), and the next retry takes it over.

use entity::status::KeyStatus;
use sha2::{Digest, Sha256};

use super::{Ctx, ServiceError, ServiceResult};
use crate::domain::access::Principal;
use crate::store::{idempotency as keys, StoreError};

pub const MAX_KEY_LEN: usize = 200;

pub enum Claim {
    /// Run the work, then `complete` (or `release` on failure).
    Fresh(i64),
    /// Already done: the first request's result.
    Replay(String),
}

/// A fingerprint of the request: the operation's arguments as JSON.
pub fn fingerprint(arguments: &impl serde::Serialize) -> String {
    let json = serde_json::to_vec(arguments).unwrap_or_default();
    hex::encode(Sha256::digest(json))
}

pub async fn claim(
    ctx: &Ctx,
    principal: &Principal,
    key: &str,
    operation: &str,
    request_hash: &str,
) -> ServiceResult<Claim> {
    if key.is_empty() || key.len() > MAX_KEY_LEN || key.chars().any(char::is_control) {
        return Err(ServiceError::bad_input(
            "idempotencyKey",
            format!("must be 1-{MAX_KEY_LEN} printable characters"),
        ));
    }
    let subject = &principal.subject;
    match keys::insert_pending(&ctx.db, subject, key, operation, request_hash).await {
        Ok(row) => Ok(Claim::Fresh(row.id)),
        Err(StoreError::Conflict(_)) => {
            let first = keys::find(&ctx.db, subject, key).await?.ok_or_else(|| {
                ServiceError::conflict("idempotency key is being released; retry")
            })?;
            if first.operation != operation || first.request_hash != request_hash {
                return Err(ServiceError::conflict(
                    "this Idempotency-Key was used with a different request",
                ));
            }
            match (first.status, first.result) {
                (KeyStatus::Done, Some(result)) => Ok(Claim::Replay(result)),
                _ => {
                    let stale = chrono::Utc::now() - ctx.pending_key_ttl;
                    if keys::take_over_stale(&ctx.db, first.id, stale).await? {
                        tracing::warn!(
                            key_id = first.id,
                            "took over an abandoned pending idempotency key"
                        );
                        return Ok(Claim::Fresh(first.id));
                    }
                    Err(ServiceError::conflict(
                        "a request with this Idempotency-Key is still running",
                    ))
                }
            }
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn complete(ctx: &Ctx, id: i64, result: String) -> ServiceResult<()> {
    Ok(keys::complete(&ctx.db, id, result).await?)
}

pub async fn release(ctx: &Ctx, id: i64) {
    if let Err(err) = keys::delete(&ctx.db, id).await {
        tracing::warn!(error = %err, "could not release an idempotency key");
    }
}
