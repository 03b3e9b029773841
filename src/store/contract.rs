//! Contracts and their lines.

use std::collections::HashMap;

use chrono::{NaiveDate, Utc};
use entity::credit_note::{self, CreditNoteStatus};
use entity::invoice::{self, InvoiceStatus};
use entity::status::ContractStatus;
use entity::{contract, contract_line, contract_pause, credit_note_line, invoice_line};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Set,
};

use super::{scoped, StoreError, StoreResult};
use crate::domain::access::Principal;
use crate::domain::lifecycle::Pause;

pub struct NewContract {
    pub legal_entity_id: i64,
    pub customer_id: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub interval: &'static str,
    pub interval_count: i32,
    pub timing: &'static str,
    pub next_billing_date: Option<NaiveDate>,
    pub lines: Vec<NewContractLine>,
}

pub struct NewContractLine {
    pub description: String,
    pub quantity_e6: i64,
    pub unit_price_e6: i64,
    pub tax_code_id: Option<i64>,
}

/// Inserts a contract with its lines; call inside a transaction.
pub async fn insert(conn: &impl ConnectionTrait, new: NewContract) -> StoreResult<contract::Model> {
    let mut created = insert_many(conn, vec![new]).await?;
    created
        .pop()
        .ok_or_else(|| StoreError::Corrupt("the inserted contract was not returned".into()))
}

/// Inserts contracts with their lines, a few statements per
/// [`super::BATCH_ROWS`] contracts; returned in input order. Call inside a
/// transaction.
pub async fn insert_many(
    conn: &impl ConnectionTrait,
    news: Vec<NewContract>,
) -> StoreResult<Vec<contract::Model>> {
    let mut out = Vec::with_capacity(news.len());
    let mut news = news.into_iter().peekable();
    while news.peek().is_some() {
        let batch: Vec<NewContract> = news.by_ref().take(super::BATCH_ROWS).collect();
        let rows = batch.iter().map(contract_row);
        let mut created = contract::Entity::insert_many(rows)
            .exec_with_returning(conn)
            .await?;
        // RETURNING order is not promised: ids grow in insertion order.
        created.sort_by_key(|c| c.id);
        let lines: Vec<contract_line::ActiveModel> = created
            .iter()
            .zip(batch)
            .flat_map(|(c, new)| line_rows(c.id, new.lines))
            .collect();
        for chunk in lines.chunks(super::BATCH_ROWS) {
            contract_line::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(conn)
                .await?;
        }
        out.extend(created);
    }
    Ok(out)
}

fn line_rows(
    contract_id: i64,
    lines: Vec<NewContractLine>,
) -> impl Iterator<Item = contract_line::ActiveModel> {
    lines
        .into_iter()
        .enumerate()
        .map(move |(i, line)| contract_line::ActiveModel {
            contract_id: Set(contract_id),
            line_no: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            description: Set(line.description),
            quantity_e6: Set(line.quantity_e6),
            unit_price_e6: Set(line.unit_price_e6),
            tax_code_id: Set(line.tax_code_id),
            ..Default::default()
        })
}

fn contract_row(new: &NewContract) -> contract::ActiveModel {
    contract::ActiveModel {
        legal_entity_id: Set(new.legal_entity_id),
        customer_id: Set(new.customer_id),
        status: Set(ContractStatus::Active),
        start_date: Set(new.start_date),
        end_date: Set(new.end_date),
        billing_interval: Set(new.interval.to_string()),
        interval_count: Set(new.interval_count),
        timing: Set(new.timing.to_string()),
        next_period_index: Set(0),
        next_billing_date: Set(new.next_billing_date),
        created_at: Set(Utc::now()),
        version: Set(0),
        billed_through: Set(None),
        cancelled_at: Set(None),
        ..Default::default()
    }
}

