//! Planning one chunk: from loaded contracts, lines, rates and the periods
//! already billed, the invoices to write and where each contract moves to.
//! No I/O, so the real run and the dry run share it exactly.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use entity::{contract, contract_line};
use rust_decimal::Decimal;

use crate::domain::amount::{Amount, Price, Quantity, Rate};
use crate::domain::billing::ContractAdvance;
use crate::domain::billing::{invoice_for_pieces, DraftInvoice};
use crate::domain::lifecycle::{pieces, Cursor, LineTerm, Pause, Piece, Span, Terms};
use crate::domain::money::MoneyError;
use crate::domain::schedule::Schedule;
use crate::domain::terms::{parse_interval, parse_timing};

pub struct PlannedInvoice {
    pub contract_id: i64,
    /// Part of the period key (migration m0007).
    pub contract_version: i32,
    pub customer_id: i64,
    pub draft: DraftInvoice,
    /// The draft at storage scale, checked while planning: the real run
    /// writes exactly these values and the dry run sums exactly these.
    pub stored: StoredInvoice,
}

pub struct StoredInvoice {
    pub subtotal: Amount,
    pub tax_total: Amount,
    pub total: Amount,
    pub lines: Vec<StoredLine>,
}

pub struct StoredLine {
    pub quantity: Quantity,
    pub unit_price: Price,
    pub net: Amount,
    pub tax_rate: Rate,
    pub tax: Amount,
    pub total: Amount,
}

#[derive(Default)]
pub struct ChunkPlan {
    pub invoices: Vec<PlannedInvoice>,
    pub advances: Vec<ContractAdvance>,
    /// Contracts that could not be billed, with the reason.
    pub skipped: Vec<(i64, String)>,
    /// Where the next chunk continues: every contract of this chunk with a
    /// smaller or equal id is done. A contract cut by the invoice cap ends
    /// just before its id, so the next chunk picks it up again.
    pub resume_after: i64,
    /// Contracts finished in this chunk (billed through as-of, or skipped).
    pub finished: usize,
}

pub struct ChunkInput<'a> {
    pub contracts: &'a [contract::Model],
    pub lines: &'a [contract_line::Model],
    /// Tax code id → rate (percent).
    pub rates: &'a HashMap<i64, Decimal>,
    /// Pauses by contract (most contracts have none).
    pub pauses: &'a HashMap<i64, Vec<Pause>>,
    /// (contract, first day) held by an invoice already (`due::billed_periods`).
    pub billed: &'a HashSet<(i64, NaiveDate)>,
    pub as_of: NaiveDate,
    pub minor_units: u32,
    /// At most this many invoices (at least one is always planned, so a
    /// run makes progress); the rest waits for the next chunk.
    pub max_invoices: usize,
}

/// The invoice at storage scale. Checked before writing, so a contract
/// whose invoice cannot be stored is skipped rather than failing its chunk.
fn stored(draft: &DraftInvoice) -> Result<StoredInvoice, MoneyError> {
    let lines = draft
        .lines
        .iter()
        .map(|l| {
            Ok(StoredLine {
                quantity: Quantity::from_decimal(l.quantity)?,
                unit_price: Price::from_decimal(l.unit_price)?,
                net: Amount::from_decimal(l.net)?,
                tax_rate: Rate::from_decimal(l.tax_rate)?,
                tax: Amount::from_decimal(l.tax)?,
                total: Amount::from_decimal(l.total)?,
            })
        })
        .collect::<Result<_, MoneyError>>()?;
    Ok(StoredInvoice {
        subtotal: Amount::from_decimal(draft.subtotal)?,
        tax_total: Amount::from_decimal(draft.tax_total)?,
        total: Amount::from_decimal(draft.total)?,
        lines,
    })
}

pub fn plan_chunk(input: ChunkInput<'_>) -> ChunkPlan {
    let mut lines_by_contract: HashMap<i64, Vec<&contract_line::Model>> = HashMap::new();
    for line in input.lines {
        lines_by_contract
            .entry(line.contract_id)
            .or_default()
            .push(line);
    }
    let mut plan = ChunkPlan::default();
    let mut budget = input.max_invoices.max(1);
    for c in input.contracts {
        if budget == 0 {
            break;
        }
        let lines = lines_by_contract.remove(&c.id).unwrap_or_default();
        match plan_contract(c, &lines, &input, budget) {
            Ok(planned) => {
                budget = budget.saturating_sub(planned.invoices.len());
                plan.invoices.extend(planned.invoices);
                plan.advances.push(planned.advance);
                if !planned.complete {
                    plan.resume_after = c.id - 1;
                    return plan;
                }
            }
            Err(reason) => plan.skipped.push((c.id, reason)),
        }
        plan.resume_after = c.id;
        plan.finished += 1;
    }
    plan
}

