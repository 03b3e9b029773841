//! DESIGN.md, The run, precisely: a run finishes exactly once (one
//! RUN_COMPLETED, one `billing_run.completed`), and The billing schedule
//! and Invoices: each due (contract, period) invoiced once, numbers
//! gapless per entity and year. The end state every fault in `faults` must
//! leave, read from the tables.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::NaiveDate;
use entity::{audit_event, domain_event, invoice};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QueryResult, Statement,
};

use super::Book;
use crate::helpers::billing::{COMPLETED_EVENT, DELIVERY};

pub(super) fn stmt(db: &DatabaseConnection, sql: &str) -> Statement {
    Statement::from_string(db.get_database_backend(), sql.to_string())
}

/// `columns` of a run's billing_run row, read in one query.
async fn run_columns(db: &DatabaseConnection, run_id: &str, columns: &str) -> QueryResult {
    let sql = format!("SELECT {columns} FROM billing_run WHERE id = {run_id}");
    db.query_one_raw(stmt(db, &sql))
        .await
        .expect("read billing_run")
        .expect("the run exists")
}

/// An integer column: BIGINT or INTEGER, whichever the backend returns.
fn int(row: &QueryResult, column: &str) -> i64 {
    row.try_get::<i64>("", column)
        .or_else(|_| row.try_get::<i32>("", column).map(i64::from))
        .unwrap_or_else(|e| panic!("{column}: {e}"))
}

/// `(status, processed_count)` of a run, read from the table.
pub(super) async fn run_row(db: &DatabaseConnection, run_id: &str) -> (String, i64) {
    let row = run_columns(db, run_id, "status, processed_count").await;
    (
        row.try_get("", "status").expect("status"),
        int(&row, "processed_count"),
    )
}

pub(super) async fn run_count(db: &DatabaseConnection) -> i64 {
    let row = db
        .query_one_raw(stmt(db, "SELECT COUNT(*) AS n FROM billing_run"))
        .await
        .expect("count runs")
        .expect("a row");
    row.try_get::<i64>("", "n").expect("n")
}

pub(super) async fn event_ids(db: &DatabaseConnection) -> Vec<i64> {
    domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Id)
        .all(db)
        .await
        .expect("domain events")
        .iter()
        .map(|e| e.id)
        .collect()
}

pub(super) async fn audit_count(db: &DatabaseConnection, run_id: &str, action: &str) -> u64 {
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
pub(super) async fn assert_exactly_once(
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
        let counted = int(
            &run_columns(db, run, "invoice_count").await,
            "invoice_count",
        );
        assert_eq!(
            counted, of_run as i64,
            "run {run}: invoiceCount counts each invoice it wrote once"
        );
    }
}

impl Book {
    /// `assert_exactly_once` for one run that billed this book as of `as_of`.
    pub(super) async fn assert_billed_once(
        &self,
        db: &DatabaseConnection,
        as_of: NaiveDate,
        run_id: &str,
    ) {
        assert_exactly_once(db, &self.expected(as_of), &[run_id.to_string()]).await;
    }
}
