//! Billing runs under real faults: a server killed with SIGKILL mid-run and
//! restarted, a second process taking over a dead one's run, PostgreSQL
//! backends terminated while a run and a subscriber work, a chunk that
//! stalls past its lease, concurrent triggers racing for entities, the
//! asOf lead limit, and retrying a FAILED run. Every test checks the same
//! end state: each due (contract, period) invoiced exactly once, invoice
//! numbers gapless per entity and year, one billing_run.completed event and
//! one RUN_COMPLETED audit row per run.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Datelike, Months, NaiveDate, Utc};
use entity::{audit_event, domain_event, invoice};
use futures_util::StreamExt;
use sea_orm::{
    ColumnTrait, ConnectionTrait, Database, DatabaseConnection, EntityTrait, PaginatorTrait,
    QueryFilter, QueryOrder, Statement, TransactionTrait,
};
use serde_json::{json, Value};

use crate::helpers::billing::{num, trigger, COMPLETED_EVENT, DELIVERY};
use crate::helpers::ws::{Client, Frame};
use crate::helpers::{
    admin, code, fresh_database, is_postgres, spawn_app_with, today, today_in, token_with, TestApp,
};
use crate::process::{Opts, Server};

const RUN_STATE: &str = "query($id: ID!) { billingRun(id: $id) {
  id status contractCount processedCount invoiceCount skippedCount error legalEntity { id } } }";

// ---------------------------------------------------------------- dates

/// The first day of the month `months` before this one.
fn month_start(months_back: u32) -> NaiveDate {
    today()
        .with_day(1)
        .and_then(|d| d.checked_sub_months(Months::new(months_back)))
        .expect("a date")
}

/// Period starts of a monthly in-advance contract from `start` (a 1st) that
/// are due on `as_of`.
fn due_periods(start: NaiveDate, as_of: NaiveDate) -> Vec<NaiveDate> {
    (0..)
        .map(|k| start.checked_add_months(Months::new(k)).expect("a date"))
        .take_while(|d| *d <= as_of)
        .collect()
}

// ---------------------------------------------------------------- setup

/// One legal entity with one customer and `contracts` monthly contracts
/// starting on the same day.
struct Book {
    entity: String,
    contracts: Vec<i64>,
    start: NaiveDate,
}

impl Book {
    fn expected(&self, as_of: NaiveDate) -> Vec<(i64, NaiveDate)> {
        let periods = due_periods(self.start, as_of);
        self.contracts
            .iter()
            .flat_map(|c| periods.iter().map(move |p| (*c, *p)))
            .collect()
    }
}

/// An entity with `n` contracts started `months_back` months ago, created
/// through GraphQL 8 at a time.
async fn book(app: &TestApp, code: &str, n: usize, months_back: u32) -> Book {
    let entity = app.create_entity(code, "EUR").await;
    let customer = app
        .create_customer(&entity, &format!("{code} customer"))
        .await;
    let start = month_start(months_back);
    let day = start.to_string();
    let mut contracts: Vec<i64> = futures_util::stream::iter(0..n)
        .map(|_| app.create_contract(&customer, &day, "10.00", None))
        .buffer_unordered(8)
        .map(|id| num(&id))
        .collect()
        .await;
    contracts.sort_unstable();
    Book {
        entity,
        contracts,
        start,
    }
}

fn expected_of(books: &[&Book], as_of: NaiveDate) -> Vec<(i64, NaiveDate)> {
    books.iter().flat_map(|b| b.expected(as_of)).collect()
}

/// Triggers runs without waiting; the run ids, or the whole body on error.
async fn start_runs(app: &TestApp, entity: Option<&str>, as_of: NaiveDate) -> Vec<String> {
    let input = json!({ "legalEntityId": entity, "asOf": as_of.to_string(), "wait": false });
    let body = trigger(app, &admin(), input).await;
    let runs = body["data"]["triggerBillingRun"]["runs"]
        .as_array()
        .unwrap_or_else(|| panic!("the trigger is accepted: {body}"));
    runs.iter()
        .map(|r| r["id"].as_str().expect("run id").to_string())
        .collect()
}