/// One page of an entity's contracts in id order, after the `after` id.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<contract::Model>> {
    let mut query = scoped(
        contract::Entity::find(),
        contract::Column::LegalEntityId,
        principal,
    )
    .filter(contract::Column::LegalEntityId.eq(legal_entity_id));
    if let Some(after) = after {
        query = query.filter(contract::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(contract::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

pub async fn find_many(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<contract::Model>> {
    super::by_ids::<contract::Entity>(
        conn,
        principal,
        ids,
        contract::Column::Id,
        contract::Column::LegalEntityId,
    )
    .await
}

/// Lines of the given contracts, in contract then line order. The contracts
/// were loaded through [`scoped`], so their lines need no second filter.
pub async fn lines_of(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<Vec<contract_line::Model>> {
    let (owner, line_no) = (
        contract_line::Column::ContractId,
        contract_line::Column::LineNo,
    );
    super::lines_of::<contract_line::Entity>(conn, contract_ids, owner, line_no).await
}

/// Pauses of the given contracts, by contract, oldest first.
pub async fn pauses_of(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<HashMap<i64, Vec<Pause>>> {
    let mut out: HashMap<i64, Vec<Pause>> = HashMap::new();
    for row in pause_rows(conn, contract_ids).await? {
        out.entry(row.contract_id).or_default().push(Pause {
            from: row.from_date,
            until: row.until_date,
        });
    }
    Ok(out)
}

/// The pause rows of the given contracts, oldest first.
pub async fn pause_rows(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<Vec<contract_pause::Model>> {
    Ok(contract_pause::Entity::find()
        .filter(contract_pause::Column::ContractId.is_in(contract_ids.iter().copied()))
        .order_by_asc(contract_pause::Column::ContractId)
        .order_by_asc(contract_pause::Column::FromDate)
        .all(conn)
        .await?)
}

/// What a lifecycle change writes to the contract row.
pub struct SavedTerms {
    pub end_date: Option<NaiveDate>,
    pub next_period_index: i32,
    pub next_billing_date: Option<NaiveDate>,
    pub billed_through: Option<NaiveDate>,
    pub status: ContractStatus,
    pub cancelled_at: Option<NaiveDate>,
}

/// Writes a change to the contract if it is still at `version` (bumping
/// it); false when someone (a run, another change) moved it meanwhile.
pub async fn save_terms(
    conn: &impl ConnectionTrait,
    id: i64,
    version: i32,
    terms: SavedTerms,
) -> StoreResult<bool> {
    let done = contract::Entity::update_many()
        .col_expr(contract::Column::EndDate, Expr::value(terms.end_date))
        .col_expr(
            contract::Column::NextPeriodIndex,
            Expr::value(terms.next_period_index),
        )
        .col_expr(
            contract::Column::NextBillingDate,
            Expr::value(terms.next_billing_date),
        )
        .col_expr(
            contract::Column::BilledThrough,
            Expr::value(terms.billed_through),
        )
        .col_expr(contract::Column::Status, Expr::value(terms.status))
        .col_expr(
            contract::Column::CancelledAt,
            Expr::value(terms.cancelled_at),
        )
        .col_expr(contract::Column::Version, Expr::value(version + 1))
        .filter(contract::Column::Id.eq(id))
        .filter(contract::Column::Version.eq(version))
        .exec(conn)
        .await?;
    Ok(done.rows_affected == 1)
}

/// An amendment's line changes: versions ended early, versions dropped
/// (never in force), and the new lines from `from` on.
pub async fn replace_lines(
    conn: &impl ConnectionTrait,
    contract_id: i64,
    ended: &[(i64, NaiveDate)],
    dropped: &[i64],
    from: NaiveDate,
    new_lines: Vec<NewContractLine>,
) -> StoreResult<()> {
    for (id, last_day) in ended {
        contract_line::Entity::update_many()
            .col_expr(contract_line::Column::ValidUntil, Expr::value(*last_day))
            .filter(contract_line::Column::Id.eq(*id))
            .exec(conn)
            .await?;
    }
    if !dropped.is_empty() {
        contract_line::Entity::delete_many()
            .filter(contract_line::Column::Id.is_in(dropped.iter().copied()))
            .exec(conn)
            .await?;
    }
    let first_no: i32 = contract_line::Entity::find()
        .select_only()
        .column_as(contract_line::Column::LineNo.max(), "max")
        .filter(contract_line::Column::ContractId.eq(contract_id))
        .into_tuple::<Option<i32>>()
        .one(conn)
        .await?
        .flatten()
        .map_or(0, |n| n + 1);
    let rows = new_lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| contract_line::ActiveModel {
            contract_id: Set(contract_id),
            line_no: Set(first_no.saturating_add(i32::try_from(i).unwrap_or(i32::MAX))),
            description: Set(line.description),
            quantity_e6: Set(line.quantity_e6),
            unit_price_e6: Set(line.unit_price_e6),
            tax_code_id: Set(line.tax_code_id),
            valid_from: Set(Some(from)),
            valid_until: Set(None),
            ..Default::default()
        });
    contract_line::Entity::insert_many(rows)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

pub async fn insert_pause(
    conn: &impl ConnectionTrait,
    contract_id: i64,
    pause: Pause,
) -> StoreResult<()> {
    contract_pause::ActiveModel {
        contract_id: Set(contract_id),
        from_date: Set(pause.from),
        until_date: Set(pause.until),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

pub async fn end_pause(
    conn: &impl ConnectionTrait,
    pause_id: i64,
    on: NaiveDate,
) -> StoreResult<()> {
    contract_pause::Entity::update_many()
        .col_expr(contract_pause::Column::UntilDate, Expr::value(on))
        .filter(contract_pause::Column::Id.eq(pause_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// An invoice line a change may credit: its invoice, the line, and the days
/// issued change notes credited on it.
pub type BilledRow = (
    invoice::Model,
    invoice_line::Model,
    Vec<(NaiveDate, NaiveDate)>,
);

/// A contract's invoice lines that a change may credit: of its POSTED,
/// PAID or DRAFT invoices, engine lines with the days they cover, with the
/// days issued change notes credited on each.
pub async fn billed_lines(
    conn: &impl ConnectionTrait,
    contract_id: i64,
) -> StoreResult<Vec<BilledRow>> {
    let invoices = invoice::Entity::find()
        .filter(invoice::Column::ContractId.eq(contract_id))
        .filter(invoice::Column::Status.ne(InvoiceStatus::Void))
        .order_by_asc(invoice::Column::Id)
        .all(conn)
        .await?;
    let ids: Vec<i64> = invoices.iter().map(|i| i.id).collect();
    let lines = super::invoice::lines_of(conn, &ids).await?;
    let line_ids: Vec<i64> = lines.iter().map(|l| l.id).collect();
    let credited: Vec<(i64, Option<NaiveDate>, Option<NaiveDate>)> =
        credit_note_line::Entity::find()
            .select_only()
            .column(credit_note_line::Column::InvoiceLineId)
            .column(credit_note_line::Column::ServiceFrom)
            .column(credit_note_line::Column::ServiceTo)
            .filter(
                credit_note_line::Column::CreditNoteId.in_subquery(
                    credit_note::Entity::find()
                        .select_only()
                        .column(credit_note::Column::Id)
                        .filter(credit_note::Column::InvoiceId.is_in(ids.iter().copied()))
                        .filter(credit_note::Column::Status.eq(CreditNoteStatus::Issued))
                        .into_query(),
                ),
            )
            .filter(credit_note_line::Column::InvoiceLineId.is_in(line_ids))
            .into_tuple()
            .all(conn)
            .await?;
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let Some(inv) = invoices.iter().find(|i| i.id == line.invoice_id) else {
            continue;
        };
        let spans = credited
            .iter()
            .filter(|(id, _, _)| *id == line.id)
            .filter_map(|(_, from, to)| from.zip(*to))
            .collect();
        out.push((inv.clone(), line, spans));
    }
    Ok(out)
}

/// Takes the contract's row lock for the rest of the transaction, so a
/// change reads what the previous change (or a run's chunk) committed, not
/// a state that is about to be replaced. PostgreSQL only: SQLite's write
/// transactions hold the database lock from their start.
pub async fn lock_for_change(conn: &impl ConnectionTrait, id: i64) -> StoreResult<()> {
    if conn.get_database_backend() == sea_orm::DbBackend::Postgres {
        contract::Entity::find_by_id(id)
            .select_only()
            .column(contract::Column::Id)
            .lock_exclusive()
            .into_tuple::<i64>()
            .one(conn)
            .await?;
    }
    Ok(())
}
