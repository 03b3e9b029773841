//! Gapless invoice numbers: one sequence row per legal entity and year.

use sea_orm::{ConnectionTrait, Statement};

use super::StoreResult;

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
                "UPDATE invoice_number_sequence SET last_value = last_value + {} \
                 WHERE legal_entity_id = {} AND year = {} RETURNING last_value",
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
