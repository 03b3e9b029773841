//! Billing runs: inserting one with its run number, and reading them (by
//! id, by page, the active one, the orphaned ones). Executing runs write
//! through `store::lease`; the contracts they bill are read and moved on
//! by `store::due`.

use chrono::{DateTime, NaiveDate, Utc};
use entity::billing_run;
use sea_orm::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub use super::lease::RunStatus;
pub use entity::status::TriggerSource;

pub struct NewRun {
    pub legal_entity_id: i64,
    pub trigger_source: TriggerSource,
    pub triggered_by: String,
    pub as_of: NaiveDate,
    pub dry_run: bool,
}

/// Inserts a QUEUED run with the entity's next run number. Call inside a
/// write transaction: the partial unique index `billing_run_one_active`
/// refuses a second active run, and the unique seq refuses a number race.
pub async fn insert_run(
    conn: &impl ConnectionTrait,
    new: NewRun,
) -> StoreResult<billing_run::Model> {
    let last: Option<i32> = billing_run::Entity::find()
        .select_only()
        .column_as(billing_run::Column::Seq.max(), "m")
        .filter(billing_run::Column::LegalEntityId.eq(new.legal_entity_id))
        .into_tuple::<Option<i32>>()
        .one(conn)
        .await?
        .flatten();
    let seq = last.unwrap_or(0) + 1;
    let run = billing_run::ActiveModel {
        legal_entity_id: Set(new.legal_entity_id),
        seq: Set(seq),
        run_number: Set(crate::domain::billing::run_number(seq)),
        status: Set(RunStatus::Queued),
        trigger_source: Set(new.trigger_source),
        triggered_by: Set(new.triggered_by),
        as_of: Set(new.as_of),
        dry_run: Set(new.dry_run),
        period_start: Set(None),
        period_end: Set(None),
        contract_count: Set(0),
        processed_count: Set(0),
        invoice_count: Set(0),
        invoice_total_e4: Set(0),
        posted_count: Set(0),
        event_count: Set(0),
        skipped_count: Set(0),
        last_contract_id: Set(0),
        lease_owner: Set(None),
        lease_expires_ms: Set(None),
        started_at: Set(None),
        completed_at: Set(None),
        duration_ms: Set(None),
        error: Set(None),
        updated_at: Set(Some(Utc::now())),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    super::outbox::announce(conn, super::outbox::Wire::Run(Box::new(run.clone()))).await?;
    Ok(run)
}

pub async fn active_run(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
) -> StoreResult<Option<billing_run::Model>> {
    Ok(billing_run::Entity::find()
        .filter(billing_run::Column::LegalEntityId.eq(legal_entity_id))
        .filter(billing_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]))
        .filter(billing_run::Column::DryRun.eq(false))
        .one(conn)
        .await?)
}

/// Every queued or running run, dry runs included, and every run written
/// since `since`: their current state for subscribers after the event bus
/// reconnects (a run may have finished while nobody listened).
pub async fn active_or_updated_since(
    conn: &impl ConnectionTrait,
    since: DateTime<Utc>,
) -> StoreResult<Vec<billing_run::Model>> {
    Ok(billing_run::Entity::find()
        .filter(
            Condition::any()
                .add(billing_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]))
                .add(billing_run::Column::UpdatedAt.gte(since)),
        )
        .order_by_asc(billing_run::Column::Id)
        .all(conn)
        .await?)
}

/// Unfinished runs whose lease nobody holds or has lapsed, dry runs
/// included (those are failed: their caller is gone). A lease that lapses
/// later is picked up by the next look.
pub async fn orphaned_runs(conn: &impl ConnectionTrait) -> StoreResult<Vec<billing_run::Model>> {
    Ok(billing_run::Entity::find()
        .filter(billing_run::Column::Status.is_in([RunStatus::Queued, RunStatus::Running]))
        .filter(super::lease::lapsed(conn.get_database_backend()))
        .order_by_asc(billing_run::Column::Id)
        .all(conn)
        .await?)
}

pub async fn run_by_id(
    conn: &impl ConnectionTrait,
    id: i64,
) -> StoreResult<Option<billing_run::Model>> {
    Ok(billing_run::Entity::find_by_id(id).one(conn).await?)
}

pub async fn find_run(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> StoreResult<Option<billing_run::Model>> {
    Ok(scoped(
        billing_run::Entity::find_by_id(id),
        billing_run::Column::LegalEntityId,
        principal,
    )
    .one(conn)
    .await?)
}

pub async fn find_runs(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<billing_run::Model>> {
    super::by_ids::<billing_run::Entity>(
        conn,
        principal,
        ids,
        billing_run::Column::Id,
        billing_run::Column::LegalEntityId,
    )
    .await
}

/// Runs of an entity, newest first, before the `before` id.
pub async fn runs_page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
    before: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<billing_run::Model>> {
    let mut query = scoped(
        billing_run::Entity::find(),
        billing_run::Column::LegalEntityId,
        principal,
    )
    .filter(billing_run::Column::LegalEntityId.eq(legal_entity_id));
    if let Some(before) = before {
        query = query.filter(billing_run::Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(billing_run::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}
