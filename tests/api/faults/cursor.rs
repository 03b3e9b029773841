//! DESIGN.md, Events: the guarantee, precisely: "a consumer that has seen
//! everything up to position P and asks for what comes after P receives
//! every row committed later, whatever the commit order of concurrent
//! transactions": a consumer paging `domainEvents(after:)` at the commit
//! frontier while four runs commit in a random order.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection};
use serde_json::json;

use super::end_state::{assert_exactly_once, event_ids};
use super::{book, expected_of, finished, run_state, start_runs, Book};
use crate::helpers::{admin, is_postgres, spawn_app_with, today};

/// PostgreSQL: every UPDATE of a billing_run row (a run's progress, written
/// after its chunk's events and before its commit) sleeps 0-400 ms, so
/// concurrent chunks of different entities commit in a random order.
async fn random_commit_delays(db: &DatabaseConnection) {
    db.execute_unprepared(
        "CREATE FUNCTION faults_slow() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN PERFORM pg_sleep(random() * 0.4); RETURN NEW; END $$",
    )
    .await
    .expect("create the slow function");
    db.execute_unprepared(
        "CREATE TRIGGER faults_slow BEFORE UPDATE ON billing_run \
         FOR EACH ROW EXECUTE FUNCTION faults_slow()",
    )
    .await
    .expect("create the slow trigger");
}

/// Four entities billing at once while a consumer pages
/// `domainEvents(after: last, first: 50)` as fast as it can: ids commit in
/// order, so the cursor never steps over an event that commits later.
#[tokio::test]
async fn a_tight_polling_consumer_misses_no_event_while_four_entities_bill_at_once() {
    // A pool large enough that the consumer never waits behind the runs'
    // chunk transactions: it reads at the commit frontier.
    let app = spawn_app_with(|a| {
        a.run_chunk_size = 20;
        a.db.db_pool_size = 20;
    })
    .await;
    let as_of = today();
    let mut books = Vec::new();
    for code in ["MA1", "MB1", "MC1", "MD1"] {
        books.push(book(&app, code, 400, 1).await);
    }
    if is_postgres(&app.database_url) {
        // SQLite has one writer at a time: commits are in order anyway.
        random_commit_delays(&app.db).await;
    }
    let runs = start_runs(&app, None, as_of).await;
    assert_eq!(runs.len(), 4, "one run per legal entity: {runs:?}");

    let page = "query($a: ID) { domainEvents(after: $a, first: 50) { id } }";
    let (mut after, mut seen) = ("0".to_string(), Vec::<i64>::new());
    // Pages with events that were shorter than asked while runs were still
    // writing: reads at the frontier, where a commit out of id order is
    // stepped over.
    let (mut done, mut at_frontier) = (false, 0);
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        assert!(
            Instant::now() < deadline,
            "the runs did not finish within 180 s ({} events seen)",
            seen.len()
        );
        let data = app.data(&admin(), page, json!({ "a": after })).await;
        let rows = data["domainEvents"].as_array().expect("page").clone();
        for row in &rows {
            seen.push(row["id"].as_str().and_then(|s| s.parse().ok()).expect("id"));
        }
        if let Some(last) = rows.last() {
            after = last["id"].as_str().expect("id").to_string();
        }
        if rows.len() == 50 {
            continue;
        }
        // `done` was read before this page: every event of the finished
        // runs had committed, so an empty page means nothing is left.
        if done && rows.is_empty() {
            break;
        }
        if !rows.is_empty() && !done {
            at_frontier += 1;
        }
        let mut all = true;
        for run in &runs {
            all &= run_state(&app, run).await.is_ok_and(|r| finished(&r));
        }
        done = all;
    }
    assert!(
        at_frontier > 0,
        "test setup: the consumer caught up with the runs while they were writing"
    );
    assert!(
        seen.windows(2).all(|w| w[0] < w[1]),
        "domainEvents(after): ascending ids, none twice"
    );
    let table = event_ids(&app.db).await;
    let want: BTreeSet<i64> = table.iter().copied().collect();
    let got: BTreeSet<i64> = seen.iter().copied().collect();
    let missing: Vec<_> = want.difference(&got).take(20).collect();
    assert!(
        missing.is_empty() && got == want,
        "the consumer saw every id in the table ({} in the table, {} seen, {at_frontier} pages \
         at the frontier while running): missing e.g. {missing:?}",
        want.len(),
        got.len()
    );
    for run in &runs {
        let state = run_state(&app, run).await.expect("run");
        assert_eq!(state["status"], "COMPLETED", "{state}");
    }
    let all: Vec<&Book> = books.iter().collect();
    assert_exactly_once(&app.db, &expected_of(&all, as_of), &runs).await;
}
