//! Every query billrun makes. Functions take `&impl ConnectionTrait` so they
//! compose inside a caller's transaction, and every read of tenant data goes
//! through [`scoped`], so the legal-entity filter is part of the SQL.

pub mod agent;
pub mod aging;
pub mod aging_page;
pub mod audit;
pub mod bulk;
pub mod contract;
pub mod credit_note;
pub mod due;
pub mod error;
pub mod idempotency;
pub mod invoice;
pub mod lease;
pub mod legal_entity;
pub mod notification;
pub mod numbering;
pub mod outbox;
pub mod party;
pub mod runs;
pub mod schedule;
pub mod webhook;
pub mod webhook_delivery;

use sea_orm::sea_query::IntoCondition;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, QueryFilter,
    SqliteTransactionMode, TransactionOptions, TransactionTrait,
};

pub use error::{StoreError, StoreResult};

use crate::domain::access::Principal;

/// Rows per multi-row INSERT: a constant number of statements per chunk,
/// well under SQLite's and PostgreSQL's bound-parameter limits.
pub const BATCH_ROWS: usize = 500;

/// Restricts `query` to the legal entities `principal` may see, in SQL.
pub fn scoped<Q: QueryFilter>(query: Q, column: impl ColumnTrait, principal: &Principal) -> Q {
    match principal.entity_filter() {
        None => query,
        Some(ids) => query.filter(column.is_in(ids.iter().copied()).into_condition()),
    }
}

/// The rows of `E` with these ids that `principal` may see (the legal
/// entity in column `entity`), in one query: every batch read by id.
pub async fn by_ids<E: sea_orm::EntityTrait>(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
    id: E::Column,
    entity: E::Column,
) -> StoreResult<Vec<E::Model>> {
    Ok(scoped(E::find(), entity, principal)
        .filter(id.is_in(ids.iter().copied()))
        .all(conn)
        .await?)
}

/// The lines of these owners (invoices, contracts, credit notes) in owner
/// then line order, read as [`bulk::all`] reads (one JSON row on SQLite:
/// a billing run's chunk reads thousands of contract lines). The owners
/// were loaded through [`scoped`], so their lines need no second filter.
pub async fn lines_of<E>(
    conn: &impl ConnectionTrait,
    owners: &[i64],
    owner: E::Column,
    line_no: E::Column,
) -> StoreResult<Vec<E::Model>>
where
    E: sea_orm::EntityTrait,
    E::Model: serde::de::DeserializeOwned,
{
    let lines = E::find().filter(owner.is_in(owners.iter().copied()));
    bulk::all(conn, lines, &[owner, line_no]).await
}

/// Begins a write transaction. On SQLite it starts IMMEDIATE, taking the
/// write lock up front: a deferred transaction that reads first and writes
/// later can fail with SQLITE_BUSY instead of waiting its turn.
pub async fn begin_write(db: &DatabaseConnection) -> Result<DatabaseTransaction, DbErr> {
    db.begin_with_options(TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    })
    .await
}

/// The `n`th (from 1) bound parameter of a raw statement (it may appear
/// more than once).
pub fn placeholder(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => format!("?{n}"),
    }
}

/// The `n`th bound parameter of a statement that writes each parameter
/// once, in order (multi-row VALUES): a bare `?` on SQLite. A numbered
/// `?N` makes every bind look its name up in a list SQLite scans from the
/// start, quadratic in the statement's parameters: a tenth of a billing
/// run's time at 2,500 parameters per statement.
pub fn next_placeholder(backend: sea_orm::DbBackend, n: usize) -> String {
    match backend {
        sea_orm::DbBackend::Postgres => format!("${n}"),
        _ => "?".to_string(),
    }
}

/// Checks that the database answers (the /ready probe).
pub async fn ping(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
