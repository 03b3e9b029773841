//! Credit notes and their lines, and the conditional UPDATEs that keep
//! them within what is creditable: a line is never credited beyond its
//! net, an invoice never settled beyond its total, and customer credit
//! never consumed beyond what is left, whatever runs concurrently (each
//! guard is in the UPDATE's WHERE, so the database enforces it).

use chrono::{DateTime, NaiveDate, Utc};
use entity::credit_note::{self, CreditNoteStatus};
use entity::{credit_note_line, invoice, invoice_line};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewCreditNoteLine {
    pub invoice_line_id: i64,
    pub description: String,
    pub net_e4: i64,
    pub tax_rate_e6: i64,
    pub tax_e4: i64,
    pub total_e4: i64,
    /// The days credited, for notes written by contract changes.
    pub service: Option<(NaiveDate, NaiveDate)>,
}

/// Inserts a DRAFT note for `inv` with its lines; `head` carries what the
/// service decided (reason, memo, author, totals).
pub async fn insert(
    conn: &impl ConnectionTrait,
    inv: &invoice::Model,
    head: credit_note::ActiveModel,
    lines: Vec<NewCreditNoteLine>,
) -> StoreResult<credit_note::Model> {
    let note = credit_note::ActiveModel {
        legal_entity_id: Set(inv.legal_entity_id),
        invoice_id: Set(inv.id),
        customer_id: Set(inv.customer_id),
        number: Set(None),
        status: Set(CreditNoteStatus::Draft),
        currency: Set(inv.currency.clone()),
        invoice_issue_date: Set(inv.issue_date),
        invoice_due_date: Set(inv.due_date),
        invoice_posted_on: Set(inv.posted_on),
        created_at: Set(Utc::now()),
        ..head
    }
    .insert(conn)
    .await?;
    let rows = lines
        .into_iter()
        .enumerate()
        .map(|(n, l)| credit_note_line::ActiveModel {
            credit_note_id: Set(note.id),
            invoice_line_id: Set(l.invoice_line_id),
            line_no: Set(i32::try_from(n).unwrap_or(i32::MAX)),
            description: Set(l.description),
            net_e4: Set(l.net_e4),
            tax_rate_e6: Set(l.tax_rate_e6),
            tax_e4: Set(l.tax_e4),
            total_e4: Set(l.total_e4),
            service_from: Set(l.service.map(|s| s.0)),
            service_to: Set(l.service.map(|s| s.1)),
            ..Default::default()
        });
    credit_note_line::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(note)
}

pub async fn find(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> StoreResult<Option<credit_note::Model>> {
    Ok(scoped(
        credit_note::Entity::find_by_id(id),
        credit_note::Column::LegalEntityId,
        principal,
    )
    .one(conn)
    .await?)
}

/// The notes of these invoices, oldest first.
pub async fn of_invoices(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    invoice_ids: &[i64],
) -> StoreResult<Vec<credit_note::Model>> {
    Ok(scoped(
        credit_note::Entity::find(),
        credit_note::Column::LegalEntityId,
        principal,
    )
    .filter(credit_note::Column::InvoiceId.is_in(invoice_ids.iter().copied()))
    .order_by_asc(credit_note::Column::Id)
    .all(conn)
    .await?)
}

/// A page of an entity's notes, oldest first after `after`.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<credit_note::Model>> {
    Ok(scoped(
        credit_note::Entity::find(),
        credit_note::Column::LegalEntityId,
        principal,
    )
    .filter(credit_note::Column::LegalEntityId.eq(legal_entity_id))
    .filter(credit_note::Column::Id.gt(after.unwrap_or(0)))
    .order_by_asc(credit_note::Column::Id)
    .limit(limit)
    .all(conn)
    .await?)
}

pub async fn lines_of(
    conn: &impl ConnectionTrait,
    note_ids: &[i64],
) -> StoreResult<Vec<credit_note_line::Model>> {
    let (owner, line_no) = (
        credit_note_line::Column::CreditNoteId,
        credit_note_line::Column::LineNo,
    );
    super::lines_of::<credit_note_line::Entity>(conn, note_ids, owner, line_no).await
}

