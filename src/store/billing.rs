//! Billing runs and the engine's set-based reads and writes: due contracts
//! by chunk, already-billed periods, number allocation and contract advance.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use entity::status::ContractStatus;
use entity::{billing_run, contract, invoice};
use sea_orm::Condition;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, QuerySelect, Set, Statement, Value,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;
pub use crate::domain::billing::ContractAdvance;

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
    Ok(scoped(
        billing_run::Entity::find(),
        billing_run::Column::LegalEntityId,
        principal,
    )
    .filter(billing_run::Column::Id.is_in(ids.iter().copied()))
    .all(conn)
    .await?)
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

fn due(legal_entity_id: i64, as_of: NaiveDate, after_id: i64) -> sea_orm::Select<contract::Entity> {
    contract::Entity::find()
        .filter(contract::Column::LegalEntityId.eq(legal_entity_id))
        .filter(contract::Column::Status.eq(ContractStatus::Active))
        .filter(contract::Column::NextBillingDate.lte(as_of))
        .filter(contract::Column::Id.gt(after_id))
}

pub async fn count_due(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    as_of: NaiveDate,
    after_id: i64,
) -> StoreResult<u64> {
    Ok(due(legal_entity_id, as_of, after_id).count(conn).await?)
}

/// The next chunk of due contracts in id order (keyset, so memory stays
/// flat and a resumed run continues where the last commit left it).
pub async fn due_chunk(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    as_of: NaiveDate,
    after_id: i64,
    limit: u64,
) -> StoreResult<Vec<contract::Model>> {
    Ok(due(legal_entity_id, as_of, after_id)
        .order_by_asc(contract::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Periods of these contracts that already have an invoice (any status:
/// a void is a decision, not a retry).
pub async fn billed_periods(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<HashSet<(i64, NaiveDate)>> {
    let rows: Vec<(Option<i64>, NaiveDate)> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::ContractId)
        .column(invoice::Column::PeriodStart)
        .filter(invoice::Column::ContractId.is_in(contract_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(c, d)| c.map(|c| (c, d)))
        .collect())
}

/// Moves contracts past the periods just billed, in one statement per
/// batch: an UPDATE joined to a VALUES list (`column1`… are the VALUES
/// column names on both PostgreSQL and SQLite ≥ 3.33).
pub async fn advance_contracts(
    conn: &impl ConnectionTrait,
    updates: &[ContractAdvance],
) -> StoreResult<()> {
    let backend = conn.get_database_backend();
    for batch in updates.chunks(super::BATCH_ROWS) {
        let mut values: Vec<Value> = Vec::with_capacity(batch.len() * 4);
        let mut rows = Vec::with_capacity(batch.len());
        for u in batch {
            let mut row = Vec::with_capacity(4);
            for v in [
                Value::from(u.id),
                Value::from(u.next_period_index),
                Value::from(u.next_billing_date),
                Value::from(if u.next_billing_date.is_none() {
                    ContractStatus::Ended
                } else {
                    ContractStatus::Active
                }),
            ] {
                values.push(v);
                row.push(placeholder(backend, values.len()));
            }
            rows.push(format!("({})", row.join(", ")));
        }
        // PostgreSQL types the VALUES columns from the first row; spell out
        // the date so an all-NULL column is still a date.
        let date = match backend {
            DbBackend::Postgres => "CAST(v.column3 AS DATE)",
            _ => "v.column3",
        };
        let sql = format!(
            "UPDATE contract SET next_period_index = v.column2, next_billing_date = {date}, status = v.column4 \
             FROM (VALUES {}) AS v WHERE contract.id = v.column1",
            rows.join(", ")
        );
        conn.execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
    }
    Ok(())
}

fn placeholder(backend: DbBackend, n: usize) -> String {
    match backend {
        DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// Reserves `count` invoice numbers for an entity and year and returns the
/// first. The sequence row is updated in the posting transaction, so a
/// rollback returns the numbers and they stay gapless; on PostgreSQL the
/// UPDATE's row lock serialises concurrent posters.
pub async fn allocate_numbers(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    year: i32,
    count: i64,
) -> StoreResult<i64> {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO invoice_number_sequence (legal_entity_id, year, last_value) VALUES ({}, {}, 0) \
             ON CONFLICT (legal_entity_id, year) DO NOTHING",
            placeholder(backend, 1),
            placeholder(backend, 2)
        ),
        [legal_entity_id.into(), year.into()],
    ))
    .await?;
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE invoice_number_sequence SET last_value = last_value + {} \
                 WHERE legal_entity_id = {} AND year = {} RETURNING last_value",
                placeholder(backend, 1),
                placeholder(backend, 2),
                placeholder(backend, 3)
            ),
            [count.into(), legal_entity_id.into(), year.into()],
        ))
        .await?
        .ok_or_else(|| super::StoreError::Corrupt("number sequence row missing".into()))?;
    let last: i64 = row.try_get("", "last_value")?;
    Ok(last - count + 1)
}
