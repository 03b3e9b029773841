//! ISO 4217 currencies and their minor units (EUR 2, JPY 0, KWD 3).

use iso_currency::Currency as Iso;

/// A validated ISO 4217 currency code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Currency(Iso);

impl Currency {
    /// Only active codes that have a minor unit; funds codes without one
    /// (XAU, XDR…) cannot price an invoice.
    pub fn parse(code: &str) -> Option<Currency> {
        let iso = Iso::from_code(code)?;
        iso.exponent().map(|_| Currency(iso))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    pub fn minor_units(self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(0)
    }
}

/// The minor units of a stored currency code. Codes are validated when
/// legal entities are created; one that no longer parses shows 2 decimals.
pub fn minor_units_of(code: &str) -> u32 {
    Currency::parse(code).map_or(2, Currency::minor_units)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_iso_4217() {
        let units = |c: &str| Currency::parse(c).map(Currency::minor_units);
        assert_eq!(units("EUR"), Some(2));
        assert_eq!(units("JPY"), Some(0));
        assert_eq!(units("KWD"), Some(3));
    }

    #[test]
    fn a_stored_code_that_no_longer_parses_shows_two_decimals() {
        assert_eq!(minor_units_of("KWD"), 3);
        assert_eq!(minor_units_of("JPY"), 0);
        assert_eq!(minor_units_of("XXX-retired"), 2);
    }

    #[test]
    fn unknown_or_lowercase_codes_are_refused() {
        assert_eq!(Currency::parse("EURO"), None);
        assert_eq!(Currency::parse("eur"), None);
        assert_eq!(Currency::parse("ZZZ"), None);
        assert_eq!(Currency::parse("XAU"), None);
    }
}