struct PlannedContract {
    invoices: Vec<PlannedInvoice>,
    advance: ContractAdvance,
    /// false: the invoice budget ran out before the as-of date.
    complete: bool,
}

fn plan_contract(
    c: &contract::Model,
    lines: &[&contract_line::Model],
    input: &ChunkInput<'_>,
    budget: usize,
) -> Result<PlannedContract, String> {
    let pauses = input.pauses.get(&c.id).map(Vec::as_slice).unwrap_or(&[]);
    let terms = terms_of(c, lines, pauses, input.rates)?;
    let schedule = terms.schedule;
    let mut cursor = terms.cursor;
    let mut invoices = Vec::new();
    let mut complete = true;
    for period in schedule.due_periods(terms.cursor.next_index, input.as_of) {
        if invoices.len() >= budget {
            complete = false;
            break;
        }
        let first_day = cursor.first_open_day(&schedule);
        cursor = Cursor {
            next_index: period.index + 1,
            billed_through: Some(period.end),
        };
        let billable = pieces(&terms.lines, &terms.pauses, &period, first_day);
        // Nothing in force (paused, or every day passed), or already
        // invoiced: never again.
        let key = (c.id, first_day.max(period.start));
        if billable.is_empty() || input.billed.contains(&key) {
            continue;
        }
        let priced: Vec<(&LineTerm, &Piece)> = billable
            .iter()
            .filter_map(|p| {
                terms
                    .lines
                    .iter()
                    .find(|l| l.id == p.line_id)
                    .map(|l| (l, p))
            })
            .collect();
        let draft = invoice_for_pieces(&priced, &period, first_day, input.minor_units)
            .map_err(|e| format!("period {}: {e}", period.start))?;
        let stored = stored(&draft).map_err(|e| format!("period {}: {e}", period.start))?;
        invoices.push(PlannedInvoice {
            contract_id: c.id,
            contract_version: c.version,
            customer_id: c.customer_id,
            draft,
            stored,
        });
    }
    let advance = ContractAdvance {
        id: c.id,
        version: c.version,
        next_period_index: i32::try_from(cursor.next_index)
            .map_err(|_| "too many periods".to_string())?,
        next_billing_date: schedule.next_billing_date(cursor.next_index),
        billed_through: cursor.billed_through,
    };
    Ok(PlannedContract {
        invoices,
        advance,
        complete,
    })
}

/// The contract's billing terms from its stored rows (a term that does not
/// parse skips the contract, named in the audit trail).
pub(crate) fn terms_of(
    c: &contract::Model,
    lines: &[&contract_line::Model],
    pauses: &[Pause],
    rates: &HashMap<i64, Decimal>,
) -> Result<Terms, String> {
    let schedule = schedule_of(c)?;
    let next =
        u32::try_from(c.next_period_index).map_err(|_| "period index is negative".to_string())?;
    Ok(Terms {
        schedule,
        lines: term_lines(&schedule, lines, rates)?,
        pauses: pauses.to_vec(),
        cursor: Cursor::stored(&schedule, next, c.billed_through),
    })
}

/// The contract's schedule from its stored terms.
fn schedule_of(c: &contract::Model) -> Result<Schedule, String> {
    let interval = parse_interval(&c.billing_interval)
        .ok_or_else(|| format!("unknown interval {:?}", c.billing_interval))?;
    let timing = parse_timing(&c.timing).ok_or_else(|| format!("unknown timing {:?}", c.timing))?;
    let count =
        u32::try_from(c.interval_count).map_err(|_| "interval count is negative".to_string())?;
    Schedule::new(c.start_date, c.end_date, interval, count, timing).map_err(|e| e.to_string())
}

