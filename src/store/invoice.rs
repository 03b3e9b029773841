//! Invoices and their lines.

use chrono::{DateTime, Utc};
use entity::{invoice, invoice_line};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{scoped, StoreResult, BATCH_ROWS};
use crate::domain::access::Principal;

/// Inserts invoices in batches and returns them with their ids.
pub async fn insert_invoices(
    conn: &impl ConnectionTrait,
    rows: Vec<invoice::ActiveModel>,
) -> StoreResult<Vec<invoice::Model>> {
    let mut out = Vec::with_capacity(rows.len());
    let mut rows = rows.into_iter();
    loop {
        let batch: Vec<_> = rows.by_ref().take(BATCH_ROWS).collect();
        if batch.is_empty() {
            return Ok(out);
        }
        out.extend(
            invoice::Entity::insert_many(batch)
                .exec_with_returning(conn)
                .await?,
        );
    }
}

pub async fn insert_lines(
    conn: &impl ConnectionTrait,
    rows: Vec<invoice_line::ActiveModel>,
) -> StoreResult<()> {
    let mut rows = rows.into_iter();
    loop {
        let batch: Vec<_> = rows.by_ref().take(BATCH_ROWS).collect();
        if batch.is_empty() {
            return Ok(());
        }
        invoice_line::Entity::insert_many(batch)
            .exec_without_returning(conn)
            .await?;
    }
}

pub async fn find(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> StoreResult<Option<invoice::Model>> {
    Ok(scoped(
        invoice::Entity::find_by_id(id),
        invoice::Column::LegalEntityId,
        principal,
    )
    .one(conn)
    .await?)
}

pub async fn find_many(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<invoice::Model>> {
    Ok(scoped(
        invoice::Entity::find(),
        invoice::Column::LegalEntityId,
        principal,
    )
    .filter(invoice::Column::Id.is_in(ids.iter().copied()))
    .all(conn)
    .await?)
}

/// Lines of invoices already loaded through [`scoped`].
pub async fn lines_of(
    conn: &impl ConnectionTrait,
    invoice_ids: &[i64],
) -> StoreResult<Vec<invoice_line::Model>> {
    Ok(invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.is_in(invoice_ids.iter().copied()))
        .order_by_asc(invoice_line::Column::InvoiceId)
        .order_by_asc(invoice_line::Column::LineNo)
        .all(conn)
        .await?)
}

/// Invoices of a run in id order, after the `after` id.
pub async fn page_by_run(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    run_id: i64,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<invoice::Model>> {
    let mut query = scoped(
        invoice::Entity::find(),
        invoice::Column::LegalEntityId,
        principal,
    )
    .filter(invoice::Column::BillingRunId.eq(run_id));
    if let Some(after) = after {
        query = query.filter(invoice::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(invoice::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// DRAFT → POSTED with its number; false when it was no longer a draft
/// (a concurrent post won).
pub async fn mark_posted(
    conn: &impl ConnectionTrait,
    id: i64,
    number: &str,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value("POSTED"))
        .col_expr(invoice::Column::Number, Expr::value(number))
        .col_expr(invoice::Column::PostedAt, Expr::value(at))
        .filter(invoice::Column::Id.eq(id))
        .filter(invoice::Column::Status.eq("DRAFT"))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// DRAFT or POSTED → VOID, keeping the number; false when the status moved.
pub async fn mark_void(
    conn: &impl ConnectionTrait,
    id: i64,
    from_status: &str,
    reason: &str,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value("VOID"))
        .col_expr(invoice::Column::VoidReason, Expr::value(reason))
        .col_expr(invoice::Column::VoidedAt, Expr::value(at))
        .filter(invoice::Column::Id.eq(id))
        .filter(invoice::Column::Status.eq(from_status))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
