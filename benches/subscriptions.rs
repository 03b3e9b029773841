//! `cargo bench --bench subscriptions`: 1,000 graphql-ws subscribers follow
//! one 10,000-contract run's progress on a billrun server in its own
//! process (SQLite). Prints the time from each chunk's commit to its
//! receipt (p50, p99), messages delivered, whether every subscriber saw
//! COMPLETED, server RSS per idle connection, and the run's duration with
//! and without the subscribers. Runs with and without subscribers
//! alternate for BENCH_ROUNDS rounds (5) and medians are compared, because
//! one pair of runs on a shared machine varies by more than the effect.
//! BENCH_IDLE_CLIENTS=1 keeps the clients from reading during the runs.
//! BENCH_LIVE_CPUS sets the server's `--live-cpus` (default: the last CPU;
//! `none` for no pinning).
//! Sizes: BENCH_SUBSCRIBERS (1000), BENCH_SIZES (10000).

mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::*;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

struct Server {
    child: Child,
    base: String,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rss_kb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse().ok())
        })
        .unwrap_or(0.0)
}

/// CPU seconds the server's threads named `name` have used (Linux).
fn thread_cpu_secs(pid: u32, name: &str) -> f64 {
    let ticks = |stat: &str| -> Option<f64> {
        // Fields after the `(comm)`: utime and stime are the 12th and 13th.
        let rest = &stat[stat.rfind(')')? + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
    };
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0.0;
    };
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    tasks
        .filter_map(|t| t.ok())
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == name))
        .filter_map(|t| std::fs::read_to_string(t.path().join("stat")).ok())
        .filter_map(|stat| ticks(&stat))
        .sum::<f64>()
        / hz
}

async fn gql(base: &str, token: &str, query: &str) -> anyhow::Result<Value> {
    let client = reqwest::Client::new();
    post(&client, &format!("{base}/graphql"), token, query, json!({})).await
}

