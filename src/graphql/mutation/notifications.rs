//! Marking notifications read, for the caller only.

use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::parse_id;
use crate::service::{notifications, Ctx};

#[derive(Default)]
pub struct NotificationsMutation;

#[Object]
impl NotificationsMutation {
    /// How many changed; unknown, foreign and already read ids are ignored.
    #[graphql(guard = "Needs(Scope::BillingRead)", complexity = 10)]
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Vec<ID>,
    ) -> async_graphql::Result<i32> {
        let ids: Vec<i64> = ids.iter().filter_map(parse_id).collect();
        let changed = notifications::mark_read(ctx.data::<Ctx>()?, principal(ctx)?, &ids).await?;
        Ok(changed)
    }
}
