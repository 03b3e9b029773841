//! Reading billing runs, their invoices and the audit trail.

use entity::{audit_event, billing_run, invoice};

use super::contracts::page_size;
use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::store::{audit, invoice as invoices, runs};

/// A page of an entity's runs, newest first, and whether more follow.
pub async fn billing_runs(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    first: Option<i32>,
    before: Option<i64>,
) -> ServiceResult<(Vec<billing_run::Model>, bool)> {
    require(principal, Scope::BillingRead)?;
    let limit = page_size(first)?;
    let mut rows = runs::runs_page(&ctx.db, principal, legal_entity_id, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

/// Whether a committed run update goes to a subscriber following `run_id`
/// or every run of `legal_entity_id`: checked per update against the
/// principal's entities first.
pub fn update_for(
    principal: &Principal,
    run_id: Option<i64>,
    legal_entity_id: Option<i64>,
    run: &billing_run::Model,
) -> bool {
    principal.can_see(run.legal_entity_id)
        && run_id.is_none_or(|id| id == run.id)
        && legal_entity_id.is_none_or(|id| id == run.legal_entity_id)
}

pub async fn billing_run(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<billing_run::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(runs::find_run(&ctx.db, principal, id).await?)
}

pub async fn runs_by_ids(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<billing_run::Model>> {
    require(principal, Scope::BillingRead)?;
    let mut rows = runs::find_runs(&ctx.db, principal, ids).await?;
    rows.sort_by_key(|r| r.id);
    Ok(rows)
}

pub async fn run_invoices(
    ctx: &Ctx,
    principal: &Principal,
    run_id: i64,
    first: Option<i32>,
    after: Option<i64>,
) -> ServiceResult<(Vec<invoice::Model>, bool)> {
    require(principal, Scope::BillingRead)?;
    let limit = page_size(first)?;
    let filter = invoices::InvoiceFilter {
        billing_run_id: Some(run_id),
        ..Default::default()
    };
    let cursor = invoices::Cursor::After(after);
    let mut rows = invoices::page(&ctx.db, principal, filter, cursor, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub const MAX_AUDIT_EVENTS: u64 = 500;

pub async fn audit_trail(
    ctx: &Ctx,
    principal: &Principal,
    run_id: i64,
) -> ServiceResult<Vec<audit_event::Model>> {
    require(principal, Scope::BillingRead)?;
    let id = run_id.to_string();
    let filter = audit::AuditFilter {
        subject_type: Some("BillingRun"),
        subject_id: Some(&id),
        ..Default::default()
    };
    Ok(audit::audit_events(&ctx.db, principal, filter, MAX_AUDIT_EVENTS).await?)
}

pub async fn audit_events(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    subject_id: Option<String>,
    first: Option<i32>,
) -> ServiceResult<Vec<audit_event::Model>> {
    require(principal, Scope::BillingRead)?;
    let limit = match first {
        None => MAX_AUDIT_EVENTS,
        Some(n) if n < 0 => return Err(ServiceError::bad_input("first", "must not be negative")),
        Some(n) => u64::try_from(n).unwrap_or(0).clamp(1, MAX_AUDIT_EVENTS),
    };
    let filter = audit::AuditFilter {
        legal_entity_id,
        subject_id: subject_id.as_deref(),
        ..Default::default()
    };
    Ok(audit::audit_events(&ctx.db, principal, filter, limit).await?)
}