async fn start_run(app: &TestApp, entity: &str, as_of: NaiveDate) -> String {
    let runs = start_runs(app, Some(entity), as_of).await;
    assert_eq!(runs.len(), 1, "one run per legal entity: {runs:?}");
    runs[0].clone()
}

// ---------------------------------------------------------------- polling

/// A GraphQL request that may fail (a server being killed, a database
/// connection just terminated): `data`, or why not.
async fn try_data(app: &TestApp, query: &str, variables: Value) -> Result<Value, String> {
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .timeout(Duration::from_secs(15))
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("no JSON body: {e}"))?;
    match body.get("errors") {
        Some(_) => Err(body.to_string()),
        None => Ok(body["data"].clone()),
    }
}

async fn run_state(app: &TestApp, run_id: &str) -> Result<Value, String> {
    let data = try_data(app, RUN_STATE, json!({ "id": run_id })).await?;
    match &data["billingRun"] {
        Value::Null => Err(format!("run {run_id} not found")),
        run => Ok(run.clone()),
    }
}

fn finished(run: &Value) -> bool {
    run["status"] == "COMPLETED" || run["status"] == "FAILED"
}

fn processed(run: &Value) -> i64 {
    run["processedCount"].as_i64().unwrap_or(-1)
}

/// Polls the run every 50 ms until it is COMPLETED or FAILED; panics after
/// `within` with the last state, the last error and `logs()`.
async fn await_finished(
    app: &TestApp,
    run_id: &str,
    within: Duration,
    logs: impl Fn() -> String,
) -> Value {
    let deadline = Instant::now() + within;
    let (mut last, mut error) = (Value::Null, String::new());
    loop {
        match run_state(app, run_id).await {
            Ok(run) if finished(&run) => return run,
            Ok(run) => last = run,
            Err(e) => error = e,
        }
        if Instant::now() > deadline {
            panic!(
                "run {run_id} did not finish within {within:?}; last state {last}, last error {error:?}\n{}",
                logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls the run every 10 ms until it has committed at least `at_least`
/// contracts and is still RUNNING; its state then. Panics if it finishes
/// first (the fault would come too late: the test needs more contracts).
async fn await_mid_run(app: &TestApp, run_id: &str, at_least: i64, total: i64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Ok(run) = run_state(app, run_id).await {
            assert!(
                !finished(&run),
                "test setup: run {run_id} finished before the fault could hit it mid-run: {run}"
            );
            let done = processed(&run);
            if run["status"] == "RUNNING" && done >= at_least && done < total {
                return run;
            }
        }
        assert!(
            Instant::now() < deadline,
            "run {run_id} made no progress within 120 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

// ---------------------------------------------------------------- SQL

fn stmt(db: &DatabaseConnection, sql: &str) -> Statement {
    Statement::from_string(db.get_database_backend(), sql.to_string())
}

/// `(status, processed_count)` of a run, read from the table.
async fn run_row(db: &DatabaseConnection, run_id: &str) -> (String, i64) {
    let sql = format!("SELECT status, processed_count FROM billing_run WHERE id = {run_id}");
    let row = db
        .query_one_raw(stmt(db, &sql))
        .await
        .expect("read billing_run")
        .expect("the run exists");
    let count: i64 = match row.try_get::<i64>("", "processed_count") {
        Ok(n) => n,
        Err(_) => row.try_get::<i32>("", "processed_count").expect("count") as i64,
    };
    (row.try_get("", "status").expect("status"), count)
}

async fn run_count(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(stmt(db, "SELECT COUNT(*) AS n FROM billing_run"))
        .await
        .expect("count runs")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

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

async fn event_ids(db: &DatabaseConnection) -> Vec<i64> {
    domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Id)
        .all(db)
        .await
        .expect("domain events")
        .iter()
        .map(|e| e.id)
        .collect()
}

async fn audit_count(db: &DatabaseConnection, run_id: &str, action: &str) -> u64 {
    audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("BillingRun"))
        .filter(audit_event::Column::SubjectId.eq(run_id))
        .filter(audit_event::Column::Action.eq(action))
        .count(db)
        .await
        .expect("count audit")
}

/// Everything the tests here promise about what runs leave behind:
/// `expected` (contract, period start) pairs are each invoiced exactly
/// once and nothing else is; numbers are gapless 1..n per entity and year;
/// each invoice has one delivery event; each of `runs` ended with one
/// billing_run.completed event, one RUN_COMPLETED audit row and counts that
/// match its invoices.
async fn assert_exactly_once(
    db: &DatabaseConnection,
    expected: &[(i64, NaiveDate)],
    runs: &[String],
) {
    let invoices = invoice::Entity::find()
        .order_by_asc(invoice::Column::Id)
        .all(db)
        .await
        .expect("invoices");
    let mut times: HashMap<(i64, NaiveDate), usize> = HashMap::new();
    for i in &invoices {
        let contract = i.contract_id.expect("run invoices name their contract");
        *times.entry((contract, i.period_start)).or_default() += 1;
    }
    let twice: Vec<_> = times.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(
        twice.is_empty(),
        "exactly once: {} (contract, period) pairs invoiced more than once, e.g. {twice:?}",
        times.values().filter(|n| **n > 1).count()
    );
    let want: BTreeSet<(i64, NaiveDate)> = expected.iter().copied().collect();
    let got: BTreeSet<(i64, NaiveDate)> = times.keys().copied().collect();
    let missing: Vec<_> = want.difference(&got).take(10).collect();
    let extra: Vec<_> = got.difference(&want).take(10).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "exactly once: every due period invoiced and nothing else ({} expected, {} invoiced); \
         missing e.g. {missing:?}, unexpected e.g. {extra:?}",
        want.len(),
        got.len()
    );

    let mut numbers: BTreeMap<(i64, String), Vec<i64>> = BTreeMap::new();
    for i in &invoices {
        let number = i
            .number
            .as_deref()
            .unwrap_or_else(|| panic!("auto-posted invoice {} has a number", i.id));
        let mut parts = number.rsplitn(3, '-');
        let seq: i64 = parts.next().and_then(|s| s.parse().ok()).expect("sequence");
        let year = parts.next().expect("year").to_string();
        numbers
            .entry((i.legal_entity_id, year))
            .or_default()
            .push(seq);
    }
    for ((entity, year), mut seqs) in numbers {
        seqs.sort_unstable();
        let n = seqs.len() as i64;
        let gaps: Vec<i64> = (1..=n)
            .filter(|k| seqs.binary_search(k).is_err())
            .take(10)
            .collect();
        let dups = seqs.windows(2).filter(|w| w[0] == w[1]).count();
        assert!(
            gaps.is_empty() && dups == 0 && seqs.last() == Some(&n),
            "invoice numbers gapless 1..{n} for entity {entity}, {year}: missing e.g. {gaps:?}, \
             {dups} duplicates, highest {:?}",
            seqs.last()
        );
    }

    let events = domain_event::Entity::find()
        .all(db)
        .await
        .expect("domain events");
    let mut deliveries: HashMap<&str, usize> = HashMap::new();
    for e in events.iter().filter(|e| e.event_type == DELIVERY) {
        *deliveries.entry(e.subject_id.as_str()).or_default() += 1;
    }
    let not_once: Vec<_> = invoices
        .iter()
        .filter(|i| deliveries.get(i.id.to_string().as_str()) != Some(&1))
        .map(|i| i.id)
        .take(10)
        .collect();
    assert!(
        not_once.is_empty() && deliveries.len() == invoices.len(),
        "outbox: one {DELIVERY} per invoice ({} invoices, {} invoices with events); \
         not exactly once e.g. {not_once:?}",
        invoices.len(),
        deliveries.len()
    );

    for run in runs {
        let ends = events
            .iter()
            .filter(|e| e.event_type == COMPLETED_EVENT && e.subject_id == *run)
            .count();
        assert_eq!(ends, 1, "run {run}: exactly one {COMPLETED_EVENT} event");
        assert_eq!(
            audit_count(db, run, "RUN_COMPLETED").await,
            1,
            "run {run}: exactly one RUN_COMPLETED audit row"
        );
        let of_run = invoices
            .iter()
            .filter(|i| i.billing_run_id.map(|r| r.to_string()) == Some(run.clone()))
            .count();
        let sql = format!("SELECT invoice_count FROM billing_run WHERE id = {run}");
        let row = db
            .query_one_raw(stmt(db, &sql))
            .await
            .expect("read run")
            .expect("run");
        let counted = row
            .try_get::<i64>("", "invoice_count")
            .or_else(|_| row.try_get::<i32>("", "invoice_count").map(i64::from))
            .expect("invoice_count");
        assert_eq!(
            counted, of_run as i64,
            "run {run}: invoiceCount counts each invoice it wrote once"
        );
    }
}

fn both(a: &Server, b: &Server) -> String {
    format!("{}\n{}", a.tail(60), b.tail(60))
}

// ---------------------------------------------------------------- 1

/// SIGKILL in the middle of a run, restart on the same database: the new
/// process takes the run over once the dead one's lease (3 s) lapses and
/// finishes it; the chunk the kill interrupted was rolled back whole.
#[tokio::test]
async fn a_server_killed_mid_run_and_restarted_finishes_the_run_exactly_once() {
    let MidRun {
        url,
        opts,
        mut first,
        mut app,
        book,
        run_id,
        total,
        as_of,
        seen,
    } = mid_run("KL1", 3).await;
    first.kill();
    let killed = Instant::now();
    let killed_at = Utc::now();
    let (status, done) = run_row(&app.db, &run_id).await;
    assert!(
        status == "RUNNING" && done > 0 && done < total,
        "test setup: the kill came mid-run (seen {seen}); the table says {status} with {done}/{total}"
    );

    let second = Server::start("second", &url, &opts).await;
    app.retarget(second.port);
    let left = Duration::from_secs(23).saturating_sub(killed.elapsed());
    let run = await_finished(&app, &run_id, left, || both(&first, &second)).await;
    assert_eq!(
        run["status"],
        "COMPLETED",
        "the restarted server finishes the killed run: {run}\n{}",
        second.tail(60)
    );
    assert_taken_over_within_the_lease(&app.db, &run_id, killed_at, 3).await;
    assert_eq!(
        (processed(&run), run["contractCount"].as_i64()),
        (total, Some(total)),
        "every contract processed once: {run}"
    );
    assert_exactly_once(&app.db, &book.expected(as_of), &[run_id]).await;
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

/// A server (the real binary, chunks of 20, lease `lease_secs`) in the
/// middle of billing 1,500 contracts × 3 months.
struct MidRun {
    url: String,
    opts: Opts,
    first: Server,
    app: TestApp,
    book: Book,
    run_id: String,
    total: i64,
    as_of: NaiveDate,
    /// The run's state when it was seen mid-run.
    seen: Value,
}

async fn mid_run(code: &str, lease_secs: u64) -> MidRun {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let opts = Opts {
        chunk_size: 20,
        lease_secs: Some(lease_secs),
        ..Opts::default()
    };
    let first = Server::start("first", &url, &opts).await;
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
        app,
        book,
        run_id,
        total,
        as_of,
        seen,
    }
}

/// A clean shutdown (SIGTERM) mid-run stops after the current chunk and
/// releases the lease, so the next server continues at once, not after the
/// lease (60 s here, far longer than the test waits).
#[tokio::test]
async fn a_clean_shutdown_releases_the_lease_and_the_next_server_continues_at_once() {
    let MidRun {
        url,
        opts,
        mut first,
        mut app,
        book,
        run_id,
        total,
        as_of,
        ..
    } = mid_run("SD1", 60).await;
    assert!(
        first.terminate(Duration::from_secs(20)),
        "SIGTERM ends the server\n{}",
        first.tail(40)
    );
    let (status, done) = run_row(&app.db, &run_id).await;
    let holder: Option<String> = billing_run_lease(&app.db, &run_id).await;
    assert!(
        status == "RUNNING" && done < total && holder.is_none(),
        "stopped mid-run with its lease released: {status} {done}/{total}, lease {holder:?}\n{}",
        first.tail(40)
    );
    let second = Server::start("second", &url, &opts).await;
    app.retarget(second.port);
    let run = await_finished(&app, &run_id, Duration::from_secs(20), || second.tail(60)).await;
    assert_eq!(run["status"], "COMPLETED", "continued at once: {run}");
    assert_exactly_once(&app.db, &book.expected(as_of), &[run_id]).await;
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

// ---------------------------------------------------------------- 2

/// Two processes on one database: A runs the billing, is SIGKILLed, and B
/// (which never saw the trigger) finishes the run once A's lease lapses.
#[tokio::test]
async fn a_second_process_takes_over_the_run_of_a_killed_one() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let opts = Opts {
        chunk_size: 20,
        lease_secs: Some(3),
        ..Opts::default()
    };
    let mut a = Server::start("A", &url, &opts).await;
    let b = Server::start("B", &url, &opts).await;
    let mut app = TestApp::external(dir, url.clone(), a.port).await;
    let as_of = today();
    let book = book(&app, "TP1", 1500, 3).await;
    let total = book.contracts.len() as i64;
    let run_id = start_run(&app, &book.entity, as_of).await;
    let seen = await_mid_run(&app, &run_id, 1, total).await;
    a.kill();
    let killed = Instant::now();
    let killed_at = Utc::now();
    let (status, done) = run_row(&app.db, &run_id).await;
    assert!(
        status == "RUNNING" && done < total,
        "test setup: A was killed mid-run (seen {seen}); the table says {status} with {done}/{total}"
    );
    app.retarget(b.port);
    let left = Duration::from_secs(23).saturating_sub(killed.elapsed());
    let run = await_finished(&app, &run_id, left, || both(&a, &b)).await;
    assert_eq!(
        run["status"],
        "COMPLETED",
        "B finishes the run A was executing: {run}\n{}",
        b.tail(60)
    );
    assert_taken_over_within_the_lease(&app.db, &run_id, killed_at, 3).await;
    assert_exactly_once(&app.db, &book.expected(as_of), &[run_id]).await;
}

// ---------------------------------------------------------------- 3

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
    assert_exactly_once(&app.db, &book.expected(as_of), &[run_id]).await;
}

// ---------------------------------------------------------------- 4

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

// ---------------------------------------------------------------- 5

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
    assert_exactly_once(
        &app.db,
        &book.expected(as_of),
        std::slice::from_ref(&run_id),
    )
    .await;
    assert_eq!(
        audit_count(&app.db, &run_id, "RUN_RESUMED").await,
        0,
        "a chunk slower than the lease is not taken over by a second execution\n{}",
        server.grep(&["resum", "lease", "took the run over", "another replica"])
    );
}

// ---------------------------------------------------------------- 6

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

// ---------------------------------------------------------------- 7

async fn entity_in(app: &TestApp, code: &str, timezone: &str) -> String {
    let input = json!({ "code": code, "name": format!("{code} Ltd"), "currency": "EUR",
                        "country": "KI", "timezone": timezone });
    app.create("LegalEntity", input).await
}

/// `triggerBillingRun` for `entity` (or all) as of `as_of`, waiting.
async fn trigger_as_of(app: &TestApp, entity: Option<&str>, as_of: NaiveDate) -> Value {
    let input = json!({ "legalEntityId": entity, "asOf": as_of.to_string(), "wait": true });
    trigger(app, &admin(), input).await
}

fn refused_naming_as_of(body: &Value, what: &str) {
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        code(body) == "BAD_USER_INPUT" && message.contains("asOf"),
        "{what}: BAD_USER_INPUT naming asOf: {body}"
    );
}

/// asOf may be at most `--max-billing-lead-days` (default 31) past today in
/// the entity's timezone; beyond it the trigger is refused and writes
/// nothing. The entity is in UTC+14, so "today" is the entity's, not the
/// server's.
#[tokio::test]
async fn an_as_of_beyond_the_billing_lead_is_refused_and_writes_no_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let mut server = Server::start("lead", &url, &Opts::default()).await;
    let mut app = TestApp::external(dir, url.clone(), server.port).await;
    let tz = chrono_tz::Pacific::Kiritimati;
    let e = entity_in(&app, "LD1", "Pacific/Kiritimati").await;
    let c = app.create_customer(&e, "LD1 customer").await;
    app.create_contract(&c, &today_in(tz).to_string(), "10.00", None)
        .await;
    let plus = |days: u64| today_in(tz) + chrono::Days::new(days);

    let body = trigger_as_of(&app, Some(&e), plus(40)).await;
    refused_naming_as_of(&body, "asOf = today + 40 days");
    let body = trigger_as_of(&app, None, plus(40)).await;
    refused_naming_as_of(&body, "asOf = today + 40 days, every entity");
    let body = trigger_as_of(&app, Some(&e), plus(32)).await;
    refused_naming_as_of(&body, "asOf = today + 32 days in the entity's timezone");
    assert_eq!(
        run_count(&app.db).await,
        0,
        "a refused asOf writes no billing_run"
    );

    for days in [30, 31] {
        let body = trigger_as_of(&app, Some(&e), plus(days)).await;
        let run = &body["data"]["triggerBillingRun"]["runs"][0];
        assert_eq!(
            run["status"], "COMPLETED",
            "asOf = today + {days} days (entity's today) is accepted: {body}"
        );
    }
    assert_eq!(run_count(&app.db).await, 2, "the accepted triggers ran");

    server.kill();
    let opts = Opts {
        args: vec!["--max-billing-lead-days".into(), "5".into()],
        ..Opts::default()
    };
    let narrow = Server::start("narrow", &url, &opts).await;
    app.retarget(narrow.port);
    let body = trigger_as_of(&app, Some(&e), plus(6)).await;
    refused_naming_as_of(&body, "--max-billing-lead-days 5: asOf = today + 6");
    assert_eq!(run_count(&app.db).await, 2, "a refused asOf writes no run");
    let body = trigger_as_of(&app, Some(&e), plus(5)).await;
    assert_eq!(
        body["data"]["triggerBillingRun"]["runs"][0]["status"], "COMPLETED",
        "--max-billing-lead-days 5: asOf = today + 5 is accepted: {body}"
    );
}

