//! DESIGN.md, The run, precisely and Events: the guarantee, precisely,
//! under real faults, one file a fault: a server killed with SIGKILL
//! mid-run and taken over by a restart or a second process, and a clean
//! shutdown (`takeover`); PostgreSQL backends terminated while a run and a
//! subscriber work (`connections`); a consumer paging at the commit
//! frontier while commits land out of order (`cursor`); a chunk that
//! stalls past its lease and concurrent triggers racing for entities
//! (`races`); the asOf lead limit (`lead`); retrying a FAILED run
//! (`retry`). Every test checks the same end state (`end_state`): each
//! due (contract, period) invoiced exactly once, invoice numbers gapless
//! per entity and year, one billing_run.completed event and one
//! RUN_COMPLETED audit row per run. Here: the books the runs bill and the
//! polling that watches them.

mod connections;
mod cursor;
mod end_state;
mod lead;
mod races;
mod retry;
mod takeover;

use std::time::{Duration, Instant};

use chrono::{Datelike, Months, NaiveDate};
use futures_util::StreamExt;
use serde_json::{json, Value};

use crate::helpers::billing::{num, trigger};
use crate::helpers::{admin, today, TestApp};

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
