//! `cargo bench --bench webhooks` (PostgreSQL too with BENCH_PG_URL):
//! 10 legal entities (BENCH_CONTRACTS contracts each, default 6,700: about
//! 10,000 outbox events each, 100,000 in all) bill on a server in this
//! process whose worker delivers to 10 healthy receivers on 127.0.0.1, one
//! endpoint per entity. Prints deliveries per second (from the first
//! trigger to the last delivery), and the slowdown of a billing run
//! (BENCH_RUN_CONTRACTS, default 10,000) made while the backlog is being
//! sent, against the same run on an idle server (one sample each).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use billrun::app::Application;
use billrun::config::Cli;
use clap::Parser;
use common::*;
use serde_json::{json, Value};

const ENDPOINTS: usize = 10;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    tok: &str,
    query: &str,
    vars: Value,
) -> anyhow::Result<Value> {
    let reply: Value = client
        .post(url)
        .bearer_auth(tok)
        .json(&json!({ "query": query, "variables": vars }))
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(reply.get("errors").is_none(), "GraphQL errors: {reply}");
    Ok(reply["data"].clone())
}

/// A receiver answering 204 to everything; its URL.
async fn receiver(count: Arc<AtomicUsize>) -> anyhow::Result<String> {
    let router = axum::Router::new().fallback(move || {
        let count = count.clone();
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            axum::http::StatusCode::NO_CONTENT
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(format!("http://127.0.0.1:{port}/hook"))
}

/// One awaited run of `entity`; how long it took.
async fn run(
    client: &reqwest::Client,
    url: &str,
    tok: &str,
    entity: i64,
) -> anyhow::Result<Duration> {
    let q = "mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, asOf: \"2026-11-27\", wait: true }) { runs { status } } }";
    let started = Instant::now();
    let data = post(client, url, tok, q, json!({ "e": entity.to_string() })).await?;
    anyhow::ensure!(
        data["triggerBillingRun"]["runs"][0]["status"] == "COMPLETED",
        "run: {data}"
    );
    Ok(started.elapsed())
}

async fn bench(backend: &'static str) -> anyhow::Result<()> {
    let per_entity = env_usize("BENCH_CONTRACTS", 6_700);
    let run_size = env_usize("BENCH_RUN_CONTRACTS", 10_000);
    let db = fresh(backend).await?;
    let cli = Cli::parse_from([
        "billrun",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        db.url.as_str(),
        "--jwt-secret",
        SECRET,
        "--request-timeout-secs",
        "3600",
        "--rate-limit-per-minute",
        "0",
        "--scheduler-poll-secs",
        "0",
        "--webhook-allow-hosts",
        "127.0.0.1",
        "--webhook-poll",
        "50ms",
    ]);
    let app = Application::build(cli.serve).await?;
    let url = format!("http://127.0.0.1:{}/graphql", app.port());
    let stop_server = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let conn = connect(&db).await?;
    let idle = seed_contracts(&conn, "IDLE", run_size).await?;
    let busy = seed_contracts(&conn, "BUSY", run_size).await?;
    let mut hooked = Vec::new();
    for i in 0..ENDPOINTS {
        hooked.push(seed_contracts(&conn, &format!("WH{i}"), per_entity).await?);
    }
    let (client, tok) = (reqwest::Client::new(), admin_token()?);
    let idle_run = run(&client, &url, &tok, idle).await?;

    let received = Arc::new(AtomicUsize::new(0));
    let create =
        "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { secret } }";
    for entity in &hooked {
        let hook = receiver(received.clone()).await?;
        post(
            &client,
            &url,
            &tok,
            create,
            json!({ "i": { "url": hook, "legalEntityId": entity.to_string() } }),
        )
        .await?;
    }
    let started = Instant::now();
    for entity in &hooked {
        run(&client, &url, &tok, *entity).await?;
    }
    let list = hooked
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let events = scalar_i64(
        &conn,
        &format!("SELECT COUNT(*) FROM domain_event WHERE legal_entity_id IN ({list})"),
    )
    .await?;
    let backlog_at_busy_run = events as usize - received.load(Ordering::Relaxed);
    let busy_run = run(&client, &url, &tok, busy).await?;
    while received.load(Ordering::Relaxed) < events as usize {
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(3600),
            "deliveries stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent_in = started.elapsed();
    println!(
        "webhooks ({}, {ENDPOINTS} endpoints x {per_entity} contracts): {events} deliveries in {:.1} s = {:.0}/s; \
         a {run_size}-contract run took {:.2} s idle and {:.2} s with {backlog_at_busy_run} deliveries pending ({:+.0} %)",
        db.label,
        sent_in.as_secs_f64(),
        events as f64 / sent_in.as_secs_f64(),
        idle_run.as_secs_f64(),
        busy_run.as_secs_f64(),
        (busy_run.as_secs_f64() / idle_run.as_secs_f64() - 1.0) * 100.0,
    );
    stop_server.cancel();
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logs();
    for backend in backends() {
        bench(backend).await?;
    }
    Ok(())
}
