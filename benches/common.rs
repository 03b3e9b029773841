//! Shared by the benches: fresh databases, bulk seeding, timing, peak RSS.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use billrun::config::DbArgs;
use chrono::{NaiveDate, Utc};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};

pub struct BenchDb {
    pub label: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// SQLite always; PostgreSQL when `BENCH_PG_URL` (or a postgres
/// `DATABASE_URL`) names a server.
pub fn backends() -> Vec<&'static str> {
    let mut out = vec!["sqlite"];
    if pg_base().is_some() {
        out.push("postgres");
    }
    out
}

fn pg_base() -> Option<String> {
    std::env::var("BENCH_PG_URL")
        .ok()
        .or_else(|| std::env::var("DATABASE_URL").ok())
        .filter(|u| u.starts_with("postgres"))
}

pub async fn fresh(backend: &'static str) -> anyhow::Result<BenchDb> {
    if backend == "sqlite" {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("bench.db").display()
        );
        return Ok(BenchDb {
            label: "SQLite",
            url,
            _dir: Some(dir),
        });
    }
    let base = pg_base().ok_or_else(|| anyhow::anyhow!("no PostgreSQL URL"))?;
    let name = format!("billrun_bench_{}", std::process::id());
    let admin = Database::connect(base.as_str()).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    let (prefix, _) = base
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("bad URL"))?;
    Ok(BenchDb {
        label: "PostgreSQL",
        url: format!("{prefix}/{name}"),
        _dir: None,
    })
}

pub async fn connect(db: &BenchDb) -> anyhow::Result<DatabaseConnection> {
    let args = DbArgs {
        database_url: db.url.clone(),
        db_pool_size: 4,
        db_statement_timeout_secs: 0,
        sqlite_busy_timeout_ms: 30_000,
    };
    let conn = billrun::db::connect(&args).await?;
    billrun::db::migrate(&conn).await?;
    Ok(conn)
}

/// Multi-row INSERTs of pre-rendered value tuples, `per` rows a statement.
pub async fn insert_rows(
    conn: &DatabaseConnection,
    head: &str,
    rows: impl Iterator<Item = String>,
    per: usize,
) -> anyhow::Result<()> {
    let mut batch = Vec::with_capacity(per);
    let flush = |batch: &mut Vec<String>| {
        let sql = format!("{head} VALUES {}", batch.join(","));
        batch.clear();
        sql
    };
    let txn = billrun::store::begin_write(conn).await?;
    for row in rows {
        batch.push(row);
        if batch.len() == per {
            txn.execute_unprepared(&flush(&mut batch)).await?;
        }
    }
    if !batch.is_empty() {
        txn.execute_unprepared(&flush(&mut batch)).await?;
    }
    txn.commit().await?;
    Ok(())
}

pub async fn analyze(conn: &DatabaseConnection) -> anyhow::Result<()> {
    conn.execute_unprepared("ANALYZE").await?;
    Ok(())
}

pub fn ts(conn: &DatabaseConnection) -> String {
    let now = Utc::now();
    match conn.get_database_backend() {
        DbBackend::Postgres => format!("'{}'::timestamptz", now.to_rfc3339()),
        _ => format!("'{}'", now.to_rfc3339()),
    }
}

pub fn date_lit(conn: &DatabaseConnection, d: NaiveDate) -> String {
    match conn.get_database_backend() {
        DbBackend::Postgres => format!("DATE '{d}'"),
        _ => format!("'{d}'"),
    }
}

pub async fn scalar_i64(conn: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            sql.to_string(),
        ))
        .await?
        .ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok(row.try_get_by_index::<i64>(0)?)
}

/// Peak resident set size of this process in MB (VmHWM).
pub fn peak_rss_mb() -> f64 {
    read_status("VmHWM:")
}

pub fn rss_mb() -> f64 {
    read_status("VmRSS:")
}

fn read_status(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Resets VmHWM so the next peak is measured from here (Linux).
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

pub async fn timed<T, F: std::future::Future<Output = anyhow::Result<T>>>(
    f: F,
) -> anyhow::Result<(T, Duration)> {
    let start = Instant::now();
    let out = f.await?;
    Ok((out, start.elapsed()))
}

/// Logs to stderr when RUST_LOG is set (e.g. billrun=debug shows per-chunk timings).
pub fn init_logs() {
    if std::env::var("RUST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .try_init();
    }
}

pub fn sizes(default: &[usize]) -> Vec<usize> {
    std::env::var("BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| default.to_vec())
}
