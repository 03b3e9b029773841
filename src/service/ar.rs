//! Accounts receivable: the aging report and the invoice list (payments
//! are in `service::payments`).

use chrono::NaiveDate;
use entity::invoice::{self, InvoiceStatus};

use super::contracts::page_size;
use super::setup::visible_entity;
use super::{entity_today, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::aging::{days_past_due, Bucket, Buckets};
use crate::domain::amount::Amount;
use crate::domain::currency::minor_units_of;
use crate::store::aging;
use crate::store::invoice as invoices;

/// Invoices listed per customer row of the aging report.
pub const MAX_INVOICES_PER_ROW: u64 = 100;

pub struct AgingReport {
    pub legal_entity: entity::legal_entity::Model,
    pub as_of: NaiveDate,
    /// Before today in the entity's timezone: invoices may have been posted
    /// or voided since.
    pub back_dated: bool,
    pub minor_units: u32,
    pub rows: Vec<AgingRow>,
    pub totals: Buckets,
    pub total: Amount,
}

/// One customer's line of the report.
pub struct AgingRow {
    pub customer_id: i64,
    pub buckets: Buckets,
    pub total: Amount,
}

/// An open invoice of the report, with what was due on it as of the
/// report's date.
pub struct AgingInvoice {
    pub invoice: invoice::Model,
    pub amount_due: Amount,
    pub days_past_due: i64,
    pub bucket: Bucket,
}

#[tracing::instrument(skip_all, fields(legal_entity_id))]
pub async fn aging(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    as_of: Option<NaiveDate>,
) -> ServiceResult<AgingReport> {
    require(principal, Scope::ArRead)?;
    let entity = visible_entity(ctx, principal, legal_entity_id).await?;
    let today = entity_today(&entity)?;
    let as_of = as_of.unwrap_or(today);
    let back_dated = as_of < today;
    let stored = aging::aging_rows(&ctx.db, entity.id, as_of, back_dated).await?;
    let beyond =
        |_| ServiceError::Internal(anyhow::anyhow!("aging totals exceed the storage range"));
    let mut totals = Buckets::default();
    let mut rows = Vec::with_capacity(stored.len());
    for row in stored {
        totals.checked_add(&row.buckets).map_err(beyond)?;
        rows.push(AgingRow {
            customer_id: row.customer_id,
            total: row.buckets.total().map_err(beyond)?,
            buckets: row.buckets,
        });
    }
    Ok(AgingReport {
        total: totals.total().map_err(beyond)?,
        minor_units: minor_units_of(&entity.currency),
        legal_entity: entity,
        as_of,
        back_dated,
        rows,
        totals,
    })
}

/// The open invoices behind some rows of a report, with their amount due
/// as of its date.
pub async fn aging_invoices(
    ctx: &Ctx,
    principal: &Principal,
    report: &AgingReport,
    customer_ids: &[i64],
) -> ServiceResult<Vec<AgingInvoice>> {
    let open = aging::open_invoices(
        &ctx.db,
        report.legal_entity.id,
        report.as_of,
        report.back_dated,
        customer_ids,
        MAX_INVOICES_PER_ROW,
    )
    .await?;
    let ids: Vec<i64> = open.iter().map(|o| o.invoice_id).collect();
    let mut models: std::collections::HashMap<i64, invoice::Model> =
        invoices::find_many(&ctx.db, principal, &ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
    Ok(open
        .into_iter()
        .filter_map(|o| {
            let invoice = models.remove(&o.invoice_id)?;
            let days_past_due = days_past_due(report.as_of, o.due_date);
            Some(AgingInvoice {
                invoice,
                amount_due: o.amount_due,
                days_past_due,
                bucket: Bucket::of_days(days_past_due),
            })
        })
        .collect())
}

pub struct InvoiceQuery {
    pub legal_entity_id: i64,
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<i64>,
    pub due_from: Option<NaiveDate>,
    pub due_to: Option<NaiveDate>,
    pub first: Option<i32>,
    pub before: Option<i64>,
}

/// An entity's invoices, newest first, and whether more follow.
pub async fn invoice_list(
    ctx: &Ctx,
    principal: &Principal,
    q: InvoiceQuery,
) -> ServiceResult<(Vec<invoice::Model>, bool)> {
    require(principal, Scope::BillingRead)?;
    let limit = page_size(q.first)?;
    let filter = invoices::InvoiceFilter {
        legal_entity_id: Some(q.legal_entity_id),
        status: q.status,
        customer_id: q.customer_id,
        due_from: q.due_from,
        due_to: q.due_to,
        ..Default::default()
    };
    let cursor = invoices::Cursor::Before(q.before);
    let mut rows = invoices::page(&ctx.db, principal, filter, cursor, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}
