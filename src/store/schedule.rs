//! Scheduled jobs, and the conditional UPDATE that claims a firing.

use chrono::{DateTime, Utc};
use entity::scheduled_job::{self, Column, Entity};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

/// What a job fires and when it fires next.
pub struct JobSchedule {
    pub cron: String,
    pub timezone: String,
    pub legal_entity_id: Option<i64>,
    pub enabled: bool,
    pub next_run_at: Option<DateTime<Utc>>,
}

pub async fn insert(
    conn: &impl ConnectionTrait,
    agent_key: &str,
    job: JobSchedule,
    now: DateTime<Utc>,
) -> StoreResult<scheduled_job::Model> {
    let row = scheduled_job::ActiveModel {
        agent_key: Set(agent_key.into()),
        cron: Set(job.cron),
        timezone: Set(job.timezone),
        legal_entity_id: Set(job.legal_entity_id),
        enabled: Set(job.enabled),
        next_run_at: Set(job.next_run_at),
        last_run_at: Set(None),
        created_at: Set(now),
        ..Default::default()
    };
    Ok(row.insert(conn).await?)
}

/// Unscoped: the caller decides who may see it (jobs may have no entity).
pub async fn find(
    conn: &impl ConnectionTrait,
    id: i64,
) -> StoreResult<Option<scheduled_job::Model>> {
    Ok(Entity::find_by_id(id).one(conn).await?)
}

pub async fn update(
    conn: &impl ConnectionTrait,
    job: scheduled_job::Model,
    to: JobSchedule,
) -> StoreResult<scheduled_job::Model> {
    let mut row: scheduled_job::ActiveModel = job.into();
    row.cron = Set(to.cron);
    row.timezone = Set(to.timezone);
    row.legal_entity_id = Set(to.legal_entity_id);
    row.enabled = Set(to.enabled);
    row.next_run_at = Set(to.next_run_at);
    Ok(row.update(conn).await?)
}

pub async fn delete(conn: &impl ConnectionTrait, id: i64) -> StoreResult<()> {
    Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// The jobs `principal` may see; a job for every entity only when no
/// entity list restricts it (NULL is in no list).
pub async fn list(
    conn: &impl ConnectionTrait,
    principal: &Principal,
) -> StoreResult<Vec<scheduled_job::Model>> {
    Ok(scoped(Entity::find(), Column::LegalEntityId, principal)
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

/// Enabled jobs whose next firing is at or before `now`.
pub async fn due(
    conn: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> StoreResult<Vec<scheduled_job::Model>> {
    Ok(Entity::find()
        .filter(Column::Enabled.eq(true))
        .filter(Column::NextRunAt.lte(now))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

/// Claims the firing at `claimed`: only the replica whose UPDATE still sees
/// that `next_run_at` moves it on to `next`; every other updates nothing.
pub async fn claim_firing(
    conn: &impl ConnectionTrait,
    id: i64,
    claimed: DateTime<Utc>,
    next: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let claim = Entity::update_many()
        .col_expr(Column::NextRunAt, Expr::value(next))
        .col_expr(Column::LastRunAt, Expr::value(Some(now)))
        .filter(Column::Id.eq(id))
        .filter(Column::NextRunAt.eq(claimed))
        .filter(Column::Enabled.eq(true))
        .exec(conn)
        .await?;
    Ok(claim.rows_affected == 1)
}