/// Credits `net_e4` more of an invoice line; false (nothing changed) when
/// that would pass the line's net.
pub async fn credit_line(
    conn: &impl ConnectionTrait,
    invoice_line_id: i64,
    net_e4: i64,
) -> StoreResult<bool> {
    let credited = Expr::col(invoice_line::Column::CreditedE4).add(net_e4);
    let result = invoice_line::Entity::update_many()
        .col_expr(invoice_line::Column::CreditedE4, credited.clone())
        .filter(invoice_line::Column::Id.eq(invoice_line_id))
        .filter(credited.lte(Expr::col(invoice_line::Column::NetE4)))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Gives back what a voided note had credited of an invoice line.
pub async fn uncredit_line(
    conn: &impl ConnectionTrait,
    invoice_line_id: i64,
    net_e4: i64,
) -> StoreResult<()> {
    invoice_line::Entity::update_many()
        .col_expr(
            invoice_line::Column::CreditedE4,
            Expr::col(invoice_line::Column::CreditedE4).sub(net_e4),
        )
        .filter(invoice_line::Column::Id.eq(invoice_line_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// DRAFT → ISSUED with its number and split; false when no longer a draft.
pub async fn mark_issued(
    conn: &impl ConnectionTrait,
    id: i64,
    number: &str,
    on: NaiveDate,
    at: DateTime<Utc>,
    split: (i64, i64),
) -> StoreResult<bool> {
    let (applied, to_balance) = split;
    let result = credit_note::Entity::update_many()
        .col_expr(
            credit_note::Column::Status,
            Expr::value(CreditNoteStatus::Issued),
        )
        .col_expr(credit_note::Column::Number, Expr::value(number))
        .col_expr(credit_note::Column::IssueDate, Expr::value(on))
        .col_expr(credit_note::Column::IssuedAt, Expr::value(at))
        .col_expr(
            credit_note::Column::AppliedToInvoiceE4,
            Expr::value(applied),
        )
        .col_expr(
            credit_note::Column::ToCreditBalanceE4,
            Expr::value(to_balance),
        )
        .col_expr(
            credit_note::Column::CreditRemainingE4,
            Expr::value(to_balance),
        )
        .filter(credit_note::Column::Id.eq(id))
        .filter(credit_note::Column::Status.eq(CreditNoteStatus::Draft))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// DRAFT, or ISSUED with none of its credit consumed, → VOID; false when
/// the note is neither (already void, or some credit was consumed).
pub async fn mark_void(
    conn: &impl ConnectionTrait,
    id: i64,
    on: NaiveDate,
    at: DateTime<Utc>,
) -> StoreResult<bool> {
    let result = credit_note::Entity::update_many()
        .col_expr(credit_note::Column::Status, Expr::value(CreditNoteStatus::Void))
        .col_expr(credit_note::Column::VoidedOn, Expr::value(on))
        .col_expr(credit_note::Column::VoidedAt, Expr::value(at))
        .col_expr(credit_note::Column::CreditRemainingE4, Expr::value(0i64))
        .filter(credit_note::Column::Id.eq(id))
        .filter(Expr::cust(
            "(status = 'DRAFT' OR (status = 'ISSUED' AND credit_remaining_e4 = to_credit_balance_e4))",
        ))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// The customers' notes with credit left, oldest first, as `(note,
/// customer, left)`. Locked on PostgreSQL until the posting transaction
/// ends, so two posters never consume the same credit (SQLite has one
/// writer at a time already).
pub async fn open_credit(
    conn: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> StoreResult<Vec<(i64, i64, i64)>> {
    if customer_ids.is_empty() {
        return Ok(Vec::new());
    }
    let backend = conn.get_database_backend();
    let ids: Vec<String> = customer_ids.iter().map(i64::to_string).collect();
    let lock = if backend == DbBackend::Postgres {
        " FOR UPDATE"
    } else {
        ""
    };
    let sql = format!(
        "SELECT id, customer_id, credit_remaining_e4 FROM credit_note \
         WHERE customer_id IN ({}) AND credit_remaining_e4 > 0 \
         ORDER BY customer_id, issued_at, id{lock}",
        ids.join(",")
    );
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get("", "id")?,
                r.try_get("", "customer_id")?,
                r.try_get("", "credit_remaining_e4")?,
            ))
        })
        .collect::<Result<Vec<_>, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// Consumes `amount_e4` of a note's credit; false when less is left.
pub async fn consume(conn: &impl ConnectionTrait, id: i64, amount_e4: i64) -> StoreResult<bool> {
    let left = Expr::col(credit_note::Column::CreditRemainingE4).sub(amount_e4);
    let result = credit_note::Entity::update_many()
        .col_expr(credit_note::Column::CreditRemainingE4, left)
        .filter(credit_note::Column::Id.eq(id))
        .filter(credit_note::Column::CreditRemainingE4.gte(amount_e4))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Each customer's unused credit (customers without any are absent).
pub async fn balances(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    customer_ids: &[i64],
) -> StoreResult<Vec<(i64, i64)>> {
    Ok(scoped(
        credit_note::Entity::find(),
        credit_note::Column::LegalEntityId,
        principal,
    )
    .select_only()
    .column(credit_note::Column::CustomerId)
    .column_as(
        Expr::cust("CAST(SUM(credit_remaining_e4) AS BIGINT)"),
        "credit",
    )
    .filter(credit_note::Column::CustomerId.is_in(customer_ids.iter().copied()))
    .filter(credit_note::Column::CreditRemainingE4.gt(0))
    .group_by(credit_note::Column::CustomerId)
    .into_tuple()
    .all(conn)
    .await?)
}
