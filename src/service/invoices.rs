//! Reading, posting and voiding invoices.

use chrono::{Datelike, Utc};
use entity::invoice::{self, InvoiceStatus};
use serde_json::json;

use super::entity_today;
use super::posting::{self, posting_events};
use super::{agent, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::Amount;
use crate::domain::billing::invoice_number;
use crate::domain::currency::minor_units_of;
use crate::domain::validate;
use crate::store::numbering::Series;
use crate::store::{self, audit, invoice as invoices, numbering, outbox, party};

pub async fn invoice(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<invoice::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(invoices::find(&ctx.db, principal, id).await?)
}

async fn visible(ctx: &Ctx, principal: &Principal, id: i64) -> ServiceResult<invoice::Model> {
    invoices::find(&ctx.db, principal, id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))
}

fn audit_invoice<'a>(
    inv: &invoice::Model,
    action: &'static str,
    actor: &'a str,
    details: serde_json::Value,
) -> audit::NewAudit<'a> {
    audit::NewAudit {
        legal_entity_id: Some(inv.legal_entity_id),
        subject_type: "Invoice",
        subject_id: inv.id.to_string(),
        action,
        actor,
        details: Some(details),
    }
}

/// DRAFT → POSTED. The number comes from the entity's sequence for the
/// issue year, in this transaction, with the outbox events beside it.
#[tracing::instrument(skip_all, fields(invoice_id = id))]
pub async fn post_invoice(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<invoice::Model> {
    require(principal, Scope::BillingRun)?;
    let inv = visible(ctx, principal, id).await?;
    if inv.status != InvoiceStatus::Draft {
        return Err(ServiceError::conflict(format!(
            "invoice is {}, only drafts can be posted",
            inv.status
        )));
    }
    let system = Principal::system("system:billing");
    let entity = store::legal_entity::find(&ctx.db, &system, inv.legal_entity_id)
        .await?
        .ok_or(ServiceError::NotFound("legal entity"))?;
    let config = agent::config(&ctx.db).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let year = inv.issue_date.year();
    let n =
        numbering::allocate_numbers(&txn, Series::Invoice, inv.legal_entity_id, year, 1).await?;
    let number = invoice_number(&entity.code, year, n);
    let (now, today) = (Utc::now(), entity_today(&entity)?);
    if !invoices::mark_posted(&txn, inv.id, &number, now, today).await? {
        // Rolling back returns the number: the sequence stays gapless.
        txn.rollback().await?;
        return Err(ServiceError::conflict("invoice is no longer a draft"));
    }
    let due = Amount::from_e4(inv.total_e4 - inv.amount_paid_e4);
    let credit = posting::take_credit(&txn, &[(inv.customer_id, due)]).await?;
    if let Some(applied) = credit.per_invoice.first().filter(|a| a.is_positive()) {
        if !invoices::apply_customer_credit(&txn, inv.id, applied.e4(), today).await? {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "customer credit taken exceeds what invoice {} owes",
                inv.id
            )));
        }
        posting::consume_credit(&txn, &credit).await?;
    }
    let posted = invoices::find(&txn, &system, inv.id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    let minor = minor_units_of(&entity.currency);
    if let Some(customer) = party::find_customers(&txn, &system, &[inv.customer_id])
        .await?
        .pop()
    {
        outbox::insert_events(&txn, posting_events(&config, &customer, &posted, minor)).await?;
    }
    audit::record(
        &txn,
        audit_invoice(
            &posted,
            "INVOICE_POSTED",
            &principal.subject,
            json!({ "number": number }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(posted)
}

/// POSTED or DRAFT → VOID with a reason. A void keeps its number and its
/// period is not billed again: a void is a decision, not a retry.
#[tracing::instrument(skip_all, fields(invoice_id = id))]
pub async fn void_invoice(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    reason: &str,
) -> ServiceResult<invoice::Model> {
    require(principal, Scope::BillingRun)?;
    let reason = validate::name("reason", reason)?;
    let inv = visible(ctx, principal, id).await?;
    // Settled first: a PAID invoice has payments or credit, and is
    // corrected by a credit note, not voided.
    if inv.amount_paid_e4 > 0 || inv.amount_credited_e4 > 0 || inv.credit_applied_e4 > 0 {
        return Err(ServiceError::bad_input(
            "id",
            "the invoice has payments or issued credit notes and cannot be voided; credit it instead (createCreditNote)",
        ));
    }
    if !matches!(inv.status, InvoiceStatus::Draft | InvoiceStatus::Posted) {
        return Err(ServiceError::conflict(format!(
            "invoice is {} and cannot be voided",
            inv.status
        )));
    }
    let system = Principal::system("system:billing");
    let entity = store::legal_entity::find(&ctx.db, &system, inv.legal_entity_id)
        .await?
        .ok_or(ServiceError::NotFound("legal entity"))?;
    let (now, today) = (Utc::now(), entity_today(&entity)?);
    let txn = store::begin_write(&ctx.db).await?;
    if !invoices::mark_void(&txn, inv.id, inv.status, &reason, now, today).await? {
        txn.rollback().await?;
        return Err(ServiceError::conflict(
            "invoice changed meanwhile; reload it",
        ));
    }
    let voided = invoices::find(&txn, &system, inv.id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    audit::record(
        &txn,
        audit_invoice(
            &voided,
            "INVOICE_VOIDED",
            &principal.subject,
            json!({ "reason": reason, "number": voided.number }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(voided)
}
