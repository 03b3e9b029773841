//! Running a mutation at most once per Idempotency-Key (the HTTP header,
//! or the `idempotencyKey` argument). The decisions live in
//! `service::idempotency`; this only wires a resolver to them.

use std::future::Future;

use async_graphql::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::graphql::guard::principal;
use crate::service::idempotency::{self, Claim};
use crate::service::{Ctx, ServiceError};

/// The `Idempotency-Key` header of the request, if any.
#[derive(Clone)]
pub struct HeaderKey(pub String);

/// Runs `work` unless this key already ran it; then `reload` rebuilds the
/// first result from what `record` stored (as JSON). A stored result that
/// no longer reads is an error, never an empty or default result.
pub async fn once<T, R, W, L, LF>(
    ctx: &Context<'_>,
    argument: Option<String>,
    operation: &str,
    work: W,
    record: impl FnOnce(&T) -> R,
    reload: L,
) -> async_graphql::Result<T>
where
    R: Serialize + DeserializeOwned,
    W: Future<Output = Result<T, ServiceError>>,
    L: FnOnce(R) -> LF,
    LF: Future<Output = async_graphql::Result<T>>,
{
    let key = argument.or_else(|| ctx.data_opt::<HeaderKey>().map(|h| h.0.clone()));
    let Some(key) = key else {
        return Ok(work.await?);
    };
    let arguments: Vec<(String, async_graphql::Value)> = ctx
        .field()
        .arguments()
        .map_err(|e| async_graphql::Error::new(e.message))?
        .into_iter()
        .filter(|(name, _)| name.as_str() != "idempotencyKey")
        .map(|(name, value)| (name.to_string(), value))
        .collect();
    let fingerprint = idempotency::fingerprint(&arguments);
    let service = ctx.data::<Ctx>()?;
    match idempotency::claim(service, principal(ctx)?, &key, operation, &fingerprint).await? {
        Claim::Replay(result) => {
            let stored = serde_json::from_str(&result).map_err(|e| {
                ServiceError::Internal(anyhow::anyhow!(
                    "stored result of {operation} unreadable: {e}"
                ))
            })?;
            reload(stored).await
        }
        Claim::Fresh(id) => match work.await {
            Ok(value) => {
                let stored = serde_json::to_string(&record(&value))
                    .map_err(|e| ServiceError::Internal(anyhow::anyhow!("{e}")))?;
                idempotency::complete(service, id, stored).await?;
                Ok(value)
            }
            Err(err) => {
                idempotency::release(service, id).await;
                Err(err.into())
            }
        },
    }
}
