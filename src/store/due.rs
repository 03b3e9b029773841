//! The contracts a run bills: those due by the as-of date, read by chunk in
//! id order; the periods already invoiced; and moving contracts past the
//! periods just billed. Set-based, a constant number of statements per
//! chunk.

use std::collections::HashSet;

use chrono::NaiveDate;
use entity::status::ContractStatus;
use entity::{contract, invoice};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Statement, Value,
};

use super::StoreResult;
pub use crate::domain::billing::ContractAdvance;

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
                row.push(super::placeholder(backend, values.len()));
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
