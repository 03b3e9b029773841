//! Connecting to SQLite or PostgreSQL and applying migrations.

use std::time::Duration;

use anyhow::Context;
use migration::{Migrator, MigratorTrait};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, Database, DatabaseBackend, DatabaseConnection};

use crate::config::DbArgs;

/// Rows sqlx may buffer per SQLite query: more than one billing-run chunk.
const ROW_BUFFER: usize = 1024;

pub async fn connect(args: &DbArgs) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(args.database_url.clone());
    let busy = Duration::from_millis(args.sqlite_busy_timeout_ms);
    options
        .max_connections(args.db_pool_size.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false)
        // WAL lets readers run beside the single writer; the busy timeout
        // makes writers queue instead of failing with "database is locked".
        // Nagle's algorithm held every large INSERT for a delayed ACK
        // (~40 ms each; measured: 340 ms vs 80 ms a 500-contract chunk), and
        // sqlx 0.9 offers no TCP_NODELAY option.
        .map_sqlx_postgres_pool_opts(|pool| {
            pool.after_connect(|_conn, _meta| {
                Box::pin(async {
                    disable_nagle();
                    Ok(())
                })
            })
        })
        .map_sqlx_sqlite_opts(move |opts| {
            opts.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(busy)
                .foreign_keys(true)
                // sqlx hands rows from its SQLite thread to the async side
                // through a channel of 50 by default: a 500-row chunk query
                // then ping-pongs between two threads a dozen times, and
                // each hand-off waits for a core when subscribers are busy.
                .row_buffer_size(ROW_BUFFER)
        });
    if args.db_statement_timeout_secs > 0 && !is_sqlite(&args.database_url) {
        options.statement_timeout(Duration::from_secs(args.db_statement_timeout_secs));
    }
    // A connection opened lazily by a subscription on the live runtime would
    // belong to it even when a billing run uses it: a PostgreSQL socket gets
    // its readiness from that runtime's driver, so PostgreSQL opens the whole
    // pool up front; a SQLite worker thread inherits the live CPU pinning, so
    // with `--live-cpus` the app opens the pool (`open_sqlite_pool`). SQLite
    // connections are never recycled, so none is reborn later.
    if is_sqlite(&args.database_url) {
        options.map_sqlx_sqlite_pool_opts(|pool| pool.max_lifetime(None).idle_timeout(None));
    } else {
        options.min_connections(args.db_pool_size.max(1));
    }
    Database::connect(options)
        .await
        .with_context(|| format!("Failed to connect to {}", redact(&args.database_url)))
}

/// Opens every connection of a SQLite pool now, one after another (opened
/// together, connections to a fresh file race to switch it to WAL), from
/// the billing side of a `--live-cpus` split, so no worker thread is born
/// on the live side. Not the default: the pool hands connections out in
/// turn, and each then finds its page cache stale after another's write
/// (measured: a 100,000-contract run 6.0 s with a lazy pool, 6.7 s with
/// four open).
pub async fn open_sqlite_pool(db: &DatabaseConnection, size: u32) -> anyhow::Result<()> {
    if db.get_database_backend() != DatabaseBackend::Sqlite {
        return Ok(());
    }
    let pool = db.get_sqlite_connection_pool();
    let mut held = Vec::new();
    for _ in 0..size.max(1) {
        held.push(pool.acquire().await.context("Failed to open the pool")?);
    }
    Ok(())
}

/// Applies pending migrations. On PostgreSQL an advisory lock keeps replicas
/// that start together from racing through the same migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    const LOCK_KEY: i64 = 0x0062_696c_6c72_756e; // "billrun"
    let postgres = db.get_database_backend() == DatabaseBackend::Postgres;
    if postgres {
        // Session-level lock: hold one pooled connection for the whole migration.
        let pool = db.get_postgres_connection_pool();
        let mut conn = pool
            .acquire()
            .await
            .context("Failed to acquire a connection")?;
        sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *conn)
            .await
            .context("Failed to take the migration lock")?;
        let result = Migrator::up(db, None).await;
        sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut *conn)
            .await
            .context("Failed to release the migration lock")?;
        result.context("Failed to apply migrations")?;
    } else {
        Migrator::up(db, None)
            .await
            .context("Failed to apply migrations")?;
    }
    Ok(())
}

/// Sets TCP_NODELAY on this process's sockets, which includes the
/// connection sqlx just opened (it exposes no socket handle). Harmless on the
/// others: HTTP and WebSocket traffic only gains from it too.
#[cfg(target_os = "linux")]
fn disable_nagle() {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return;
    };
    let mut set = 0;
    for entry in dir.flatten() {
        let is_socket = std::fs::read_link(entry.path())
            .map(|target| target.to_string_lossy().starts_with("socket:"))
            .unwrap_or(false);
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<libc::c_int>().ok())
        else {
            continue;
        };
        if !is_socket {
            continue;
        }
        let one: libc::c_int = 1;
        // SAFETY: setsockopt only reads `one` for the given length. `fd` was
        // just listed as an open socket of this process; if it has been
        // closed or reused since, the call fails or sets NODELAY on another
        // socket, both harmless. Non-TCP sockets answer with an error.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            set += 1;
        }
    }
    tracing::debug!(sockets = set, "TCP_NODELAY set");
}

#[cfg(not(target_os = "linux"))]
fn disable_nagle() {}

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
}
