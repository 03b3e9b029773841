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
    /// A row changed between reading and writing it (a compare-and-set
    /// lost): the transaction is worth trying again from a fresh read.
    #[error("changed concurrently: {0}")]
    Stale(String),
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

impl StoreError {
    /// A failure that says nothing about the work itself and may pass if
    /// the same transaction is tried again: a lost or refused connection,
    /// a pool timeout, a serialization failure or deadlock (PostgreSQL), a
    /// busy or locked database (SQLite).
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Db(err) => is_transient(err),
            StoreError::Stale(_) => true,
            _ => false,
        }
    }
}

pub fn is_transient(err: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    use sea_orm::RuntimeErr;
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(e) | DbErr::Exec(e) | DbErr::Query(e) => e,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else {
        return false;
    };
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::Protocol(_) | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => db.code().is_some_and(|code| transient_code(&code)),
        _ => false,
    }
}

/// SQLSTATEs (PostgreSQL) and result codes (SQLite) worth a retry.
fn transient_code(code: &str) -> bool {
    const POSTGRES: [&str; 7] = [
        "40001", "40P01", "55P03", "57P01", "57P02", "57P03", "53300",
    ];
    POSTGRES.contains(&code)
        || code.starts_with("08")
        // SQLITE_BUSY and SQLITE_LOCKED with their extended codes.
        || matches!(code, "5" | "6" | "261" | "262" | "517" | "773")
}

#[cfg(test)]
mod tests {
    use super::transient_code;

    #[test]
    fn serialization_deadlock_shutdown_and_busy_are_transient_constraints_are_not() {
        for code in ["40001", "40P01", "57P01", "08006", "5", "517"] {
            assert!(transient_code(code), "{code}");
        }
        for code in ["23505", "23503", "42P01", "19", "2067"] {
            assert!(!transient_code(code), "{code}");
        }
    }
}