async fn run(base: &str, token: &str, entity: i64, wait: bool) -> anyhow::Result<Value> {
    let q = format!(
        "mutation {{ triggerBillingRun(input: {{ legalEntityId: \"{entity}\", asOf: \"2026-11-27\", wait: {wait} }}) \
         {{ runs {{ id status durationMs invoiceCount }} }} }}"
    );
    Ok(gql(base, token, &q).await?["triggerBillingRun"]["runs"][0].clone())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn subscriber(port: u16, token: String) -> anyhow::Result<Socket> {
    let mut request = format!("ws://127.0.0.1:{port}/graphql/ws").into_client_request()?;
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await?;
    match ws.next().await {
        Some(Ok(Message::Text(t))) if t.contains("connection_ack") => {}
        other => anyhow::bail!("no ack: {other:?}"),
    }
    Ok(ws)
}

async fn subscribe(ws: &mut Socket, entity: i64) -> anyhow::Result<()> {
    let sub = json!({ "id": entity.to_string(), "type": "subscribe", "payload": { "query":
        format!("subscription {{ billingRunUpdated(legalEntityId: \"{entity}\") {{ status processedCount updatedAt }} }}") } });
    ws.send(Message::text(sub.to_string())).await?;
    Ok(())
}

/// Reads until COMPLETED, then ends the subscription; returns each
/// message's commit-to-receipt latency and the socket.
async fn follow(mut ws: Socket, entity: i64) -> (Vec<f64>, bool, Socket) {
    let mut latencies = Vec::new();
    if idle_clients() {
        // Read nothing until the run is over: the server's cost alone.
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    let done = follow_until_completed(&mut ws, &mut latencies).await;
    let complete = json!({ "id": entity.to_string(), "type": "complete" });
    let _ = ws.send(Message::text(complete.to_string())).await;
    (latencies, done, ws)
}

async fn follow_until_completed(ws: &mut Socket, latencies: &mut Vec<f64>) -> bool {
    while let Ok(Some(Ok(message))) =
        tokio::time::timeout(Duration::from_secs(120), ws.next()).await
    {
        let Message::Text(text) = message else {
            continue;
        };
        let received = Utc::now();
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let run = &v["payload"]["data"]["billingRunUpdated"];
        if let Some(at) = run["updatedAt"]
            .as_str()
            .and_then(|s| s.parse::<DateTime<Utc>>().ok())
        {
            latencies.push((received - at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
        if run["status"] == "COMPLETED" {
            return true;
        }
    }
    false
}

/// BENCH_LIVE_CPUS: the server's `--live-cpus` (default: the last CPU when
/// there are two or more; `none`: no pinning).
fn live_cpus() -> Option<String> {
    match std::env::var("BENCH_LIVE_CPUS").ok().as_deref() {
        Some("none") => None,
        Some(cpus) => Some(cpus.to_string()),
        None => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (n >= 2).then(|| (n - 1).to_string())
        }
    }
}

/// BENCH_IDLE_CLIENTS=1: subscribers read nothing while the run executes
/// (their messages wait in socket buffers), so the run's slowdown is the
/// server's own delivery work; latencies are then meaningless.
fn idle_clients() -> bool {
    std::env::var("BENCH_IDLE_CLIENTS").is_ok_and(|v| v == "1")
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    percentile(&values, 0.5)
}

async fn duration_ms(base: &str, token: &str, run: &Value) -> anyhow::Result<f64> {
    let id = run["id"].as_str().unwrap_or_default();
    let q = format!("{{ billingRun(id: \"{id}\") {{ durationMs status }} }}");
    let found = gql(base, token, &q).await?;
    anyhow::ensure!(
        found["billingRun"]["status"] == "COMPLETED",
        "run {id} did not complete: {found}"
    );
    Ok(found["billingRun"]["durationMs"].as_f64().unwrap_or(0.0))
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() -> anyhow::Result<()> {
    init_logs();
    // SAFETY: setpriority only changes this process's scheduling priority;
    // the threads started afterwards (the runtime's) inherit it.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 10);
    }
    let subscribers: usize = std::env::var("BENCH_SUBSCRIBERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let n = sizes(&[10_000])[0];
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5)
        .max(1);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let db = fresh("sqlite").await?;
        let conn = connect(&db).await?;
        let warm = seed_contracts(&conn, "WARM", n).await?;
        let mut pairs = Vec::with_capacity(rounds);
        for round in 0..rounds {
            let quiet = seed_contracts(&conn, &format!("QUIET{round}"), n).await?;
            let watched = seed_contracts(&conn, &format!("WATCHED{round}"), n).await?;
            pairs.push((quiet, watched));
        }
        conn.close().await?;

        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // The clients share the machine with the server under test; they run
        // at a lower priority (set in main) so they do not steal its CPU the
        // way remote clients would not. `nice -n -10` gives the server back
        // the normal priority.
        let live_cpus = live_cpus();
        let mut command = Command::new("nice");
        command
            .args(["-n", "-10", env!("CARGO_BIN_EXE_billrun")])
            .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--database-url", &db.url])
            .args(["--rate-limit-per-minute", "0", "--scheduler-poll-secs", "0"]);
        if let Some(cpus) = &live_cpus {
            command.args(["--live-cpus", cpus]);
        }
        let child = command
            .env("BILLRUN_JWT_SECRET", SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = Server { child, base: format!("http://127.0.0.1:{port}"), port };
        let started = Instant::now();
        while reqwest::get(format!("{}/health", server.base)).await.is_err() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(30), "server did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let token = admin_token()?;
        let pid = server.child.id();
        match &live_cpus {
            Some(cpus) => {
                // Clients are remote in production: here they share the live
                // CPUs, so they take nothing from the run's.
                let list = billrun::http::live::parse_cpu_list(cpus).map_err(anyhow::Error::msg)?;
                billrun::http::live::pin_process(&list)?;
                println!("server started with --live-cpus {cpus}; clients pinned there too");
            }
            None => println!("server started without --live-cpus (no pinning)"),
        }

        // A first run warms the server up and is not counted.
        run(&server.base, &token, warm, true).await?;
        let rss_before = rss_kb(pid);
        let mut sockets = Vec::with_capacity(subscribers);
        for _ in 0..subscribers {
            sockets.push(subscriber(server.port, token.clone()).await?);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss_idle = rss_kb(pid);

        let live_cpu_before = thread_cpu_secs(pid, "billrun-live");
        let (mut quiet_ms, mut watched_ms) = (Vec::new(), Vec::new());
        let mut latencies = Vec::new();
        let (mut completed, mut expected) = (0, 0);
        for &(quiet, watched) in &pairs {
            let q = run(&server.base, &token, quiet, true).await?;
            quiet_ms.push(duration_ms(&server.base, &token, &q).await?);
            for ws in &mut sockets {
                subscribe(ws, watched).await?;
            }
            // Let every subscription register before the run starts.
            tokio::time::sleep(Duration::from_millis(300)).await;
            let followers: Vec<_> = sockets
                .drain(..)
                .map(|ws| tokio::spawn(follow(ws, watched)))
                .collect();
            let triggered = run(&server.base, &token, watched, false).await?;
            for f in followers {
                let (l, done, ws) = f.await?;
                latencies.extend(l);
                completed += usize::from(done);
                expected += 1;
                sockets.push(ws);
            }
            watched_ms.push(duration_ms(&server.base, &token, &triggered).await?);
        }
        let live_cpu = thread_cpu_secs(pid, "billrun-live") - live_cpu_before;
        latencies.sort_by(|a, b| a.total_cmp(b));
        println!(
            "subscribers {subscribers}, {rounds} runs of {n} contracts: commit→receipt p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms{}; \
             {} messages; {completed}/{expected} subscriptions saw COMPLETED",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().copied().unwrap_or(0.0),
            if idle_clients() { " (idle clients: not latencies)" } else { "" },
            latencies.len(),
        );
        println!(
            "server RSS {:.1} MB before, {:.1} MB with {subscribers} idle subscribers: {:.1} KB per connection",
            rss_before / 1024.0,
            rss_idle / 1024.0,
            (rss_idle - rss_before) / subscribers as f64,
        );
        println!(
            "server CPU on WebSocket threads: {live_cpu:.2} s, {:.1} µs per message delivered",
            live_cpu * 1e6 / latencies.len().max(1) as f64
        );
        let fmt = |v: &[f64]| v.iter().map(|ms| format!("{ms:.0}")).collect::<Vec<_>>().join(", ");
        println!("run durations without subscribers: {} ms", fmt(&quiet_ms));
        println!("run durations with them:           {} ms", fmt(&watched_ms));
        let (base_ms, with_ms) = (median(quiet_ms), median(watched_ms));
        println!(
            "run duration (median): {base_ms:.0} ms without subscribers, {with_ms:.0} ms with them ({:+.1} %)",
            (with_ms - base_ms) / base_ms.max(1.0) * 100.0
        );
        Ok(())
    })
}
