//! The stored codes of a contract's terms and status (the same words the API
//! uses), mapped to the schedule's types in one place.

use super::schedule::{Interval, Timing};

pub fn interval_code(interval: Interval) -> &'static str {
    match interval {
        Interval::Week => "WEEK",
        Interval::Month => "MONTH",
        Interval::Quarter => "QUARTER",
        Interval::Year => "YEAR",
    }
}

pub fn parse_interval(code: &str) -> Option<Interval> {
    [
        Interval::Week,
        Interval::Month,
        Interval::Quarter,
        Interval::Year,
    ]
    .into_iter()
    .find(|i| interval_code(*i) == code)
}

pub fn timing_code(timing: Timing) -> &'static str {
    match timing {
        Timing::InAdvance => "IN_ADVANCE",
        Timing::InArrears => "IN_ARREARS",
    }
}

pub fn parse_timing(code: &str) -> Option<Timing> {
    [Timing::InAdvance, Timing::InArrears]
        .into_iter()
        .find(|t| timing_code(*t) == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for i in [
            Interval::Week,
            Interval::Month,
            Interval::Quarter,
            Interval::Year,
        ] {
            assert_eq!(parse_interval(interval_code(i)), Some(i));
        }
        for t in [Timing::InAdvance, Timing::InArrears] {
            assert_eq!(parse_timing(timing_code(t)), Some(t));
        }
        assert_eq!(parse_interval("DAY"), None);
    }
}
