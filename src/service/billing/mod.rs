//! The Billing Run Agent. The run's lifecycle lives here, one file per
//! step:
//! - `trigger`: one run per legal entity, all in one transaction or none;
//! - `execute`: an execution holding a lease token, chunk after chunk,
//!   with retries of transient database errors;
//! - `chunk`: loading, planning (`plan`, no I/O) and writing one chunk;
//! - `finish`: COMPLETED or FAILED, exactly once (compare-and-set);
//! - `resume`: taking over runs whose lease lapsed; `retryBillingRun`;
//! - `dry_run`: the same planning, nothing written but the run record.
//!
//! The states and the compare-and-set writes are in `store::lease`.

mod chunk;
mod dry_run;
mod execute;
mod finish;
pub mod plan;
mod resume;
mod trigger;

use chrono::{NaiveDate, Utc};
use entity::legal_entity;

use crate::domain::access::Principal;
use crate::domain::billing::DraftInvoice;

pub use chunk::{posting_events, COLLECTION_REQUESTED, DELIVERY_REQUESTED};
pub use execute::{execute, MAX_ATTEMPTS};
pub use finish::{RUN_COMPLETED_EVENT, RUN_FAILED_EVENT};
pub use resume::{resume_every, resume_orphans, retry_run, run_resumer};
pub use trigger::{
    create_runs, launch, targets, trigger, Busy, Target, TriggerInput, TriggerOutcome,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerSource {
    Manual,
    Scheduled,
    Api,
}

impl TriggerSource {
    /// A trigger over the API: partners integrate by API; people press the
    /// Run button.
    pub fn requested_by(principal: &Principal) -> Self {
        if principal.role == crate::domain::access::Role::Partner {
            TriggerSource::Api
        } else {
            TriggerSource::Manual
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            TriggerSource::Manual => "MANUAL",
            TriggerSource::Scheduled => "SCHEDULED",
            TriggerSource::Api => "API",
        }
    }
}

/// A would-be invoice of a dry run.
pub struct PreviewInvoice {
    pub legal_entity_id: i64,
    pub contract_id: i64,
    pub customer_id: i64,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    pub draft: DraftInvoice,
}

/// Dry runs return at most this many would-be invoices (the counts and
/// totals on the run cover all of them).
pub const MAX_PREVIEW: usize = 1000;

/// Today in the legal entity's timezone.
pub fn entity_today(entity: &legal_entity::Model) -> NaiveDate {
    match entity.timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => Utc::now().with_timezone(&tz).date_naive(),
        Err(_) => Utc::now().date_naive(),
    }
}
