//! Performance settings of the database connections, kept apart from
//! connecting and migrating so that [`super`] reads as just that.
//!
//! None of this changes what the database stores or returns; it is all for
//! speed:
//!
//! - PostgreSQL sockets get TCP_NODELAY ([`disable_nagle`]): Nagle's
//!   algorithm held every large INSERT for a delayed ACK.
//! - PostgreSQL connections start with JIT compilation off ([`NO_JIT`]).
//! - SQLite hands more rows at a time from its worker thread to the async
//!   side ([`ROW_BUFFER`]).
//! - Connections stay on the runtime and CPUs they were opened from: the
//!   live runtime (WebSocket subscriptions, see `http::live`) may be pinned
//!   to its own CPUs with `--live-cpus`, and a connection a subscription
//!   happened to open would drag billing runs onto that side. So the
//!   PostgreSQL pool opens whole at start, SQLite connections are never
//!   recycled, and with `--live-cpus` the app opens the SQLite pool from
//!   the billing side ([`open_sqlite_pool`]).

use anyhow::Context;
use sea_orm::sqlx::sqlite::SqliteConnectOptions;
use sea_orm::{ConnectOptions, DatabaseBackend, DatabaseConnection};

use super::is_sqlite;
use crate::config::DbArgs;

/// Rows sqlx may buffer per SQLite query: more than one billing-run chunk.
const ROW_BUFFER: usize = 1024;

/// The tuning of one SQLite connection, on top of its settings.
pub(super) fn sqlite_connection(opts: SqliteConnectOptions) -> SqliteConnectOptions {
    // sqlx hands rows from its SQLite thread to the async side through a
    // channel of 50 by default: a 500-row chunk query then ping-pongs
    // between two threads a dozen times, and each hand-off waits for a core
    // when subscribers are busy.
    opts.row_buffer_size(ROW_BUFFER)
}

/// Startup settings of every PostgreSQL connection. JIT is off: billrun's
/// statements are keyed reads and writes of at most a chunk's rows, which
/// JIT compilation never pays back, but the planner starts it whenever an
/// estimate passes `jit_above_cost`, and a table without statistics (the
/// contract lines right after an import) makes a 1,000-id IN list look like
/// most of the table. Measured at 1,000,000 contracts: the lines read of a
/// chunk took 42 ms with JIT and 1.5 ms without (its scan alone 1.3–2.4 ms).
/// The aging report, the largest read, measured the same with and without.
pub const NO_JIT: (&str, &str) = ("jit", "off");

/// The tuning of the pool: JIT off and TCP_NODELAY on PostgreSQL
/// connections, and connections that are opened once and kept (see the
/// module doc).
pub(super) fn pool(options: &mut ConnectOptions, args: &DbArgs) {
    options.map_sqlx_postgres_opts(|opts| opts.options([NO_JIT]));
    // Nagle's algorithm held every large INSERT for a delayed ACK (~40 ms
    // each; measured: 340 ms vs 80 ms a 500-contract chunk), and sqlx 0.9
    // offers no TCP_NODELAY option.
    options.map_sqlx_postgres_pool_opts(|pool| {
        pool.after_connect(|_conn, _meta| {
            Box::pin(async {
                disable_nagle();
                Ok(())
            })
        })
    });
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
