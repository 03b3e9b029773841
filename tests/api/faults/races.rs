//! DESIGN.md, The run, precisely: "a run is executed by one execution at a
//! time, holding a lease token of its own", and "a trigger for several
//! legal entities creates all its runs, or none, and says which; it never
//! reports CONFLICT for a request that started a run": a chunk that stalls
//! past its lease, and triggers racing for the same entities.

use std::time::Duration;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::end_state::{assert_exactly_once, audit_count, run_row, stmt};
use super::{await_finished, await_mid_run, book, expected_of, start_run, Book};
use crate::helpers::billing::{num, trigger};
use crate::helpers::{
    code, fresh_database, is_postgres, spawn_app_with, today, token_with, TestApp,
};
use crate::process::{Opts, Server};

/// A chunk that takes longer than the lease (its invoice numbers locked by
/// another transaction for 7 s, lease 2 s) keeps the run to one execution:
/// no takeover, nothing billed twice, numbers gapless.
#[tokio::test]
async fn a_chunk_slower_than_the_lease_never_leads_to_a_second_execution() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    if !is_postgres(&url) {
        // Holding a row lock from another connection while the server
        // writes is a PostgreSQL fault; SQLite locks the whole database.
        eprintln!("note: DATABASE_URL is not PostgreSQL; skipped");
        return;
    }
    let opts = Opts {
        chunk_size: 10,
        lease_secs: Some(2),
        ..Opts::default()
    };
    let server = Server::start("slow", &url, &opts).await;
    let app = TestApp::external(dir, url.clone(), server.port).await;
    let as_of = today();
    let book = book(&app, "SL1", 300, 3).await;
    let total = book.contracts.len() as i64;
    let run_id = start_run(&app, &book.entity, as_of).await;
    await_mid_run(&app, &run_id, 10, total).await;

    let holder = Database::connect(url.as_str()).await.expect("holder");
    let hold = holder.begin().await.expect("begin");
    hold.execute_unprepared("SELECT * FROM invoice_number_sequence FOR UPDATE")
        .await
        .expect("lock the number sequences");
    let (status, at_lock) = run_row(&app.db, &run_id).await;
    assert!(
        status == "RUNNING" && at_lock < total,
        "test setup: the lock is taken mid-run: {status} {at_lock}/{total}"
    );
    // The fault itself: the next chunk waits for these numbers for 7 s,
    // more than three leases.
    tokio::time::sleep(Duration::from_secs(7)).await;
    let (_, before_release) = run_row(&app.db, &run_id).await;
    hold.commit().await.expect("release");
    assert_eq!(
        before_release, at_lock,
        "test setup: the run was stalled by the lock for 7 s"
    );
    let run = await_finished(&app, &run_id, Duration::from_secs(60), || server.tail(80)).await;
    assert_eq!(
        run["status"],
        "COMPLETED",
        "a slow chunk does not fail the run: {run}\n{}",
        server.tail(60)
    );
    book.assert_billed_once(&app.db, as_of, &run_id).await;
    assert_eq!(
        audit_count(&app.db, &run_id, "RUN_RESUMED").await,
        0,
        "a chunk slower than the lease is not taken over by a second execution\n{}",
        server.grep(&["resum", "lease", "took the run over", "another replica"])
    );
}

