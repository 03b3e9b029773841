//! The contracts a run bills: those due by the as-of date, read by chunk in
//! id order; the periods already invoiced; and moving contracts past the
//! periods just billed. Set-based, a constant number of statements per
//! chunk.

use std::collections::HashSet;

use chrono::NaiveDate;
use entity::status::{ContractStatus, InvoiceStatus};
use entity::{contract, invoice};
use sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Statement,
};

use super::{StoreError, StoreResult};
pub use crate::domain::billing::ContractAdvance;

fn due(legal_entity_id: i64, as_of: NaiveDate, after_id: i64) -> sea_orm::Select<contract::Entity> {
    contract::Entity::find()
        .filter(contract::Column::LegalEntityId.eq(legal_entity_id))
        // Paused and cancelled contracts still have days to bill.
        .filter(contract::Column::Status.ne(ContractStatus::Ended))
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

/// Refreshes PostgreSQL's statistics of `contract` before a run reads it
/// chunk by chunk (SQLite plans these reads by rowid without them). Without
/// them (an import autovacuum has not analyzed yet, or autovacuum off) the
/// planner guesses that few contracts are due and reads every remaining due
/// contract through `contract_due`, sorting them by id, for each chunk:
/// measured at 100,000 contracts, 59 ms for the first chunk and 1.8 s over
/// the run, quadratic in the contracts. Knowing how many are due, it reads
/// the chunk in id order and stops after it (about 1 ms), and still takes
/// `contract_due` when few are. ANALYZE samples at most 30,000 rows.
pub async fn refresh_statistics(conn: &impl ConnectionTrait) -> StoreResult<()> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        conn.execute_unprepared("ANALYZE contract").await?;
    }
    Ok(())
}

/// Within a chunk's transaction on PostgreSQL, plans its statements
/// without sequential scans. Every statement of a chunk reads or writes at
/// most a chunk's rows of a table through its keys, so a scan of a whole
/// table is never the right plan; but the invoices a run is writing have no
/// statistics yet, and the planner took the billed-periods read's 1,000-id
/// IN list to match most of `invoice` and scanned it: 38 ms at 172,000
/// invoices, 127 ms at 274,000, against 0.75 ms through
/// `invoice_contract_period`, quadratic over a 1,000,000-contract run.
/// (The lines read's slowness there was JIT, see `db::tuning::NO_JIT`.)
/// `SET LOCAL` ends with the transaction.
pub async fn prefer_index_scans(conn: &impl ConnectionTrait) -> StoreResult<()> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        conn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await?;
    }
    Ok(())
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
    let chunk = due(legal_entity_id, as_of, after_id).limit(limit);
    super::bulk::all(conn, chunk, &[contract::Column::Id]).await
}

/// Periods (contract, first day) of these contracts that an invoice
/// already holds: a VOID one (a void is a decision, not a retry) or one not
/// entirely credited. Only an invoice a contract change credited in full
/// lets its first day be billed again (an amendment from a period start),
/// under the contract's new version.
pub async fn billed_periods(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<HashSet<(i64, NaiveDate)>> {
    let rows: Vec<(Option<i64>, NaiveDate, InvoiceStatus, i64, i64)> = invoice::Entity::find()
        .select_only()
        .column(invoice::Column::ContractId)
        .column(invoice::Column::PeriodStart)
        .column(invoice::Column::Status)
        .column(invoice::Column::TotalE4)
        .column(invoice::Column::AmountCreditedE4)
        .filter(invoice::Column::ContractId.is_in(contract_ids.iter().copied()))
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter(|(_, _, status, total, credited)| {
            *status == InvoiceStatus::Void || credited < total
        })
        .filter_map(|(c, d, ..)| c.map(|c| (c, d)))
        .collect())
}

/// Moves contracts past the periods just billed, in one statement per
/// batch: an UPDATE joined to the rows of [`super::bulk::Rows`]. Each row applies
/// only at the version the run read, and bumps it: a contract changed
/// since (a lifecycle change) makes the whole chunk [`StoreError::Stale`],
/// and the chunk is planned again from what is stored now.
pub async fn advance_contracts(
    conn: &impl ConnectionTrait,
    updates: &[ContractAdvance],
) -> StoreResult<()> {
    let backend = conn.get_database_backend();
    for batch in updates.chunks(super::BATCH_ROWS) {
        use super::bulk::{Cell, Kind};
        const COLUMNS: [(&str, Kind); 5] = [
            ("id", Kind::BigInt),
            ("version", Kind::Int),
            ("next_period_index", Kind::Int),
            ("next_billing_date", Kind::Date),
            ("billed_through", Kind::Date),
        ];
        let mut rows = super::bulk::Rows::new(backend, &COLUMNS);
        for u in batch {
            rows.push([
                Cell::from(u.id),
                Cell::from(u.version),
                Cell::from(u.next_period_index),
                Cell::from(u.next_billing_date),
                Cell::from(u.billed_through),
            ])?;
        }
        // On PostgreSQL the ids again, as an index condition: joined to the
        // row source alone, the planner merge-joins it with a scan of
        // `contract_pkey` from its first entry to the batch's last id, so
        // each batch of a run read every contract before it (3 ms for the
        // first 500 of 20,000, 12 ms for the last).
        let ids = rows.pg_array(0);
        let (source, mut values) = rows.source(1);
        let by_id = ids.map_or_else(String::new, |ids| {
            values.push(ids);
            format!(
                " AND contract.id = ANY(CAST(${} AS BIGINT[]))",
                values.len()
            )
        });
        // A contract with no period left has ENDED, unless it was cancelled
        // (which it stays).
        let sql = format!(
            "UPDATE contract SET next_period_index = v.column3, next_billing_date = v.column4, \
               billed_through = v.column5, version = contract.version + 1, \
               status = CASE WHEN v.column4 IS NULL AND contract.status <> '{cancelled}' \
                 THEN '{ended}' ELSE contract.status END \
             FROM ({source}) AS v WHERE contract.id = v.column1 AND contract.version = v.column2{by_id}",
            cancelled = ContractStatus::Cancelled,
            ended = ContractStatus::Ended,
        );
        let done = conn
            .execute_raw(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        if done.rows_affected() != batch.len() as u64 {
            return Err(StoreError::Stale(
                "a contract changed while the run billed it".into(),
            ));
        }
    }
    Ok(())
}
