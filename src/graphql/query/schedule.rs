//! Scheduled jobs.

use async_graphql::{Context, Object};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::schedule::ScheduledJob;
use crate::service::{scheduler, Ctx};

#[derive(Default)]
pub struct ScheduleQuery;

#[Object]
impl ScheduleQuery {
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn scheduled_jobs(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ScheduledJob>> {
        let rows = scheduler::jobs(ctx.data::<Ctx>()?, principal(ctx)?).await?;
        Ok(rows.into_iter().map(ScheduledJob).collect())
    }
}
