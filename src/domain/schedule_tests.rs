//! Unit tests and property tests for `schedule.rs`.

use super::*;
use chrono::Datelike;
use proptest::prelude::*;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn sched(start: NaiveDate, end: Option<NaiveDate>, interval: Interval, count: u32) -> Schedule {
    Schedule::new(start, end, interval, count, Timing::InAdvance).unwrap()
}

fn starts(schedule: &Schedule, n: u32) -> Vec<NaiveDate> {
    (0..n).map(|k| schedule.period_start(k).unwrap()).collect()
}

#[test]
fn monthly_from_jan_31_clamps_without_drifting() {
    let s = sched(date(2025, 1, 31), None, Interval::Month, 1);
    assert_eq!(
        starts(&s, 5),
        [
            date(2025, 1, 31),
            date(2025, 2, 28),
            date(2025, 3, 31),
            date(2025, 4, 30),
            date(2025, 5, 31)
        ]
    );
    let first = s.period(0).unwrap();
    assert_eq!(first.full_end, date(2025, 2, 27));
    assert_eq!(first.days_in_full_period(), 28);
    let second = s.period(1).unwrap();
    assert_eq!(
        (second.start, second.end),
        (date(2025, 2, 28), date(2025, 3, 30))
    );
    assert_eq!(second.days_in_full_period(), 31);
}

#[test]
fn monthly_from_jan_31_in_leap_year() {
    let s = sched(date(2024, 1, 31), None, Interval::Month, 1);
    assert_eq!(
        starts(&s, 4),
        [
            date(2024, 1, 31),
            date(2024, 2, 29),
            date(2024, 3, 31),
            date(2024, 4, 30)
        ]
    );
    assert_eq!(s.period(0).unwrap().days_in_full_period(), 29);
}

#[test]
fn yearly_from_feb_29() {
    let s = sched(date(2024, 2, 29), None, Interval::Year, 1);
    assert_eq!(
        starts(&s, 6),
        [
            date(2024, 2, 29),
            date(2025, 2, 28),
            date(2026, 2, 28),
            date(2027, 2, 28),
            date(2028, 2, 29),
            date(2029, 2, 28)
        ]
    );
    let first = s.period(0).unwrap();
    assert_eq!(first.full_end, date(2025, 2, 27));
    assert_eq!(first.days_in_full_period(), 365);
    assert_eq!(s.period(3).unwrap().days_in_full_period(), 366);
}

#[test]
fn weekly_every_two_weeks() {
    let s = sched(date(2025, 3, 3), None, Interval::Week, 2);
    let p0 = s.period(0).unwrap();
    let p1 = s.period(1).unwrap();
    assert_eq!((p0.start, p0.end), (date(2025, 3, 3), date(2025, 3, 16)));
    assert_eq!((p1.start, p1.end), (date(2025, 3, 17), date(2025, 3, 30)));
    assert_eq!(p0.days_in_full_period(), 14);
    assert!(!p0.is_prorated());
}

#[test]
fn quarterly_is_counted_from_the_original_start() {
    let s = sched(date(2024, 11, 30), None, Interval::Quarter, 1);
    assert_eq!(
        starts(&s, 5),
        [
            date(2024, 11, 30),
            date(2025, 2, 28),
            date(2025, 5, 30),
            date(2025, 8, 30),
            date(2025, 11, 30)
        ]
    );
    let half_yearly = sched(date(2025, 1, 15), None, Interval::Quarter, 2);
    assert_eq!(half_yearly.period_start(1), Some(date(2025, 7, 15)));
    assert_eq!(half_yearly.period_start(2), Some(date(2026, 1, 15)));
}

#[test]
fn billing_dates_in_advance_and_in_arrears() {
    let start = date(2025, 1, 15);
    let end = Some(date(2025, 3, 20));
    let advance = Schedule::new(start, end, Interval::Month, 1, Timing::InAdvance).unwrap();
    let arrears = Schedule::new(start, end, Interval::Month, 1, Timing::InArrears).unwrap();
    assert_eq!(advance.next_billing_date(0), Some(date(2025, 1, 15)));
    assert_eq!(advance.next_billing_date(2), Some(date(2025, 3, 15)));
    assert_eq!(arrears.next_billing_date(0), Some(date(2025, 2, 15)));
    assert_eq!(arrears.next_billing_date(1), Some(date(2025, 3, 15)));
    // The cut last period is billed the day after the end date.
    assert_eq!(arrears.next_billing_date(2), Some(date(2025, 3, 21)));
    assert_eq!(arrears.next_billing_date(3), None);
}

