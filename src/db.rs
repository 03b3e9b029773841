//! Connecting to SQLite or PostgreSQL and applying migrations.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::sqlx::{self, PgConnection};
use sea_orm::{ConnectOptions, Database, DatabaseBackend, DatabaseConnection, DbErr};

use crate::config::DbArgs;

pub mod tuning;

/// The connection pool for `args.database_url`: SQLite in WAL mode with
/// foreign keys on, PostgreSQL with a statement timeout. [`tuning`] adds the
/// settings that are there only for speed.
pub async fn connect(args: &DbArgs) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(args.database_url.clone());
    let busy = Duration::from_millis(args.sqlite_busy_timeout_ms);
    options
        .max_connections(args.db_pool_size.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers run beside the single writer; the busy timeout
        // makes writers queue instead of failing with "database is locked".
        .map_sqlx_sqlite_opts(move |opts| {
            tuning::sqlite_connection(
                opts.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(busy)
                    .foreign_keys(true),
            )
        });
    if args.db_statement_timeout_secs > 0 && !is_sqlite(&args.database_url) {
        options.statement_timeout(Duration::from_secs(args.db_statement_timeout_secs));
    }
    tuning::pool(&mut options, args);
    Database::connect(options)
        .await
        .with_context(|| format!("Failed to connect to {}", redact(&args.database_url)))
}

/// Applies pending migrations. On PostgreSQL an advisory lock keeps replicas
/// that start together from racing through the same migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    let result = if db.get_database_backend() == DatabaseBackend::Postgres {
        up_under_lock(db).await?
    } else {
        Migrator::up(db, None).await
    };
    result.context("Failed to apply migrations")
}

/// `Migrator::up` while holding the migration lock. The lock is held by a
/// session: one pooled connection is kept for the whole migration.
async fn up_under_lock(db: &DatabaseConnection) -> anyhow::Result<Result<(), DbErr>> {
    let mut conn = db
        .get_postgres_connection_pool()
        .acquire()
        .await
        .context("Failed to acquire a connection")?;
    migration_lock(&mut conn, "SELECT pg_advisory_lock($1)")
        .await
        .context("Failed to take the migration lock")?;
    let result = Migrator::up(db, None).await;
    migration_lock(&mut conn, "SELECT pg_advisory_unlock($1)")
        .await
        .context("Failed to release the migration lock")?;
    Ok(result)
}

/// Runs `sql`, a call of `pg_advisory_lock` or `pg_advisory_unlock`, for
/// billrun's migration lock.
async fn migration_lock(conn: &mut PgConnection, sql: &'static str) -> Result<(), sqlx::Error> {
    const LOCK_KEY: i64 = 0x0062_696c_6c72_756e; // "billrun"
    sqlx::query(sql).bind(LOCK_KEY).execute(conn).await?;
    Ok(())
}

pub fn is_sqlite(url: &str) -> bool {
    url.starts_with("sqlite:")
}

/// The SQLite database file of a `sqlite://FILE?…` URL, if it is a file.
pub fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    if path.is_empty() || path == ":memory:" {
        None
    } else {
        Some(std::path::PathBuf::from(path))
    }
}

/// A URL fit for logs: the password, if any, replaced.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }

    #[test]
    fn sqlite_file_is_taken_from_the_url() {
        assert_eq!(
            sqlite_file("sqlite://billrun.db?mode=rwc"),
            Some("billrun.db".into())
        );
        assert_eq!(sqlite_file("sqlite::memory:"), None);
        assert_eq!(sqlite_file("postgres://x"), None);
    }

    async fn show(conn: &impl sea_orm::ConnectionTrait, setting: &str) -> String {
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                conn.get_database_backend(),
                format!("SHOW {setting}"),
            ))
            .await
            .expect("SHOW runs")
            .expect("SHOW returns a row");
        row.try_get_by_index(0).expect("SHOW returns text")
    }

    /// The planner settings billing runs rely on for speed (see `tuning`
    /// and `store::due::prefer_index_scans`): JIT off on every connection,
    /// sequential scans off inside a chunk's transaction only. PostgreSQL
    /// only (`DATABASE_URL`); SQLite has neither setting.
    #[tokio::test]
    async fn postgres_connections_plan_chunks_without_jit_or_table_scans() {
        use sea_orm::TransactionTrait;
        let Some(url) = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        else {
            return;
        };
        let args = DbArgs {
            database_url: url,
            db_pool_size: 1,
            db_statement_timeout_secs: 0,
            sqlite_busy_timeout_ms: 1000,
        };
        let db = connect(&args).await.expect("PostgreSQL reachable");
        assert_eq!(show(&db, "jit").await, "off");
        assert_eq!(show(&db, "enable_seqscan").await, "on");
        let txn = db.begin().await.expect("begin");
        crate::store::due::prefer_index_scans(&txn)
            .await
            .expect("SET LOCAL");
        assert_eq!(show(&txn, "enable_seqscan").await, "off");
        txn.commit().await.expect("commit");
        assert_eq!(show(&db, "enable_seqscan").await, "on");
    }
}
