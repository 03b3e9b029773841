//! Money arithmetic for billrun: rounding to a currency's minor unit,
//! day-based proration, the fixed-scale integer conversions behind the
//! stored types of [`super::amount`], and the strict parser for decimal
//! numbers received through the API.
//!
//! Everything is exact `Decimal` arithmetic; there are no floats anywhere, so
//! `0.1 + 0.1 + 0.1 == 0.3` holds and stored values round-trip bit for bit.

use rust_decimal::{Decimal, RoundingStrategy};
use thiserror::Error;

/// `Decimal` cannot represent more decimal places or significant digits than
/// this, so anything beyond it can never be stored losslessly.
const DECIMAL_MAX_DIGITS: u32 = 28;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    #[error("invalid decimal number: {0}")]
    Invalid(String),
    #[error("too many decimal places: at most {max} allowed")]
    TooManyDecimals { max: u32 },
    #[error("number out of range")]
    OutOfRange,
    #[error("arithmetic overflow in money calculation")]
    Overflow,
    #[error(
        "invalid proration: days in period must be positive and days billed between 0 and days in period"
    )]
    InvalidProration,
}

/// Rounds to the currency's minor unit, ties away from zero, which is the
/// commercial convention invoices are expected to follow (not banker's rounding).
pub fn round_money(amount: Decimal, minor_units: u32) -> Decimal {
    amount.round_dp_with_strategy(minor_units, RoundingStrategy::MidpointAwayFromZero)
}

/// `full × days_billed / days_in_period`, rounded to the minor unit.
///
/// Multiplying before dividing keeps the only inexact step (a division that
/// does not terminate) last, where its error sits far below the minor unit.
pub fn prorate(
    full: Decimal,
    days_billed: i64,
    days_in_period: i64,
    minor_units: u32,
) -> Result<Decimal, MoneyError> {
    if days_in_period <= 0 || !(0..=days_in_period).contains(&days_billed) {
        return Err(MoneyError::InvalidProration);
    }
    // A whole period must bill exactly the full price, even for amounts whose
    // product with the day count would exceed Decimal's 28 digits.
    if days_billed == days_in_period {
        return Ok(round_money(full, minor_units));
    }
    let share = full
        .checked_mul(Decimal::from(days_billed))
        .and_then(|p| p.checked_div(Decimal::from(days_in_period)))
        .ok_or(MoneyError::Overflow)?;
    Ok(round_money(share, minor_units))
}

/// Converts to the integer stored in the database at a fixed `scale`.
///
/// Refuses rather than rounds a value with more decimals than the scale:
/// silently dropping digits on the way to storage would lose money.
pub(super) fn to_scaled(value: Decimal, scale: u32) -> Result<i64, MoneyError> {
    let value = value.normalize();
    let value_scale = value.scale();
    if value_scale > scale {
        return Err(MoneyError::TooManyDecimals { max: scale });
    }
    10i128
        .checked_pow(scale - value_scale)
        .and_then(|factor| value.mantissa().checked_mul(factor))
        .and_then(|raw| i64::try_from(raw).ok())
        .ok_or(MoneyError::OutOfRange)
}

/// Inverse of [`to_scaled`]; exact for every scale up to 28.
pub(super) fn from_scaled(raw: i64, scale: u32) -> Decimal {
    if let Ok(value) = Decimal::try_new(raw, scale) {
        return value;
    }
    // No storage scale is above 28, but a value this small still has a
    // nearest Decimal (zero once |raw| < 10^19 is shifted past 10^-28),
    // which beats panicking.
    let shift = scale.saturating_sub(DECIMAL_MAX_DIGITS);
    let divisor = 10i64
        .checked_pow(shift)
        .and_then(|d| Decimal::try_new(d, 0).ok());
    match divisor {
        Some(divisor) => Decimal::new(raw, DECIMAL_MAX_DIGITS)
            .checked_div(divisor)
            .unwrap_or(Decimal::ZERO),
        None => Decimal::ZERO,
    }
}