/// The contract's line versions as the engine prices them, with their tax
/// rates and the days each is in force (versions never in force dropped).
fn term_lines(
    schedule: &Schedule,
    lines: &[&contract_line::Model],
    rates: &HashMap<i64, Decimal>,
) -> Result<Vec<LineTerm>, String> {
    if lines.is_empty() {
        return Err("contract has no lines".into());
    }
    let last = schedule.end.unwrap_or(NaiveDate::MAX);
    let mut out = Vec::with_capacity(lines.len());
    for l in lines {
        let tax_rate = match l.tax_code_id {
            None => Decimal::ZERO,
            Some(id) => *rates
                .get(&id)
                .ok_or_else(|| format!("tax code {id} is missing"))?,
        };
        let from = l.valid_from.unwrap_or(schedule.start);
        let Some(in_force) = Span::new(from, l.valid_until.unwrap_or(last).min(last)) else {
            continue;
        };
        out.push(LineTerm {
            id: l.id,
            description: l.description.clone(),
            quantity: Quantity::from_e6(l.quantity_e6).to_decimal(),
            unit_price: Price::from_e6(l.unit_price_e6).to_decimal(),
            tax_rate,
            in_force,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weekly(id: i64, start: NaiveDate) -> contract::Model {
        contract::Model {
            id,
            legal_entity_id: 1,
            customer_id: 1,
            status: entity::status::ContractStatus::Active,
            start_date: start,
            end_date: None,
            billing_interval: "WEEK".into(),
            interval_count: 1,
            timing: "IN_ADVANCE".into(),
            next_period_index: 0,
            next_billing_date: Some(start),
            created_at: chrono::Utc::now(),
            version: 0,
            billed_through: None,
            cancelled_at: None,
        }
    }

    fn line(contract_id: i64) -> contract_line::Model {
        contract_line::Model {
            id: contract_id,
            contract_id,
            line_no: 0,
            description: "Seat".into(),
            quantity_e6: 1_000_000,
            unit_price_e6: 10_000_000,
            tax_code_id: None,
            valid_from: None,
            valid_until: None,
        }
    }

    fn plan(contracts: &[contract::Model], max_invoices: usize) -> ChunkPlan {
        let lines: Vec<_> = contracts.iter().map(|c| line(c.id)).collect();
        plan_chunk(ChunkInput {
            contracts,
            lines: &lines,
            rates: &HashMap::new(),
            pauses: &HashMap::new(),
            billed: &HashSet::new(),
            as_of: NaiveDate::from_ymd_opt(2026, 12, 1).expect("date"),
            minor_units: 2,
            max_invoices,
        })
    }

    #[test]
    fn a_contract_years_behind_is_cut_at_the_invoice_cap_and_resumed_from_where_it_stopped() {
        let start = NaiveDate::from_ymd_opt(2006, 12, 4).expect("date");
        let behind = [weekly(7, start), weekly(8, start)];
        let first = plan(&behind, 100);
        assert_eq!(
            first.invoices.len(),
            100,
            "The run: a chunk holds at most the cap"
        );
        assert_eq!(first.finished, 0);
        assert_eq!(first.resume_after, 6, "the cut contract is picked up again");
        let advance = &first.advances[0];
        assert_eq!(
            advance.next_period_index, 100,
            "it moves past the 100 periods billed only"
        );
        assert!(advance.next_billing_date.is_some(), "still active");
        let mut resumed = behind[0].clone();
        resumed.next_period_index = advance.next_period_index;
        let second = plan(&[resumed], usize::MAX);
        assert_eq!(
            second.invoices[0].draft.period_start,
            first.invoices[99].draft.period_end + chrono::Duration::days(1),
            "the next chunk starts at the first period not billed"
        );
        let whole = plan(&behind[..1], usize::MAX);
        assert_eq!(
            first.invoices.len() + second.invoices.len(),
            whole.invoices.len(),
            "cut or not, every period is billed once"
        );
    }

    #[test]
    fn contracts_after_the_cap_wait_for_the_next_chunk_untouched() {
        let recent = NaiveDate::from_ymd_opt(2026, 11, 30).expect("date");
        let contracts = [weekly(1, recent), weekly(2, recent), weekly(3, recent)];
        let capped = plan(&contracts, 2);
        assert_eq!(capped.invoices.len(), 2);
        assert_eq!(capped.finished, 2);
        assert_eq!(capped.resume_after, 2);
        assert_eq!(capped.advances.len(), 2, "contract 3 is not moved on");
    }
}
