//! Creating, changing and deleting scheduled jobs.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};
use chrono::Utc;

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::parse_id;
use crate::graphql::types::schedule::ScheduledJob;
use crate::service::{scheduler, Ctx, ServiceError};

#[derive(InputObject)]
pub struct CreateScheduledJobInput {
    cron: String,
    timezone: String,
    legal_entity_id: Option<ID>,
    enabled: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateScheduledJobInput {
    cron: Option<String>,
    timezone: Option<String>,
    /// null: every legal entity; omitted: unchanged.
    legal_entity_id: MaybeUndefined<ID>,
    enabled: Option<bool>,
}

fn entity(id: &ID) -> Result<i64, ServiceError> {
    parse_id(id).ok_or(ServiceError::NotFound("legal entity"))
}

#[derive(Default)]
pub struct ScheduleMutation;

#[Object]
impl ScheduleMutation {
    #[graphql(guard = "Needs(Scope::ConfigWrite)", complexity = 100)]
    async fn create_scheduled_job(
        &self,
        ctx: &Context<'_>,
        input: CreateScheduledJobInput,
    ) -> async_graphql::Result<ScheduledJob> {
        let input = scheduler::JobInput {
            cron: input.cron,
            timezone: input.timezone,
            legal_entity_id: input.legal_entity_id.as_ref().map(entity).transpose()?,
            enabled: input.enabled.unwrap_or(true),
        };
        let job =
            scheduler::create_job(ctx.data::<Ctx>()?, principal(ctx)?, input, Utc::now()).await?;
        Ok(ScheduledJob(job))
    }

    #[graphql(guard = "Needs(Scope::ConfigWrite)", complexity = 100)]
    async fn update_scheduled_job(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateScheduledJobInput,
    ) -> async_graphql::Result<ScheduledJob> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("scheduled job"))?;
        let change = scheduler::JobChange {
            cron: input.cron,
            timezone: input.timezone,
            legal_entity_id: match input.legal_entity_id {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(id) => Some(Some(entity(&id)?)),
            },
            enabled: input.enabled,
        };
        let job =
            scheduler::update_job(ctx.data::<Ctx>()?, principal(ctx)?, id, change, Utc::now())
                .await?;
        Ok(ScheduledJob(job))
    }

    #[graphql(guard = "Needs(Scope::ConfigWrite)", complexity = 100)]
    async fn delete_scheduled_job(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<bool> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("scheduled job"))?;
        Ok(scheduler::delete_job(ctx.data::<Ctx>()?, principal(ctx)?, id).await?)
    }
}