#[test]
fn end_date_cuts_mid_period() {
    let s = sched(
        date(2025, 1, 1),
        Some(date(2025, 3, 10)),
        Interval::Month,
        1,
    );
    let last = s.period(2).unwrap();
    assert_eq!(
        (last.start, last.end),
        (date(2025, 3, 1), date(2025, 3, 10))
    );
    assert_eq!(last.full_end, date(2025, 3, 31));
    assert_eq!((last.days_billed(), last.days_in_full_period()), (10, 31));
    assert!(last.is_prorated());
    assert!(!s.period(1).unwrap().is_prorated());
    assert_eq!(s.period(3), None);
}

#[test]
fn end_date_on_period_boundary_adds_no_empty_period() {
    let s = Schedule::new(
        date(2025, 1, 1),
        Some(date(2025, 1, 31)),
        Interval::Month,
        1,
        Timing::InArrears,
    )
    .unwrap();
    let only = s.period(0).unwrap();
    assert!(!only.is_prorated());
    assert_eq!(only.days_billed(), 31);
    assert_eq!(s.period(1), None);
    let due: Vec<_> = s.due_periods(0, date(2030, 1, 1)).collect();
    assert_eq!(due, [only]);
    assert_eq!(only.billing_date, date(2025, 2, 1));
}

#[test]
fn end_date_equal_to_start_bills_one_day() {
    let s = sched(
        date(2025, 6, 10),
        Some(date(2025, 6, 10)),
        Interval::Week,
        1,
    );
    let only = s.period(0).unwrap();
    assert_eq!(
        (only.start, only.end),
        (date(2025, 6, 10), date(2025, 6, 10))
    );
    assert_eq!((only.days_billed(), only.days_in_full_period()), (1, 7));
    assert!(only.is_prorated());
    assert_eq!(s.period(1), None);
    assert_eq!(s.due_periods(0, date(2026, 1, 1)).count(), 1);
}

#[test]
fn due_periods_catches_up_missed_runs() {
    let s = sched(date(2025, 1, 1), None, Interval::Month, 1);
    let due: Vec<u32> = s
        .due_periods(0, date(2025, 4, 15))
        .map(|p| p.index)
        .collect();
    assert_eq!(due, [0, 1, 2, 3]);
    assert_eq!(s.due_periods(4, date(2025, 4, 30)).count(), 0);
    assert_eq!(s.next_billing_date(4), Some(date(2025, 5, 1)));
    assert_eq!(s.due_periods(0, date(2024, 12, 31)).count(), 0);

    let arrears = Schedule::new(
        date(2025, 1, 1),
        None,
        Interval::Month,
        1,
        Timing::InArrears,
    )
    .unwrap();
    assert_eq!(arrears.due_periods(0, date(2025, 1, 31)).count(), 0);
    let due: Vec<u32> = arrears
        .due_periods(0, date(2025, 2, 1))
        .map(|p| p.index)
        .collect();
    assert_eq!(due, [0]);
}

#[test]
fn constructor_validates() {
    let start = date(2025, 1, 1);
    for count in [0, MAX_INTERVAL_COUNT + 1] {
        assert_eq!(
            Schedule::new(start, None, Interval::Month, count, Timing::InAdvance),
            Err(ScheduleError::InvalidIntervalCount(count))
        );
    }
    let end = date(2024, 12, 31);
    assert_eq!(
        Schedule::new(start, Some(end), Interval::Month, 1, Timing::InAdvance),
        Err(ScheduleError::EndBeforeStart { start, end })
    );
    assert!(Schedule::new(start, Some(start), Interval::Year, 1000, Timing::InArrears).is_ok());
}

#[test]
fn date_range_limits_end_the_schedule_instead_of_panicking() {
    let s = sched(date(2000, 1, 1), None, Interval::Year, MAX_INTERVAL_COUNT);
    assert_eq!(s.period_start(u32::MAX), None);
    assert_eq!(s.period(u32::MAX), None);
    let all = s.due_periods(0, NaiveDate::MAX).count();
    assert!(all > 200 && all < 300, "{all}");
    let weekly = sched(NaiveDate::MAX - Days::new(3), None, Interval::Week, 1);
    assert_eq!(weekly.period(0), None);
    assert_eq!(weekly.due_periods(0, NaiveDate::MAX).count(), 0);
}

#[test]
fn unvalidated_schedule_yields_nothing() {
    let zero_count = Schedule {
        start: date(2025, 1, 1),
        end: None,
        interval: Interval::Month,
        interval_count: 0,
        timing: Timing::InAdvance,
    };
    assert_eq!(zero_count.period(0), None);
    assert_eq!(zero_count.due_periods(0, date(2030, 1, 1)).count(), 0);
    let reversed = Schedule {
        end: Some(date(2024, 1, 1)),
        interval_count: 1,
        ..zero_count
    };
    assert_eq!(reversed.period(0), None);
}

