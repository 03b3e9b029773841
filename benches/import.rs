//! `cargo bench --bench import`: `billrun import-contracts` of N contracts
//! (2 lines each, 1,000 customers named by id, a tax code by its code)
//! from a CSV file on a fresh database, through the same function the CLI
//! calls. Sizes: BENCH_SIZES (default 100000); PostgreSQL when BENCH_PG_URL
//! or DATABASE_URL points at one.

mod common;

use std::io::Write;

use billrun::service::Ctx;
use common::*;
use sea_orm::ConnectionTrait;

const CUSTOMERS: usize = 1_000;

async fn bench(backend: &'static str, n: usize) -> anyhow::Result<()> {
    let db = fresh(backend).await?;
    let conn = connect(&db).await?;
    let le = insert_entity(&conn, "IMP").await?;
    let now = ts(&conn);
    conn.execute_unprepared(&format!(
        "INSERT INTO tax_code (legal_entity_id, code, rate_e6, created_at) VALUES ({le}, 'VAT20', 20000000, {now})"
    ))
    .await?;
    insert_rows(
        &conn,
        "INSERT INTO customer (legal_entity_id, name, email, payment_terms_days, has_payment_method, created_at)",
        (0..CUSTOMERS).map(|i| format!("({le}, 'Customer {i:05}', 'c{i}@example.com', 30, TRUE, {now})")),
        500,
    )
    .await?;
    let first = scalar_i64(&conn, "SELECT MIN(id) FROM customer").await?;
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("contracts.csv");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(csv, "contract,customer,start_date,end_date,interval,interval_count,timing,description,quantity,unit_price,tax_code")?;
    for i in 0..n {
        let customer = first + (i % CUSTOMERS) as i64;
        writeln!(
            csv,
            "K{i},{customer},2026-11-01,,MONTH,1,IN_ADVANCE,Platform,1,49.00,VAT20"
        )?;
        writeln!(
            csv,
            "K{i},{customer},2026-11-01,,MONTH,1,IN_ADVANCE,Seats,{},12.50,VAT20",
            1 + i % 7
        )?;
    }
    csv.flush()?;
    drop(csv);
    let ctx = Ctx::new(conn.clone());
    let mut progress = std::io::sink();
    let (done, took) = timed(billrun::import::import_contracts(
        &ctx,
        "IMP",
        &path,
        &mut progress,
    ))
    .await?;
    anyhow::ensure!(done.contracts == n, "imported {} of {n}", done.contracts);
    println!(
        "{:<10} import-contracts N={n:>7}: {:>6.2} s, {:>7.0} contracts/s ({} lines)",
        db.label,
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        done.lines
    );
    conn.close().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    each_backend_and_size(&[100_000], bench)
}
