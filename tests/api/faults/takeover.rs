//! DESIGN.md, The run, precisely: "a server that stops cleanly releases its
//! leases; a run left by a crash is taken over within seconds (bounded by a
//! configurable lease), on restart or by another replica", and The run: "a
//! run left RUNNING by a crash or restart is resumed": the real binary
//! SIGKILLed mid-run and restarted, SIGKILLed beside a second process, and
//! stopped with SIGTERM.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};
use entity::audit_event;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use serde_json::Value;

use super::end_state::run_row;
use super::{await_finished, await_mid_run, book, processed, start_run, Book};
use crate::helpers::{fresh_database, today, TestApp};
use crate::process::{Opts, Server};

/// SIGKILL in the middle of a run, restart on the same database: the new
/// process takes the run over once the dead one's lease (3 s) lapses and
/// finishes it; the chunk the kill interrupted was rolled back whole.
#[tokio::test]
async fn a_server_killed_mid_run_and_restarted_finishes_the_run_exactly_once() {
    let mut m = mid_run("KL1", 3, "first", None).await;
    let killed = m.kill_first();
    let (status, done) = run_row(&m.app.db, &m.run_id).await;
    let (seen, total) = (&m.seen, m.total);
    assert!(
        status == "RUNNING" && done > 0 && done < total,
        "test setup: the kill came mid-run (seen {seen}); the table says {status} with {done}/{total}"
    );

    let second = Server::start("second", &m.url, &m.opts).await;
    let run = m
        .finished_on(
            &second,
            killed,
            "the restarted server finishes the killed run",
        )
        .await;
    assert_eq!(
        (processed(&run), run["contractCount"].as_i64()),
        (total, Some(total)),
        "every contract processed once: {run}"
    );
    m.assert_billed_once().await;
}

/// Two processes on one database: A runs the billing, is SIGKILLed, and B
/// (which never saw the trigger) finishes the run once A's lease lapses.
#[tokio::test]
async fn a_second_process_takes_over_the_run_of_a_killed_one() {
    let mut m = mid_run("TP1", 3, "A", Some("B")).await;
    let killed = m.kill_first();
    let (status, done) = run_row(&m.app.db, &m.run_id).await;
    let (seen, total) = (&m.seen, m.total);
    assert!(
        status == "RUNNING" && done < total,
        "test setup: A was killed mid-run (seen {seen}); the table says {status} with {done}/{total}"
    );
    let b = m.replica.take().expect("B was started");
    m.finished_on(&b, killed, "B finishes the run A was executing")
        .await;
    m.assert_billed_once().await;
}

/// A clean shutdown (SIGTERM) mid-run stops after the current chunk and
/// releases the lease, so the next server continues at once, not after the
/// lease (60 s here, far longer than the test waits).
#[tokio::test]
async fn a_clean_shutdown_releases_the_lease_and_the_next_server_continues_at_once() {
    let mut m = mid_run("SD1", 60, "first", None).await;
    assert!(
        m.first.terminate(Duration::from_secs(20)),
        "SIGTERM ends the server\n{}",
        m.first.tail(40)
    );
    let (status, done) = run_row(&m.app.db, &m.run_id).await;
    let holder: Option<String> = billing_run_lease(&m.app.db, &m.run_id).await;
    let total = m.total;
    assert!(
        status == "RUNNING" && done < total && holder.is_none(),
        "stopped mid-run with its lease released: {status} {done}/{total}, lease {holder:?}\n{}",
        m.first.tail(40)
    );
    let second = Server::start("second", &m.url, &m.opts).await;
    m.app.retarget(second.port);
    let run = await_finished(&m.app, &m.run_id, Duration::from_secs(20), || {
        second.tail(60)
    })
    .await;
    assert_eq!(run["status"], "COMPLETED", "continued at once: {run}");
    m.assert_billed_once().await;
}

