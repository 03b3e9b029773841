//! Credit notes: creating (as a draft, or issued at once), issuing and
//! voiding corrections of posted invoices (DESIGN.md, Credit notes). Every
//! write checks again in the database what the checks here read, so
//! concurrent notes never credit more than is creditable.

use chrono::{Datelike, Utc};
use entity::credit_note::{self, CreditNoteReason, CreditNoteStatus};
use entity::invoice::{self, InvoiceStatus};
use entity::{credit_note_line, invoice_line, legal_entity};
use rust_decimal::Decimal;
use sea_orm::{ConnectionTrait, Set};
use serde_json::json;

use super::{entity_today, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::{Amount, Rate};
use crate::domain::billing::{amount_due_e4, credit_note_number};
use crate::domain::credit::{credit_line, split};
use crate::domain::currency::minor_units_of;
use crate::domain::events::{CREDIT_NOTE_ISSUED, CREDIT_NOTE_VOIDED};
use crate::domain::validate;
use crate::store::credit_note::{self as notes, NewCreditNoteLine};
use crate::store::numbering::{self, Series};
use crate::store::{self, audit, invoice as invoices, outbox};

/// Lines one note may name.
pub const MAX_LINES: usize = 100;

pub struct CreateCreditNote {
    pub invoice_id: i64,
    pub reason: CreditNoteReason,
    pub memo: Option<String>,
    /// (invoice line, net amount to credit)
    pub lines: Vec<(i64, Decimal)>,
    /// false keeps it a DRAFT.
    pub issue: bool,
}

pub async fn credit_note(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<credit_note::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(notes::find(&ctx.db, principal, id).await?)
}

/// A page of an entity's notes, oldest first, and whether more follow.
pub async fn credit_notes(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    first: Option<i32>,
    after: Option<i64>,
) -> ServiceResult<(Vec<credit_note::Model>, bool)> {
    require(principal, Scope::BillingRead)?;
    let limit = super::contracts::page_size(first)?;
    let mut rows = notes::page(&ctx.db, principal, legal_entity_id, after, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

#[tracing::instrument(skip_all, fields(invoice_id = input.invoice_id))]
pub async fn create_credit_note(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateCreditNote,
) -> ServiceResult<credit_note::Model> {
    require(principal, Scope::BillingRun)?;
    let inv = invoices::find(&ctx.db, principal, input.invoice_id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    creditable(&inv, "invoiceId")?;
    let entity = super::setup::visible_entity(ctx, principal, inv.legal_entity_id).await?;
    let memo = input
        .memo
        .as_deref()
        .map(|m| validate::name("memo", m))
        .transpose()?;
    let invoice_lines = invoices::lines_of(&ctx.db, &[inv.id]).await?;
    let lines = check_lines(&input.lines, &invoice_lines, minor_units_of(&inv.currency))?;
    let (subtotal, tax, total) = totals(&lines)?;
    let txn = store::begin_write(&ctx.db).await?;
    let head = credit_note::ActiveModel {
        subtotal_e4: Set(subtotal.e4()),
        tax_total_e4: Set(tax.e4()),
        total_e4: Set(total.e4()),
        reason: Set(input.reason),
        memo: Set(memo),
        created_by: Set(principal.subject.clone()),
        ..Default::default()
    };
    let note = notes::insert(&txn, &inv, head, lines).await?;
    let note = if input.issue {
        issue_in(&txn, note, &entity, &principal.subject).await?
    } else {
        audit::record(
            &txn,
            audit_note(&note, "CREDIT_NOTE_CREATED", &principal.subject),
        )
        .await?;
        note
    };
    txn.commit().await?;
    Ok(note)
}

/// DRAFT → ISSUED: numbered in this transaction, applied to the invoice.
#[tracing::instrument(skip_all, fields(credit_note_id = id))]
pub async fn issue_credit_note(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<credit_note::Model> {
    require(principal, Scope::BillingRun)?;
    let (note, entity) = visible(ctx, principal, id).await?;
    if note.status != CreditNoteStatus::Draft {
        return Err(ServiceError::bad_input(
            "id",
            format!(
                "only a DRAFT credit note can be issued; this one is {}",
                note.status
            ),
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    let issued = issue_in(&txn, note, &entity, &principal.subject).await?;
    txn.commit().await?;
    Ok(issued)
}

/// VOID, restoring what an issued note had credited and settled; refused
/// once some of its customer credit was consumed.
#[tracing::instrument(skip_all, fields(credit_note_id = id))]
pub async fn void_credit_note(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<credit_note::Model> {
    require(principal, Scope::BillingRun)?;
    let (note, entity) = visible(ctx, principal, id).await?;
    if note.status == CreditNoteStatus::Void {
        return Err(ServiceError::bad_input(
            "id",
            "the credit note is already VOID",
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    if !notes::mark_void(&txn, note.id, entity_today(&entity)?, Utc::now()).await? {
        txn.rollback().await?;
        // Voided meanwhile by a concurrent request, or its credit is in use.
        let now = notes::find(&ctx.db, principal, note.id).await?;
        let message = match now.map(|n| n.status) {
            Some(CreditNoteStatus::Void) => "the credit note is already VOID",
            _ => "some of this credit note's customer credit was consumed by later invoices; it cannot be voided",
        };
        return Err(ServiceError::bad_input("id", message));
    }
    if note.status == CreditNoteStatus::Issued {
        for line in notes::lines_of(&txn, &[note.id]).await? {
            notes::uncredit_line(&txn, line.invoice_line_id, line.net_e4).await?;
        }
        invoices::unapply_credit_note(
            &txn,
            note.invoice_id,
            note.total_e4,
            note.applied_to_invoice_e4,
        )
        .await?;
    }
    let voided = reload(&txn, note.id).await?;
    outbox::insert_events(&txn, vec![note_event(&voided, CREDIT_NOTE_VOIDED)]).await?;
    audit::record(
        &txn,
        audit_note(&voided, "CREDIT_NOTE_VOIDED", &principal.subject),
    )
    .await?;
    txn.commit().await?;
    Ok(voided)
}

/// A note the caller may see, with its legal entity (NOT_FOUND otherwise).
async fn visible(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<(credit_note::Model, legal_entity::Model)> {
    let note = notes::find(&ctx.db, principal, id)
        .await?
        .ok_or(ServiceError::NotFound("credit note"))?;
    let entity = super::setup::visible_entity(ctx, principal, note.legal_entity_id).await?;
    Ok((note, entity))
}

/// Only POSTED or PAID invoices can be credited.
fn creditable(inv: &invoice::Model, field: &str) -> ServiceResult<()> {
    match inv.status {
        InvoiceStatus::Posted | InvoiceStatus::Paid => Ok(()),
        other => Err(ServiceError::bad_input(
            field,
            format!("only POSTED or PAID invoices can be credited; this one is {other}"),
        )),
    }
}

/// Each named line is a line of the invoice, named once, with a net amount
/// above zero in the currency's minor units and at most what is still
/// creditable on it; tax at the line's rate.
fn check_lines(
    wanted: &[(i64, Decimal)],
    invoice_lines: &[invoice_line::Model],
    minor: u32,
) -> ServiceResult<Vec<NewCreditNoteLine>> {
    if wanted.is_empty() || wanted.len() > MAX_LINES {
        return Err(ServiceError::bad_input(
            "lines",
            format!("a credit note names between 1 and {MAX_LINES} invoice lines"),
        ));
    }
    let mut out: Vec<NewCreditNoteLine> = Vec::with_capacity(wanted.len());
    for (i, (line_id, net)) in wanted.iter().enumerate() {
        let field = |name: &str| format!("lines.{i}.{name}");
        let line = invoice_lines
            .iter()
            .find(|l| l.id == *line_id)
            .ok_or_else(|| {
                ServiceError::bad_input(&field("invoiceLineId"), "is not a line of this invoice")
            })?;
        if out.iter().any(|l| l.invoice_line_id == *line_id) {
            return Err(ServiceError::bad_input(
                &field("invoiceLineId"),
                "names a line twice",
            ));
        }
        if *net <= Decimal::ZERO {
            return Err(ServiceError::bad_input(
                &field("netAmount"),
                "must be greater than zero",
            ));
        }
        if net.normalize().scale() > minor {
            return Err(ServiceError::bad_input(
                &field("netAmount"),
                format!("allows at most {minor} decimals"),
            ));
        }
        let amounts = credit_line(*net, Rate::from_e6(line.tax_rate_e6), minor)
            .map_err(|e| ServiceError::bad_input(&field("netAmount"), e.to_string()))?;
        let creditable = Amount::from_e4(line.net_e4 - line.credited_e4);
        if amounts.net > creditable {
            return Err(ServiceError::bad_input(
                &field("netAmount"),
                format!(
                    "exceeds what is still creditable on that line ({})",
                    creditable.at_minor_units(minor)
                ),
            ));
        }
        out.push(NewCreditNoteLine {
            invoice_line_id: line.id,
            description: line.description.clone(),
            net_e4: amounts.net.e4(),
            tax_rate_e6: line.tax_rate_e6,
            tax_e4: amounts.tax.e4(),
            total_e4: amounts.total.e4(),
            service: None,
        });
    }
    Ok(out)
}

/// Subtotal, tax and total of the lines, as for invoices: sums of the
/// rounded lines, checked against the storage range.
fn totals(lines: &[NewCreditNoteLine]) -> ServiceResult<(Amount, Amount, Amount)> {
    let too_large = |_| {
        ServiceError::bad_input(
            "lines",
            "the credit note's total exceeds the largest amount billrun can store",
        )
    };
    let subtotal =
        Amount::sum(lines.iter().map(|l| Amount::from_e4(l.net_e4))).map_err(too_large)?;
    let tax = Amount::sum(lines.iter().map(|l| Amount::from_e4(l.tax_e4))).map_err(too_large)?;
    Ok((subtotal, tax, subtotal.checked_add(tax).map_err(too_large)?))
}

/// A note for the days a contract change took back (reason ORDER_CHANGE or
/// ORDER_CANCELLATION), created and issued in the change's transaction.
pub(super) async fn issue_change_note(
    txn: &impl ConnectionTrait,
    inv: &invoice::Model,
    entity: &legal_entity::Model,
    reason: CreditNoteReason,
    memo: String,
    lines: Vec<NewCreditNoteLine>,
    actor: &str,
) -> ServiceResult<credit_note::Model> {
    creditable(inv, "id").map_err(|_| {
        ServiceError::conflict(format!(
            "invoice {} is a {} invoice: post or void it before changing the contract",
            inv.id, inv.status
        ))
    })?;
    let (subtotal, tax, total) = totals(&lines)?;
    let head = credit_note::ActiveModel {
        subtotal_e4: Set(subtotal.e4()),
        tax_total_e4: Set(tax.e4()),
        total_e4: Set(total.e4()),
        reason: Set(reason),
        memo: Set(Some(memo)),
        created_by: Set(actor.to_string()),
        ..Default::default()
    };
    let note = notes::insert(txn, inv, head, lines).await?;
    issue_in(txn, note, entity, actor).await
}

/// Issues a draft in `txn`: credits its lines (each UPDATE refuses to pass
/// the line's net), settles the invoice's amount due first and sends the
/// rest to customer credit, numbers it from its own series.
async fn issue_in(
    txn: &impl ConnectionTrait,
    note: credit_note::Model,
    entity: &legal_entity::Model,
    actor: &str,
) -> ServiceResult<credit_note::Model> {
    let system = Principal::system("system:credit-notes");
    let inv = invoices::find(txn, &system, note.invoice_id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    creditable(&inv, "id")?;
    for line in notes::lines_of(txn, &[note.id]).await? {
        if !notes::credit_line(txn, line.invoice_line_id, line.net_e4).await? {
            return Err(credit_exceeded(&line));
        }
    }
    let due = Amount::from_e4(amount_due_e4(
        false,
        inv.total_e4,
        [
            inv.amount_paid_e4,
            inv.credit_reduced_e4,
            inv.credit_applied_e4,
        ],
    ));
    let (applied, to_balance) = split(Amount::from_e4(note.total_e4), due);
    if !invoices::apply_credit_note(txn, inv.id, note.total_e4, applied.e4()).await? {
        return Err(ServiceError::conflict(
            "the invoice changed meanwhile; try again",
        ));
    }
    let today = entity_today(entity)?;
    let year = today.year();
    let n = numbering::allocate_numbers(txn, Series::CreditNote, entity.id, year, 1).await?;
    let number = credit_note_number(&entity.code, year, n);
    let split = (applied.e4(), to_balance.e4());
    if !notes::mark_issued(txn, note.id, &number, today, Utc::now(), split).await? {
        return Err(ServiceError::conflict(
            "the credit note is no longer a draft",
        ));
    }
    let issued = reload(txn, note.id).await?;
    // Outbox and audit rows last (their positions are taken at the end).
    outbox::insert_events(txn, vec![note_event(&issued, CREDIT_NOTE_ISSUED)]).await?;
    audit::record(txn, audit_note(&issued, "CREDIT_NOTE_ISSUED", actor)).await?;
    Ok(issued)
}

fn credit_exceeded(line: &credit_note_line::Model) -> ServiceError {
    ServiceError::bad_input(
        &format!("lines.{}.netAmount", line.line_no),
        "exceeds what is still creditable on that line (another credit note was issued meanwhile)",
    )
}

async fn reload(txn: &impl ConnectionTrait, id: i64) -> ServiceResult<credit_note::Model> {
    notes::find(txn, &Principal::system("system:credit-notes"), id)
        .await?
        .ok_or(ServiceError::NotFound("credit note"))
}

fn summary(note: &credit_note::Model) -> serde_json::Value {
    let minor = minor_units_of(&note.currency);
    let money = |e4: i64| Amount::from_e4(e4).at_minor_units(minor).to_string();
    json!({
        "creditNoteId": note.id.to_string(),
        "number": note.number,
        "invoiceId": note.invoice_id.to_string(),
        "customerId": note.customer_id.to_string(),
        "status": note.status,
        "reason": note.reason,
        "total": money(note.total_e4),
        "appliedToInvoice": money(note.applied_to_invoice_e4),
        "toCreditBalance": money(note.to_credit_balance_e4),
        "currency": note.currency,
    })
}

fn note_event(note: &credit_note::Model, event_type: &'static str) -> outbox::NewEvent {
    outbox::NewEvent {
        event_type,
        legal_entity_id: note.legal_entity_id,
        subject_id: note.id.to_string(),
        payload: summary(note),
    }
}

fn audit_note<'a>(
    note: &credit_note::Model,
    action: &'static str,
    actor: &'a str,
) -> audit::NewAudit<'a> {
    audit::NewAudit {
        legal_entity_id: Some(note.legal_entity_id),
        subject_type: "CreditNote",
        subject_id: note.id.to_string(),
        action,
        actor,
        details: Some(summary(note)),
    }
}
