//! Database failures, sorted once: constraint violations become `Conflict`
//! (portable through `DbErr::sql_err`, on PostgreSQL and SQLite alike);
//! everything else stays a `Db` error that is logged, never shown.

use sea_orm::{DbErr, SqlErr};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique or foreign-key constraint refused the write. The text is for
    /// logs only; it names the constraint.
    #[error("constraint violated: {0}")]
    Conflict(String),
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    #[error("database error")]
    Db(#[source] DbErr),
}

impl From<DbErr> for StoreError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(detail))
            | Some(SqlErr::ForeignKeyConstraintViolation(detail)) => StoreError::Conflict(detail),
            _ => StoreError::Db(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
