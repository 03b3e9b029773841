//! `cargo bench --bench run_api`: a billing run as a user meets it. The
//! release binary serves a fresh database; the bench creates, through the
//! API, a legal entity, a 20 % tax code and one customer (with an email)
//! per 10 contracts, imports N monthly contracts of 2 lines with
//! `billrun import-contracts`, then sends one `triggerBillingRun` and polls
//! the run until COMPLETED: that interval is what the user waits for. Then
//! the set-based floor: the same setup on another fresh database, and the
//! same rows (invoices, lines, outbox events, contract advances, numbers)
//! written by one INSERT … SELECT per table in one transaction.
//!
//! Prints `ratio R (api A s / floor F s) for N contracts on DB`, the row
//! counts both wrote, and the server's peak RSS. Sizes: BENCH_SIZES
//! (default 20000,100000); PostgreSQL when BENCH_PG_URL or DATABASE_URL
//! points at one. BENCH_SERVER_ARGS adds flags to `billrun serve` (e.g.
//! `--run-chunk-size 2000`); BENCH_SERVER_LOG keeps the server's log there
//! (with RUST_LOG=billrun=debug it shows each chunk's timings).

mod common;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{Datelike, Months, NaiveDate};
use common::*;
use futures_util::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde_json::json;

const CONTRACTS_PER_CUSTOMER: usize = 10;
const BIN: &str = env!("CARGO_BIN_EXE_billrun");

