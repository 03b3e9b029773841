//! Contract lifecycle (DESIGN.md, Contract lifecycle): which days of a
//! period are billed under which line, and what a change (amend, pause,
//! resume, cancel) credits and re-opens. Pure: the billing run and the
//! lifecycle service both call it, and the property test at the end drives
//! it through random lives of a contract.
//!
//! The model. A contract has line versions, each in force on a span of
//! days; pauses (days from `from` up to the day before `until`); and a
//! cursor: `billed_through`, the last day the run has passed. The days a
//! contract has billed, net of what its change credit notes credited, are
//! always the days up to `billed_through` that were in force and not
//! paused. A change keeps that true: it credits the billed days it takes
//! away, and when it adds days at or before `billed_through` (new lines, a
//! resume) it credits everything billed from that day and moves the cursor
//! back, so the next run bills those days again under the new terms, keyed
//! by the contract's new version (migration m0007).

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::money::{self, MoneyError};
use super::schedule::{Period, Schedule};

/// Days `from..=to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub from: NaiveDate,
    pub to: NaiveDate,
}

impl Span {
    /// `None` when `to` is before `from`.
    pub fn new(from: NaiveDate, to: NaiveDate) -> Option<Self> {
        (from <= to).then_some(Self { from, to })
    }

    /// From `from` on, with no last day.
    pub fn from_on(from: NaiveDate) -> Self {
        Self {
            from,
            to: NaiveDate::MAX,
        }
    }

    pub fn days(&self) -> i64 {
        (self.to - self.from).num_days() + 1
    }

    pub fn intersect(&self, other: &Span) -> Option<Span> {
        Span::new(self.from.max(other.from), self.to.min(other.to))
    }

    /// `self` without the days of `cut`: none, one or two spans.
    pub fn minus(&self, cut: &Span) -> Vec<Span> {
        if self.intersect(cut).is_none() {
            return vec![*self];
        }
        let before = cut.from.pred_opt().and_then(|d| Span::new(self.from, d));
        let after = cut.to.succ_opt().and_then(|d| Span::new(d, self.to));
        before.into_iter().chain(after).collect()
    }
}

/// `spans` without the days of every span in `cuts`.
pub fn subtract(spans: Vec<Span>, cuts: &[Span]) -> Vec<Span> {
    cuts.iter().fold(spans, |left, cut| {
        left.iter().flat_map(|s| s.minus(cut)).collect()
    })
}

/// Days not billed: `from` up to the day before `until` (open-ended while
/// `until` is `None`); `until`, the resume day, is billed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pause {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

impl Pause {
    /// The paused days; `None` for a pause that ends as it starts.
    pub fn span(&self) -> Option<Span> {
        match self.until {
            None => Some(Span::from_on(self.from)),
            Some(until) => until.pred_opt().and_then(|last| Span::new(self.from, last)),
        }
    }

    pub fn covers(&self, day: NaiveDate) -> bool {
        self.span().is_some_and(|s| s.from <= day && day <= s.to)
    }
}

/// Whether a pause (oldest first, as stored) covers `today`: the contract
/// is PAUSED then.
pub fn paused_on(pauses: &[Pause], today: NaiveDate) -> bool {
    pauses.iter().any(|p| p.covers(today))
}

/// The latest pause not over by `today`, in force or to come: what
/// `pausedFrom` / `pausedUntil` show.
pub fn current_pause(pauses: &[Pause], today: NaiveDate) -> Option<Pause> {
    pauses
        .iter()
        .rev()
        .find(|p| p.until.is_none_or(|u| u > today))
        .copied()
}

/// The days of `span` that no pause covers.
pub fn unpaused(span: Span, pauses: &[Pause]) -> Vec<Span> {
    let cuts: Vec<Span> = pauses.iter().filter_map(Pause::span).collect();
    subtract(vec![span], &cuts)
}

/// One piece of a line billed (or credited): the days, and their net, which
/// is the full-period net prorated by days and rounded, or the full net
/// exactly when the days are the whole uncut period.
pub fn piece_net(
    full: Decimal,
    days: Span,
    period: &Period,
    minor_units: u32,
) -> Result<Decimal, MoneyError> {
    if days.from == period.start && days.to == period.full_end {
        return Ok(money::round_money(full, minor_units));
    }
    money::prorate(full, days.days(), period.days_in_full_period(), minor_units)
}

