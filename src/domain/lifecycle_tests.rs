use chrono::{Days, NaiveDate};
use proptest::prelude::*;
use rust_decimal::Decimal;

use super::*;
use crate::domain::schedule::{Interval, Timing};

fn d(y: i32, m: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, day).expect("date")
}

fn span(from: NaiveDate, to: NaiveDate) -> Span {
    Span::new(from, to).expect("span")
}

fn line(id: i64, price: i64, from: NaiveDate) -> LineTerm {
    LineTerm {
        id,
        description: format!("line {id}"),
        quantity: Decimal::ONE,
        unit_price: Decimal::new(price, 2),
        tax_rate: Decimal::ZERO,
        in_force: Span::from_on(from),
    }
}

fn monthly(start: NaiveDate, timing: Timing) -> Terms {
    let schedule = Schedule::new(start, None, Interval::Month, 1, timing).expect("schedule");
    Terms {
        schedule,
        lines: vec![line(1, 3100, start)],
        pauses: Vec::new(),
        cursor: Cursor::stored(&schedule, 0, None),
    }
}

#[test]
fn a_pause_cuts_a_span_and_its_resume_day_is_billed_again() {
    let march = span(d(2026, 3, 1), d(2026, 3, 31));
    let pause = Pause {
        from: d(2026, 3, 10),
        until: Some(d(2026, 3, 20)),
    };
    assert_eq!(
        unpaused(march, &[pause]),
        vec![
            span(d(2026, 3, 1), d(2026, 3, 9)),
            span(d(2026, 3, 20), d(2026, 3, 31))
        ]
    );
    let open = Pause {
        from: d(2026, 3, 10),
        until: None,
    };
    assert_eq!(
        unpaused(march, &[open]),
        vec![span(d(2026, 3, 1), d(2026, 3, 9))]
    );
    assert!(open.covers(d(2030, 1, 1)));
    assert!(!pause.covers(d(2026, 3, 20)), "the resume day is billed");
}

#[test]
fn a_january_31_contract_paused_across_february_bills_march_from_the_resume_day() {
    // Monthly from Jan 31: periods Jan 31–Feb 27, Feb 28–Mar 30 (anchor kept).
    let mut terms = monthly(d(2026, 1, 31), Timing::InArrears);
    terms.pauses.push(Pause {
        from: d(2026, 2, 1),
        until: Some(d(2026, 3, 15)),
    });
    let first = terms.schedule.period(0).expect("period");
    let second = terms.schedule.period(1).expect("period");
    assert_eq!((first.start, first.end), (d(2026, 1, 31), d(2026, 2, 27)));
    assert_eq!((second.start, second.end), (d(2026, 2, 28), d(2026, 3, 30)));
    // Period 1 bills Jan 31 only: 31.00 × 1/28 = 1.107… → 1.11.
    let billed = pieces(&terms.lines, &terms.pauses, &first, first.start);
    assert_eq!(billed[0].days, span(d(2026, 1, 31), d(2026, 1, 31)));
    let net = piece_net(Decimal::new(3100, 2), billed[0].days, &first, 2).expect("net");
    assert_eq!(net, Decimal::new(111, 2));
    // Period 2 bills Mar 15–30: 16 of 31 days, 31.00 × 16/31 = 16.00.
    let billed = pieces(&terms.lines, &terms.pauses, &second, second.start);
    assert_eq!(billed[0].days, span(d(2026, 3, 15), d(2026, 3, 30)));
    let net = piece_net(Decimal::new(3100, 2), billed[0].days, &second, 2).expect("net");
    assert_eq!(net, Decimal::new(1600, 2));
}

#[test]
fn an_amendment_before_a_day_billed_in_arrears_names_the_field() {
    let mut terms = monthly(d(2026, 1, 1), Timing::InArrears);
    terms.cursor = Cursor {
        next_index: 1,
        billed_through: Some(d(2026, 1, 31)),
    };
    let cancel = Change::Cancel {
        last_day: d(2026, 1, 15),
    };
    let err = terms.apply(&cancel, d(2026, 1, 10)).expect_err("refused");
    assert_eq!(err.field, "effectiveDate");
    let amend = Change::Amend {
        effective: d(2026, 1, 20),
        lines: vec![line(0, 100, d(2026, 1, 20))],
    };
    let err = terms.apply(&amend, d(2026, 2, 3)).expect_err("refused");
    assert_eq!(err.field, "effectiveDate", "not before today");
}

#[test]
fn an_in_advance_amendment_credits_from_its_day_and_rewinds_the_cursor_there() {
    let mut terms = monthly(d(2026, 3, 1), Timing::InAdvance);
    terms.cursor = Cursor {
        next_index: 1,
        billed_through: Some(d(2026, 3, 31)),
    };
    let amend = Change::Amend {
        effective: d(2026, 3, 11),
        lines: vec![line(0, 6200, d(2026, 3, 11))],
    };
    let effect = terms.apply(&amend, d(2026, 3, 5)).expect("amended");
    assert_eq!(effect.credit, Some(Span::from_on(d(2026, 3, 11))));
    assert_eq!(
        effect.terms.cursor,
        Cursor {
            next_index: 0,
            billed_through: Some(d(2026, 3, 10))
        }
    );
    assert_eq!(effect.ended_lines, vec![(1, d(2026, 3, 10))]);
}

