//! Shared by the benches: fresh databases, bulk seeding, timing, peak RSS.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use billrun::app::Application;
use billrun::config::{Cli, DbArgs};
use chrono::{NaiveDate, Utc};
use clap::Parser;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub struct BenchDb {
    pub label: &'static str,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

/// SQLite, and PostgreSQL when `BENCH_PG_URL` (or a postgres
/// `DATABASE_URL`) names a server; `BENCH_BACKENDS`
/// (`sqlite`, `postgres` or both, comma-separated) keeps only those named.
pub fn backends() -> Vec<&'static str> {
    let mut out = vec!["sqlite"];
    if pg_base().is_some() {
        out.push("postgres");
    }
    if let Ok(only) = std::env::var("BENCH_BACKENDS") {
        let named: Vec<&str> = only.split(',').map(str::trim).collect();
        out.retain(|b| named.contains(b));
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
    fresh_named(backend, "").await
}

/// A fresh database whose PostgreSQL name ends in `suffix`, for a bench
/// that needs two at once.
pub async fn fresh_named(backend: &'static str, suffix: &str) -> anyhow::Result<BenchDb> {
    if backend == "sqlite" {
        if let Ok(path) = std::env::var("BENCH_KEEP_SQLITE") {
            // Keep the database for EXPLAIN afterwards.
            let path = format!("{path}{suffix}");
            let _ = std::fs::remove_file(&path);
            return Ok(BenchDb {
                label: "SQLite",
                url: format!("sqlite://{path}?mode=rwc"),
                _dir: None,
            });
        }
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
    let name = format!("billrun_bench_{}{suffix}", std::process::id());
    let admin = Database::connect(base.as_str()).await?;
    admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    // The database name replaced, the parameters (`?sslmode=…`) kept.
    let (path, query) = base.split_once('?').unwrap_or((base.as_str(), ""));
    let (prefix, _) = path
        .rsplit_once('/')
        .ok_or_else(|| anyhow::anyhow!("bad URL"))?;
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{query}")
    };
    Ok(BenchDb {
        label: "PostgreSQL",
        url: format!("{prefix}/{name}{query}"),
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

const CUSTOMERS: usize = 1_000;

pub fn day(s: &str) -> NaiveDate {
    s.parse().unwrap_or_default()
}

/// A EUR legal entity in Tallinn; its id.
pub async fn insert_entity(conn: &DatabaseConnection, code: &str) -> anyhow::Result<i64> {
    let now = ts(conn);
    conn.execute_unprepared(&format!(
        "INSERT INTO legal_entity (code, name, currency, country, timezone, created_at) \
         VALUES ('{code}', 'Bench {code}', 'EUR', 'EE', 'Europe/Tallinn', {now})"
    ))
    .await?;
    scalar_i64(conn, "SELECT MAX(id) FROM legal_entity").await
}

/// One entity, one tax code, 1,000 customers, `n` monthly contracts from
/// 2026-11-01 with 2 lines, and some billed history so the planner sees
/// realistic tables.
pub async fn seed_contracts(
    conn: &DatabaseConnection,
    code: &str,
    n: usize,
) -> anyhow::Result<i64> {
    let now = ts(conn);
    let le = insert_entity(conn, code).await?;
    conn.execute_unprepared(&format!(
        "INSERT INTO tax_code (legal_entity_id, code, rate_e6, created_at) VALUES ({le}, 'VAT', 19450000, {now})"
    ))
    .await?;
    let tax = scalar_i64(conn, "SELECT MAX(id) FROM tax_code").await?;
    let (t, f) = match conn.get_database_backend() {
        sea_orm::DbBackend::Postgres => ("TRUE", "FALSE"),
        _ => ("1", "0"),
    };
    insert_rows(
        conn,
        "INSERT INTO customer (legal_entity_id, name, email, payment_terms_days, has_payment_method, created_at)",
        (0..CUSTOMERS).map(|i| {
            format!("({le}, 'Customer {i:05}', 'c{i}@example.com', 30, {}, {now})", if i % 2 == 0 { t } else { f })
        }),
        500,
    )
    .await?;
    let first_customer = scalar_i64(
        conn,
        &format!("SELECT MIN(id) FROM customer WHERE legal_entity_id = {le}"),
    )
    .await?;
    let start = date_lit(conn, day("2026-11-01"));
    insert_rows(
        conn,
        "INSERT INTO contract (legal_entity_id, customer_id, status, start_date, end_date, billing_interval, \
         interval_count, timing, next_period_index, next_billing_date, created_at)",
        (0..n).map(|i| {
            let c = first_customer + (i % CUSTOMERS) as i64;
            format!("({le}, {c}, 'ACTIVE', {start}, NULL, 'MONTH', 1, 'IN_ADVANCE', 0, {start}, {now})")
        }),
        500,
    )
    .await?;
    let first_contract = scalar_i64(
        conn,
        &format!("SELECT MIN(id) FROM contract WHERE legal_entity_id = {le}"),
    )
    .await?;
    insert_rows(
        conn,
        "INSERT INTO contract_line (contract_id, line_no, description, quantity_e6, unit_price_e6, tax_code_id)",
        (0..n).flat_map(|i| {
            let c = first_contract + i as i64;
            [
                format!("({c}, 0, 'Platform', 1000000, 49000000, {tax})"),
                format!("({c}, 1, 'Seats', {}, 12500000, {tax})", (1 + i % 7) * 1_000_000),
            ]
        }),
        500,
    )
    .await?;
    analyze(conn).await?;
    Ok(le)
}

/// The HS256 secret the bench servers are started with.
pub const SECRET: &str = "bench-secret-that-is-long-enough-0123456789";

/// An ADMIN token for the bench servers, valid for an hour.
pub fn admin_token() -> anyhow::Result<String> {
    let keys = billrun::auth::JwtKeys::hs256(SECRET.as_bytes())?;
    billrun::app::admin_token(&keys, 3600, &Default::default())
}

/// Runs `bench` on SQLite and (with `BENCH_PG_URL`) PostgreSQL, for every
/// size of `BENCH_SIZES` (or `default`), on a multi-threaded runtime.
pub fn each_backend_and_size<F, Fut>(default: &[usize], bench: F) -> anyhow::Result<()>
where
    F: Fn(&'static str, usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<()>>,
{
    init_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        for backend in backends() {
            for n in sizes(default) {
                bench(backend, n).await?;
            }
        }
        Ok(())
    })
}

/// A server in this process on the bench database `url`, reached over HTTP
/// as a front end would: its GraphQL URL, and the token that stops it.
pub async fn serve(url: &str) -> anyhow::Result<(String, CancellationToken)> {
    let cli = Cli::parse_from([
        "billrun",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        url,
        "--jwt-secret",
        SECRET,
        "--request-timeout-secs",
        "600",
        "--rate-limit-per-minute",
        "0",
        "--scheduler-poll-secs",
        "0",
    ]);
    let app = Application::build(cli.serve).await?;
    let graphql = format!("http://127.0.0.1:{}/graphql", app.port());
    let stop = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    Ok((graphql, stop))
}

/// One GraphQL POST; its `data`, or an error carrying the response's errors.
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    tok: &str,
    query: &str,
    vars: Value,
) -> anyhow::Result<Value> {
    let body = json!({ "query": query, "variables": vars });
    let reply: Value = client
        .post(url)
        .bearer_auth(tok)
        .json(&body)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(reply.get("errors").is_none(), "GraphQL errors: {reply}");
    Ok(reply["data"].clone())
}
