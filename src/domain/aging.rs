//! AR aging buckets: days past due = as-of date − due date; ≤ 0 is current,
//! then 1–30, 31–60, 61–90 and over 90. The SQL report is generated from
//! [`Bucket::due_range`], so the boundaries exist once, here.

use chrono::{Duration, NaiveDate};

use super::amount::Amount;
use super::money::MoneyError;
use super::DomainError;

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

/// How a page of the report's rows is ordered. Every order ends with the
/// customer id, so equal keys never swap between two requests and paging
/// by offset reaches each row exactly once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum AgingOrder {
    #[default]
    CustomerName,
    TotalDesc,
    Over90Desc,
}

/// A validated request for one page of the report's rows.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct RowPage {
    pub offset: u64,
    pub limit: u64,
    pub order: AgingOrder,
    /// Lower-cased; rows whose customer name contains it (any case).
    pub search: Option<String>,
}

impl RowPage {
    pub const DEFAULT_LIMIT: u64 = 50;
    pub const MAX_LIMIT: u64 = 100;
    /// Longer searches are refused rather than sent to the database.
    pub const MAX_SEARCH_CHARS: usize = 200;

    /// The page asked for: offset 0, 50 rows, by customer name unless told;
    /// an empty search is no search.
    pub fn new(
        offset: Option<i32>,
        limit: Option<i32>,
        order: Option<AgingOrder>,
        search: Option<&str>,
    ) -> Result<RowPage, DomainError> {
        let offset = u64::try_from(offset.unwrap_or(0))
            .map_err(|_| DomainError::new("offset", "must not be negative"))?;
        let limit = match limit {
            None => Self::DEFAULT_LIMIT,
            Some(n) => u64::try_from(n)
                .ok()
                .filter(|n| *n <= Self::MAX_LIMIT)
                .ok_or_else(|| {
                    DomainError::new("limit", format!("must be 0 to {}", Self::MAX_LIMIT))
                })?,
        };
        let search = search.filter(|s| !s.is_empty());
        if search.is_some_and(|s| s.chars().count() > Self::MAX_SEARCH_CHARS) {
            let message = format!("at most {} characters", Self::MAX_SEARCH_CHARS);
            return Err(DomainError::new("customerSearch", message));
        }
        Ok(RowPage {
            offset,
            limit,
            order: order.unwrap_or_default(),
            search: search.map(str::to_lowercase),
        })
    }

    /// Where the next page starts, when rows remain after this one.
    pub fn next_offset(&self, returned: usize, total: u64) -> Option<u64> {
        let next = self.offset.checked_add(u64::try_from(returned).ok()?)?;
        (returned > 0 && next < total).then_some(next)
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

    #[test]
    fn a_row_page_refuses_negative_offsets_and_limits_above_the_maximum() {
        let field = |r: Result<RowPage, DomainError>| r.map_err(|e| e.field);
        assert_eq!(
            field(RowPage::new(Some(-1), None, None, None)),
            Err("offset".into())
        );
        assert_eq!(
            field(RowPage::new(None, Some(101), None, None)),
            Err("limit".into())
        );
        assert_eq!(
            field(RowPage::new(None, Some(-1), None, None)),
            Err("limit".into())
        );
        let long = "x".repeat(RowPage::MAX_SEARCH_CHARS + 1);
        assert_eq!(
            field(RowPage::new(None, None, None, Some(&long))),
            Err("customerSearch".into())
        );
        let page = RowPage::new(None, Some(100), None, Some("AcMe")).expect("valid");
        assert_eq!((page.offset, page.limit), (0, 100));
        assert_eq!(
            page.search.as_deref(),
            Some("acme"),
            "search is case-insensitive"
        );
        let defaults = RowPage::new(None, None, None, Some("")).expect("valid");
        assert_eq!(defaults.limit, RowPage::DEFAULT_LIMIT);
        assert_eq!(defaults.order, AgingOrder::CustomerName);
        assert_eq!(defaults.search, None, "an empty search is no search");
    }

    #[test]
    fn next_offset_is_set_only_while_rows_remain() {
        let page = RowPage::new(Some(40), Some(20), None, None).expect("valid");
        assert_eq!(page.next_offset(20, 100), Some(60));
        assert_eq!(page.next_offset(20, 60), None, "the last page");
        assert_eq!(page.next_offset(0, 30), None, "beyond the end");
    }
}
