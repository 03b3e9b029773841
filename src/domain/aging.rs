//! AR aging buckets: days past due = as-of date − due date; ≤ 0 is current,
//! then 1–30, 31–60, 61–90 and over 90. The SQL report is generated from
//! [`Bucket::due_range`], so the boundaries exist once, here.

use chrono::{Duration, NaiveDate};

use super::amount::Amount;
use super::money::MoneyError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Bucket {
    Current,
    Days1To30,
    Days31To60,
    Days61To90,
    Over90,
}

impl Bucket {
    /// In report order.
    pub const ALL: [Bucket; 5] = [
        Bucket::Current,
        Bucket::Days1To30,
        Bucket::Days31To60,
        Bucket::Days61To90,
        Bucket::Over90,
    ];

    /// The most days past due of each bucket but the last.
    const LAST_DAY: [i64; 4] = [0, 30, 60, 90];

    pub fn of_days(days_past_due: i64) -> Bucket {
        let n = Self::LAST_DAY
            .iter()
            .position(|last| days_past_due <= *last)
            .unwrap_or(Self::LAST_DAY.len());
        Self::ALL[n]
    }

    /// The bucket of an invoice due on `due`, as of `as_of`.
    pub fn of(as_of: NaiveDate, due: NaiveDate) -> Bucket {
        Bucket::of_days(days_past_due(as_of, due))
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|b| *b == self).unwrap_or(0)
    }

    /// The due dates of this bucket as of `as_of`: `(from, before)`, due on
    /// or after `from` (none: no lower bound) and before `before` (none: no
    /// upper bound). Dates, so SQL compares dates without date arithmetic
    /// (which differs between the databases).
    pub fn due_range(self, as_of: NaiveDate) -> (Option<NaiveDate>, Option<NaiveDate>) {
        let n = self.index();
        // due ≥ as_of − last day  ⇔  days past due ≤ last day.
        let from = Self::LAST_DAY
            .get(n)
            .map(|last| as_of - Duration::days(*last));
        let before = n
            .checked_sub(1)
            .map(|prev| as_of - Duration::days(Self::LAST_DAY[prev]));
        (from, before)
    }

    /// The label an invoice row of the report shows.
    pub fn label(self) -> &'static str {
        match self {
            Bucket::Current => "current",
            Bucket::Days1To30 => "1-30",
            Bucket::Days31To60 => "31-60",
            Bucket::Days61To90 => "61-90",
            Bucket::Over90 => "90+",
        }
    }
}

pub fn days_past_due(as_of: NaiveDate, due: NaiveDate) -> i64 {
    (as_of - due).num_days()
}

/// What is owed per bucket (in [`Bucket::ALL`] order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Buckets(pub [Amount; 5]);

impl Buckets {
    pub fn get(&self, bucket: Bucket) -> Amount {
        self.0[bucket.index()]
    }

    /// The sum of all buckets; `Overflow` beyond the storage range.
    pub fn total(&self) -> Result<Amount, MoneyError> {
        Amount::sum(self.0)
    }

    /// Adds `other` bucket by bucket; `Overflow` (and self unchanged) when
    /// a bucket or the total would leave the storage range.
    pub fn checked_add(&mut self, other: &Buckets) -> Result<(), MoneyError> {
        let mut sum = *self;
        for (s, o) in sum.0.iter_mut().zip(other.0) {
            *s = s.checked_add(o)?;
        }
        sum.total()?;
        *self = sum;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn buckets_follow_days_past_due() {
        let cases = [
            (-5, Bucket::Current),
            (0, Bucket::Current),
            (1, Bucket::Days1To30),
            (30, Bucket::Days1To30),
            (31, Bucket::Days31To60),
            (60, Bucket::Days31To60),
            (61, Bucket::Days61To90),
            (90, Bucket::Days61To90),
            (91, Bucket::Over90),
        ];
        for (days, bucket) in cases {
            assert_eq!(Bucket::of_days(days), bucket, "AR aging: {days} days");
        }
    }

    #[test]
    fn due_ranges_hold_exactly_the_due_dates_of_their_bucket() {
        let as_of = date(2026, 3, 1);
        for days in -10..200 {
            let due = as_of - Duration::days(days);
            let holding: Vec<Bucket> = Bucket::ALL
                .into_iter()
                .filter(|b| {
                    let (from, before) = b.due_range(as_of);
                    from.is_none_or(|f| due >= f) && before.is_none_or(|b| due < b)
                })
                .collect();
            assert_eq!(
                holding,
                [Bucket::of(as_of, due)],
                "AR aging: the SQL ranges and the Rust rule agree at {days} days"
            );
        }
    }

    #[test]
    fn bucket_sums_are_checked() {
        let one = Amount::from_e4(1);
        let mut b = Buckets([one; 5]);
        assert_eq!(b.total(), Ok(Amount::from_e4(5)));
        let huge = Buckets([
            Amount::from_e4(i64::MAX),
            Amount::ZERO,
            Amount::ZERO,
            Amount::ZERO,
            Amount::ZERO,
        ]);
        assert_eq!(b.checked_add(&huge), Err(MoneyError::Overflow));
        assert_eq!(b.total(), Ok(Amount::from_e4(5)), "unchanged on overflow");
    }
}
