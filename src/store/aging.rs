//! AR aging in SQL: one GROUP BY over open invoices. Outstanding invoices
//! keep `amount_paid_e4` and their status current, so the report as of
//! today reads the partial index `invoice_open` alone; a back-dated report
//! adds back only the payments received after the as-of date on invoices
//! issued by then (index `payment_late`, by lag class: [`late_payments`]),
//! instead of joining every payment.
//!
//! Open as of A means posted on or before A and not voided on or before A
//! (`posted_on` and `voided_on` are dates in the entity's timezone). As of
//! today nothing has been posted or voided later, so today's report needs no
//! more; a back-dated one also reads the few invoices posted or voided since
//! (see [`BackDated`]).

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use migration::PAYMENT_LAG_BOUNDS;

use super::StoreResult;
use crate::domain::aging::{Bucket, Buckets};
use crate::domain::amount::Amount;

pub struct AgingRow {
    pub customer_id: i64,
    pub customer_name: String,
    pub buckets: Buckets,
}

pub struct OpenInvoice {
    pub invoice_id: i64,
    pub customer_id: i64,
    pub due_date: NaiveDate,
    pub amount_due: Amount,
}

use super::placeholder as p;

/// The aggregate that sums bigint amounts into a bigint, failing on
/// overflow: on PostgreSQL `billrun_sum_i8` (migration m0011; its `SUM`
/// goes through numeric, a third of the report's time), on SQLite `SUM`.
pub(super) fn sum_fn(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "billrun_sum_i8",
        _ => "SUM",
    }
}

/// What an invoice (as `alias`) asks for today: its total less payments,
/// what credit notes reduced and customer credit applied at posting.
fn due_now(alias: &str) -> String {
    super::invoice::due_sql(&format!("{alias}."))
}

/// The part of a credit note (as `n`) a back-dated report adds back (+) or
/// takes away (−), see [`BackDated::credits`].
const CREDIT_ADJUSTMENT: &str =
    "CASE WHEN n.status = 'ISSUED' THEN n.applied_to_invoice_e4 ELSE -n.applied_to_invoice_e4 END";

/// What a report as of a date before today (in the entity's timezone)
/// changes in the branches of today's, from small index ranges so those
/// branches stay as fast: invoices posted on or before the as-of date but
/// voided after it were open then (partial index `invoice_voided`), and
/// invoices issued on or before it but posted after it were not (the
/// outstanding ones through the partial index `invoice_open`, their
/// payments by the `invoice_posted_on` they carry). A POSTED or PAID invoice
/// or a payment without the date (a row written without it) counts as
/// posted; a VOID invoice without it was voided as a draft.
struct BackDated {
    le: String,
    asof: String,
}

impl BackDated {
    fn new(backend: DbBackend, on: bool) -> Option<Self> {
        on.then(|| BackDated {
            le: p(backend, 1),
            asof: p(backend, 2),
        })
    }

    /// What credit notes changed since the as-of date, as `n`: a note
    /// issued after it did not yet reduce the invoice (`amount` adds its
    /// part back); one issued on or before it and voided after it still did
    /// (`amount` takes its part away again, the void restored it). Two
    /// branches, not one OR, so each is a range of its own index (issued
    /// since: `credit_note_for_aging`; voided since: `credit_note_voided`);
    /// each repeats its index's condition word for word, since SQLite
    /// matches a partial index only so.
    fn credits(&self, columns: &str) -> String {
        let (le, asof) = (&self.le, &self.asof);
        let common = format!(
            "n.legal_entity_id = {le} AND n.invoice_issue_date <= {asof}{posted}",
            posted = self.posted("n.invoice_posted_on"),
        );
        format!(
            "SELECT {columns} FROM credit_note n \
             WHERE {common} AND n.status <> 'DRAFT' AND n.status = 'ISSUED' AND n.issue_date > {asof} \
             UNION ALL \
             SELECT {columns} FROM credit_note n \
             WHERE {common} AND n.status = 'VOID' AND n.voided_on > {asof} AND n.issue_date <= {asof}"
        )
    }

    /// Invoices open on the as-of date that took customer credit after it
    /// (a back-dated run posts as of a past date, but takes the credit
    /// today), as `a`: the report adds that credit back.
    fn credit_applied_after(&self, columns: &str) -> String {
        let (le, asof) = (&self.le, &self.asof);
        format!(
            "SELECT {columns} FROM invoice a \
             WHERE a.legal_entity_id = {le} AND a.credit_applied_e4 > 0 AND a.credit_applied_on > {asof} \
               AND a.issue_date <= {asof}{posted}",
            posted = self.posted("a.posted_on"),
        )
    }