/// The period of `schedule` that holds `day` (ignoring the end date for
/// the day itself, so a day after the end still finds the period it would
/// have been in); `None` before the start or past chrono's range.
pub fn period_holding(schedule: &Schedule, day: NaiveDate) -> Option<Period> {
    if day < schedule.start {
        return None;
    }
    let open = Schedule {
        end: None,
        ..*schedule
    };
    let mut k = 0u32;
    loop {
        let next_start = open.period_start(k.checked_add(1)?)?;
        if next_start > day {
            let period = open.period(k)?;
            return Some(Period {
                end: schedule.end.map_or(period.end, |e| e.min(period.end)),
                ..period
            });
        }
        k += 1;
    }
}

/// Where the run stands on a contract: the first period not yet passed
/// and the last day passed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub next_index: u32,
    /// `None`: nothing passed yet (before the first period).
    pub billed_through: Option<NaiveDate>,
}

impl Cursor {
    /// From the stored columns; a NULL `billed_through` means the day before
    /// period `next_index` starts (contracts billed before m0007).
    pub fn stored(schedule: &Schedule, next_index: u32, billed_through: Option<NaiveDate>) -> Self {
        let billed_through = billed_through.or_else(|| {
            (next_index > 0)
                .then(|| schedule.period_start(next_index))
                .flatten()
                .and_then(|d| d.pred_opt())
        });
        Self {
            next_index,
            billed_through,
        }
    }

    /// The first day not passed yet.
    pub fn first_open_day(&self, schedule: &Schedule) -> NaiveDate {
        self.billed_through
            .and_then(|d| d.succ_opt())
            .unwrap_or(schedule.start)
    }

    /// The cursor moved back so that `day` is the first day not passed;
    /// unchanged when `day` is not passed yet.
    pub fn rewound_to(self, schedule: &Schedule, day: NaiveDate) -> Self {
        if day >= self.first_open_day(schedule) {
            return self;
        }
        if day <= schedule.start {
            return Self {
                next_index: 0,
                billed_through: None,
            };
        }
        let next_index = period_holding(schedule, day).map_or(self.next_index, |p| p.index);
        Self {
            next_index: next_index.min(self.next_index),
            billed_through: day.pred_opt(),
        }
    }

    /// Past every period whose days are all passed (after the end date cut
    /// the schedule short), so the next billing date is a real one.
    pub fn normalized(self, schedule: &Schedule) -> Self {
        let mut next = self;
        while let (Some(period), Some(through)) =
            (schedule.period(next.next_index), next.billed_through)
        {
            if period.end > through {
                break;
            }
            next.next_index += 1;
        }
        next
    }
}

/// One contract line version as the engine prices it.
#[derive(Clone, Debug)]
pub struct LineTerm {
    pub id: i64,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Percent; zero when the line has no tax code.
    pub tax_rate: Decimal,
    /// The days this version is in force.
    pub in_force: Span,
}

impl LineTerm {
    pub fn full_net(&self) -> Result<Decimal, MoneyError> {
        self.quantity
            .checked_mul(self.unit_price)
            .ok_or(MoneyError::Overflow)
    }
}

/// A piece of a line to bill: the line version and its days in one period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Piece {
    pub line_id: i64,
    pub days: Span,
}

/// What a period bills from `first_day` (the cursor's first open day, or
/// the period start): per line version in force, its unpaused days, one
/// piece per run of consecutive days. Empty when nothing is billable.
pub fn pieces(
    lines: &[LineTerm],
    pauses: &[Pause],
    period: &Period,
    first_day: NaiveDate,
) -> Vec<Piece> {
    let Some(open) = Span::new(first_day.max(period.start), period.end) else {
        return Vec::new();
    };
    lines
        .iter()
        .filter_map(|line| line.in_force.intersect(&open).map(|w| (line.id, w)))
        .flat_map(|(line_id, window)| {
            unpaused(window, pauses)
                .into_iter()
                .map(move |days| Piece { line_id, days })
        })
        .collect()
}

/// A billed invoice line of the contract, with what change notes credited.
#[derive(Clone, Debug)]
pub struct BilledLine {
    pub invoice_id: i64,
    pub invoice_line_id: i64,
    pub days: Span,
    /// The full-period net of the line version billed (quantity × price).
    pub full_net: Decimal,
    /// The period the days belong to (for the proration denominator).
    pub period: Period,
    /// Net billed minus everything any note credited on this line.
    pub creditable: Decimal,
    /// Days already credited by issued change notes.
    pub credited: Vec<Span>,
}

/// A line of a change credit note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditPiece {
    pub invoice_id: i64,
    pub invoice_line_id: i64,
    pub days: Span,
    pub net: Decimal,
}

