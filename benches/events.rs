//! `cargo bench --bench events` (PostgreSQL: BENCH_PG_URL or DATABASE_URL):
//! four legal entities bill at once (one `triggerBillingRun` without a
//! legal entity, BENCH_CONTRACTS contracts each, default 5000) on a server
//! in this process, while a consumer pages `domainEvents(after: <last id>,
//! first: 500)` over HTTP as fast as it can. Prints the events written per
//! second (trigger to every run finished), the events the consumer received
//! per second, and how many ids in the table it never saw (must be 0).

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

/// Pages the outbox until `stop` and a final empty page; the ids seen and
/// when the last new one arrived.
async fn consume(
    url: String,
    tok: String,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<(HashSet<i64>, Instant)> {
    let client = reqwest::Client::new();
    let q = "query($a: ID) { domainEvents(after: $a, first: 500) { id } }";
    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut last_new = Instant::now();
    loop {
        let done = stop.load(Ordering::SeqCst);
        let data = post(&client, &url, &tok, q, json!({ "a": cursor })).await?;
        let page = data["domainEvents"].as_array().cloned().unwrap_or_default();
        for event in &page {
            if let Some(id) = event["id"].as_str().and_then(|s| s.parse::<i64>().ok()) {
                if seen.insert(id) {
                    last_new = Instant::now();
                }
                cursor = Some(id.to_string());
            }
        }
        if page.is_empty() && done {
            return Ok((seen, last_new));
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logs();
    if !backends().contains(&"postgres") {
        println!("events bench: set BENCH_PG_URL to a PostgreSQL server");
        return Ok(());
    }
    let per_entity: usize = std::env::var("BENCH_CONTRACTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let db = fresh("postgres").await?;
    let (url, stop_server) = serve(&db.url).await?;
    let conn = connect(&db).await?;
    for code in ["EVA", "EVB", "EVC", "EVD"] {
        seed_contracts(&conn, code, per_entity).await?;
    }
    let tok = admin_token()?;
    let stop = Arc::new(AtomicBool::new(false));
    let consumer = tokio::spawn(consume(url.clone(), tok.clone(), stop.clone()));
    let client = reqwest::Client::new();
    let started = Instant::now();
    let trigger = "mutation { triggerBillingRun(input: { asOf: \"2026-11-27\", wait: true }) { runs { status invoiceCount } } }";
    let data = post(&client, &url, &tok, trigger, json!({})).await?;
    let written_in = started.elapsed();
    let runs = data["triggerBillingRun"]["runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    anyhow::ensure!(
        runs.len() == 4 && runs.iter().all(|r| r["status"] == "COMPLETED"),
        "runs: {data}"
    );
    let written = scalar_i64(&conn, "SELECT COUNT(*) FROM domain_event").await?;
    // Everything is committed: the consumer stops at its next empty page.
    stop.store(true, Ordering::SeqCst);
    let (seen, last_new) = tokio::time::timeout(Duration::from_secs(60), consumer).await???;
    let ids: Vec<i64> = {
        use sea_orm::{ConnectionTrait, Statement};
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                "SELECT id FROM domain_event",
            ))
            .await?;
        rows.iter()
            .filter_map(|r| r.try_get::<i64>("", "id").ok())
            .collect()
    };
    let missed = ids.iter().filter(|id| !seen.contains(id)).count();
    let delivered_in = last_new.duration_since(started);
    println!(
        "events (PostgreSQL, 4 entities x {per_entity} contracts): written {written} in {:.2} s = {:.0}/s; \
         consumer received {} by {:.2} s = {:.0}/s; missed {missed}",
        written_in.as_secs_f64(),
        written as f64 / written_in.as_secs_f64(),
        seen.len(),
        delivered_in.as_secs_f64(),
        seen.len() as f64 / delivered_in.as_secs_f64(),
    );
    stop_server.cancel();
    Ok(())
}
