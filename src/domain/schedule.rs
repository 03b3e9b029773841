//! Billing schedules: how a subscription's service time is cut into billing
//! periods, when each period is billed (in advance or in arrears), how an end
//! date shortens the last period, and which periods are due as of a given day.
//!
//! Dates are calendar dates (`NaiveDate`) with no time zone; resolving "today"
//! in the customer's zone is the caller's job.

use chrono::{Days, Months, NaiveDate};
use thiserror::Error;

/// Upper bound on `interval_count`, so that "every 1000 years" is the silliest
/// schedule that can exist and period arithmetic stays far from date limits.
pub const MAX_INTERVAL_COUNT: u32 = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Week,
    Month,
    Quarter,
    Year,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timing {
    /// Billed on the first day of the period it pays for.
    InAdvance,
    /// Billed on the day after the period (as cut by the end date) is over.
    InArrears,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ScheduleError {
    #[error("interval count must be between 1 and {MAX_INTERVAL_COUNT}, got {0}")]
    InvalidIntervalCount(u32),
    #[error("end date {end} is before start date {start}")]
    EndBeforeStart { start: NaiveDate, end: NaiveDate },
}

/// The fields are public for reading and for building from stored rows;
/// [`Schedule::new`] is the validating constructor, and every method stays
/// panic-free (returning no periods) on a schedule that bypassed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    pub start: NaiveDate,
    /// Last day of service, inclusive.
    pub end: Option<NaiveDate>,
    pub interval: Interval,
    pub interval_count: u32,
    pub timing: Timing,
}

/// One billing period. `index` 0 is the period that begins on the start date.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    pub index: u32,
    pub start: NaiveDate,
    /// Last day billed, inclusive: the end date if it cuts this period.
    pub end: NaiveDate,
    /// Last day of the uncut period, inclusive; the proration denominator.
    pub full_end: NaiveDate,
    pub billing_date: NaiveDate,
}

impl Period {
    pub fn days_billed(&self) -> i64 {
        (self.end - self.start).num_days() + 1
    }

    pub fn days_in_full_period(&self) -> i64 {
        (self.full_end - self.start).num_days() + 1
    }

    pub fn is_prorated(&self) -> bool {
        self.end < self.full_end
    }
}

/// Length of one period in the unit chrono can add without ambiguity.
enum Step {
    Days(u64),
    Months(u64),
}

impl Schedule {
    pub fn new(
        start: NaiveDate,
        end: Option<NaiveDate>,
        interval: Interval,
        interval_count: u32,
        timing: Timing,
    ) -> Result<Self, ScheduleError> {
        if !(1..=MAX_INTERVAL_COUNT).contains(&interval_count) {
            return Err(ScheduleError::InvalidIntervalCount(interval_count));
        }
        if let Some(end) = end {
            if end < start {
                return Err(ScheduleError::EndBeforeStart { start, end });
            }
        }
        Ok(Self {
            start,
            end,
            interval,
            interval_count,
            timing,
        })
    }

    fn step(&self) -> Step {
        let count = u64::from(self.interval_count);
        match self.interval {
            Interval::Week => Step::Days(7 * count),
            Interval::Month => Step::Months(count),
            Interval::Quarter => Step::Months(3 * count),
            Interval::Year => Step::Months(12 * count),
        }
    }

    /// `start + k × interval`, or `None` once that leaves chrono's date range.
    ///
    /// Always computed from the original start rather than from the previous
    /// period: chrono clamps Jan 31 + 1 month to Feb 28, and chaining from
    /// there would pin every later period to the 28th.
    pub fn period_start(&self, k: u32) -> Option<NaiveDate> {
        // A zero count would make every period start on the same day and the
        // due-period iteration spin through all u32 indices.
        if self.interval_count == 0 {
            return None;
        }
        match self.step() {
            Step::Days(days) => self
                .start
                .checked_add_days(Days::new(days.checked_mul(u64::from(k))?)),
            Step::Months(months) => {
                let total = u32::try_from(months.checked_mul(u64::from(k))?).ok()?;
                self.start.checked_add_months(Months::new(total))
            }
        }
    }

    /// Period `k`, or `None` if it would start after the end date.
    pub fn period(&self, k: u32) -> Option<Period> {
        let start = self.period_start(k)?;
        if self.end.is_some_and(|end| start > end) {
            return None;
        }
        let full_end = self.period_start(k.checked_add(1)?)?.pred_opt()?;
        let end = match self.end {
            Some(end) => end.min(full_end),
            None => full_end,
        };
        let billing_date = match self.timing {
            Timing::InAdvance => start,
            Timing::InArrears => end.succ_opt()?,
        };
        Some(Period {
            index: k,
            start,
            end,
            full_end,
            billing_date,
        })
    }

    /// Periods from `from_index` on whose billing date is on or before
    /// `as_of`, in order. Yields several when runs were missed, so that a
    /// catch-up run bills each of them once.
    ///
    /// Billing dates increase with the index, so the first period not yet due
    /// ends the walk.
    pub fn due_periods(&self, from_index: u32, as_of: NaiveDate) -> impl Iterator<Item = Period> {
        let schedule = *self;
        (from_index..=u32::MAX)
            .map_while(move |k| schedule.period(k))
            .take_while(move |period| period.billing_date <= as_of)
    }

    /// Billing date of period `from_index`, or `None` if there is no such
    /// period (the schedule has ended).
    pub fn next_billing_date(&self, from_index: u32) -> Option<NaiveDate> {
        self.period(from_index).map(|period| period.billing_date)
    }
}

#[cfg(test)]
#[path = "schedule_tests.rs"]
mod tests;