/// What crediting the billed days in `range` takes back, per billed line:
/// the days not credited yet, each run of them prorated like the bill was.
/// Crediting every day still billed on a line credits exactly what is left
/// of it, so a full reversal nets to zero whatever the rounding.
pub fn credits(
    billed: &[BilledLine],
    range: Span,
    minor_units: u32,
) -> Result<Vec<CreditPiece>, MoneyError> {
    let mut out = Vec::new();
    for line in billed {
        let Some(window) = line.days.intersect(&range) else {
            continue;
        };
        let still_billed = subtract(vec![line.days], &line.credited);
        let taken = subtract(vec![window], &line.credited);
        let all_left = taken.iter().map(Span::days).sum::<i64>()
            == still_billed.iter().map(Span::days).sum::<i64>();
        let mut left = line.creditable;
        for (i, days) in taken.iter().enumerate() {
            let prorated = piece_net(line.full_net, *days, &line.period, minor_units)?;
            let net = if all_left && i + 1 == taken.len() {
                left
            } else {
                prorated.min(left)
            };
            left -= net;
            if net > Decimal::ZERO {
                out.push(CreditPiece {
                    invoice_id: line.invoice_id,
                    invoice_line_id: line.invoice_line_id,
                    days: *days,
                    net,
                });
            }
        }
    }
    Ok(out)
}

/// A contract's billing terms: schedule (with its end date), line versions,
/// pauses and cursor.
#[derive(Clone, Debug)]
pub struct Terms {
    pub schedule: Schedule,
    pub lines: Vec<LineTerm>,
    pub pauses: Vec<Pause>,
    pub cursor: Cursor,
}

/// A change to a contract, as asked for.
#[derive(Clone, Debug)]
pub enum Change {
    /// New lines from `effective` on (ids are assigned when stored).
    Amend {
        effective: NaiveDate,
        lines: Vec<LineTerm>,
    },
    Pause {
        from: NaiveDate,
        until: Option<NaiveDate>,
    },
    Resume {
        on: NaiveDate,
    },
    /// The contract's last billed day becomes `last_day`.
    Cancel {
        last_day: NaiveDate,
    },
}

/// A change refused, naming the input field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ChangeError {
    pub field: &'static str,
    pub message: String,
}

fn refuse(field: &'static str, message: impl Into<String>) -> ChangeError {
    ChangeError {
        field,
        message: message.into(),
    }
}

/// What a change does: the new terms, the billed days to credit, and for an
/// amendment the line versions it ends early (id, last day) or drops
/// (never in force).
#[derive(Clone, Debug)]
pub struct Effect {
    pub terms: Terms,
    pub credit: Option<Span>,
    pub ended_lines: Vec<(i64, NaiveDate)>,
    pub dropped_lines: Vec<i64>,
}

impl Terms {
    fn in_arrears(&self) -> bool {
        self.schedule.timing == super::schedule::Timing::InArrears
    }

    /// Days passed in arrears were delivered and invoiced: no change may
    /// take effect on them.
    fn not_billed_in_arrears(
        &self,
        field: &'static str,
        day: NaiveDate,
    ) -> Result<(), ChangeError> {
        let open = self.cursor.first_open_day(&self.schedule);
        if self.in_arrears() && day < open {
            return Err(refuse(
                field,
                format!("days before {open} are already billed in arrears; correct them with a credit note"),
            ));
        }
        Ok(())
    }

    fn within_term(&self, field: &'static str, day: NaiveDate) -> Result<(), ChangeError> {
        if day < self.schedule.start {
            return Err(refuse(
                field,
                format!("the contract starts on {}", self.schedule.start),
            ));
        }
        if let Some(end) = self.schedule.end.filter(|end| day > *end) {
            return Err(refuse(field, format!("the contract ends on {end}")));
        }
        Ok(())
    }

    /// The last day of the period holding `today` (or the start, for a
    /// contract not started yet): where END_OF_TERM ends the contract.
    pub fn end_of_term(&self, today: NaiveDate) -> Option<NaiveDate> {
        let period = period_holding(&self.schedule, today.max(self.schedule.start))?;
        Some(
            self.schedule
                .end
                .map_or(period.full_end, |e| e.min(period.full_end)),
        )
    }

    /// Applies `change` as of `today`, or says which field refuses it.
    pub fn apply(&self, change: &Change, today: NaiveDate) -> Result<Effect, ChangeError> {
        let effect = match change {
            Change::Amend { effective, lines } => self.amend(*effective, lines, today)?,
            Change::Pause { from, until } => self.pause(*from, *until)?,
            Change::Resume { on } => self.resume(*on)?,
            Change::Cancel { last_day } => self.cancel(*last_day)?,
        };
        let mut effect = effect;
        effect.terms.cursor = effect.terms.cursor.normalized(&effect.terms.schedule);
        Ok(effect)
    }

