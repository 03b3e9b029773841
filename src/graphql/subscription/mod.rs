//! Subscription roots, merged into `SubscriptionRoot`.

pub mod billing;
pub mod events;
pub mod notifications;

use std::time::Duration;

use futures_util::stream::{Stream, StreamExt};
use tokio_util::sync::CancellationToken;

use crate::domain::access::Principal;
use crate::graphql::types::parse_id;
use crate::service::ServiceError;
use async_graphql::ID;

/// Named as api-contract.graphql names it.
#[derive(async_graphql::MergedSubscription, Default)]
#[graphql(name = "Subscription")]
pub struct SubscriptionRoot(
    billing::BillingSubscription,
    events::EventsSubscription,
    notifications::NotificationsSubscription,
);

/// A subscription's `legalEntityId` argument: another entity's id answers
/// exactly like a missing one.
pub fn entity_arg(principal: &Principal, id: Option<ID>) -> Result<Option<i64>, ServiceError> {
    match id {
        None => Ok(None),
        Some(id) => match parse_id(&id).filter(|id| principal.can_see(*id)) {
            Some(id) => Ok(Some(id)),
            None => Err(ServiceError::NotFound("legal entity")),
        },
    }
}

/// Ends a subscription's stream when the caller's token expires or the
/// server shuts down (the client then receives `complete`).
pub fn bounded<S, T, U>(
    stream: S,
    principal: &Principal,
    shutdown: CancellationToken,
    map: impl FnMut(T) -> U + Send + 'static,
) -> impl Stream<Item = U>
where
    S: Stream<Item = T> + Send + 'static,
{
    let remaining = principal.expires_at.map(|exp| {
        Duration::from_secs(u64::try_from(exp - chrono::Utc::now().timestamp()).unwrap_or(0))
    });
    let end = async move {
        let expiry = async {
            match remaining {
                Some(d) => tokio::time::sleep(d).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            _ = expiry => {}
            _ = shutdown.cancelled() => {}
        }
    };
    stream.take_until(end).map(map)
}
