//! The contract's scalars. `Date` is "YYYY-MM-DD" only; `Decimal` travels
//! as a JSON string and is parsed without ever passing through a float (a
//! JSON number is refused, since it has already been through one).

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::amount::{Amount, Price, Quantity, Rate};
use crate::domain::money;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Date(pub NaiveDate);

#[Scalar(name = "Date")]
impl ScalarType for Date {
    fn parse(value: Value) -> InputValueResult<Self> {
        let Value::String(s) = &value else {
            return Err(InputValueError::expected_type(value));
        };
        // chrono alone would accept "2026-1-5"; the contract says YYYY-MM-DD.
        let shaped = s.len() == 10 && s.as_bytes()[4] == b'-' && s.as_bytes()[7] == b'-';
        match NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            Ok(date) if shaped => Ok(Date(date)),
            _ => Err(InputValueError::custom(format!(
                "{s:?} is not a valid YYYY-MM-DD date"
            ))),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.format("%Y-%m-%d").to_string())
    }
}

/// Largest number of decimals any Decimal input may carry; fields narrow it.
const MAX_INPUT_DECIMALS: u32 = 12;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dec(pub Decimal);

#[Scalar(name = "Decimal")]
impl ScalarType for Dec {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => money::parse_decimal_input(s, MAX_INPUT_DECIMALS)
                .map(Dec)
                .map_err(|e| InputValueError::custom(format!("{s:?} is not a valid decimal: {e}"))),
            Value::Number(_) => Err(InputValueError::custom(
                "decimals are sent as strings such as \"49.00\", never as JSON numbers",
            )),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// An amount shown with the currency's minor units.
pub fn money_at(amount: Amount, minor_units: u32) -> Dec {
    Dec(amount.at_minor_units(minor_units))
}

/// A computed (not stored) amount, already rounded to the minor unit.
pub fn decimal_at(mut value: Decimal, minor_units: u32) -> Dec {
    value.rescale(minor_units);
    Dec(value)
}

/// Quantities, prices and rates are shown without trailing zeros.
macro_rules! dec_from_scale_6 {
    ($($t:ty),*) => {$(
        impl From<$t> for Dec {
            fn from(value: $t) -> Self {
                Dec(value.to_decimal())
            }
        }
    )*};
}

dec_from_scale_6!(Quantity, Price, Rate);
