//! DESIGN.md, The run, precisely: "a transient database error inside a
//! chunk is retried with backoff; a run fails only after the retries run
//! out", and Events: the guarantee, precisely: "live delivery survives the
//! listener's connection dropping ... a failed read is retried, never
//! skipped": every PostgreSQL backend of the server terminated, again and
//! again, while a run bills and a subscriber listens.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, Database};
use serde_json::{json, Value};

use super::end_state::{event_ids, stmt};
use super::{book, finished, run_state, start_run};
use crate::helpers::ws::{Client, Frame};
use crate::helpers::{admin, is_postgres, spawn_app_with, today};

/// Terminates every backend of the test database every 0.4 s until `stop`;
/// how many it terminated.
async fn terminate_backends_until(
    admin_url: String,
    database: String,
    stop: tokio_util::sync::CancellationToken,
    killed: Arc<AtomicUsize>,
) {
    let killer = Database::connect(admin_url.as_str())
        .await
        .expect("admin connection to the test database");
    let sql = format!(
        "SELECT pg_terminate_backend(pid) AS gone FROM pg_stat_activity \
         WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    );
    loop {
        if let Ok(rows) = killer.query_all_raw(stmt(&killer, &sql)).await {
            let n = rows
                .iter()
                .filter(|r| r.try_get::<bool>("", "gone").unwrap_or(false))
                .count();
            killed.fetch_add(n, Ordering::SeqCst);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(400)) => {}
        }
    }
}

/// Every PostgreSQL connection of the server (pool, LISTEN) terminated
/// every 0.4 s during a run: the run retries what failed and completes on
/// its own, and a subscriber connected throughout still receives every
/// domain event the database holds.
#[tokio::test]
async fn terminated_database_connections_neither_fail_the_run_nor_lose_events() {
    let admin_url = std::env::var("DATABASE_URL").unwrap_or_default();
    if !is_postgres(&admin_url) {
        // pg_terminate_backend is PostgreSQL's; SQLite has no connections to kill.
        eprintln!("note: DATABASE_URL is not PostgreSQL; skipped");
        return;
    }
    let app = spawn_app_with(|a| a.run_chunk_size = 50).await;
    let database = app
        .database_url
        .rsplit_once('/')
        .map(|(_, name)| name.to_string())
        .expect("database name");
    let as_of = today();
    let book = book(&app, "PT1", 3000, 1).await;

    let mut ws = Client::authed(app.port, &admin()).await;
    let subscription = "subscription { domainEvents(after: \"0\") { id type } }";
    ws.subscribe("all", subscription, json!({})).await;
    ws.barrier().await;
    let received: Arc<Mutex<BTreeSet<i64>>> = Arc::default();
    let ended: Arc<Mutex<Option<String>>> = Arc::default();
    let reader = {
        let (received, ended) = (received.clone(), ended.clone());
        tokio::spawn(async move {
            loop {
                match ws.recv(Duration::from_secs(120)).await {
                    Frame::Msg(v) if v["type"] == "next" => {
                        let id = &v["payload"]["data"]["domainEvents"]["id"];
                        match id.as_str().and_then(|s| s.parse().ok()) {
                            Some(id) => {
                                received.lock().expect("lock").insert(id);
                            }
                            None => {
                                *ended.lock().expect("lock") = Some(format!("bad frame {v}"));
                                return;
                            }
                        }
                    }
                    Frame::Msg(v) if v["type"] == "ping" || v["type"] == "pong" => {}
                    Frame::Msg(v) => {
                        *ended.lock().expect("lock") = Some(format!("stream ended: {v}"));
                        return;
                    }
                    Frame::Closed(code) => {
                        *ended.lock().expect("lock") = Some(format!("socket closed: {code:?}"));
                        return;
                    }
                    Frame::Silent => {}
                }
            }
        })
    };

    let run_id = start_run(&app, &book.entity, as_of).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let killed = Arc::new(AtomicUsize::new(0));
    let killer = tokio::spawn(terminate_backends_until(
        admin_url,
        database,
        stop.clone(),
        killed.clone(),
    ));
    let started = Instant::now();
    let (mut run, mut errors, mut killed_while_running) = (Value::Null, 0, 0);
    while started.elapsed() < Duration::from_secs(180) {
        match run_state(&app, &run_id).await {
            Ok(state) if finished(&state) => {
                run = state;
                break;
            }
            Ok(state) => {
                killed_while_running = killed.load(Ordering::SeqCst);
                run = state;
            }
            Err(_) => errors += 1,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.cancel();
    killer.await.expect("killer task");
    eprintln!(
        "terminated {} backends ({killed_while_running} while the run was running); {errors} polls failed",
        killed.load(Ordering::SeqCst)
    );
    assert!(
        killed_while_running > 0,
        "test setup: backends were terminated while the run was running: {run}"
    );
    assert_eq!(
        run["status"], "COMPLETED",
        "the run completes without a manual retry while its connections die: {run}"
    );

    let table = event_ids(&app.db).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let have = received.lock().expect("lock").clone();
        let all = table.iter().all(|id| have.contains(id));
        if all || Instant::now() > deadline || ended.lock().expect("lock").is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    reader.abort();
    let have = received.lock().expect("lock").clone();
    let want: BTreeSet<i64> = table.iter().copied().collect();
    let missing: Vec<_> = want.difference(&have).take(20).collect();
    let unknown: Vec<_> = have.difference(&want).take(20).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the subscriber receives every domain_event id in the table ({} in the table, {} received; \
         the stream {}): missing e.g. {missing:?}, not in the table e.g. {unknown:?}",
        want.len(),
        have.len(),
        ended
            .lock()
            .expect("lock")
            .clone()
            .unwrap_or_else(|| "stayed open".into())
    );
    book.assert_billed_once(&app.db, as_of, &run_id).await;
}