/// Strict parser for decimal numbers received through the API.
///
/// Accepts only `-?[0-9]+(\.[0-9]+)?`. `Decimal::from_str` is more lenient
/// (underscores, a leading '+', ".5"), and every accepted spelling is one more
/// way for a client to send something it did not mean.
pub fn parse_decimal_input(s: &str, max_decimals: u32) -> Result<Decimal, MoneyError> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let (int_part, frac_part) = match unsigned.split_once('.') {
        Some((int_part, frac_part)) => (int_part, Some(frac_part)),
        None => (unsigned, None),
    };
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if s.is_empty() {
        return Err(MoneyError::Invalid("empty input".to_owned()));
    }
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(MoneyError::Invalid(
            "expected digits with an optional leading '-' and an optional '.' followed by digits"
                .to_owned(),
        ));
    }

    let frac_part = frac_part.unwrap_or("");
    let decimals = u32::try_from(frac_part.len()).map_err(|_| MoneyError::OutOfRange)?;
    if decimals > max_decimals {
        return Err(MoneyError::TooManyDecimals { max: max_decimals });
    }
    let significant = int_part
        .bytes()
        .chain(frac_part.bytes())
        .skip_while(|&b| b == b'0')
        .count();
    if decimals > DECIMAL_MAX_DIGITS || significant > DECIMAL_MAX_DIGITS as usize {
        return Err(MoneyError::OutOfRange);
    }

    let mut value = Decimal::from_str_exact(s).map_err(|_| MoneyError::OutOfRange)?;
    // "-0" is a valid spelling of zero but must not become a negative zero
    // that later prints as "-0.00".
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero_at_each_currency_scale() {
        assert_eq!(round_money(d("0.125"), 2), d("0.13"));
        assert_eq!(round_money(d("-0.125"), 2), d("-0.13"));
        assert_eq!(round_money(d("0.124"), 2), d("0.12"));
        assert_eq!(round_money(d("2.5"), 0), d("3"));
        assert_eq!(round_money(d("-2.5"), 0), d("-3"));
        assert_eq!(round_money(d("3.5"), 0), d("4"));
        assert_eq!(round_money(d("1.0005"), 3), d("1.001"));
        assert_eq!(round_money(d("-1.0005"), 3), d("-1.001"));
        assert_eq!(round_money(d("1.00049"), 3), d("1.000"));
    }

    #[test]
    fn prorate_examples_and_validation() {
        assert_eq!(prorate(d("100.00"), 15, 30, 2), Ok(d("50.00")));
        assert_eq!(prorate(d("100.00"), 10, 30, 2), Ok(d("33.33")));
        assert_eq!(prorate(d("100.00"), 20, 30, 2), Ok(d("66.67")));
        assert_eq!(prorate(d("-100.00"), 20, 30, 2), Ok(d("-66.67")));
        assert_eq!(prorate(d("1000"), 1, 3, 0), Ok(d("333")));
        assert_eq!(prorate(d("100.00"), 0, 30, 2), Ok(d("0")));
        assert_eq!(prorate(Decimal::MAX, 7, 7, 2), Ok(Decimal::MAX));
        for (billed, period) in [(1, 0), (0, 0), (-1, 30), (31, 30), (1, -5)] {
            assert_eq!(
                prorate(d("10"), billed, period, 2),
                Err(MoneyError::InvalidProration)
            );
        }
        assert_eq!(prorate(Decimal::MAX, 2, 3, 2), Err(MoneyError::Overflow));
    }

    #[test]
    fn scaled_round_trips_are_exact() {
        for (text, raw) in [
            ("9999999999999.9999", 99_999_999_999_999_999_i64),
            ("900719925474099.13", 9_007_199_254_740_991_300),
            ("-0.0001", -1),
            ("0", 0),
        ] {
            assert_eq!(to_scaled(d(text), 4), Ok(raw));
            assert_eq!(from_scaled(raw, 4), d(text));
        }
        let sum = d("0.1") + d("0.1") + d("0.1");
        assert_eq!(sum, d("0.3"));
        assert_eq!(to_scaled(sum, 4), Ok(3000));
        assert_eq!(to_scaled(d("2.500000"), 6), Ok(2_500_000));
        assert_eq!(from_scaled(2_500_000, 6), d("2.5"));
    }

    #[test]
    fn to_scaled_refuses_lossy_or_huge_values() {
        assert_eq!(
            to_scaled(d("1.00001"), 4),
            Err(MoneyError::TooManyDecimals { max: 4 })
        );
        // Trailing zeros are not significant, so they do not count as decimals.
        assert_eq!(to_scaled(d("1.10000000"), 4), Ok(11000));
        assert_eq!(
            to_scaled(d("922337203685477.5808"), 4),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(to_scaled(d("-922337203685477.5808"), 4), Ok(i64::MIN));
        assert_eq!(to_scaled(Decimal::MAX, 0), Err(MoneyError::OutOfRange));
        assert_eq!(to_scaled(d("1"), 40), Err(MoneyError::OutOfRange));
    }

    #[test]
    fn from_scaled_beyond_decimal_scale_does_not_panic() {
        assert_eq!(from_scaled(4, 29), Decimal::ZERO);
        assert_eq!(from_scaled(123, 29), d("0.0000000000000000000000000012"));
        assert_eq!(from_scaled(i64::MAX, 200), Decimal::ZERO);
    }

    #[test]
    fn parser_accepts_plain_decimals() {
        assert_eq!(parse_decimal_input("49.00", 4), Ok(d("49.00")));
        assert_eq!(parse_decimal_input("-0.5", 4), Ok(d("-0.5")));
        assert_eq!(parse_decimal_input("007", 0), Ok(d("7")));
        assert_eq!(parse_decimal_input("1.2345", 4), Ok(d("1.2345")));
        let zero = parse_decimal_input("-0.00", 2).unwrap();
        assert!(zero.is_zero() && zero.is_sign_positive());
        let max = "9".repeat(28);
        assert_eq!(parse_decimal_input(&max, 0), Ok(d(&max)));
        let long_zeros = format!("{}1.5", "0".repeat(40));
        assert_eq!(parse_decimal_input(&long_zeros, 2), Ok(d("1.5")));
    }

    #[test]
    fn parser_rejects_everything_else() {
        for input in [
            "", " ", " 1", "1 ", "+1", "1e5", "1E5", "1,5", "1,000", "NaN", "nan", "inf", "-inf",
            "Infinity", ".5", "5.", "-", "-.5", "--1", "1.2.3", "1_000", "0x10", "١", "1-",
        ] {
            assert!(
                matches!(parse_decimal_input(input, 4), Err(MoneyError::Invalid(_))),
                "{input:?} should be invalid"
            );
        }
    }

    #[test]
    fn parser_limits_decimals_and_digits() {
        assert_eq!(
            parse_decimal_input("1.23456", 4),
            Err(MoneyError::TooManyDecimals { max: 4 })
        );
        assert_eq!(
            parse_decimal_input("1.5", 0),
            Err(MoneyError::TooManyDecimals { max: 0 })
        );
        assert_eq!(
            parse_decimal_input(&"9".repeat(29), 0),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(
            parse_decimal_input(&format!("0.{}1", "0".repeat(28)), 40),
            Err(MoneyError::OutOfRange)
        );
        assert_eq!(
            parse_decimal_input(&format!("1.{}", "1".repeat(28)), 40),
            Err(MoneyError::OutOfRange)
        );
    }

    #[test]
    fn errors_have_readable_messages() {
        assert_eq!(
            MoneyError::TooManyDecimals { max: 2 }.to_string(),
            "too many decimal places: at most 2 allowed"
        );
        assert!(parse_decimal_input("abc", 2)
            .unwrap_err()
            .to_string()
            .starts_with("invalid decimal number: "));
    }

    /// Amounts as they exist in billing: already at the currency's scale.
    fn amount_and_scale() -> impl Strategy<Value = (Decimal, u32)> {
        (0u32..=4).prop_flat_map(|minor| {
            (-10_000_000_000_000_i64..=10_000_000_000_000)
                .prop_map(move |raw| (Decimal::new(raw, minor), minor))
        })
    }

    proptest! {
        #[test]
        fn prorated_never_exceeds_full(
            (full, minor) in amount_and_scale(),
            (billed, period) in (1i64..=400_000).prop_flat_map(|p| (0..=p, Just(p))),
        ) {
            let part = prorate(full, billed, period, minor).unwrap();
            prop_assert!(part.abs() <= full.abs());
        }

        #[test]
        fn prorated_never_exceeds_rounded_full_at_any_scale(
            raw in any::<i64>(),
            scale in 0u32..=10,
            minor in 0u32..=4,
            (billed, period) in (1i64..=400_000).prop_flat_map(|p| (0..=p, Just(p))),
        ) {
            let full = Decimal::new(raw, scale);
            let part = prorate(full, billed, period, minor).unwrap();
            prop_assert!(part.abs() <= round_money(full, minor).abs());
        }

        #[test]
        fn full_period_bills_rounded_full(
            raw in any::<i64>(),
            scale in 0u32..=10,
            minor in 0u32..=4,
            days in 1i64..=400_000,
        ) {
            let full = Decimal::new(raw, scale);
            prop_assert_eq!(prorate(full, days, days, minor), Ok(round_money(full, minor)));
        }

        #[test]
        fn scaled_storage_round_trips(raw in any::<i64>(), scale in 0u32..=6) {
            let value = from_scaled(raw, scale);
            prop_assert_eq!(to_scaled(value, scale), Ok(raw));
        }

        #[test]
        fn parser_round_trips_formatted_amounts(raw in any::<i64>(), minor in 0u32..=4) {
            let value = Decimal::new(raw, minor);
            let text = value.to_string();
            prop_assert_eq!(parse_decimal_input(&text, minor), Ok(value));
        }
    }
}