    /// The invoices voided after the as-of date that were open on it, as
    /// `v`. They have no payments: voiding a paid invoice is refused.
    fn voided(&self, columns: &str) -> String {
        let (le, asof) = (&self.le, &self.asof);
        format!(
            "SELECT {columns} FROM invoice v \
             WHERE v.legal_entity_id = {le} AND v.status = 'VOID' AND v.voided_on > {asof} \
               AND v.posted_on <= {asof} AND v.issue_date <= {asof}"
        )
    }

    /// A condition (after `AND`): the date `column` of a posting was on or
    /// before the as-of date.
    fn posted(&self, column: &str) -> String {
        format!(" AND ({column} IS NULL OR {column} <= {})", self.asof)
    }
}

/// The open invoices as of `?2` with their amount due then; parameters: 1
/// legal entity, 2 as-of date (numbered, so each is bound once and reused).
/// Two branches instead of one OR, so each uses its own index: outstanding
/// invoices through the partial index `invoice_open`, and invoices paid in
/// full since the as-of date through `payment_late` ([`late_payments`]). Back-dated,
/// both leave out invoices posted after the as-of date and a third branch
/// brings back those voided after it.
fn open_invoices_sql(
    backend: DbBackend,
    as_of: NaiveDate,
    back_dated: bool,
    values: &mut Vec<Value>,
) -> String {
    let (le, asof) = (p(backend, 1), p(backend, 2));
    let back = BackDated::new(backend, back_dated);
    let posted = back
        .as_ref()
        .map(|b| b.posted("i.posted_on"))
        .unwrap_or_default();
    let voided = back
        .as_ref()
        .map(|b| {
            let columns = "v.id AS invoice_id, v.customer_id, v.due_date, v.total_e4 AS due";
            format!(" UNION ALL {}", b.voided(columns))
        })
        .unwrap_or_default();
    let credits = back
        .as_ref()
        .map(|b| {
            let columns = format!("n.invoice_id, {CREDIT_ADJUSTMENT} AS amt");
            let applied = b.credit_applied_after("a.id AS invoice_id, a.credit_applied_e4 AS amt");
            format!(" UNION ALL {} UNION ALL {applied}", b.credits(&columns))
        })
        .unwrap_or_default();
    let due = due_now("i");
    let late = late_payments(backend, as_of, values);
    let sum = sum_fn(backend);
    format!(
        "WITH late AS ( \
           SELECT invoice_id, CAST({sum}(amt) AS BIGINT) AS amt FROM ( \
             SELECT p.invoice_id, p.amount_e4 AS amt FROM {late}{credits}) x \
           GROUP BY invoice_id) \
         SELECT i.id AS invoice_id, i.customer_id, i.due_date, \
                {due} + COALESCE(l.amt, 0) AS due \
         FROM invoice i LEFT JOIN late l ON l.invoice_id = i.id \
         WHERE i.legal_entity_id = {le} AND i.status = 'POSTED' AND i.issue_date <= {asof}{posted} \
         UNION ALL \
         SELECT i.id AS invoice_id, i.customer_id, i.due_date, l.amt AS due \
         FROM late l JOIN invoice i ON i.id = l.invoice_id \
         WHERE i.legal_entity_id = {le} AND i.status = 'PAID' AND i.issue_date <= {asof}{posted}{voided}"
    )
}

/// The payments received after the as-of date (`?2`), as a join that
/// names them `p` (and a table of lag classes `k`). Read by lag class from the
/// index `payment_late` (migration m0010): a payment of class `k` on an
/// invoice issued by the as-of date was received at most
/// `PAYMENT_LAG_BOUNDS[k]` days after it, so each class is one index range
/// ending that many days after the date, and the last class (longer lags,
/// or no issue date) is open-ended. That reads the payments that matter to
/// a back-dated report, not every payment since. Payments on invoices
/// issued after the date may be cut short here; callers leave those out.
/// Each range's end date is bound into `values`.
fn late_payments(backend: DbBackend, as_of: NaiveDate, values: &mut Vec<Value>) -> String {
    // No payment is received after today (refused), so a date no later
    // than this ends the open-ended class, and every date stays four digits.
    let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap_or(NaiveDate::MAX);
    let mut classes = Vec::with_capacity(PAYMENT_LAG_BOUNDS.len() + 1);
    let ends = PAYMENT_LAG_BOUNDS
        .iter()
        .map(|&days| as_of.checked_add_signed(chrono::Duration::days(days)))
        .chain(std::iter::once(None));
    for (class, end) in ends.enumerate() {
        values.push(end.map_or(last, |d| d.min(last)).into());
        classes.push(format!("({class}, {})", p(backend, values.len())));
    }
    format!(
        "(VALUES {}) k JOIN payment p ON p.legal_entity_id = {le} AND p.lag_class = k.column1 \
           AND p.received_on > {asof} AND p.received_on <= k.column2",
        classes.join(", "),
        le = p(backend, 1),
        asof = p(backend, 2),
    )
}

