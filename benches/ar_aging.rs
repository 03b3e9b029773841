//! `cargo bench --bench ar_aging`: the AR aging report over 1,000,000
//! invoices of 12,000 customers (one in six open or partly paid, the rest
//! paid; every tenth credited by a tenth), as of today (in the entity's
//! timezone) and back-dated 60 days: through the service layer (every
//! row), and through a server in this process as a front end asks for it
//! (one POST: totals, customerCount and the first 50 rows by total owed,
//! timed by the client including JSON), beside the bare aggregate SQL on the
//! same data, measured in the same run: `ratio R (api A s / bare aggregate
//! F s)`. Sizes: BENCH_SIZES (default 1000000); PostgreSQL when
//! BENCH_PG_URL or DATABASE_URL points at one (measured as loaded and again
//! after VACUUM); BENCH_BACKENDS=postgres skips SQLite.

mod common;

use std::time::Duration;

use billrun::domain::access::Principal;
use billrun::service::{ar, Ctx};
use chrono::NaiveDate;
use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};

const CUSTOMERS: usize = 12_000;
const RUNS: usize = 7;

/// The question a front end asks first: the totals, how many customers owe,
/// and the 50 who owe most.
const FIRST_PAGE: &str = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
  asOf totals { current days1To30 days31To60 days61To90 over90 total } customerCount
  rowPage(limit: 50, orderBy: TOTAL_DESC) { totalCount nextOffset
    rows { customer { id name } buckets { current days1To30 days31To60 days61To90 over90 total } } } } }";

/// Today where the bench entity is (Europe/Tallinn), so the report "as of
/// today" is the server's today, not a back-dated one.
fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Tallinn)
        .date_naive()
}

/// Issue dates spread over the year before today; due 30 days later.
/// (n / 7) % 12 == 0: open; == 1: half paid; otherwise paid in full. Payments are
/// received 20 days after issue, or today if that is sooner.
async fn seed(conn: &DatabaseConnection, n: usize) -> anyhow::Result<i64> {
    let now = ts(conn);
    let le = insert_entity(conn, "AGE").await?;
    let f = if conn.get_database_backend() == DbBackend::Postgres {
        "FALSE"
    } else {
        "0"
    };
    insert_rows(
        conn,
        "INSERT INTO customer (legal_entity_id, name, email, payment_terms_days, has_payment_method, created_at)",
        (0..CUSTOMERS).map(|i| format!("({le}, 'Customer {i:05}', NULL, 30, {f}, {now})")),
        500,
    )
    .await?;
    let c0 = scalar_i64(conn, "SELECT MIN(id) FROM customer").await?;
    let pg = conn.get_database_backend() == DbBackend::Postgres;
    let plus = |base: &str, days: &str| {
        if pg {
            format!("(DATE '{base}' + CAST({days} AS INTEGER))")
        } else {
            format!("date('{base}', '+' || ({days}) || ' days')")
        }
    };
    let start = today() - chrono::Duration::days(365);
    let issue = plus(&start.to_string(), "s.n % 365");
    let due = plus(&start.to_string(), "s.n % 365 + 30");
    let total = "(100000 + (s.n % 900) * 100)";
    let paid = format!(
        "(CASE WHEN (s.n / 7) % 12 = 0 THEN 0 WHEN (s.n / 7) % 12 = 1 THEN {total} / 2 ELSE {total} END)"
    );
    let status = "(CASE WHEN (s.n / 7) % 12 < 2 THEN 'POSTED' ELSE 'PAID' END)";
    // Generated in the database: a million client-side rows would time the seeding, not the report.
    for chunk_start in (0..n).step_by(100_000) {
        let chunk_end = (chunk_start + 100_000).min(n);
        let txn = billrun::store::begin_write(conn).await?;
        txn.execute_unprepared(&format!(
            "INSERT INTO invoice (legal_entity_id, customer_id, number, status, period_start, period_end, issue_date, \
               due_date, currency, subtotal_e4, tax_total_e4, total_e4, amount_paid_e4, posted_at, created_at) \
             WITH RECURSIVE s(n) AS (SELECT {chunk_start} UNION ALL SELECT n + 1 FROM s WHERE n + 1 < {chunk_end}) \
             SELECT {le}, {c0} + s.n % {CUSTOMERS}, 'AGE-' || s.n, {status}, {issue}, {issue}, {issue}, {due}, 'EUR', \
               {total}, 0, {total}, {paid}, {now}, {now} FROM s"
        ))
        .await?;
        txn.commit().await?;
    }
    // Received 20 days after issue, but never after today.
    let received = if pg {
        format!("LEAST(i.issue_date + 20, DATE '{}')", today())
    } else {
        format!("MIN(date(i.issue_date, '+20 days'), '{}')", today())
    };
    conn.execute_unprepared(&format!(
        "INSERT INTO payment (invoice_id, legal_entity_id, amount_e4, received_on, customer_id, invoice_issue_date, \
           invoice_due_date, reference, created_by, created_at) \
         SELECT i.id, i.legal_entity_id, i.amount_paid_e4, {received}, i.customer_id, i.issue_date, i.due_date, \
           NULL, 'bench', {now} \
         FROM invoice i WHERE i.amount_paid_e4 > 0"
    ))
    .await?;
    credit(conn, pg).await?;
    analyze(conn).await?;
    Ok(le)
}

