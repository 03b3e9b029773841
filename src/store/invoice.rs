//! Invoices and their lines.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use entity::status::InvoiceStatus;
use entity::{invoice, invoice_line, payment};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, QueryTrait, Set, Statement,
};

use super::bulk::{Cell, Kind, Rows};
use super::{scoped, StoreError, StoreResult, BATCH_ROWS};
use crate::domain::access::Principal;

/// A payment against `inv`, carrying the invoice's customer and dates
/// (fixed once posted, as is the posting date) so aging can add it back
/// without a join.
pub async fn insert_payment(
    conn: &impl ConnectionTrait,
    inv: &invoice::Model,
    amount_e4: i64,
    received_on: NaiveDate,
    reference: Option<String>,
    created_by: &str,
) -> StoreResult<payment::Model> {
    let row = payment::ActiveModel {
        invoice_id: Set(inv.id),
        legal_entity_id: Set(inv.legal_entity_id),
        amount_e4: Set(amount_e4),
        received_on: Set(received_on),
        customer_id: Set(inv.customer_id),
        invoice_issue_date: Set(inv.issue_date),
        invoice_due_date: Set(inv.due_date),
        invoice_posted_on: Set(inv.posted_on),
        reference: Set(reference),
        created_by: Set(created_by.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok(row.insert(conn).await?)
}

/// An invoice's columns and their types as a run writes them (all but the
/// id), in the order [`invoice_cells`] gives their values.
const INVOICE_COLUMNS: [(&str, Kind); 26] = {
    use Kind::*;
    [
        ("legal_entity_id", BigInt),
        ("customer_id", BigInt),
        ("contract_id", BigInt),
        ("contract_version", Int),
        ("billing_run_id", BigInt),
        ("number", Text),
        ("status", Text),
        ("period_start", Date),
        ("period_end", Date),
        ("issue_date", Date),
        ("due_date", Date),
        ("currency", Text),
        ("subtotal_e4", BigInt),
        ("tax_total_e4", BigInt),
        ("total_e4", BigInt),
        ("amount_paid_e4", BigInt),
        ("amount_credited_e4", BigInt),
        ("credit_reduced_e4", BigInt),
        ("credit_applied_e4", BigInt),
        ("credit_applied_on", Date),
        ("posted_at", Timestamp),
        ("posted_on", Date),
        ("voided_at", Timestamp),
        ("voided_on", Date),
        ("void_reason", Text),
        ("created_at", Timestamp),
    ]
};

fn invoice_cells(i: &invoice::Model) -> [Cell; 26] {
    [
        i.legal_entity_id.into(),
        i.customer_id.into(),
        i.contract_id.into(),
        i.contract_version.into(),
        i.billing_run_id.into(),
        i.number.clone().into(),
        i.status.to_value().into(),
        i.period_start.into(),
        i.period_end.into(),
        i.issue_date.into(),
        i.due_date.into(),
        i.currency.clone().into(),
        i.subtotal_e4.into(),
        i.tax_total_e4.into(),
        i.total_e4.into(),
        i.amount_paid_e4.into(),
        i.amount_credited_e4.into(),
        i.credit_reduced_e4.into(),
        i.credit_applied_e4.into(),
        i.credit_applied_on.into(),
        i.posted_at.into(),
        i.posted_on.into(),
        i.voided_at.into(),
        i.voided_on.into(),
        i.void_reason.clone().into(),
        i.created_at.into(),
    ]
}

/// Inserts a run's invoices in batches and returns them with their ids.
/// Each names a contract and a period no other has: only the ids come back
/// from the database, with the contract and period that match them to
/// their rows (RETURNING's order is not the rows' order), and the rest of
/// each model is what was written rather than decoded again.
pub async fn insert_invoices(
    conn: &impl ConnectionTrait,
    invoices: Vec<invoice::Model>,
) -> StoreResult<Vec<invoice::Model>> {
    let backend = conn.get_database_backend();
    let mut out = Vec::with_capacity(invoices.len());
    for batch in invoices.chunks(BATCH_ROWS) {
        let mut rows = Rows::new(backend, &INVOICE_COLUMNS);
        let mut by_period = HashMap::with_capacity(batch.len());
        for (i, inv) in batch.iter().enumerate() {
            rows.push(invoice_cells(inv))?;
            if let Some(contract) = inv.contract_id {
                by_period.insert((contract, inv.period_start), i);
            }
        }
        if by_period.len() != batch.len() {
            return Err(StoreError::Corrupt(
                "run invoices must name distinct periods".into(),
            ));
        }
        let returned = insert_keyed(conn, rows).await?;
        if returned.len() != batch.len() {
            return Err(StoreError::Corrupt(
                "inserted invoices not all returned".into(),
            ));
        }
        let mut ids = vec![None; batch.len()];
        for (id, contract, period_start) in returned {
            let i = contract
                .and_then(|c| by_period.get(&(c, period_start)).copied())
                .ok_or_else(|| StoreError::Corrupt("an inserted invoice matched no row".into()))?;
            ids[i] = Some(id);
        }
        for (inv, id) in batch.iter().zip(ids) {
            let id =
                id.ok_or_else(|| StoreError::Corrupt("an invoice id came back twice".into()))?;
            out.push(invoice::Model { id, ..inv.clone() });
        }
    }
    Ok(out)
}

/// Inserts a batch of invoices and returns each one's (id, contract,
/// period start), in no set order. PostgreSQL: RETURNING. SQLite hands
/// RETURNING rows to the async side one channel message each, so there the
/// batch is read back as one JSON text: the ids above the largest before
/// the INSERT. That is exactly the batch inside a write transaction
/// (`begin_write` takes SQLite's lock up front, so no other connection
/// inserts in between, and a new rowid is above the largest); anything
/// else makes the caller's count or key check fail loudly.
async fn insert_keyed(
    conn: &impl ConnectionTrait,
    rows: Rows,
) -> StoreResult<Vec<(i64, Option<i64>, NaiveDate)>> {
    const KEYS: &str = "id, contract_id, period_start";
    if conn.get_database_backend() == DbBackend::Postgres {
        let returned = rows.insert_returning(conn, "invoice", KEYS).await?;
        return returned
            .iter()
            .map(|r| {
                Ok((
                    r.try_get("", "id")?,
                    r.try_get("", "contract_id")?,
                    r.try_get("", "period_start")?,
                ))
            })
            .collect();
    }
    let largest = Statement::from_string(
        DbBackend::Sqlite,
        "SELECT json_quote(COALESCE(MAX(id), 0)) AS json FROM invoice",
    );
    let before: i64 = super::bulk::one_json(conn, largest, "invoice").await?;
    rows.insert_into(conn, "invoice").await?;
    let keys = Statement::from_string(
        DbBackend::Sqlite,
        format!(
            "SELECT json_group_array(json_array({KEYS})) AS json FROM invoice WHERE id > {before}"
        ),
    );
    super::bulk::one_json(conn, keys, "invoice").await
}

const LINE_COLUMNS: [(&str, Kind); 13] = {
    use Kind::*;
    [
        ("invoice_id", BigInt),
        ("line_no", Int),
        ("description", Text),
        ("quantity_e6", BigInt),
        ("unit_price_e6", BigInt),
        ("net_e4", BigInt),
        ("tax_rate_e6", BigInt),
        ("tax_e4", BigInt),
        ("total_e4", BigInt),
        ("credited_e4", BigInt),
        ("contract_line_id", BigInt),
        ("service_from", Date),
        ("service_to", Date),
    ]
};

/// Inserts invoice lines (their ids are the database's) in batches.
pub async fn insert_lines(
    conn: &impl ConnectionTrait,
    lines: Vec<invoice_line::Model>,
) -> StoreResult<()> {
    let backend = conn.get_database_backend();
    for batch in lines.chunks(BATCH_ROWS) {
        let mut rows = Rows::new(backend, &LINE_COLUMNS);
        for l in batch {
            rows.push([
                l.invoice_id.into(),
                l.line_no.into(),
                l.description.as_str().into(),
                l.quantity_e6.into(),
                l.unit_price_e6.into(),
                l.net_e4.into(),
                l.tax_rate_e6.into(),
                l.tax_e4.into(),
                l.total_e4.into(),
                l.credited_e4.into(),
                l.contract_line_id.into(),
                l.service_from.into(),
                l.service_to.into(),
            ])?;
        }
        rows.insert_into(conn, "invoice_line").await?;
    }
    Ok(())
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
    super::by_ids::<invoice::Entity>(
        conn,
        principal,
        ids,
        invoice::Column::Id,
        invoice::Column::LegalEntityId,
    )
    .await
}

/// Lines of invoices already loaded through [`scoped`].
/// Invoice lines by id, of invoices `principal` may see only (filtered in
/// SQL by a subquery over the caller's entities' invoices).
pub async fn lines_by_id(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<invoice_line::Model>> {
    let mut query =
        invoice_line::Entity::find().filter(invoice_line::Column::Id.is_in(ids.iter().copied()));
    // A caller who sees every entity needs no subquery.
    if principal.entity_filter().is_some() {
        let invoices = invoice::Entity::find();
        let visible = scoped(invoices, invoice::Column::LegalEntityId, principal)
            .select_only()
            .column(invoice::Column::Id)
            .into_query();
        query = query.filter(invoice_line::Column::InvoiceId.in_subquery(visible));
    }
    Ok(query.all(conn).await?)
}

pub async fn lines_of(
    conn: &impl ConnectionTrait,
    invoice_ids: &[i64],
) -> StoreResult<Vec<invoice_line::Model>> {
    let (owner, line_no) = (
        invoice_line::Column::InvoiceId,
        invoice_line::Column::LineNo,
    );
    super::lines_of::<invoice_line::Entity>(conn, invoice_ids, owner, line_no).await
}

/// DRAFT → POSTED with its number, at `at` and on `on` (that instant's date
/// in the entity's timezone); false when it was no longer a draft (a
/// concurrent post won).
pub async fn mark_posted(
    conn: &impl ConnectionTrait,
    id: i64,
    number: &str,
    at: DateTime<Utc>,
    on: NaiveDate,
) -> StoreResult<bool> {
    let result = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value(InvoiceStatus::Posted))
        .col_expr(invoice::Column::Number, Expr::value(number))
        .col_expr(invoice::Column::PostedAt, Expr::value(at))
        .col_expr(invoice::Column::PostedOn, Expr::value(on))
        .filter(invoice::Column::Id.eq(id))
        .filter(invoice::Column::Status.eq(InvoiceStatus::Draft))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// DRAFT or POSTED → VOID, keeping the number, at `at` and on `on` (that
/// instant's date in the entity's timezone); false when the status moved
/// or the invoice has payments, issued credit notes or customer credit.
pub async fn mark_void(
    conn: &impl ConnectionTrait,
    id: i64,
    from_status: InvoiceStatus,
    reason: &str,
    at: DateTime<Utc>,
    on: NaiveDate,
) -> StoreResult<bool> {
    let result = invoice::Entity::update_many()
        .col_expr(invoice::Column::Status, Expr::value(InvoiceStatus::Void))
        .col_expr(invoice::Column::VoidReason, Expr::value(reason))
        .col_expr(invoice::Column::VoidedAt, Expr::value(at))
        .col_expr(invoice::Column::VoidedOn, Expr::value(on))
        .filter(invoice::Column::Id.eq(id))
        .filter(invoice::Column::Status.eq(from_status))
        // Checked again here, not only before the transaction: a payment or
        // credit note committed meanwhile must not be voided with it.
        .filter(invoice::Column::AmountPaidE4.eq(0))
        .filter(invoice::Column::AmountCreditedE4.eq(0))
        .filter(invoice::Column::CreditAppliedE4.eq(0))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// What an invoice still asks for, as SQL over its columns (`prefix` is
/// `""` or a table alias and its dot): the total less payments, what
/// credit notes reduced and customer credit applied at posting. The one SQL
/// form of `domain::billing::amount_due_e4` for an invoice that is not void.
pub(super) fn due_sql(prefix: &str) -> String {
    format!(
        "{prefix}total_e4 - {prefix}amount_paid_e4 - {prefix}credit_reduced_e4 - {prefix}credit_applied_e4"
    )
}

/// Settles `amount_e4` more of an invoice in one of the `from` states, in
/// one conditional UPDATE that also applies `sets` (the columns recording
/// the settlement): refused (false, nothing changed) when it exceeds what
/// is due, so concurrent settlements can never pass the total; PAID once
/// nothing is left due.
async fn settle(
    conn: &impl ConnectionTrait,
    id: i64,
    amount_e4: i64,
    from: &[InvoiceStatus],
    sets: Vec<(invoice::Column, Expr)>,
) -> StoreResult<bool> {
    let due = due_sql("");
    let mut update = invoice::Entity::update_many().col_expr(
        invoice::Column::Status,
        Expr::cust(format!(
            "CASE WHEN {due} - {amount_e4} = 0 THEN 'PAID' ELSE status END"
        )),
    );
    for (column, value) in sets {
        update = update.col_expr(column, value);
    }
    let result = update
        .filter(invoice::Column::Id.eq(id))
        .filter(invoice::Column::Status.is_in(from.iter().copied()))
        .filter(Expr::cust(format!("{due} >= {amount_e4}")))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Adds a payment to a POSTED invoice's paid amount, refusing one that
/// exceeds what is due (two concurrent payments cannot overpay). False
/// when refused.
pub async fn apply_payment(
    conn: &impl ConnectionTrait,
    id: i64,
    amount_e4: i64,
) -> StoreResult<bool> {
    let paid = Expr::col(invoice::Column::AmountPaidE4).add(amount_e4);
    let sets = vec![(invoice::Column::AmountPaidE4, paid)];
    settle(conn, id, amount_e4, &[InvoiceStatus::Posted], sets).await
}

/// Customer credit consumed by a just-posted invoice on `on`; false when
/// it exceeds what is due.
pub async fn apply_customer_credit(
    conn: &impl ConnectionTrait,
    id: i64,
    amount_e4: i64,
    on: NaiveDate,
) -> StoreResult<bool> {
    let applied = Expr::col(invoice::Column::CreditAppliedE4).add(amount_e4);
    let sets = vec![
        (invoice::Column::CreditAppliedE4, applied),
        (invoice::Column::CreditAppliedOn, Expr::value(on)),
    ];
    settle(conn, id, amount_e4, &[InvoiceStatus::Posted], sets).await
}

/// An issued credit note of `total_e4` settles `applied_e4` of a POSTED or
/// PAID invoice; false when the invoice changed meanwhile (no longer
/// creditable, or `applied_e4` exceeds what it still asks for).
pub async fn apply_credit_note(
    conn: &impl ConnectionTrait,
    id: i64,
    total_e4: i64,
    applied_e4: i64,
) -> StoreResult<bool> {
    let credited = Expr::col(invoice::Column::AmountCreditedE4).add(total_e4);
    let reduced = Expr::col(invoice::Column::CreditReducedE4).add(applied_e4);
    let sets = vec![
        (invoice::Column::AmountCreditedE4, credited),
        (invoice::Column::CreditReducedE4, reduced),
    ];
    let from = [InvoiceStatus::Posted, InvoiceStatus::Paid];
    settle(conn, id, applied_e4, &from, sets).await
}

/// Takes back what a voided credit note had settled: POSTED again when
/// something is due once more.
pub async fn unapply_credit_note(
    conn: &impl ConnectionTrait,
    id: i64,
    total_e4: i64,
    applied_e4: i64,
) -> StoreResult<()> {
    let due_after = format!("{} + {applied_e4}", due_sql(""));
    invoice::Entity::update_many()
        .col_expr(
            invoice::Column::AmountCreditedE4,
            Expr::col(invoice::Column::AmountCreditedE4).sub(total_e4),
        )
        .col_expr(
            invoice::Column::CreditReducedE4,
            Expr::col(invoice::Column::CreditReducedE4).sub(applied_e4),
        )
        .col_expr(
            invoice::Column::Status,
            Expr::cust(format!(
                "CASE WHEN status = 'PAID' AND {due_after} > 0 THEN 'POSTED' ELSE status END"
            )),
        )
        .filter(invoice::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// Which invoices to list; every field narrows.
#[derive(Default)]
pub struct InvoiceFilter {
    pub legal_entity_id: Option<i64>,
    pub billing_run_id: Option<i64>,
    pub status: Option<InvoiceStatus>,
    pub customer_id: Option<i64>,
    pub due_from: Option<chrono::NaiveDate>,
    pub due_to: Option<chrono::NaiveDate>,
}

/// Where a keyset page starts: oldest first after an id, or newest first
/// before one.
pub enum Cursor {
    After(Option<i64>),
    Before(Option<i64>),
}

/// One page of invoices, scoped to the caller's legal entities in SQL.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    filter: InvoiceFilter,
    cursor: Cursor,
    limit: u64,
) -> StoreResult<Vec<invoice::Model>> {
    let mut query = scoped(
        invoice::Entity::find(),
        invoice::Column::LegalEntityId,
        principal,
    );
    if let Some(entity) = filter.legal_entity_id {
        query = query.filter(invoice::Column::LegalEntityId.eq(entity));
    }
    if let Some(run) = filter.billing_run_id {
        query = query.filter(invoice::Column::BillingRunId.eq(run));
    }
    if let Some(status) = filter.status {
        query = query.filter(invoice::Column::Status.eq(status));
    }
    if let Some(customer) = filter.customer_id {
        query = query.filter(invoice::Column::CustomerId.eq(customer));
    }
    if let Some(from) = filter.due_from {
        query = query.filter(invoice::Column::DueDate.gte(from));
    }
    if let Some(to) = filter.due_to {
        query = query.filter(invoice::Column::DueDate.lte(to));
    }
    let query = match cursor {
        Cursor::After(after) => {
            if let Some(id) = after {
                query = query.filter(invoice::Column::Id.gt(id));
            }
            query.order_by_asc(invoice::Column::Id)
        }
        Cursor::Before(before) => {
            if let Some(id) = before {
                query = query.filter(invoice::Column::Id.lt(id));
            }
            query.order_by_desc(invoice::Column::Id)
        }
    };
    Ok(query.limit(limit).all(conn).await?)
}