// ---------------------------------------------------------------- 8

const RETRY: &str = "mutation($id: ID!) { retryBillingRun(id: $id) { id status } }";

/// What the tests compare to see that nothing changed.
async fn snapshot(app: &TestApp, run_id: &str) -> (Value, u64, u64, i64) {
    let q = "query($id: ID!) { billingRun(id: $id) { status contractCount processedCount
      invoiceCount skippedCount completedAt durationMs error auditTrail { id action } } }";
    let run = app.data(&admin(), q, json!({ "id": run_id })).await["billingRun"].clone();
    let invoices = invoice::Entity::find().count(&app.db).await.expect("count");
    let events = domain_event::Entity::find()
        .count(&app.db)
        .await
        .expect("count");
    (run, invoices, events, run_count(&app.db).await)
}

/// Makes the database refuse invoices of contracts after `last` (a fault
/// in the middle of a run: the chunks before it commit), or lifts that.
async fn refuse_invoices_after(db: &DatabaseConnection, last: Option<i64>) {
    let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
    let sql = match (postgres, last) {
        (true, Some(id)) => format!(
            "ALTER TABLE invoice ADD CONSTRAINT faults_refuse_invoice \
             CHECK (contract_id IS NULL OR contract_id <= {id}) NOT VALID"
        ),
        (true, None) => "ALTER TABLE invoice DROP CONSTRAINT faults_refuse_invoice".into(),
        (false, Some(id)) => format!(
            "CREATE TRIGGER faults_refuse_invoice BEFORE INSERT ON invoice \
             WHEN NEW.contract_id > {id} BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
        ),
        (false, None) => "DROP TRIGGER faults_refuse_invoice".into(),
    };
    db.execute_unprepared(&sql).await.expect("fault DDL");
}

