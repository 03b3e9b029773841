//! Accounts receivable: the aging report and the invoice list (payments
//! are in `service::payments`).

use chrono::NaiveDate;
use entity::invoice::{self, InvoiceStatus};

use super::contracts::page_size;
use super::setup::visible_entity;
use super::{entity_today, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::aging::{days_past_due, AgingOrder, Bucket, Buckets, RowPage};
use crate::domain::amount::Amount;
use crate::domain::currency::minor_units_of;
use crate::store::invoice as invoices;
use crate::store::{aging, aging_page};

/// Invoices listed per customer row of the aging report.
pub const MAX_INVOICES_PER_ROW: u64 = 100;

/// What a report is of, once the caller may read it: the legal entity and
/// the as-of date. Its totals and rows are asked for separately
/// ([`aging_view`], [`aging_rows`]), so a request computes only what it
/// shows.
pub struct AgingHead {
    pub legal_entity: entity::legal_entity::Model,
    pub as_of: NaiveDate,
    /// Before today in the entity's timezone: invoices may have been posted
    /// or voided since.
    pub back_dated: bool,
    pub minor_units: u32,
}

/// The whole report: every row and the totals.
pub struct AgingReport {
    pub head: AgingHead,
    pub rows: Vec<AgingRow>,
    pub totals: Buckets,
    pub total: Amount,
}

/// One customer's line of the report.
#[derive(Clone)]
pub struct AgingRow {
    pub customer_id: i64,
    pub buckets: Buckets,
    pub total: Amount,
}

/// The report's totals and how many customers have something open, whatever
/// page is shown.
pub struct AgingSummary {
    pub totals: Buckets,
    pub total: Amount,
    pub customer_count: u64,
}

/// One page of rows: `total_count` rows match its search, the next page
/// starts at `next_offset`.
#[derive(Clone)]
pub struct AgingPage {
    pub rows: Vec<AgingRow>,
    pub total_count: u64,
    pub next_offset: Option<u64>,
}

/// An open invoice of the report, with what was due on it as of the
/// report's date.
pub struct AgingInvoice {
    pub invoice: invoice::Model,
    pub amount_due: Amount,
    pub days_past_due: i64,
    pub bucket: Bucket,
}

fn beyond_range(_: crate::domain::money::MoneyError) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("aging totals exceed the storage range"))
}

/// The report the caller asks for: access checked (a legal entity it may
/// not read is NOT_FOUND), the as-of date defaulted to today in the
/// entity's timezone.
#[tracing::instrument(skip_all, fields(legal_entity_id))]
pub async fn aging_head(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    as_of: Option<NaiveDate>,
) -> ServiceResult<AgingHead> {
    require(principal, Scope::ArRead)?;
    let entity = visible_entity(ctx, principal, legal_entity_id).await?;
    let today = entity_today(&entity)?;
    let as_of = as_of.unwrap_or(today);
    Ok(AgingHead {
        minor_units: minor_units_of(&entity.currency),
        legal_entity: entity,
        as_of,
        back_dated: as_of < today,
    })
}

/// The whole report, every row sorted by customer name.
pub async fn aging(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    as_of: Option<NaiveDate>,
) -> ServiceResult<AgingReport> {
    let head = aging_head(ctx, principal, legal_entity_id, as_of).await?;
    let rows = aging_rows(ctx, &head).await?;
    let summary = summary_of(&rows)?;
    Ok(AgingReport {
        total: summary.total,
        totals: summary.totals,
        head,
        rows,
    })
}

/// The summary of a report from all its rows.
pub fn summary_of(rows: &[AgingRow]) -> ServiceResult<AgingSummary> {
    let mut totals = Buckets::default();
    for row in rows {
        totals.checked_add(&row.buckets).map_err(beyond_range)?;
    }
    Ok(AgingSummary {
        total: totals.total().map_err(beyond_range)?,
        totals,
        customer_count: u64::try_from(rows.len()).unwrap_or(u64::MAX),
    })
}

/// Every row of a report, sorted by customer name.
pub async fn aging_rows(ctx: &Ctx, head: &AgingHead) -> ServiceResult<Vec<AgingRow>> {
    let entity = head.legal_entity.id;
    let stored = aging::aging_rows(&ctx.db, entity, head.as_of, head.back_dated).await?;
    stored.into_iter().map(row_of).collect()
}

fn row_of(row: aging::AgingRow) -> ServiceResult<AgingRow> {
    Ok(AgingRow {
        customer_id: row.customer_id,
        total: row.buckets.total().map_err(beyond_range)?,
        buckets: row.buckets,
    })
}

/// A page as the API asks for it: BAD_USER_INPUT naming `offset`, `limit`
/// or `customerSearch` when out of range.
pub fn row_page(
    offset: Option<i32>,
    limit: Option<i32>,
    order: Option<AgingOrder>,
    search: Option<&str>,
) -> ServiceResult<RowPage> {
    Ok(RowPage::new(offset, limit, order, search)?)
}

/// The summary (when `summary`) and a page (when `page`) of a report, from
/// one statement: one pass over the open invoices however much is asked.
pub async fn aging_view(
    ctx: &Ctx,
    head: &AgingHead,
    summary: bool,
    page: Option<&RowPage>,
) -> ServiceResult<(Option<AgingSummary>, Option<AgingPage>)> {
    let (entity, as_of) = (head.legal_entity.id, head.as_of);
    let view =
        aging_page::aging_view(&ctx.db, entity, as_of, head.back_dated, summary, page).await?;
    let summary = match view.summary {
        None => None,
        Some(s) => Some(AgingSummary {
            total: s.totals.total().map_err(beyond_range)?,
            totals: s.totals,
            customer_count: s.customers,
        }),
    };
    let page = match (view.page, page) {
        (Some(p), Some(asked)) => Some(AgingPage {
            next_offset: asked.next_offset(p.rows.len(), p.total_count),
            total_count: p.total_count,
            rows: p
                .rows
                .into_iter()
                .map(row_of)
                .collect::<ServiceResult<_>>()?,
        }),
        _ => None,
    };
    Ok((summary, page))
}

/// The open invoices behind some rows of a report, with their amount due
/// as of its date.
pub async fn aging_invoices(
    ctx: &Ctx,
    principal: &Principal,
    head: &AgingHead,
    customer_ids: &[i64],
) -> ServiceResult<Vec<AgingInvoice>> {
    let open = aging::open_invoices(
        &ctx.db,
        head.legal_entity.id,
        head.as_of,
        head.back_dated,
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
            let days_past_due = days_past_due(head.as_of, o.due_date);
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