    fn unchanged(&self) -> Effect {
        Effect {
            terms: self.clone(),
            credit: None,
            ended_lines: Vec::new(),
            dropped_lines: Vec::new(),
        }
    }

    /// Billed days from `day` on are credited and billed again.
    fn reopen_from(&self, effect: &mut Effect, day: NaiveDate) {
        if day < self.cursor.first_open_day(&self.schedule) {
            effect.credit = Some(Span::from_on(day));
            effect.terms.cursor = self.cursor.rewound_to(&self.schedule, day);
        }
    }

    fn amend(
        &self,
        effective: NaiveDate,
        lines: &[LineTerm],
        today: NaiveDate,
    ) -> Result<Effect, ChangeError> {
        if effective < today {
            return Err(refuse(
                "effectiveDate",
                format!("must not be before today ({today})"),
            ));
        }
        self.within_term("effectiveDate", effective.max(self.schedule.start))?;
        self.not_billed_in_arrears("effectiveDate", effective)?;
        let mut effect = self.unchanged();
        let effective = effective.max(self.schedule.start);
        let last = self.schedule.end.unwrap_or(NaiveDate::MAX);
        effect.terms.lines.clear();
        for line in &self.lines {
            if line.in_force.from >= effective {
                effect.dropped_lines.push(line.id);
            } else if let Some(kept) = Span::new(
                line.in_force.from,
                line.in_force
                    .to
                    .min(effective.pred_opt().unwrap_or(effective)),
            ) {
                if kept.to < line.in_force.to {
                    effect.ended_lines.push((line.id, kept.to));
                }
                effect.terms.lines.push(LineTerm {
                    in_force: kept,
                    ..line.clone()
                });
            }
        }
        for line in lines {
            let in_force = Span {
                from: effective,
                to: last,
            };
            effect.terms.lines.push(LineTerm {
                in_force,
                ..line.clone()
            });
        }
        self.reopen_from(&mut effect, effective);
        Ok(effect)
    }

    fn pause(&self, from: NaiveDate, until: Option<NaiveDate>) -> Result<Effect, ChangeError> {
        self.within_term("from", from)?;
        self.not_billed_in_arrears("from", from)?;
        let pause = Pause { from, until };
        let Some(days) = pause.span() else {
            return Err(refuse("until", "must be after from"));
        };
        if let Some(other) = self
            .pauses
            .iter()
            .find(|p| p.span().is_some_and(|s| s.intersect(&days).is_some()))
        {
            return Err(refuse(
                "from",
                format!("overlaps the pause from {}", other.from),
            ));
        }
        let mut effect = self.unchanged();
        effect.terms.pauses.push(pause);
        // Billed days now paused are credited; nothing is billed again.
        if days.from < self.cursor.first_open_day(&self.schedule) {
            effect.credit = Some(days);
        }
        Ok(effect)
    }

    fn resume(&self, on: NaiveDate) -> Result<Effect, ChangeError> {
        let Some(at) = self.pauses.iter().position(|p| p.from < on && p.covers(on)) else {
            return Err(refuse("on", format!("the contract is not paused on {on}")));
        };
        self.not_billed_in_arrears("on", on)?;
        let mut effect = self.unchanged();
        let old_until = self.pauses[at].until;
        effect.terms.pauses[at].until = Some(on);
        if on < self.cursor.first_open_day(&self.schedule) {
            // Days after the old resume day were billed: credited, and with
            // the days now resumed billed again from `on`.
            effect.credit = old_until.map(Span::from_on);
            effect.terms.cursor = self.cursor.rewound_to(&self.schedule, on);
        }
        Ok(effect)
    }

    fn cancel(&self, last_day: NaiveDate) -> Result<Effect, ChangeError> {
        self.within_term("effectiveDate", last_day)?;
        let after = last_day.succ_opt().unwrap_or(last_day);
        self.not_billed_in_arrears("effectiveDate", after)?;
        let mut effect = self.unchanged();
        effect.terms.schedule.end = Some(last_day);
        effect.terms.lines.retain(|l| l.in_force.from <= last_day);
        for line in &mut effect.terms.lines {
            line.in_force.to = line.in_force.to.min(last_day);
        }
        if after < self.cursor.first_open_day(&self.schedule) {
            effect.credit = Some(Span::from_on(after));
            effect.terms.cursor.billed_through = Some(last_day);
        }
        Ok(effect)
    }
}

#[cfg(test)]
#[path = "lifecycle_tests.rs"]
mod tests;
