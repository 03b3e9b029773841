//! Cron schedules of scheduled jobs: strict 5-field expressions (named
//! weekdays and months allowed) evaluated in the job's IANA timezone, so a
//! daylight-saving change neither skips nor doubles a firing.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

use super::error::DomainError;

pub fn parse(expr: &str) -> Result<Cron, DomainError> {
    let expr = expr.trim();
    if expr.split_whitespace().count() != 5 {
        return Err(DomainError::new(
            "cron",
            "must have 5 fields: minute hour day-of-month month day-of-week (e.g. \"0 6 * * MON\")",
        ));
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| DomainError::new("cron", format!("invalid cron expression: {e}")))
}

/// The first firing strictly after `after`, in UTC.
pub fn next_after(cron: &Cron, tz: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    cron.find_next_occurrence(&after.with_timezone(&tz), false)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Firings in (`from`, `to`], counted up to `limit`.
pub fn count_between(
    cron: &Cron,
    tz: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: usize,
) -> usize {
    let mut n = 0;
    let mut cursor = from;
    while n < limit {
        match next_after(cron, tz, cursor) {
            Some(t) if t <= to => {
                n += 1;
                cursor = t;
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn utc(y: i32, m: u32, d: u32, h: u32, min: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, min, 0)
            .single()
            .expect("valid time")
    }

    #[test]
    fn weekly_monday_six_in_tallinn_follows_the_october_dst_change() {
        let cron = parse("0 6 * * MON").expect("valid");
        let tz: Tz = "Europe/Tallinn".parse().expect("tz");
        // 2026-10-25 (Sunday) clocks go back: UTC+3 before, UTC+2 after.
        let first = next_after(&cron, tz, utc(2026, 10, 18, 0, 0)).expect("next");
        assert_eq!(first, utc(2026, 10, 19, 3, 0), "06:00 EEST is 03:00 UTC");
        let second = next_after(&cron, tz, first).expect("next");
        assert_eq!(
            second,
            utc(2026, 10, 26, 4, 0),
            "06:00 EET is 04:00 UTC: one week later, not skipped or doubled"
        );
        assert_eq!(
            count_between(
                &cron,
                tz,
                utc(2026, 10, 18, 0, 0),
                utc(2026, 11, 1, 0, 0),
                10
            ),
            2
        );
    }

    #[test]
    fn malformed_expressions_are_refused_naming_the_field() {
        for bad in [
            "",
            "* * * *",
            "0 0 6 * * MON",
            "61 * * * *",
            "0 6 * * FUNDAY",
            "@weekly x",
        ] {
            let err = parse(bad).expect_err(bad);
            assert_eq!(err.field, "cron");
        }
        assert!(parse("*/15 8-17 * * MON-FRI").is_ok());
    }
}
