//! What a contract period is billed: pure arithmetic over a contract's
//! lines, a period and the currency. The run engine and the dry run both
//! call [`invoice_for_pieces`], so a dry run computes exactly what a real run
//! would.

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::lifecycle::{piece_net, LineTerm, Piece, Span};
use super::money::{self, MoneyError};
use super::schedule::Period;

/// One line of a contract as the engine sees it.
#[derive(Clone, Debug)]
pub struct TermLine {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Percent; zero when the line has no tax code.
    pub tax_rate: Decimal,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftLine {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub net: Decimal,
    pub tax_rate: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    /// The contract line version billed, and the days.
    pub contract_line_id: Option<i64>,
    pub service: Option<Span>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DraftInvoice {
    pub period_start: NaiveDate,
    pub period_end: NaiveDate,
    pub lines: Vec<DraftLine>,
    pub subtotal: Decimal,
    pub tax_total: Decimal,
    pub total: Decimal,
}

/// A whole period under `lines` (each in force all of it): the invoice
/// [`invoice_for_pieces`] writes when nothing was changed.
pub fn invoice_for_period(
    lines: &[TermLine],
    period: &Period,
    minor_units: u32,
) -> Result<DraftInvoice, MoneyError> {
    let days = Span {
        from: period.start,
        to: period.end,
    };
    let terms: Vec<LineTerm> = lines
        .iter()
        .map(|l| LineTerm {
            id: 0,
            description: l.description.clone(),
            quantity: l.quantity,
            unit_price: l.unit_price,
            tax_rate: l.tax_rate,
            in_force: days,
        })
        .collect();
    let pieces: Vec<Piece> = terms.iter().map(|_| Piece { line_id: 0, days }).collect();
    let refs: Vec<(&LineTerm, &Piece)> = terms.iter().zip(&pieces).collect();
    invoice_for_pieces(&refs, period, period.start, minor_units)
}

/// Per piece (a line version's days in the period): net = round(quantity ×
/// unit price) for the whole uncut period, else prorated by days and
/// rounded once; tax = round(net × rate / 100). The invoice sums the
/// rounded lines, so it always equals what its lines show; it covers
/// `first_day` to the period's end.
pub fn invoice_for_pieces(
    pieces: &[(&LineTerm, &Piece)],
    period: &Period,
    first_day: NaiveDate,
    minor_units: u32,
) -> Result<DraftInvoice, MoneyError> {
    let mut out = Vec::with_capacity(pieces.len());
    let (mut subtotal, mut tax_total) = (Decimal::ZERO, Decimal::ZERO);
    for (line, piece) in pieces {
        let net = piece_net(line.full_net()?, piece.days, period, minor_units)?;
        let tax = net
            .checked_mul(line.tax_rate)
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .map(|v| money::round_money(v, minor_units))
            .ok_or(MoneyError::Overflow)?;
        let total = net.checked_add(tax).ok_or(MoneyError::Overflow)?;
        subtotal = subtotal.checked_add(net).ok_or(MoneyError::Overflow)?;
        tax_total = tax_total.checked_add(tax).ok_or(MoneyError::Overflow)?;
        out.push(DraftLine {
            description: line.description.clone(),
            quantity: line.quantity,
            unit_price: line.unit_price,
            net,
            tax_rate: line.tax_rate,
            tax,
            total,
            contract_line_id: (line.id != 0).then_some(line.id),
            service: Some(piece.days),
        });
    }
    Ok(DraftInvoice {
        period_start: first_day.max(period.start),
        period_end: period.end,
        lines: out,
        subtotal,
        tax_total,
        total: subtotal
            .checked_add(tax_total)
            .ok_or(MoneyError::Overflow)?,
    })
}

/// What an invoice still asks for: nothing once voided, else total − paid
/// − what credit notes reduced − customer credit applied at posting, never
/// below zero (amounts at storage scale).
pub fn amount_due_e4(voided: bool, total_e4: i64, settled_e4: [i64; 3]) -> i64 {
    if voided {
        return 0;
    }
    // In i128 the sum cannot overflow: exact, never saturated. Clamped to
    // 0..=total, the result fits an i64 again, so the cast is exact.
    let settled: i128 = settled_e4.iter().map(|s| i128::from(*s)).sum();
    let due = (i128::from(total_e4) - settled).clamp(0, i128::from(total_e4.max(0)));
    due as i64
}

/// Where a contract moves to once its due periods are billed. A contract
/// with no period left (no next billing date) has ENDED.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContractAdvance {
    pub id: i64,
    /// The version the writer read: the update applies only if no one
    /// moved the contract since, and bumps it.
    pub version: i32,
    pub next_period_index: i32,
    pub next_billing_date: Option<NaiveDate>,
    pub billed_through: Option<NaiveDate>,
}

/// `<entity code>-<year>-<000001>`: gapless per legal entity and year.
pub fn invoice_number(entity_code: &str, year: i32, n: i64) -> String {
    format!("{entity_code}-{year}-{n:06}")
}

/// `<entity code>-CN-<year>-<000001>`: a series of its own, gapless per
/// legal entity and year.
pub fn credit_note_number(entity_code: &str, year: i32, n: i64) -> String {
    format!("{entity_code}-CN-{year}-{n:06}")
}

/// `BR-000042`: per legal entity.
pub fn run_number(seq: i32) -> String {
    format!("BR-{seq:06}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::schedule::{Interval, Schedule, Timing};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid date")
    }

