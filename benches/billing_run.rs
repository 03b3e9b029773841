//! `cargo bench --bench billing_run`: one full billing run of N contracts
//! (2 lines each) through the service layer, beside the set-based SQL floor
//! (INSERT … SELECT of the same invoices, lines, events and contract
//! advances in one transaction) on the same data. Sizes: BENCH_SIZES
//! (default 10000,100000); PostgreSQL when BENCH_PG_URL or DATABASE_URL
//! points at one.

mod common;

use std::time::Duration;

use billrun::domain::access::Principal;
use billrun::service::billing::{self, TriggerInput, TriggerSource};
use billrun::service::Ctx;
use common::*;
use sea_orm::{ConnectionTrait, DatabaseConnection};

async fn engine_run(conn: DatabaseConnection, le: i64) -> anyhow::Result<(i32, i32)> {
    let ctx = Ctx::new(conn);
    let principal = Principal::system("bench");
    let input = TriggerInput {
        legal_entity_id: Some(le),
        as_of: Some(day("2026-11-27")),
        dry_run: false,
        wait: true,
    };
    let outcome = billing::trigger(&ctx, &principal, input, TriggerSource::Manual)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let run = outcome
        .runs
        .first()
        .ok_or_else(|| anyhow::anyhow!("no run"))?;
    anyhow::ensure!(
        run.status == entity::status::RunStatus::Completed,
        "run ended {}: {:?}",
        run.status,
        run.error
    );
    Ok((run.processed_count, run.invoice_count))
}

/// The floor: the same rows written set-based in one transaction.
async fn set_based(conn: &DatabaseConnection, le: i64) -> anyhow::Result<i64> {
    let now = ts(conn);
    let (as_of, due, end, next) = (
        date_lit(conn, day("2026-11-27")),
        date_lit(conn, day("2026-12-27")),
        date_lit(conn, day("2026-11-30")),
        date_lit(conn, day("2026-12-01")),
    );
    let txn = billrun::store::begin_write(conn).await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO invoice (legal_entity_id, customer_id, contract_id, number, status, period_start, period_end, \
           issue_date, due_date, currency, subtotal_e4, tax_total_e4, total_e4, amount_paid_e4, posted_at, created_at) \
         SELECT c.legal_entity_id, c.customer_id, c.id, 'BEN-2026-' || c.id, 'POSTED', c.start_date, {end}, {as_of}, {due}, \
           'EUR', s.net, s.tax, s.net + s.tax, 0, {now}, {now} \
         FROM contract c JOIN ( \
           SELECT l.contract_id, SUM(l.quantity_e6 * l.unit_price_e6 / 100000000) AS net, \
                  SUM(l.quantity_e6 * l.unit_price_e6 / 100000000 * t.rate_e6 / 100000000) AS tax \
           FROM contract_line l JOIN tax_code t ON t.id = l.tax_code_id GROUP BY l.contract_id) s ON s.contract_id = c.id \
         WHERE c.legal_entity_id = {le} AND c.status = 'ACTIVE' AND c.next_billing_date <= {as_of}"
    ))
    .await?;
    txn.execute_unprepared(
        "INSERT INTO invoice_line (invoice_id, line_no, description, quantity_e6, unit_price_e6, net_e4, tax_rate_e6, tax_e4, total_e4) \
         SELECT i.id, l.line_no, l.description, l.quantity_e6, l.unit_price_e6, l.quantity_e6 * l.unit_price_e6 / 100000000, \
           t.rate_e6, l.quantity_e6 * l.unit_price_e6 / 100000000 * t.rate_e6 / 100000000, \
           l.quantity_e6 * l.unit_price_e6 / 100000000 \
         FROM invoice i JOIN contract_line l ON l.contract_id = i.contract_id JOIN tax_code t ON t.id = l.tax_code_id",
    )
    .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO domain_event (event_type, legal_entity_id, subject_id, payload, created_at) \
         SELECT 'invoice.delivery_requested', i.legal_entity_id, CAST(i.id AS TEXT), '{{}}', {now} FROM invoice i"
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "UPDATE contract SET next_period_index = 1, next_billing_date = {next} WHERE legal_entity_id = {le}"
    ))
    .await?;
    txn.commit().await?;
    scalar_i64(conn, "SELECT COUNT(*) FROM invoice").await
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

async fn bench(backend: &'static str, n: usize) -> anyhow::Result<()> {
    // The floor first, on its own fresh database with the same seed.
    let floor_db = fresh(backend).await?;
    let conn = connect(&floor_db).await?;
    let le = seed_contracts(&conn, "BEN", n).await?;
    let (floor_rows, floor) = timed(set_based(&conn, le)).await?;
    conn.close().await?;

    let db = fresh(backend).await?;
    let conn = connect(&db).await?;
    let le = seed_contracts(&conn, "BEN", n).await?;
    let rss_before = rss_mb();
    reset_peak_rss();
    let ((processed, invoices), took) = timed(engine_run(conn.clone(), le)).await?;
    let peak = peak_rss_mb();
    conn.close().await?;
    println!(
        "{:<10} N={:>7}  engine {:>7.2} s  {:>8.0} contracts/s  {:>8.0} invoices/s  peak RSS {:>6.1} MB (+{:.1})  \
         | set-based floor {:>6.2} s ({} invoices)  ratio {:.2}x",
        db.label,
        n,
        secs(took),
        f64::from(processed) / secs(took),
        f64::from(invoices) / secs(took),
        peak,
        peak - rss_before,
        secs(floor),
        floor_rows,
        secs(took) / secs(floor),
    );
    anyhow::ensure!(
        invoices as usize == n,
        "expected {n} invoices, got {invoices}"
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    each_backend_and_size(&[10_000, 100_000], bench)
}