fn open_params(legal_entity_id: i64, as_of: NaiveDate) -> Vec<Value> {
    vec![legal_entity_id.into(), as_of.into()]
}

/// Buckets per customer, sorted by customer name: one statement, the
/// per-customer aggregate of [`grouped_sql`] joined to the names.
pub async fn aging_rows(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    as_of: NaiveDate,
    back_dated: bool,
) -> StoreResult<Vec<AgingRow>> {
    let backend = conn.get_database_backend();
    let (grouped, values) = grouped_sql(backend, legal_entity_id, as_of, back_dated);
    let sql = format!(
        "SELECT g.customer_id, c.name, g.b0, g.b1, g.b2, g.b3, g.b4 \
         FROM ({grouped}) g JOIN customer c ON c.id = g.customer_id \
         ORDER BY c.name, g.customer_id"
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.iter()
        .map(aging_row)
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// A row with `customer_id`, `name` and the buckets `b0`..`b4`.
pub(super) fn aging_row(r: &sea_orm::QueryResult) -> Result<AgingRow, sea_orm::DbErr> {
    Ok(AgingRow {
        customer_id: r.try_get("", "customer_id")?,
        customer_name: r.try_get("", "name")?,
        buckets: buckets_of(r)?,
    })
}

/// The buckets `b0`..`b4` of a row.
pub(super) fn buckets_of(r: &sea_orm::QueryResult) -> Result<Buckets, sea_orm::DbErr> {
    let b = |n: usize| r.try_get::<i64>("", &format!("b{n}")).map(Amount::from_e4);
    Ok(Buckets([b(0)?, b(1)?, b(2)?, b(3)?, b(4)?]))
}

/// How a branch's bucket conditions read its due date.
#[derive(Clone, Copy, PartialEq)]
enum DueKey {
    /// The date column as stored.
    Date,
    /// As the index `invoice_open` holds it: on SQLite the integer
    /// `unixepoch` of the date's text (migration m0012), so each open
    /// invoice's five bucket tests compare integers read from the index
    /// instead of collating text; on PostgreSQL, whose dates are integers
    /// already, the date.
    OpenIndex,
}

/// The due date `column` as `key` compares it.
fn due_key(backend: DbBackend, key: DueKey, column: &str) -> String {
    match (backend, key) {
        (DbBackend::Sqlite, DueKey::OpenIndex) => format!("unixepoch({column})"),
        _ => column.to_string(),
    }
}

/// A bucket boundary as [`due_key`] compares with it: for SQLite's
/// `OpenIndex` the seconds from 1970 to the date's midnight UTC (what
/// `unixepoch` gives for a date's text), otherwise the date.
fn boundary(backend: DbBackend, key: DueKey, date: NaiveDate) -> Value {
    match (backend, key) {
        (DbBackend::Sqlite, DueKey::OpenIndex) => date
            .and_time(chrono::NaiveTime::MIN)
            .and_utc()
            .timestamp()
            .into(),
        _ => date.into(),
    }
}

/// Each bucket's condition on a due date read as `key` (`{due}` stands for
/// the column), from the one definition in the domain; each boundary is
/// bound once, appended to `values`.
fn bucket_ranges(
    backend: DbBackend,
    key: DueKey,
    as_of: NaiveDate,
    values: &mut Vec<Value>,
) -> Vec<String> {
    let mut bound = |date: NaiveDate| {
        let value = boundary(backend, key, date);
        let at = values.iter().position(|v| *v == value);
        let n = at.unwrap_or_else(|| {
            values.push(value);
            values.len() - 1
        });
        p(backend, n + 1)
    };
    Bucket::ALL
        .iter()
        .map(|b| {
            let (from, before) = b.due_range(as_of);
            let due = due_key(backend, key, "{due}");
            let from = from.map(|d| format!("{due} >= {}", bound(d)));
            let before = before.map(|d| format!("{due} < {}", bound(d)));
            from.into_iter()
                .chain(before)
                .collect::<Vec<_>>()
                .join(" AND ")
        })
        .collect()
}

/// How a branch of [`grouped_sql`] yields its buckets: summed (a
/// pre-aggregated branch), summed as the report's final BIGINTs (the only
/// branch), or per row (a branch of few rows, left to the outer GROUP BY).
#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Final,
    PerRow,
}

/// The report's buckets per customer with something open (`customer_id`,
/// `b0`..`b4`), unordered, and the statement's parameters. Two
/// pre-aggregated branches summed per customer: outstanding invoices read
/// only the partial index `invoice_open` (amount due = total − paid −
/// credited); the payments received after the as-of date are added back from
/// the index `payment_late` by lag class ([`late_payments`]; payments carry their
/// invoice's customer, issue and due dates), which also brings back invoices
/// paid in full since. Payments exist only on posted invoices: voiding a paid
/// invoice is refused. `back_dated` (the as-of date is before today in the
/// entity's timezone) leaves out what was posted after the as-of date and
/// adds back what was voided after it ([`BackDated`]). Names are joined by
/// the callers, after grouping: 12,000 customer rows, not one per invoice.
/// Long because the SQL is, not because it decides much.
pub(super) fn grouped_sql(
    backend: DbBackend,
    legal_entity_id: i64,
    as_of: NaiveDate,
    back_dated: bool,
) -> (String, Vec<Value>) {
    let mut values: Vec<Value> = open_params(legal_entity_id, as_of);
    let (le, asof) = (p(backend, 1), p(backend, 2));
    let ranges = bucket_ranges(backend, DueKey::Date, as_of, &mut values);
    let open_ranges = bucket_ranges(backend, DueKey::OpenIndex, as_of, &mut values);
    let sum = sum_fn(backend);
    let cases_of = |ranges: &[String], due: &str, amount: &str, agg: Agg| {
        ranges
            .iter()
            .map(|range| range.replace("{due}", due))
            .enumerate()
            .map(|(n, cond)| {
                // FILTER, not SUM(CASE …): each row is summed into its own
                // bucket only (measured a third faster on SQLite).
                let summed = format!("COALESCE({sum}({amount}) FILTER (WHERE {cond}), 0)");
                match agg {
                    Agg::Sum => format!("{summed} AS b{n}"),
                    Agg::Final => format!("CAST({summed} AS BIGINT) AS b{n}"),
                    Agg::PerRow => format!("CASE WHEN {cond} THEN {amount} ELSE 0 END AS b{n}"),
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let cases = |due: &str, amount: &str, agg: Agg| cases_of(&ranges, due, amount, agg);
    let buckets = |due: &str, amount: &str| cases(due, amount, Agg::Sum);
    let due = due_now("i");
    let back = BackDated::new(backend, back_dated);
    // Back-dated, the invoices posted after the as-of date are left out in
    // the scan itself: `posted_on` is in `invoice_open`, so that costs a
    // comparison per row, not a second pass over the index.
    let not_posted_after = back
        .as_ref()
        .map(|b| b.posted("i.posted_on"))
        .unwrap_or_default();
    let outstanding = |agg: Agg| {
        format!(
            "SELECT i.customer_id, {} FROM invoice i \
             WHERE i.legal_entity_id = {le} AND i.status = 'POSTED' AND i.issue_date <= {asof}{not_posted_after} \
             GROUP BY i.customer_id",
            cases_of(&open_ranges, "i.due_date", &due, agg)
        )
    };
    if !back_dated {
        // As of today (or later) no payment was received after the date (a
        // payment dated in the future is refused), nothing was posted or
        // voided since: the outstanding branch alone is the report, one row
        // per customer already, with no second GROUP BY over a UNION.
        let sql = format!(
            "SELECT * FROM ({}) g WHERE g.b0 + g.b1 + g.b2 + g.b3 + g.b4 > 0",
            outstanding(Agg::Final)
        );
        return (sql, values);
    }
    let late_posted = back
        .as_ref()
        .map(|b| b.posted("p.invoice_posted_on"))
        .unwrap_or_default();
    let branches = back
        .map(|b| {
            let voided = b.voided(&format!(
                "v.customer_id, {}",
                cases("v.due_date", "v.total_e4", Agg::PerRow)
            ));
            let credits = b.credits(&format!(
                "n.customer_id, {}",
                cases("n.invoice_due_date", CREDIT_ADJUSTMENT, Agg::PerRow)
            ));
            let applied = b.credit_applied_after(&format!(
                "a.customer_id, {}",
                cases("a.due_date", "a.credit_applied_e4", Agg::PerRow)
            ));
            format!(" UNION ALL {voided} UNION ALL {credits} UNION ALL {applied}")
        })
        .unwrap_or_default();
    let sql = format!(
        "SELECT t.customer_id, \
                CAST({sum}(t.b0) AS BIGINT) AS b0, CAST({sum}(t.b1) AS BIGINT) AS b1, CAST({sum}(t.b2) AS BIGINT) AS b2, \
                CAST({sum}(t.b3) AS BIGINT) AS b3, CAST({sum}(t.b4) AS BIGINT) AS b4 \
         FROM ( \
           {outstanding} \
           UNION ALL \
           SELECT p.customer_id, {late} FROM {late_payments} \
           WHERE p.invoice_issue_date <= {asof}{late_posted} \
           GROUP BY p.customer_id{branches} \
         ) t \
         GROUP BY t.customer_id \
         HAVING {sum}(t.b0) + {sum}(t.b1) + {sum}(t.b2) + {sum}(t.b3) + {sum}(t.b4) > 0",
        outstanding = outstanding(Agg::Sum),
        late = buckets("p.invoice_due_date", "p.amount_e4"),
        late_payments = late_payments(backend, as_of, &mut values),
    );
    (sql, values)
}

/// Open invoices as of the date for some customers, at most `per_customer`
/// each (oldest due first), so a row's list stays bounded.
pub async fn open_invoices(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    as_of: NaiveDate,
    back_dated: bool,
    customer_ids: &[i64],
    per_customer: u64,
) -> StoreResult<Vec<OpenInvoice>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let mut values = open_params(legal_entity_id, as_of);
    let ids: Vec<String> = customer_ids.iter().map(|id| id.to_string()).collect();
    let open = open_invoices_sql(backend, as_of, back_dated, &mut values);
    values.push(i64::try_from(per_customer).unwrap_or(i64::MAX).into());
    let limit = p(backend, values.len());
    let sql = format!(
        "SELECT invoice_id, customer_id, due_date, due FROM ( \
           SELECT o.*, ROW_NUMBER() OVER (PARTITION BY o.customer_id ORDER BY o.due_date, o.invoice_id) AS rn \
           FROM ({open}) o WHERE o.due > 0 AND o.customer_id IN ({ids}) \
         ) ranked WHERE rn <= {limit} ORDER BY customer_id, due_date, invoice_id",
        ids = ids.join(","),
    );
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok(OpenInvoice {
                invoice_id: r.try_get("", "invoice_id")?,
                customer_id: r.try_get("", "customer_id")?,
                due_date: r.try_get("", "due_date")?,
                amount_due: Amount::from_e4(r.try_get("", "due")?),
            })
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use entity::status::{CreditNoteStatus, InvoiceStatus};
    use sea_orm::ActiveEnum;

    /// The statuses the SQL names as literals (literals, not parameters, so
    /// the planners match the partial indexes).
    fn status_literals(sql: &str) -> Vec<String> {
        sql.split('\'')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect()
    }

    /// The boundaries bound on SQLite are what its `unixepoch` gives for a
    /// due date as the store writes it, for every day of four years (leap
    /// day and year ends included): else an invoice due on a boundary would
    /// fall into the bucket beside its own.
    #[tokio::test]
    async fn sqlite_boundaries_are_unixepoch_of_the_stored_dates() {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("in-memory SQLite");
        let first = NaiveDate::from_ymd_opt(2027, 1, 1).expect("date");
        for day in (0..4 * 366).map(|n| first - chrono::Duration::days(n)) {
            let row = db
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Sqlite,
                    "SELECT unixepoch(?1) AS e",
                    [Value::from(day)],
                ))
                .await
                .expect("SELECT")
                .expect("a row");
            let epoch: i64 = row.try_get("", "e").expect("an integer");
            assert_eq!(
                Value::from(epoch),
                boundary(DbBackend::Sqlite, DueKey::OpenIndex, day),
                "{day}"
            );
        }
    }

    #[test]
    fn every_status_the_aging_sql_names_is_a_stored_status() {
        let as_of = NaiveDate::from_ymd_opt(2026, 6, 30).expect("date");
        for backend in [DbBackend::Sqlite, DbBackend::Postgres] {
            for back_dated in [false, true] {
                let (rows, _) = grouped_sql(backend, 1, as_of, back_dated);
                let open = open_invoices_sql(backend, as_of, back_dated, &mut Vec::new());
                let literals = [status_literals(&rows), status_literals(&open)].concat();
                assert!(literals.len() >= 2, "the SQL names statuses: {literals:?}");
                for literal in literals {
                    let known = InvoiceStatus::try_from_value(&literal).is_ok()
                        || CreditNoteStatus::try_from_value(&literal).is_ok();
                    assert!(known, "{literal:?} in the aging SQL is not a stored status");
                }
            }
        }
    }
}