    fn dec(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn line(qty: &str, price: &str, rate: &str) -> TermLine {
        TermLine {
            description: "x".into(),
            quantity: dec(qty),
            unit_price: dec(price),
            tax_rate: dec(rate),
        }
    }

    fn monthly(start: NaiveDate, end: Option<NaiveDate>) -> Schedule {
        Schedule::new(start, end, Interval::Month, 1, Timing::InAdvance).expect("schedule")
    }

    #[test]
    fn the_seed_example_is_58_53_at_19_45_percent() {
        let period = monthly(d(2026, 11, 1), None).period(0).expect("period");
        let inv = invoice_for_period(&[line("1", "49.00", "19.45")], &period, 2).expect("invoice");
        assert_eq!(
            (inv.subtotal, inv.tax_total, inv.total),
            (dec("49.00"), dec("9.53"), dec("58.53"))
        );
        // The page's 58.48 follows from 19.35 %.
        let inv = invoice_for_period(&[line("1", "49.00", "19.35")], &period, 2).expect("invoice");
        assert_eq!(inv.total, dec("58.48"));
    }

    #[test]
    fn lines_round_half_away_from_zero_before_summing() {
        let period = monthly(d(2026, 1, 1), None).period(0).expect("period");
        // 0.125 → 0.13 per line; two lines 0.26, not round(0.25) = 0.25.
        let inv = invoice_for_period(
            &[line("1", "0.125", "0"), line("1", "0.125", "0")],
            &period,
            2,
        )
        .expect("invoice");
        assert_eq!(inv.subtotal, dec("0.26"));
        let jpy = invoice_for_period(&[line("3", "33.5", "10")], &period, 0).expect("invoice");
        assert_eq!((jpy.subtotal, jpy.tax_total), (dec("101"), dec("10")));
        let kwd = invoice_for_period(&[line("1", "1.0005", "0")], &period, 3).expect("invoice");
        assert_eq!(kwd.subtotal, dec("1.001"));
    }

    #[test]
    fn net_is_rounded_before_tax_is_taken_from_it() {
        let period = monthly(d(2026, 1, 1), None).period(0).expect("period");
        // 3 × 0.333 = 0.999 → net 1.00; tax is 10 % of the printed 1.00.
        let inv = invoice_for_period(&[line("3", "0.333", "10")], &period, 2).expect("invoice");
        let l = &inv.lines[0];
        assert_eq!(
            (l.net, l.tax, l.total),
            (dec("1.00"), dec("0.10"), dec("1.10"))
        );
    }

    #[test]
    fn a_cut_period_is_prorated_by_days_per_line() {
        // Jan 2026 has 31 days; the contract ends Jan 10: 10/31 of 31.00.
        let period = monthly(d(2026, 1, 1), Some(d(2026, 1, 10)))
            .period(0)
            .expect("period");
        let inv = invoice_for_period(&[line("1", "31.00", "20")], &period, 2).expect("invoice");
        assert_eq!(
            (inv.subtotal, inv.tax_total, inv.total),
            (dec("10.00"), dec("2.00"), dec("12.00"))
        );
        assert_eq!(inv.period_end, d(2026, 1, 10));
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let period = monthly(d(2026, 1, 1), None).period(0).expect("period");
        let huge = line("79228162514264337593543950335", "2", "0");
        assert!(invoice_for_period(&[huge], &period, 2).is_err());
    }

    #[test]
    fn a_void_invoice_owes_nothing_and_others_owe_the_rest() {
        assert_eq!(amount_due_e4(true, 100, [0, 0, 0]), 0);
        assert_eq!(amount_due_e4(false, 100, [40, 0, 0]), 60);
        assert_eq!(amount_due_e4(false, 100, [100, 0, 0]), 0);
        assert_eq!(amount_due_e4(false, 100, [40, 30, 10]), 20);
        assert_eq!(
            amount_due_e4(false, 100, [95, 10, 0]),
            0,
            "never below zero"
        );
    }

    #[test]
    fn numbers_have_the_documented_shape() {
        assert_eq!(invoice_number("ARF", 2026, 42), "ARF-2026-000042");
        assert_eq!(run_number(7), "BR-000007");
        assert_eq!(credit_note_number("ARF", 2026, 1), "ARF-CN-2026-000001");
    }
}