/// retryBillingRun continues a FAILED run from its last committed chunk to
/// COMPLETED, billing nothing twice; a COMPLETED run cannot be retried and
/// an unknown id is NOT_FOUND.
#[tokio::test]
async fn retry_billing_run_continues_a_failed_run_and_refuses_a_completed_one() {
    let app = spawn_app_with(|a| a.run_chunk_size = 10).await;
    let as_of = today();
    let book = book(&app, "RT1", 200, 1).await;
    let total = book.contracts.len() as i64;
    // The 11th chunk (contracts 101-110) is refused: not a transient error.
    refuse_invoices_after(&app.db, Some(book.contracts[99])).await;
    let run_id = start_run(&app, &book.entity, as_of).await;
    let failed = await_finished(&app, &run_id, Duration::from_secs(60), String::new).await;
    refuse_invoices_after(&app.db, None).await;
    assert_eq!(
        failed["status"], "FAILED",
        "a run the database refuses mid-run ends FAILED: {failed}"
    );
    assert_eq!(
        processed(&failed),
        100,
        "the ten chunks before the refused one stay committed, the refused one is rolled back: {failed}"
    );
    let before = invoice::Entity::find().count(&app.db).await.expect("count");
    assert_eq!(
        before as usize,
        100 * due_periods(book.start, as_of).len(),
        "the invoices of the committed chunks stay, the refused chunk's are gone"
    );

    let body = app.gql(&admin(), RETRY, json!({ "id": run_id })).await;
    assert!(
        body.get("errors").is_none(),
        "retryBillingRun accepts a FAILED run: {body}"
    );
    assert_eq!(
        body["data"]["retryBillingRun"]["id"], run_id,
        "the same run continues: {body}"
    );
    let done = await_finished(&app, &run_id, Duration::from_secs(60), String::new).await;
    assert_eq!(
        done["status"], "COMPLETED",
        "a retried run completes: {done}"
    );
    assert_eq!(
        processed(&done),
        total,
        "the retried run processed every contract once: {done}"
    );
    assert_eq!(run_count(&app.db).await, 1, "a retry creates no new run");
    assert_exactly_once(
        &app.db,
        &book.expected(as_of),
        std::slice::from_ref(&run_id),
    )
    .await;

    let was = snapshot(&app, &run_id).await;
    let body = app.gql(&admin(), RETRY, json!({ "id": run_id })).await;
    assert_eq!(
        (code(&body), &body["errors"][0]["extensions"]["field"]),
        ("BAD_USER_INPUT", &json!("id")),
        "The run, precisely: only a FAILED run can be retried: {body}"
    );
    // Watch for a second for anything the refused retry might have started:
    // the sleep is the observation window, nothing is awaited through it.
    for _ in 0..10 {
        assert_eq!(
            snapshot(&app, &run_id).await,
            was,
            "a refused retry changes nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let body = app.gql(&admin(), RETRY, json!({ "id": "987654321" })).await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "retryBillingRun of an unknown id: {body}"
    );
}