/// Every tenth invoice gets an issued credit note of a tenth of its total,
/// ten days after its issue date (never after today), shaped as the
/// service writes them: on an invoice that still owes, it reduces the
/// amount due; on a paid one it became customer credit (since consumed).
async fn credit(conn: &DatabaseConnection, pg: bool) -> anyhow::Result<()> {
    let now = ts(conn);
    let issued = if pg {
        format!("LEAST(i.issue_date + 10, DATE '{}')", today())
    } else {
        format!("MIN(date(i.issue_date, '+10 days'), '{}')", today())
    };
    let owes = "i.status = 'POSTED'";
    conn.execute_unprepared(&format!(
        "INSERT INTO credit_note (legal_entity_id, invoice_id, customer_id, number, status, reason, issue_date, \
           currency, subtotal_e4, tax_total_e4, total_e4, applied_to_invoice_e4, to_credit_balance_e4, \
           credit_remaining_e4, invoice_issue_date, invoice_due_date, invoice_posted_on, created_by, created_at, issued_at) \
         SELECT i.legal_entity_id, i.id, i.customer_id, 'AGE-CN-' || i.id, 'ISSUED', 'OTHER', {issued}, 'EUR', \
           i.total_e4 / 10, 0, i.total_e4 / 10, CASE WHEN {owes} THEN i.total_e4 / 10 ELSE 0 END, \
           CASE WHEN {owes} THEN 0 ELSE i.total_e4 / 10 END, 0, i.issue_date, i.due_date, i.posted_on, \
           'bench', {now}, {now} \
         FROM invoice i WHERE i.id % 10 = 3"
    ))
    .await?;
    conn.execute_unprepared(
        "UPDATE invoice SET amount_credited_e4 = total_e4 / 10, \
           credit_reduced_e4 = CASE WHEN status = 'POSTED' THEN total_e4 / 10 ELSE 0 END \
         WHERE id % 10 = 3",
    )
    .await?;
    Ok(())
}

/// The median, in seconds.
fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v.get(v.len() / 2).map_or(0.0, Duration::as_secs_f64)
}

async fn report(ctx: &Ctx, le: i64, as_of: NaiveDate) -> anyhow::Result<(usize, i64)> {
    let principal = Principal::system("bench");
    let r = ar::aging(ctx, &principal, le, Some(as_of))
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    Ok((r.rows.len(), r.total.e4()))
}