/// 8 triggers for entity B and 8 for every entity, released together, each
/// with its own subject: a trigger without an entity creates all its runs
/// or none, so a CONFLICT leaves no run of that subject, and a success has
/// one run per entity.
#[tokio::test]
async fn racing_triggers_for_one_entity_and_for_all_create_all_their_runs_or_none() {
    let app = spawn_app_with(|a| a.run_chunk_size = 5).await;
    let as_of = today();
    let a = book(&app, "RA1", 60, 1).await;
    let b = book(&app, "RB1", 60, 1).await;
    let barrier = tokio::sync::Barrier::new(16);
    let attempts: Vec<(String, Option<String>)> = (0..16)
        .map(|i| {
            let entity = (i % 2 == 0).then(|| b.entity.clone());
            let sub = match &entity {
                Some(_) => format!("race-b-{i}"),
                None => format!("race-all-{i}"),
            };
            (sub, entity)
        })
        .collect();
    let bodies = futures_util::future::join_all(attempts.iter().map(|(sub, entity)| {
        let tok = token_with(|c| c.sub = sub.clone());
        let input = json!({ "legalEntityId": entity, "asOf": as_of.to_string(), "wait": false });
        let barrier = &barrier;
        let app = &app;
        async move {
            barrier.wait().await;
            trigger(app, &tok, input).await
        }
    }))
    .await;

    let rows = triggered_by(&app.db).await;
    let (mut wins, mut all_refused) = (0, 0);
    for ((sub, entity), body) in attempts.iter().zip(&bodies) {
        let mine: Vec<(i64, i64)> = rows
            .iter()
            .filter(|(by, _, _)| by == sub)
            .map(|(_, id, e)| (*id, *e))
            .collect();
        if body.get("errors").is_some() {
            assert_eq!(
                code(body),
                "CONFLICT",
                "a concurrent trigger is refused with CONFLICT: {body}"
            );
            assert!(
                mine.is_empty(),
                "a refused trigger ({sub}) creates no run, on any entity: {mine:?} {body}"
            );
            all_refused += usize::from(entity.is_none());
            continue;
        }
        wins += 1;
        let mut returned: Vec<i64> = body["data"]["triggerBillingRun"]["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| num(r["id"].as_str().expect("id")))
            .collect();
        returned.sort_unstable();
        let ids: Vec<i64> = mine.iter().map(|(id, _)| *id).collect();
        assert_eq!(
            returned, ids,
            "an accepted trigger ({sub}): the runs it returned are the runs it wrote"
        );
        let mut entities: Vec<i64> = mine.iter().map(|(_, e)| *e).collect();
        entities.sort_unstable();
        let wanted = match entity {
            Some(e) => vec![num(e)],
            None => vec![num(&a.entity), num(&b.entity)],
        };
        assert_eq!(
            entities, wanted,
            "an accepted trigger ({sub}) has one run per entity it names (all: both)"
        );
    }
    assert!(wins >= 1, "one of the racing triggers wins: {bodies:?}");
    assert!(
        all_refused >= 1,
        "test setup: at least one trigger for every entity met a busy entity: {bodies:?}"
    );
    eprintln!("{wins} triggers won, {all_refused} all-entity triggers refused");

    let mut runs: Vec<String> = rows.iter().map(|(_, id, _)| id.to_string()).collect();
    runs.sort();
    for run in &runs {
        let state = await_finished(&app, run, Duration::from_secs(60), String::new).await;
        assert_eq!(state["status"], "COMPLETED", "{state}");
    }
    // An entity with any run is billed in full, exactly once; one without
    // (only A can be: every trigger that named it was refused) is not.
    let billed: Vec<&Book> = [&a, &b]
        .into_iter()
        .filter(|book| rows.iter().any(|(_, _, e)| *e == num(&book.entity)))
        .collect();
    assert_exactly_once(&app.db, &expected_of(&billed, as_of), &runs).await;
}

/// `(triggered_by, id, legal_entity_id)` of every run, by id.
async fn triggered_by(db: &DatabaseConnection) -> Vec<(String, i64, i64)> {
    let sql = "SELECT id, legal_entity_id, triggered_by FROM billing_run ORDER BY id";
    db.query_all_raw(stmt(db, sql))
        .await
        .expect("read billing_run")
        .iter()
        .map(|r| {
            (
                r.try_get("", "triggered_by").expect("triggered_by"),
                r.try_get("", "id").expect("id"),
                r.try_get("", "legal_entity_id").expect("legal_entity_id"),
            )
        })
        .collect()
}