/// The release binary serving `db_url`, killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    async fn start(db_url: &str, log: &std::path::Path) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", db_url, "--jwt-secret", SECRET])
            .args([
                "--rate-limit-per-minute",
                "0",
                "--request-timeout-secs",
                "600",
            ])
            .args(["--scheduler-poll-secs", "0", "--metrics-bind", ""]);
        if let Ok(extra) = std::env::var("BENCH_SERVER_ARGS") {
            cmd.args(extra.split_whitespace());
        }
        let out = std::fs::File::create(log)?;
        let child = cmd.stdout(out.try_clone()?).stderr(out).spawn()?;
        let server = Server {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client
                .get(format!("{}/health", server.url))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(server);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("the server did not come up; see {}", log.display())
    }

    fn graphql(&self) -> String {
        format!("{}/graphql", self.url)
    }

    /// The server's peak resident set size so far, in MB.
    fn peak_rss_mb(&self) -> f64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
            .map_or(0.0, |kb| kb / 1024.0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Today in Europe/Tallinn (the bench entity's timezone): contracts start
/// today, so the run bills exactly one period each.
fn today() -> NaiveDate {
    chrono::Utc::now()
        .with_timezone(&chrono_tz::Europe::Tallinn)
        .date_naive()
}

/// Through the API: the entity, its tax code and customers; then the
/// contracts through `billrun import-contracts`. The entity's id.
async fn setup(
    server: &Server,
    db_url: &str,
    n: usize,
    dir: &std::path::Path,
) -> anyhow::Result<i64> {
    let client = reqwest::Client::new();
    let (url, tok) = (server.graphql(), admin_token()?);
    let le = post(
        &client,
        &url,
        &tok,
        "mutation { createLegalEntity(input: {code: \"RUN\", name: \"Run bench\", currency: \"EUR\", \
           country: \"EE\", timezone: \"Europe/Tallinn\"}) { id } }",
        json!({}),
    )
    .await?["createLegalEntity"]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no entity id"))?
        .to_string();
    post(
        &client,
        &url,
        &tok,
        "mutation($e: ID!) { createTaxCode(input: {legalEntityId: $e, code: \"VAT20\", rate: \"20\"}) { id } }",
        json!({ "e": le }),
    )
    .await?;
    let customers = n.div_ceil(CONTRACTS_PER_CUSTOMER);
    // 20 createCustomer a request (aliases of one mutation, under the
    // complexity limit), 4 requests in flight.
    let batches: Vec<Vec<usize>> = (0..customers)
        .collect::<Vec<_>>()
        .chunks(20)
        .map(<[usize]>::to_vec)
        .collect();
    let replies: Vec<anyhow::Result<Vec<String>>> = futures_util::stream::iter(batches)
        .map(|batch| create_customers(&client, &url, &tok, &le, batch))
        .buffered(4)
        .collect()
        .await;
    let mut ids = Vec::with_capacity(customers);
    for reply in replies {
        ids.extend(reply?);
    }
    let path = dir.join("contracts.csv");
    let mut csv = std::io::BufWriter::new(std::fs::File::create(&path)?);
    writeln!(csv, "contract,customer,start_date,end_date,interval,interval_count,timing,description,quantity,unit_price,tax_code")?;
    let start = today();
    for i in 0..n {
        let customer = &ids[i / CONTRACTS_PER_CUSTOMER];
        writeln!(
            csv,
            "K{i},{customer},{start},,MONTH,1,IN_ADVANCE,Platform,1,49.00,VAT20"
        )?;
        writeln!(
            csv,
            "K{i},{customer},{start},,MONTH,1,IN_ADVANCE,Seats,{},12.50,VAT20",
            1 + i % 7
        )?;
    }
    csv.into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .sync_all()?;
    let out = Command::new(BIN)
        .arg("import-contracts")
        .arg(&path)
        .args(["--legal-entity", "RUN", "--database-url", db_url])
        .stderr(Stdio::null())
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "import-contracts failed: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(le.parse()?)
}

async fn create_customers(
    client: &reqwest::Client,
    url: &str,
    tok: &str,
    le: &str,
    batch: Vec<usize>,
) -> anyhow::Result<Vec<String>> {
    let fields: String = batch
        .iter()
        .map(|i| {
            format!(
                "c{i}: createCustomer(input: {{legalEntityId: $e, name: \"Customer {i:07}\", \
                 email: \"c{i}@example.com\", hasPaymentMethod: {}, paymentTermsDays: 30}}) {{ id }} ",
                i % 2 == 0
            )
        })
        .collect();
    let query = format!("mutation($e: ID!) {{ {fields} }}");
    let data = post(client, url, tok, &query, json!({ "e": le })).await?;
    batch
        .iter()
        .map(|i| {
            data[format!("c{i}")]["id"]
                .as_str()
                .map(str::to_string)
                .ok_or_else(|| anyhow::anyhow!("no customer id"))
        })
        .collect()
}

/// One `triggerBillingRun`, then `billingRun` polled every 20 ms until the
/// run ends: the seconds from the trigger to COMPLETED, and the invoices.
async fn run_through_api(server: &Server, le: i64) -> anyhow::Result<(Duration, i64)> {
    let client = reqwest::Client::new();
    let (url, tok) = (server.graphql(), admin_token()?);
    let started = Instant::now();
    let data = post(
        &client,
        &url,
        &tok,
        "mutation($e: ID!, $d: Date) { triggerBillingRun(input: {legalEntityId: $e, asOf: $d}) { runs { id } } }",
        json!({ "e": le.to_string(), "d": today().to_string() }),
    )
    .await?;
    let id = data["triggerBillingRun"]["runs"][0]["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no run: {data}"))?
        .to_string();
    loop {
        let data = post(
            &client,
            &url,
            &tok,
            "query($id: ID!) { billingRun(id: $id) { status invoiceCount error } }",
            json!({ "id": id }),
        )
        .await?;
        let run = &data["billingRun"];
        match run["status"].as_str() {
            Some("COMPLETED") => {
                let invoices = run["invoiceCount"].as_i64().unwrap_or(-1);
                return Ok((started.elapsed(), invoices));
            }
            Some("FAILED") => anyhow::bail!("the run failed: {run}"),
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Rows a run writes, counted after it.
#[derive(Debug, PartialEq)]
struct Written {
    invoices: i64,
    lines: i64,
    events: i64,
    advanced: i64,
}

async fn written(conn: &DatabaseConnection) -> anyhow::Result<Written> {
    Ok(Written {
        invoices: scalar_i64(conn, "SELECT COUNT(*) FROM invoice").await?,
        lines: scalar_i64(conn, "SELECT COUNT(*) FROM invoice_line").await?,
        // The run's end adds billing_run.completed and notification.created.
        events: scalar_i64(
            conn,
            "SELECT COUNT(*) FROM domain_event WHERE event_type IN \
             ('invoice.delivery_requested', 'payment.collection_requested')",
        )
        .await?,
        advanced: scalar_i64(
            conn,
            "SELECT COUNT(*) FROM contract WHERE next_period_index > 0",
        )
        .await?,
    })
}

/// The floor: the run's rows written set-based in one transaction, with
/// the same values the run computes (numbers, due dates, tax, posting,
/// events per customer, positions, contract advances).
async fn floor(conn: &DatabaseConnection, le: i64) -> anyhow::Result<()> {
    let pg = conn.get_database_backend() == DbBackend::Postgres;
    let now = ts(conn);
    let day = today();
    let end = day
        .checked_add_months(Months::new(1))
        .and_then(|d| d.pred_opt())
        .ok_or_else(|| anyhow::anyhow!("no period end"))?;
    let next = end.succ_opt().unwrap_or(end);
    let (d, end_l, next_l) = (
        date_lit(conn, day),
        date_lit(conn, end),
        date_lit(conn, next),
    );
    let due = if pg {
        format!("{d} + cu.payment_terms_days")
    } else {
        format!("date({d}, '+' || cu.payment_terms_days || ' days')")
    };
    let year = day.year();
    let txn = billrun::store::begin_write(conn).await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO invoice (legal_entity_id, customer_id, contract_id, contract_version, number, status, \
           period_start, period_end, issue_date, due_date, currency, subtotal_e4, tax_total_e4, total_e4, \
           amount_paid_e4, credit_applied_e4, posted_at, posted_on, created_at) \
         SELECT c.legal_entity_id, c.customer_id, c.id, c.version, \
           'RUN-{year}-' || CAST(ROW_NUMBER() OVER (ORDER BY c.id) AS TEXT), 'POSTED', \
           c.start_date, {end_l}, {d}, {due}, 'EUR', s.net, s.tax, s.net + s.tax, 0, 0, {now}, {d}, {now} \
         FROM contract c JOIN customer cu ON cu.id = c.customer_id JOIN ( \
           SELECT l.contract_id, SUM(l.quantity_e6 * l.unit_price_e6 / 100000000) AS net, \
                  SUM(l.quantity_e6 * l.unit_price_e6 / 100000000 * t.rate_e6 / 100000000) AS tax \
           FROM contract_line l JOIN tax_code t ON t.id = l.tax_code_id GROUP BY l.contract_id) s ON s.contract_id = c.id \
         WHERE c.legal_entity_id = {le} AND c.status <> 'ENDED' AND c.next_billing_date <= {d}"
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO invoice_line (invoice_id, line_no, description, quantity_e6, unit_price_e6, net_e4, \
           tax_rate_e6, tax_e4, total_e4, contract_line_id, service_from, service_to) \
         SELECT i.id, l.line_no, l.description, l.quantity_e6, l.unit_price_e6, l.quantity_e6 * l.unit_price_e6 / 100000000, \
           t.rate_e6, l.quantity_e6 * l.unit_price_e6 / 100000000 * t.rate_e6 / 100000000, \
           l.quantity_e6 * l.unit_price_e6 / 100000000 * (100000000 + t.rate_e6) / 100000000, l.id, {d}, {end_l} \
         FROM invoice i JOIN contract_line l ON l.contract_id = i.contract_id JOIN tax_code t ON t.id = l.tax_code_id"
    ))
    .await?;
    // One delivery event per invoice of a customer with an email, one
    // collection event per invoice of a customer with a payment method;
    // positions from the counter row, as the run takes them on PostgreSQL.
    let payload = "'{\"invoiceId\":\"' || CAST(i.id AS TEXT) || '\",\"number\":\"' || i.number || \
        '\",\"customerId\":\"' || CAST(i.customer_id AS TEXT) || '\",\"total\":\"' || CAST(i.total_e4 AS TEXT) || \
        '\",\"currency\":\"EUR\",\"dueDate\":\"' || CAST(i.due_date AS TEXT) || '\"}'";
    let events = "SELECT 'invoice.delivery_requested' AS t, i.id AS s, i.id * 2 AS o FROM invoice i JOIN customer cu ON cu.id = i.customer_id \
           WHERE cu.email IS NOT NULL \
         UNION ALL SELECT 'payment.collection_requested', i.id, i.id * 2 + 1 FROM invoice i JOIN customer cu ON cu.id = i.customer_id \
           WHERE cu.has_payment_method";
    let (id_col, id_val) = if pg {
        (
            "id, ",
            "(SELECT last_value FROM event_position WHERE id = 1) + ROW_NUMBER() OVER (ORDER BY e.o), ",
        )
    } else {
        ("", "")
    };
    txn.execute_unprepared(&format!(
        "INSERT INTO domain_event ({id_col}event_type, legal_entity_id, subject_id, payload, created_at) \
         SELECT {id_val}e.t, i.legal_entity_id, CAST(i.id AS TEXT), {payload}, {now} \
         FROM ({events}) e JOIN invoice i ON i.id = e.s"
    ))
    .await?;
    if pg {
        txn.execute_unprepared(
            "UPDATE event_position SET last_value = (SELECT MAX(id) FROM domain_event) WHERE id = 1",
        )
        .await?;
    }
    txn.execute_unprepared(&format!(
        "UPDATE contract SET next_period_index = 1, next_billing_date = {next_l}, billed_through = {end_l}, \
           version = version + 1 WHERE legal_entity_id = {le} AND next_billing_date <= {d}"
    ))
    .await?;
    txn.execute_unprepared(&format!(
        "INSERT INTO invoice_number_sequence (legal_entity_id, year, last_value) \
         SELECT {le}, {year}, COUNT(*) FROM invoice"
    ))
    .await?;
    txn.commit().await?;
    Ok(())
}

async fn bench(backend: &'static str, n: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log = std::env::var("BENCH_SERVER_LOG")
        .map_or_else(|_| dir.path().join("server.log"), std::path::PathBuf::from);

    let db = fresh(backend).await?;
    let server = Server::start(&db.url, &log).await?;
    let le = setup(&server, &db.url, n, dir.path()).await?;
    let rss_idle = server.peak_rss_mb();
    let (api, invoices) = run_through_api(&server, le).await?;
    let rss_peak = server.peak_rss_mb();
    drop(server);
    let conn = connect(&db).await?;
    let api_rows = written(&conn).await?;
    conn.close().await?;
    anyhow::ensure!(
        invoices as usize == n,
        "the run made {invoices} invoices, not {n}"
    );

    let floor_db = fresh_named(backend, "_floor").await?;
    let server = Server::start(&floor_db.url, &log.with_extension("floor.log")).await?;
    let floor_le = setup(&server, &floor_db.url, n, dir.path()).await?;
    drop(server);
    let conn = connect(&floor_db).await?;
    let ((), floor_took) = timed(floor(&conn, floor_le)).await?;
    let floor_rows = written(&conn).await?;
    conn.close().await?;
    anyhow::ensure!(
        floor_rows == api_rows,
        "the floor wrote {floor_rows:?}, the run {api_rows:?}"
    );

    println!(
        "ratio {:.2} (api {:.2} s / floor {:.2} s) for {n} contracts on {}  \
         [{} invoices, {} lines, {} events; {:.0} contracts/s; server peak RSS {:.0} MB, {:.0} MB before the run]",
        api.as_secs_f64() / floor_took.as_secs_f64(),
        api.as_secs_f64(),
        floor_took.as_secs_f64(),
        db.label,
        api_rows.invoices,
        api_rows.lines,
        api_rows.events,
        n as f64 / api.as_secs_f64(),
        rss_peak,
        rss_idle,
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    each_backend_and_size(&[20_000, 100_000], bench)
}
