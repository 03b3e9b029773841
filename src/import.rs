//! `billrun import-contracts FILE.csv --legal-entity CODE`: contracts from a
//! spreadsheet, streamed, in batches through the same service as
//! `createContracts` (so the same checks, all or nothing per batch).
//!
//! Columns (a header row names them; order is free, unknown ones are an
//! error so a typo is not silently ignored):
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `contract` | no | your reference; consecutive rows with the same one are one contract's lines (empty: one row, one contract) |
//! | `customer` | yes | the customer's id, or its exact name in the entity |
//! | `start_date` | yes | `YYYY-MM-DD` |
//! | `end_date` | no | `YYYY-MM-DD`, last day of service |
//! | `interval` | yes | `WEEK`, `MONTH`, `QUARTER` or `YEAR` |
//! | `interval_count` | no | default 1 |
//! | `timing` | no | `IN_ADVANCE` (default) or `IN_ARREARS` |
//! | `description`, `quantity`, `unit_price` | yes | the line |
//! | `tax_code` | no | the tax code's code (e.g. `VAT20`) |
//!
//! A bad row stops the import at its batch: the error names the CSV line,
//! and nothing from that batch is written (earlier batches stay).

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, bail, Context};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::access::Principal;
use crate::domain::schedule::{Interval, Timing};
use crate::service::contracts::{self, ContractLineInput, CreateContract, MAX_BATCH};
use crate::service::{Ctx, ServiceError};
use crate::store;

const COLUMNS: [&str; 11] = [
    "contract",
    "customer",
    "start_date",
    "end_date",
    "interval",
    "interval_count",
    "timing",
    "description",
    "quantity",
    "unit_price",
    "tax_code",
];

/// How the import went.
#[derive(Debug, Default, Clone, Copy)]
pub struct Imported {
    pub contracts: usize,
    pub lines: usize,
}

/// One contract being read, with the CSV line of each of its rows.
struct Pending {
    reference: String,
    input: CreateContract,
    rows: Vec<u64>,
}

/// What names in the file resolve to, read once.
struct Names {
    customers_by_name: HashMap<String, Vec<i64>>,
    tax_codes: HashMap<String, i64>,
}

pub async fn import_contracts(
    ctx: &Ctx,
    entity_code: &str,
    path: &Path,
    progress: &mut impl Write,
) -> anyhow::Result<Imported> {
    let system = Principal::system("cli:import-contracts");
    let entity = store::legal_entity::list(&ctx.db, &system)
        .await?
        .into_iter()
        .find(|e| e.code == entity_code)
        .with_context(|| format!("no legal entity with code {entity_code:?}"))?;
    let names = names(ctx, &system, entity.id).await?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let columns = columns(reader.headers()?)?;
    let started = Instant::now();
    let mut done = Imported::default();
    let mut batch: Vec<Pending> = Vec::with_capacity(MAX_BATCH);
    for record in reader.records() {
        let record = record.context("malformed CSV")?;
        let line = record.position().map_or(0, |p| p.line());
        let row = Row {
            record: &record,
            columns: &columns,
            line,
        };
        let same = row.get("contract").filter(|r| !r.is_empty());
        match (batch.last_mut(), same) {
            (Some(last), Some(reference)) if last.reference == reference => {
                last.input.lines.push(row.line_input(&names)?);
                last.rows.push(line);
            }
            _ => {
                if batch.len() == MAX_BATCH {
                    write_batch(ctx, &system, &mut batch, &mut done, started, progress).await?;
                }
                batch.push(row.pending(&names)?);
            }
        }
    }
    write_batch(ctx, &system, &mut batch, &mut done, started, progress).await?;
    Ok(done)
}

async fn names(ctx: &Ctx, system: &Principal, entity_id: i64) -> anyhow::Result<Names> {
    let mut customers_by_name: HashMap<String, Vec<i64>> = HashMap::new();
    for c in store::party::customers_of(&ctx.db, system, entity_id).await? {
        customers_by_name.entry(c.name).or_default().push(c.id);
    }
    let tax_codes = store::party::tax_codes_of(&ctx.db, system, entity_id)
        .await?
        .into_iter()
        .map(|t| (t.code, t.id))
        .collect();
    Ok(Names {
        customers_by_name,
        tax_codes,
    })
}

/// Column name → index, refusing unknown and missing required ones.
fn columns(headers: &csv::StringRecord) -> anyhow::Result<HashMap<String, usize>> {
    let mut out = HashMap::new();
    for (i, name) in headers.iter().enumerate() {
        if !COLUMNS.contains(&name) {
            bail!(
                "line 1: unknown column {name:?} (columns: {})",
                COLUMNS.join(", ")
            );
        }
        out.insert(name.to_string(), i);
    }
    for required in [
        "customer",
        "start_date",
        "interval",
        "description",
        "quantity",
        "unit_price",
    ] {
        if !out.contains_key(required) {
            bail!("line 1: the column {required:?} is missing");
        }
    }
    Ok(out)
}

struct Row<'a> {
    record: &'a csv::StringRecord,
    columns: &'a HashMap<String, usize>,
    line: u64,
}

