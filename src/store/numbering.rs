//! Gapless numbers: one sequence row per legal entity and year, one table
//! per series (invoices, credit notes).

use sea_orm::{ConnectionTrait, Statement};

use super::StoreResult;

/// A gapless number series of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    Invoice,
    CreditNote,
}

impl Series {
    fn table(self) -> &'static str {
        match self {
            Series::Invoice => "invoice_number_sequence",
            Series::CreditNote => "credit_note_number_sequence",
        }
    }
}

/// Reserves `count` numbers of a series for an entity and year and returns
/// the first. The sequence row is updated in the posting transaction, so a
/// rollback returns the numbers and they stay gapless; on PostgreSQL the
/// UPDATE's row lock serialises concurrent posters.
pub async fn allocate_numbers(
    conn: &impl ConnectionTrait,
    series: Series,
    legal_entity_id: i64,
    year: i32,
    count: i64,
) -> StoreResult<i64> {
    let backend = conn.get_database_backend();
    conn.execute_raw(Statement::from_sql_and_values(
        backend,
        format!(
            "INSERT INTO {} (legal_entity_id, year, last_value) VALUES ({}, {}, 0) \
             ON CONFLICT (legal_entity_id, year) DO NOTHING",
            series.table(),
            super::placeholder(backend, 1),
            super::placeholder(backend, 2)
        ),
        [legal_entity_id.into(), year.into()],
    ))
    .await?;
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            format!(
                "UPDATE {} SET last_value = last_value + {} \
                 WHERE legal_entity_id = {} AND year = {} RETURNING last_value",
                series.table(),
                super::placeholder(backend, 1),
                super::placeholder(backend, 2),
                super::placeholder(backend, 3)
            ),
            [count.into(), legal_entity_id.into(), year.into()],
        ))
        .await?
        .ok_or_else(|| super::StoreError::Corrupt("number sequence row missing".into()))?;
    let last: i64 = row.try_get("", "last_value")?;
    Ok(last - count + 1)
}
