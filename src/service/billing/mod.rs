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

use chrono::NaiveDate;

use crate::domain::access::Principal;
use crate::domain::billing::DraftInvoice;

pub use execute::{execute, MAX_ATTEMPTS};
pub use resume::{resume_every, resume_orphans, retry_run, run_resumer};
pub use trigger::{
    create_runs, launch, targets, trigger, Busy, Target, TriggerInput, TriggerOutcome,
};

pub use entity::status::TriggerSource;

/// The source of a trigger over the API: partners integrate by API; people
/// press the Run button.
pub fn source_of(principal: &Principal) -> TriggerSource {
    if principal.role == crate::domain::access::Role::Partner {
        TriggerSource::Api
    } else {
        TriggerSource::Manual
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
