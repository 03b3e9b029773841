//! Recording a payment against a posted invoice: checked against what is
//! due in the same UPDATE that applies it (two concurrent payments cannot
//! overpay), with its audit row and `payment.received` event.

use chrono::NaiveDate;
use entity::invoice::{self, InvoiceStatus};
use entity::legal_entity;
use rust_decimal::Decimal;
use serde_json::json;

use super::setup::visible_entity;
use super::{entity_today, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::Amount;
use crate::domain::currency::minor_units_of;
use crate::domain::events::PAYMENT_RECEIVED;
use crate::store::{self, audit, invoice as invoices, outbox};

/// The longest payment reference accepted.
const MAX_REFERENCE_CHARS: usize = 200;

pub struct RecordPayment {
    pub invoice_id: i64,
    pub amount: Decimal,
    pub received_on: NaiveDate,
    pub reference: Option<String>,
}

#[tracing::instrument(skip_all, fields(invoice_id = input.invoice_id))]
pub async fn record_payment(
    ctx: &Ctx,
    principal: &Principal,
    input: RecordPayment,
) -> ServiceResult<invoice::Model> {
    require(principal, Scope::BillingRun)?;
    let inv = invoices::find(&ctx.db, principal, input.invoice_id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    let entity = visible_entity(ctx, principal, inv.legal_entity_id).await?;
    let payment = check(&inv, &entity, input)?;
    let txn = store::begin_write(&ctx.db).await?;
    if !invoices::apply_payment(&txn, inv.id, payment.amount.e4()).await? {
        txn.rollback().await?;
        return Err(ServiceError::bad_input("amount", "exceeds the amount due"));
    }
    let row = invoices::insert_payment(
        &txn,
        &inv,
        payment.amount.e4(),
        payment.received_on,
        payment.reference.clone(),
        &principal.subject,
    )
    .await?;
    let system = Principal::system("system:ar");
    let updated = invoices::find(&txn, &system, inv.id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    let details = json!({
        "paymentId": row.id.to_string(),
        "invoiceId": inv.id.to_string(),
        "amount": payment.amount.at_minor_units(minor_units_of(&inv.currency)).to_string(),
        "currency": inv.currency,
        "receivedOn": payment.received_on.to_string(),
        "reference": payment.reference,
        "status": updated.status,
    });
    audit::record(
        &txn,
        audit::NewAudit {
            legal_entity_id: Some(inv.legal_entity_id),
            subject_type: "Invoice",
            subject_id: inv.id.to_string(),
            action: "PAYMENT_RECORDED",
            actor: &principal.subject,
            details: Some(details.clone()),
        },
    )
    .await?;
    outbox::insert_events(
        &txn,
        vec![outbox::NewEvent {
            event_type: PAYMENT_RECEIVED,
            legal_entity_id: inv.legal_entity_id,
            subject_id: inv.id.to_string(),
            payload: details,
        }],
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

/// A payment that passed every check that needs no lock.
struct CheckedPayment {
    amount: Amount,
    received_on: NaiveDate,
    reference: Option<String>,
}

/// The amount is positive in the currency's minor units, the invoice is
/// POSTED, the date lies between its issue date and today in the entity's
/// timezone, and the reference is short. Whether the amount exceeds what is
/// due is checked by the UPDATE that applies it.
fn check(
    inv: &invoice::Model,
    entity: &legal_entity::Model,
    input: RecordPayment,
) -> ServiceResult<CheckedPayment> {
    let minor = minor_units_of(&entity.currency);
    if input.amount <= Decimal::ZERO {
        return Err(ServiceError::bad_input(
            "amount",
            "must be greater than zero",
        ));
    }
    if input.amount.normalize().scale() > minor {
        return Err(ServiceError::bad_input(
            "amount",
            format!("{} allows at most {minor} decimals", entity.currency),
        ));
    }
    match inv.status {
        InvoiceStatus::Posted => {}
        InvoiceStatus::Paid => {
            return Err(ServiceError::bad_input(
                "amount",
                "exceeds the amount due (invoice is paid)",
            ))
        }
        other => {
            return Err(ServiceError::bad_input(
                "invoiceId",
                format!("payments are recorded on posted invoices, not {other}"),
            ))
        }
    }
    if input.received_on < inv.issue_date {
        return Err(ServiceError::bad_input(
            "receivedOn",
            "is before the invoice's issue date",
        ));
    }
    if input.received_on > entity_today(entity)? {
        return Err(ServiceError::bad_input("receivedOn", "is in the future"));
    }
    let amount = Amount::from_decimal(input.amount)
        .map_err(|e| ServiceError::bad_input("amount", e.to_string()))?;
    let reference = input
        .reference
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reference
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REFERENCE_CHARS)
    {
        return Err(ServiceError::bad_input(
            "reference",
            format!("must be at most {MAX_REFERENCE_CHARS} characters"),
        ));
    }
    Ok(CheckedPayment {
        amount,
        received_on: input.received_on,
        reference,
    })
}