impl Row<'_> {
    fn get(&self, column: &str) -> Option<&str> {
        self.columns
            .get(column)
            .and_then(|i| self.record.get(*i))
            .filter(|v| !v.is_empty())
    }

    fn fail(&self, column: &str, message: impl std::fmt::Display) -> anyhow::Error {
        anyhow!("line {}: {column}: {message}", self.line)
    }

    fn required(&self, column: &str) -> anyhow::Result<&str> {
        self.get(column)
            .ok_or_else(|| self.fail(column, "is empty"))
    }

    fn parsed<T: std::str::FromStr>(&self, column: &str) -> anyhow::Result<Option<T>>
    where
        T::Err: std::fmt::Display,
    {
        self.get(column)
            .map(|v| v.parse::<T>().map_err(|e| self.fail(column, e)))
            .transpose()
    }

    fn pending(&self, names: &Names) -> anyhow::Result<Pending> {
        let customer = self.required("customer")?;
        let customer_id = match customer.parse::<i64>() {
            Ok(id) => id,
            Err(_) => match names.customers_by_name.get(customer).map(Vec::as_slice) {
                Some([id]) => *id,
                Some(_) => return Err(self.fail("customer", "names several customers; use the id")),
                None => return Err(self.fail("customer", "no customer of that name")),
            },
        };
        let interval = match self.required("interval")? {
            "WEEK" => Interval::Week,
            "MONTH" => Interval::Month,
            "QUARTER" => Interval::Quarter,
            "YEAR" => Interval::Year,
            other => {
                return Err(self.fail(
                    "interval",
                    format!("{other:?} is not WEEK, MONTH, QUARTER or YEAR"),
                ))
            }
        };
        let timing = match self.get("timing") {
            None | Some("IN_ADVANCE") => Timing::InAdvance,
            Some("IN_ARREARS") => Timing::InArrears,
            Some(other) => {
                return Err(self.fail(
                    "timing",
                    format!("{other:?} is not IN_ADVANCE or IN_ARREARS"),
                ))
            }
        };
        let start_date = self
            .parsed::<NaiveDate>("start_date")?
            .ok_or_else(|| self.fail("start_date", "is empty"))?;
        Ok(Pending {
            reference: self.get("contract").unwrap_or_default().to_string(),
            input: CreateContract {
                customer_id,
                start_date,
                end_date: self.parsed("end_date")?,
                interval,
                interval_count: self.parsed("interval_count")?,
                timing: Some(timing),
                lines: vec![self.line_input(names)?],
            },
            rows: vec![self.line],
        })
    }

    fn line_input(&self, names: &Names) -> anyhow::Result<ContractLineInput> {
        let tax_code_id = match self.get("tax_code") {
            None => None,
            Some(code) => Some(
                *names
                    .tax_codes
                    .get(code)
                    .ok_or_else(|| self.fail("tax_code", format!("no tax code {code:?}")))?,
            ),
        };
        Ok(ContractLineInput {
            description: self.required("description")?.to_string(),
            quantity: self
                .parsed::<Decimal>("quantity")?
                .ok_or_else(|| self.fail("quantity", "is empty"))?,
            unit_price: self
                .parsed::<Decimal>("unit_price")?
                .ok_or_else(|| self.fail("unit_price", "is empty"))?,
            tax_code_id,
        })
    }
}

/// Creates the batch in one transaction; a refused input is reported at its
/// CSV line.
async fn write_batch(
    ctx: &Ctx,
    system: &Principal,
    batch: &mut Vec<Pending>,
    done: &mut Imported,
    started: Instant,
    progress: &mut impl Write,
) -> anyhow::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let lines: usize = batch.iter().map(|p| p.rows.len()).sum();
    let first_line = batch[0].rows[0];
    let pending = std::mem::take(batch);
    let rows: Vec<Vec<u64>> = pending.iter().map(|p| p.rows.clone()).collect();
    let inputs = pending.into_iter().map(|p| p.input).collect();
    match contracts::create_contracts(ctx, system, inputs).await {
        Ok(created) => {
            done.contracts += created.len();
            done.lines += lines;
            let rate = done.contracts as f64 / started.elapsed().as_secs_f64().max(1e-9);
            writeln!(
                progress,
                "imported {} contracts ({} lines), {rate:.0} contracts/s",
                done.contracts, done.lines
            )?;
            Ok(())
        }
        Err(ServiceError::BadInput(e)) => {
            let line = line_of(&e.field, &rows).unwrap_or(first_line);
            bail!(
                "line {line}: {}: {} (nothing from this batch, lines {first_line} on, was written; {} contracts before it were)",
                e.field,
                e.message,
                done.contracts
            )
        }
        Err(other) => Err(anyhow!("{other}")),
    }
}

/// The CSV line an `inputs.I[.lines.J].field` error points at.
fn line_of(field: &str, rows: &[Vec<u64>]) -> Option<u64> {
    let mut parts = field.split('.');
    let contract: usize = parts.nth(1)?.parse().ok()?;
    let lines = rows.get(contract)?;
    let line = match (parts.next(), parts.next()) {
        (Some("lines"), Some(j)) => j.parse::<usize>().ok().and_then(|j| lines.get(j)),
        _ => lines.first(),
    };
    line.copied()
}

#[cfg(test)]
mod tests {
    use super::line_of;

    #[test]
    fn an_input_error_points_at_the_csv_line_of_its_contract_or_line() {
        let rows = vec![vec![2], vec![3, 4, 5]];
        assert_eq!(line_of("inputs.1.lines.2.unitPrice", &rows), Some(5));
        assert_eq!(line_of("inputs.1.startDate", &rows), Some(3));
        assert_eq!(line_of("inputs.7.startDate", &rows), None);
    }
}