fn any_date() -> impl Strategy<Value = NaiveDate> {
    let first = date(1990, 1, 1);
    let span = (date(2100, 12, 31) - first).num_days();
    (0..=span).prop_map(move |n| first + chrono::TimeDelta::days(n))
}

fn any_interval() -> impl Strategy<Value = Interval> {
    prop_oneof![
        Just(Interval::Week),
        Just(Interval::Month),
        Just(Interval::Quarter),
        Just(Interval::Year),
    ]
}

fn any_timing() -> impl Strategy<Value = Timing> {
    prop_oneof![Just(Timing::InAdvance), Just(Timing::InArrears)]
}

fn any_schedule(end_days: Option<u64>) -> impl Strategy<Value = Schedule> {
    let end_offset = match end_days {
        Some(max) => (0..=max).prop_map(Some).boxed(),
        None => Just(None).boxed(),
    };
    (
        any_date(),
        end_offset,
        any_interval(),
        1u32..=12,
        any_timing(),
    )
        .prop_map(|(start, end_offset, interval, count, timing)| {
            let end = end_offset.map(|n| start + Days::new(n));
            Schedule::new(start, end, interval, count, timing).unwrap()
        })
}

/// Independent oracle for clamped month arithmetic.
fn add_months_clamped(start: NaiveDate, months: u32) -> NaiveDate {
    let index = start.year() * 12 + start.month0() as i32 + months as i32;
    let (year, month) = (index.div_euclid(12), index.rem_euclid(12) as u32 + 1);
    let first_of_next = if month == 12 {
        date(year + 1, 1, 1)
    } else {
        date(year, month + 1, 1)
    };
    let last_day = first_of_next.pred_opt().unwrap().day();
    date(year, month, start.day().min(last_day))
}

proptest! {
    #[test]
    fn periods_tile_time(schedule in any_schedule(None)) {
        let periods: Vec<Period> = (0..40).map(|k| schedule.period(k).unwrap()).collect();
        prop_assert_eq!(periods[0].start, schedule.start);
        for (k, period) in periods.iter().enumerate() {
            prop_assert_eq!(period.index as usize, k);
            prop_assert!(period.start <= period.end);
            prop_assert_eq!(period.end, period.full_end);
            prop_assert!(period.days_billed() >= 7);
        }
        for pair in periods.windows(2) {
            prop_assert_eq!(Some(pair[1].start), pair[0].full_end.succ_opt());
            prop_assert!(pair[0].billing_date < pair[1].billing_date);
        }
    }

    #[test]
    fn month_based_starts_clamp_from_original_start(
        start in any_date(),
        interval in prop_oneof![Just(Interval::Month), Just(Interval::Quarter), Just(Interval::Year)],
        count in 1u32..=12,
        k in 0u32..200,
    ) {
        let schedule = sched(start, None, interval, count);
        let per = match interval {
            Interval::Month => 1,
            Interval::Quarter => 3,
            _ => 12,
        };
        prop_assert_eq!(
            schedule.period_start(k),
            Some(add_months_clamped(start, k * count * per))
        );
    }

    #[test]
    fn incremental_runs_bill_each_due_period_once(
        schedule in prop_oneof![any_schedule(None), any_schedule(Some(3000))],
        first_offset in -60i64..60,
        steps in prop::collection::vec(0u64..200, 1..20),
    ) {
        let mut as_of = schedule.start + chrono::TimeDelta::days(first_offset);
        let mut next_unbilled = 0u32;
        let mut billed = Vec::new();
        for step in steps {
            as_of = as_of + Days::new(step);
            let run: Vec<Period> = schedule.due_periods(next_unbilled, as_of).collect();
            next_unbilled += run.len() as u32;
            billed.extend(run);
        }
        let one_shot: Vec<Period> = schedule.due_periods(0, as_of).collect();
        prop_assert_eq!(&billed, &one_shot);
        prop_assert!(billed.iter().all(|p| p.billing_date <= as_of));
        if let Some(next) = schedule.period(next_unbilled) {
            prop_assert!(next.billing_date > as_of);
        }
    }

    #[test]
    fn end_date_bounds_the_last_period(schedule in any_schedule(Some(3000))) {
        let end = schedule.end.unwrap();
        let periods: Vec<Period> = (0..).map_while(|k| schedule.period(k)).collect();
        prop_assert!(!periods.is_empty());
        prop_assert!(periods.iter().all(|p| p.start <= end && p.end <= end));
        let last = periods[periods.len() - 1];
        prop_assert_eq!(last.end, end);
        prop_assert!(periods[..periods.len() - 1].iter().all(|p| !p.is_prorated()));
        let days: i64 = periods.iter().map(Period::days_billed).sum();
        prop_assert_eq!(days, (end - schedule.start).num_days() + 1);
    }
}
