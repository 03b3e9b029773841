//! The fixed-scale integers billrun stores, as types: an [`Amount`] of
//! money at scale 4, and a [`Quantity`], unit [`Price`] and tax [`Rate`]
//! (percent) at scale 6. Each scale has one home here, so a price can never
//! be stored at an amount's scale, and every conversion and sum is checked:
//! a value that does not fit is an error, never a rounded or saturated one.
//! [`Money`] is an amount with its currency, shown at the currency's minor
//! unit.

use rust_decimal::Decimal;

use super::currency::Currency;
use super::money::{from_scaled, to_scaled, MoneyError};

/// Money as stored: an integer count of 10⁻⁴ units of a currency (finer
/// than any currency's minor unit, so rounded amounts are exact).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Amount(i64);

impl Amount {
    pub const SCALE: u32 = 4;
    pub const ZERO: Amount = Amount(0);

    /// The value of an `_e4` column.
    pub const fn from_e4(raw: i64) -> Self {
        Amount(raw)
    }

    /// What an `_e4` column stores.
    pub const fn e4(self) -> i64 {
        self.0
    }

    /// Refuses more than four decimals or a value beyond the storage range.
    pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
        to_scaled(value, Self::SCALE).map(Amount)
    }

    pub fn to_decimal(self) -> Decimal {
        from_scaled(self.0, Self::SCALE)
    }

    pub fn checked_add(self, other: Amount) -> Result<Self, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Amount)
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Amount) -> Result<Self, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Amount)
            .ok_or(MoneyError::Overflow)
    }

    /// The sum of all, or `Overflow` when it leaves the storage range.
    pub fn sum(amounts: impl IntoIterator<Item = Amount>) -> Result<Self, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Amount::ZERO, |acc, a| acc.checked_add(a))
    }

    pub fn is_positive(self) -> bool {
        self.0 > 0
    }

    /// With exactly `minor_units` decimals ("58.50", "100" for JPY). Stored
    /// amounts are already rounded to the minor unit, so this only pads.
    pub fn at_minor_units(self, minor_units: u32) -> Decimal {
        let mut value = self.to_decimal();
        value.rescale(minor_units);
        value
    }
}

/// An amount of one currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Money {
    pub amount: Amount,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: Amount, currency: Currency) -> Self {
        Money { amount, currency }
    }

    /// The amount with the currency's minor units ("58.50 EUR" as 58.50).
    pub fn to_decimal(self) -> Decimal {
        self.amount.at_minor_units(self.currency.minor_units())
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.to_decimal(), self.currency.code())
    }
}

/// The types stored at scale 6: same representation, different meaning.
macro_rules! scale_6 {
    ($($(#[$doc:meta])* $name:ident),*) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(i64);

        impl $name {
            pub const SCALE: u32 = 6;

            /// The value of an `_e6` column.
            pub const fn from_e6(raw: i64) -> Self {
                $name(raw)
            }

            /// What an `_e6` column stores.
            pub const fn e6(self) -> i64 {
                self.0
            }

            /// Refuses more than six decimals or a value beyond the storage
            /// range.
            pub fn from_decimal(value: Decimal) -> Result<Self, MoneyError> {
                to_scaled(value, Self::SCALE).map($name)
            }

            /// Without trailing zeros ("2.5", not "2.500000").
            pub fn to_decimal(self) -> Decimal {
                from_scaled(self.0, Self::SCALE).normalize()
            }
        }
    )*};
}

scale_6!(
    /// How many units a contract line bills per period.
    Quantity,
    /// The price of one unit, before tax (finer than the minor unit, so a
    /// per-unit price of 0.0125 is exact).
    Price,
    /// A tax rate in percent (20 means 20 %).
    Rate
);

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("decimal")
    }

    #[test]
    fn amounts_round_trip_exactly_and_refuse_what_they_cannot_hold() {
        let a = Amount::from_decimal(d("0.1")).expect("fits");
        assert_eq!(a.e4(), 1_000);
        let three = Amount::sum([a, a, a]).expect("fits");
        assert_eq!(three.to_decimal(), d("0.3"), "Money: sums are exact");
        assert_eq!(
            Amount::from_decimal(d("0.00001")),
            Err(MoneyError::TooManyDecimals { max: 4 }),
            "Money: digits are never dropped on the way to storage"
        );
        assert_eq!(
            Amount::from_e4(i64::MAX).checked_add(Amount::from_e4(1)),
            Err(MoneyError::Overflow),
            "Money: a sum beyond the storage range is an error, not saturated"
        );
    }

    #[test]
    fn money_shows_the_currency_minor_units() {
        let eur = Currency::parse("EUR").expect("EUR");
        let jpy = Currency::parse("JPY").expect("JPY");
        let amount = Amount::from_decimal(d("58.5")).expect("fits");
        assert_eq!(Money::new(amount, eur).to_string(), "58.50 EUR");
        let yen = Amount::from_decimal(d("100")).expect("fits");
        assert_eq!(Money::new(yen, jpy).to_string(), "100 JPY");
    }

    #[test]
    fn scale_6_values_keep_six_decimals_and_show_none_trailing() {
        let price = Price::from_decimal(d("0.0125")).expect("fits");
        assert_eq!(price.e6(), 12_500);
        assert_eq!(price.to_decimal().to_string(), "0.0125");
        assert_eq!(Rate::from_e6(20_000_000).to_decimal().to_string(), "20");
        assert!(Quantity::from_decimal(d("1.0000001")).is_err());
    }
}