/// The first page through the API: (rows on it, customerCount).
async fn api_page(url: &str, tok: &str, le: i64, as_of: NaiveDate) -> anyhow::Result<(usize, i64)> {
    let client = reqwest::Client::new();
    let vars = serde_json::json!({ "e": le.to_string(), "d": as_of.to_string() });
    let data = post(&client, url, tok, FIRST_PAGE, vars).await?;
    let report = &data["arAging"];
    let rows = report["rowPage"]["rows"].as_array().map_or(0, Vec::len);
    Ok((rows, report["customerCount"].as_i64().unwrap_or(0)))
}

async fn bench(backend: &'static str, n: usize) -> anyhow::Result<()> {
    let db = fresh(backend).await?;
    let conn = connect(&db).await?;
    let (le, seeded) = timed(seed(&conn, n)).await?;
    let open = scalar_i64(
        &conn,
        "SELECT COUNT(*) FROM invoice WHERE status = 'POSTED'",
    )
    .await?;
    println!(
        "{}: seeded {n} invoices ({open} outstanding, {CUSTOMERS} customers) in {:.1} s",
        db.label,
        seeded.as_secs_f64()
    );
    let ctx = Ctx::new(conn.clone());
    let (url, stop) = serve(&db.url).await?;
    let tok = admin_token()?;
    let bare = format!(
        "SELECT customer_id, CAST(SUM(total_e4 - amount_paid_e4) AS BIGINT) FROM invoice \
         WHERE legal_entity_id = {le} AND status = 'POSTED' GROUP BY customer_id"
    );
    let bare = sea_orm::Statement::from_string(conn.get_database_backend(), bare);
    // PostgreSQL is measured twice: as loaded (ANALYZE only, no visibility
    // map, so every plan reads the heap), then after VACUUM, as autovacuum
    // leaves a table in service (index-only scans, for the bare aggregate
    // too).
    let states: &[&str] = if conn.get_database_backend() == DbBackend::Postgres {
        &["as loaded", "after VACUUM"]
    } else {
        &["as loaded"]
    };
    let dates = [
        ("today", today()),
        ("back-dated 60 d", today() - chrono::Duration::days(60)),
    ];
    for (state, (label, as_of)) in states
        .iter()
        .flat_map(|s| dates.iter().map(move |d| (*s, *d)))
    {
        if state == "after VACUUM" && label == "today" {
            conn.execute_unprepared("VACUUM ANALYZE").await?;
        }
        let label = format!("{label}, {state}");
        // Interleaved, so the machine's noise reaches all three alike.
        let (mut floor, mut full, mut api) = (Vec::new(), Vec::new(), Vec::new());
        let (mut shape, mut page) = ((0, 0), (0, 0));
        for _ in 0..RUNS {
            let bare = async { Ok::<_, anyhow::Error>(conn.query_all_raw(bare.clone()).await?) };
            floor.push(timed(bare).await?.1);
            let t;
            (shape, t) = timed(report(&ctx, le, as_of)).await?;
            full.push(t);
            let t;
            (page, t) = timed(api_page(&url, &tok, le, as_of)).await?;
            api.push(t);
        }
        let (floor, full, api) = (median(floor), median(full), median(api));
        println!(
            "{:<10} arAging as of {as_of} ({label}): every row in process median {full:>7.3} s ({} rows, total {}); \
             bare GROUP BY over outstanding invoices median {floor:>7.3} s",
            db.label,
            shape.0,
            billrun::domain::amount::Amount::from_e4(shape.1).to_decimal(),
        );
        println!(
            "{:<10} arAging as of {as_of} ({label}), totals + customerCount + first {} rows over HTTP, \
             median of {RUNS}: ratio {:.2} (api {api:.3} s / bare aggregate {floor:.3} s), {} customers",
            db.label,
            page.0,
            api / floor,
            page.1,
        );
    }
    stop.cancel();
    conn.close().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    each_backend_and_size(&[1_000_000], bench)
}