/// A server (the real binary named `first`, chunks of 20, lease
/// `lease_secs`) in the middle of billing 1,500 contracts × 3 months, and
/// the `replica`, when named: a second process on the same database,
/// started before the run and never sent a request.
struct MidRun {
    url: String,
    opts: Opts,
    first: Server,
    replica: Option<Server>,
    app: TestApp,
    book: Book,
    run_id: String,
    total: i64,
    as_of: NaiveDate,
    /// The run's state when it was seen mid-run.
    seen: Value,
}

/// When the first server was SIGKILLed: by the test's clock, and by the
/// wall clock the audit rows are stamped with.
struct Killed {
    at: Instant,
    wall: chrono::DateTime<Utc>,
}

async fn mid_run(code: &str, lease_secs: u64, first: &str, replica: Option<&str>) -> MidRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let opts = Opts {
        chunk_size: 20,
        lease_secs: Some(lease_secs),
        ..Opts::default()
    };
    let first = Server::start(first, &url, &opts).await;
    let replica = match replica {
        Some(name) => Some(Server::start(name, &url, &opts).await),
        None => None,
    };
    let app = TestApp::external(dir, url.clone(), first.port).await;
    let as_of = today();
    let book = book(&app, code, 1500, 3).await;
    let total = book.contracts.len() as i64;
    let run_id = start_run(&app, &book.entity, as_of).await;
    let seen = await_mid_run(&app, &run_id, 1, total).await;
    MidRun {
        url,
        opts,
        first,
        replica,
        app,
        book,
        run_id,
        total,
        as_of,
        seen,
    }
}

impl MidRun {
    fn kill_first(&mut self) -> Killed {
        self.first.kill();
        Killed {
            at: Instant::now(),
            wall: Utc::now(),
        }
    }

    /// Points the client at `next` and waits for the killed run to finish
    /// there, within 23 s of the kill; asserts that it COMPLETED (`what`:
    /// who finished it) and was taken over within the lease. The run then.
    async fn finished_on(&mut self, next: &Server, killed: Killed, what: &str) -> Value {
        self.app.retarget(next.port);
        let left = Duration::from_secs(23).saturating_sub(killed.at.elapsed());
        let run = await_finished(&self.app, &self.run_id, left, || both(&self.first, next)).await;
        assert_eq!(
            run["status"],
            "COMPLETED",
            "{what}: {run}\n{}",
            next.tail(60)
        );
        let lease_secs = self.opts.lease_secs.expect("mid_run sets the lease");
        let lease_secs = i64::try_from(lease_secs).expect("a lease in seconds");
        assert_taken_over_within_the_lease(&self.app.db, &self.run_id, killed.wall, lease_secs)
            .await;
        run
    }

    async fn assert_billed_once(&self) {
        self.book
            .assert_billed_once(&self.app.db, self.as_of, &self.run_id)
            .await;
    }
}

/// The run, precisely: a run left by a crash is taken over within about a
/// lease (the resumer looks every third of one), plus a few seconds for a
/// restart. Prints the measured takeover time.
async fn assert_taken_over_within_the_lease(
    db: &DatabaseConnection,
    run_id: &str,
    killed_at: chrono::DateTime<Utc>,
    lease_secs: i64,
) {
    let resumed = audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("BillingRun"))
        .filter(audit_event::Column::SubjectId.eq(run_id))
        .filter(audit_event::Column::Action.eq("RUN_RESUMED"))
        .one(db)
        .await
        .expect("audit")
        .expect("the takeover is audited as RUN_RESUMED");
    let took = (resumed.at - killed_at).num_milliseconds();
    eprintln!(
        "takeover {:.2} s after SIGKILL (lease {lease_secs} s)",
        took as f64 / 1000.0
    );
    assert!(
        took <= (lease_secs + 5) * 1000,
        "taken over {took} ms after the kill; the lease is {lease_secs} s"
    );
}

async fn billing_run_lease(db: &DatabaseConnection, run_id: &str) -> Option<String> {
    let id: i64 = run_id.parse().expect("id");
    entity::billing_run::Entity::find_by_id(id)
        .one(db)
        .await
        .expect("read run")
        .expect("run")
        .lease_owner
}

fn both(a: &Server, b: &Server) -> String {
    format!("{}\n{}", a.tail(60), b.tail(60))
}
