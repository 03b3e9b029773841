//! Credit-note arithmetic: a credited line's tax and total, how an issued
//! note splits between the invoice's amount due and customer credit, and
//! how customer credit is consumed, oldest first. Pure, so the rules are
//! tested here and the service only moves the results into the database.

use rust_decimal::Decimal;

use super::amount::{Amount, Rate};
use super::money::{round_money, MoneyError};

/// One credited line: the net the accountant asked for, the tax at the
/// invoice line's rate rounded half away from zero to the minor unit, and
/// their sum (as on invoices).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditedLine {
    pub net: Amount,
    pub tax: Amount,
    pub total: Amount,
}

pub fn credit_line(net: Decimal, rate: Rate, minor_units: u32) -> Result<CreditedLine, MoneyError> {
    let tax = net
        .checked_mul(rate.to_decimal())
        .and_then(|t| t.checked_div(Decimal::ONE_HUNDRED))
        .ok_or(MoneyError::Overflow)?;
    let tax = round_money(tax, minor_units);
    let total = net.checked_add(tax).ok_or(MoneyError::Overflow)?;
    Ok(CreditedLine {
        net: Amount::from_decimal(net)?,
        tax: Amount::from_decimal(tax)?,
        total: Amount::from_decimal(total)?,
    })
}

/// An issued note first reduces what the invoice still asks for; the rest
/// (the invoice was paid) becomes customer credit. `(applied, to balance)`.
pub fn split(total: Amount, due: Amount) -> (Amount, Amount) {
    let applied = total.min(due.max(Amount::ZERO));
    (applied, Amount::from_e4(total.e4() - applied.e4()))
}

/// What a newly posted invoice owing `due` takes from the customer's credit
/// notes, given oldest first as `(note, credit left)`: `(note, taken)` for
/// each note it takes from, oldest first, never more than `due` in all.
pub fn consume(balances: &[(i64, Amount)], due: Amount) -> Vec<(i64, Amount)> {
    let mut left = due;
    let mut taken = Vec::new();
    for &(note, credit) in balances {
        if !left.is_positive() {
            break;
        }
        let take = credit.min(left);
        if take.is_positive() {
            taken.push((note, take));
            left = Amount::from_e4(left.e4() - take.e4());
        }
    }
    taken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn a(s: &str) -> Amount {
        Amount::from_decimal(d(s)).expect("amount")
    }

    #[test]
    fn a_credited_line_takes_its_invoice_lines_rate_rounded_half_away_from_zero() {
        let rate = Rate::from_decimal(d("19.45")).expect("rate");
        // 10.00 × 19.45 % = 1.945 → 1.95; total 11.95.
        let line = credit_line(d("10.00"), rate, 2).expect("line");
        assert_eq!(
            (line.net, line.tax, line.total),
            (a("10"), a("1.95"), a("11.95"))
        );
        // KWD, 3 decimals: 1.005 × 10 % = 0.1005 → 0.101.
        let ten = Rate::from_decimal(d("10")).expect("rate");
        let kwd = credit_line(d("1.005"), ten, 3).expect("line");
        assert_eq!((kwd.tax, kwd.total), (a("0.101"), a("1.106")));
        // JPY, none: 15 × 10 % = 1.5 → 2.
        let jpy = credit_line(d("15"), ten, 0).expect("line");
        assert_eq!(jpy.tax, a("2"));
    }

    #[test]
    fn a_note_reduces_the_amount_due_first_and_the_rest_becomes_credit() {
        assert_eq!(split(a("30"), a("100")), (a("30"), a("0")));
        assert_eq!(split(a("30"), a("10")), (a("10"), a("20")));
        assert_eq!(split(a("30"), a("0")), (a("0"), a("30")));
    }

    #[test]
    fn credit_is_consumed_oldest_first_and_never_beyond_what_is_due() {
        let balances = [(1, a("5")), (2, a("20")), (3, a("7"))];
        assert_eq!(consume(&balances, a("12")), [(1, a("5")), (2, a("7"))]);
        assert_eq!(
            consume(&balances, a("100")),
            [(1, a("5")), (2, a("20")), (3, a("7"))]
        );
        assert!(consume(&balances, Amount::ZERO).is_empty());
    }
}