/// The engine's walk over due periods (as `plan_contract` does it), adding
/// what it bills to `life`.
fn run(terms: &mut Terms, life: &mut Life, as_of: NaiveDate) {
    let schedule = terms.schedule;
    for period in schedule.due_periods(terms.cursor.next_index, as_of) {
        let first = terms.cursor.first_open_day(&schedule);
        terms.cursor = Cursor {
            next_index: period.index + 1,
            billed_through: Some(period.end),
        };
        for piece in pieces(&terms.lines, &terms.pauses, &period, first) {
            let full = terms
                .lines
                .iter()
                .find(|l| l.id == piece.line_id)
                .map(|l| l.full_net().expect("net"))
                .expect("line");
            let net = piece_net(full, piece.days, &period, 2).expect("net");
            life.invoiced += net;
            life.billed.push(BilledLine {
                invoice_id: life.billed.len() as i64,
                invoice_line_id: life.billed.len() as i64,
                days: piece.days,
                full_net: full,
                period,
                creditable: net,
                credited: Vec::new(),
            });
        }
    }
}

#[derive(Default)]
struct Life {
    billed: Vec<BilledLine>,
    invoiced: Decimal,
    credited: Decimal,
    credit_pieces: usize,
}

impl Life {
    fn credit(&mut self, range: Span) {
        for piece in credits(&self.billed, range, 2).expect("credits") {
            let line = &mut self.billed[piece.invoice_line_id as usize];
            assert!(piece.net <= line.creditable, "never more than is left");
            line.creditable -= piece.net;
            line.credited.push(piece.days);
            self.credited += piece.net;
            self.credit_pieces += 1;
        }
    }
}

fn change_of(kind: u8, today: NaiveDate, offset: i64, length: u64, price: i64, id: i64) -> Change {
    let day = if offset >= 0 {
        today + Days::new(offset as u64)
    } else {
        today - Days::new(offset.unsigned_abs())
    };
    match kind {
        0 => Change::Amend {
            effective: day,
            lines: vec![line(id, price, day)],
        },
        1 => Change::Pause {
            from: day,
            until: (length > 0).then(|| day + Days::new(length)),
        },
        2 => Change::Resume { on: day },
        _ => Change::Cancel { last_day: day },
    }
}

type Step = (u64, u8, i64, u64, i64);

fn lives() -> impl Strategy<Value = (u8, bool, u32, i64, Vec<Step>)> {
    (
        0u8..3,
        any::<bool>(),
        0u32..365,
        100i64..100_000,
        prop::collection::vec(
            (0u64..45, 0u8..4, -10i64..40, 0u64..50, 100i64..100_000),
            1..10,
        ),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Over a contract's life, whatever changes it goes through, what was
    /// invoiced minus what change notes credited is what the final terms
    /// (the lines in force each day, the pauses, the end) bill, to the
    /// rounding of each piece billed or credited.
    #[test]
    fn invoiced_minus_credited_is_what_was_in_force_each_day(
        (interval, in_advance, start_day, price, steps) in lives()
    ) {
        let interval = [Interval::Week, Interval::Month, Interval::Year][interval as usize];
        let timing = if in_advance { Timing::InAdvance } else { Timing::InArrears };
        let start = d(2026, 1, 1) + Days::new(u64::from(start_day));
        let schedule = Schedule::new(start, None, interval, 1, timing).expect("schedule");
        let mut terms = Terms {
            schedule,
            lines: vec![line(1, price, start)],
            pauses: Vec::new(),
            cursor: Cursor::stored(&schedule, 0, None),
        };
        let mut life = Life::default();
        let mut today = start - Days::new(5);
        for (next_id, (wait, kind, offset, length, price)) in (2..).zip(steps) {
            today = today + Days::new(wait);
            run(&mut terms, &mut life, today);
            let change = change_of(kind, today, offset, length, price, next_id);
            if let Ok(effect) = terms.apply(&change, today) {
                if let Some(range) = effect.credit {
                    life.credit(range);
                }
                terms = effect.terms;
            }
        }
        if terms.schedule.end.is_none() {
            let last_day = terms.cursor.first_open_day(&terms.schedule).max(today) + Days::new(60);
            terms = terms.apply(&Change::Cancel { last_day }, today).expect("final cancel").terms;
        }
        let end = terms.schedule.end.expect("an end");
        run(&mut terms, &mut life, end + Days::new(400));
        let mut expected = Decimal::ZERO;
        let mut k = 0;
        while let Some(period) = terms.schedule.period(k) {
            for piece in pieces(&terms.lines, &terms.pauses, &period, period.start) {
                let line = terms.lines.iter().find(|l| l.id == piece.line_id).expect("line");
                expected += piece_net(line.full_net().expect("net"), piece.days, &period, 2).expect("net");
            }
            k += 1;
        }
        let net = life.invoiced - life.credited;
        let tolerance = Decimal::new((life.billed.len() + life.credit_pieces) as i64, 2);
        prop_assert!(
            (net - expected).abs() <= tolerance,
            "invoiced {} − credited {} = {net}, in force {expected} (tolerance {tolerance})",
            life.invoiced, life.credited
        );
    }
}

#[test]
fn the_current_pause_is_the_latest_not_over_and_paused_means_covering_today() {
    let over = Pause {
        from: d(2026, 1, 1),
        until: Some(d(2026, 2, 1)),
    };
    let coming = Pause {
        from: d(2026, 6, 1),
        until: None,
    };
    let today = d(2026, 3, 1);
    assert_eq!(current_pause(&[over, coming], today), Some(coming));
    assert!(
        !paused_on(&[over, coming], today),
        "a pause to come is not in force"
    );
    assert!(paused_on(&[over, coming], d(2026, 7, 1)));
    assert_eq!(
        current_pause(&[over], today),
        None,
        "a pause over by today is not shown"
    );
}
