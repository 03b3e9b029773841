//! Running a mutation at most once per Idempotency-Key (the HTTP header,
//! or the `idempotencyKey` argument). The decisions live in
//! `service::idempotency`; this only wires a resolver to them.

use std::future::Future;

use async_graphql::Context;

use crate::graphql::guard::principal;
use crate::service::idempotency::{self, Claim};
use crate::service::{Ctx, ServiceError};

/// The `Idempotency-Key` header of the request, if any.
#[derive(Clone)]
pub struct HeaderKey(pub String);

/// Runs `work` unless this key already ran it; then `reload` rebuilds the
/// first result from what `record` stored.
pub async fn once<T, W, L, LF>(
    ctx: &Context<'_>,
    argument: Option<String>,
    operation: &str,
    work: W,
    record: impl FnOnce(&T) -> String,
    reload: L,
) -> async_graphql::Result<T>
where
    W: Future<Output = Result<T, ServiceError>>,
    L: FnOnce(String) -> LF,
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
        Claim::Replay(result) => reload(result).await,
        Claim::Fresh(id) => match work.await {
            Ok(value) => {
                idempotency::complete(service, id, record(&value)).await?;
                Ok(value)
            }
            Err(err) => {
                idempotency::release(service, id).await;
                Err(err.into())
            }
        },
    }
}
