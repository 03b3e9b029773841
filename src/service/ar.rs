//! Accounts receivable: the aging report, payments and the invoice list.

use chrono::NaiveDate;
use entity::invoice;
use rust_decimal::Decimal;
use serde_json::json;

use super::billing::entity_today;
use super::contracts::page_size;
use super::setup::visible_entity;
use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::currency::minor_units_of;
use crate::domain::money::{to_scaled, AMOUNT_SCALE};
use crate::store::aging::{self, AgingRow, Buckets, OpenInvoice};
use crate::store::{self, invoice as invoices, outbox};

pub const PAYMENT_RECEIVED: &str = "payment.received";
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
    let today = entity_today(&entity);
    let as_of = as_of.unwrap_or(today);
    let back_dated = as_of < today;
    let rows = aging::aging_rows(&ctx.db, entity.id, as_of, back_dated).await?;
    let mut totals = Buckets::default();
    for row in &rows {
        let fits =
            row.buckets.checked_total().is_some() && totals.checked_add(&row.buckets).is_some();
        if !fits {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "aging totals exceed the storage range"
            )));
        }
    }
    Ok(AgingReport {
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
) -> ServiceResult<Vec<(OpenInvoice, invoice::Model)>> {
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
        .filter_map(|o| models.remove(&o.invoice_id).map(|m| (o, m)))
        .collect())
}

/// Days past due and the bucket label of the contract.
pub fn bucket(as_of: NaiveDate, due: NaiveDate) -> (i64, &'static str) {
    let days = (as_of - due).num_days();
    let label = match days {
        d if d <= 0 => "current",
        1..=30 => "1-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        _ => "90+",
    };
    (days, label)
}

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
    match inv.status.as_str() {
        "POSTED" => {}
        "PAID" => {
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
    if input.received_on > entity_today(&entity) {
        return Err(ServiceError::bad_input("receivedOn", "is in the future"));
    }
    let amount_e4 = to_scaled(input.amount, AMOUNT_SCALE)
        .map_err(|e| ServiceError::bad_input("amount", e.to_string()))?;
    let reference = input
        .reference
        .map(|r| r.trim().to_string())
        .filter(|r| !r.is_empty());
    if reference.as_ref().is_some_and(|r| r.chars().count() > 200) {
        return Err(ServiceError::bad_input(
            "reference",
            "must be at most 200 characters",
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    if !invoices::apply_payment(&txn, inv.id, amount_e4).await? {
        txn.rollback().await?;
        return Err(ServiceError::bad_input("amount", "exceeds the amount due"));
    }
    let row = invoices::insert_payment(
        &txn,
        &inv,
        amount_e4,
        input.received_on,
        reference.clone(),
        &principal.subject,
    )
    .await?;
    let system = Principal::system("system:ar");
    let updated = invoices::find(&txn, &system, inv.id)
        .await?
        .ok_or(ServiceError::NotFound("invoice"))?;
    let mut amount = input.amount;
    amount.rescale(minor);
    let details = json!({
        "paymentId": row.id.to_string(),
        "invoiceId": inv.id.to_string(),
        "amount": amount.to_string(),
        "currency": inv.currency,
        "receivedOn": input.received_on.to_string(),
        "reference": reference,
        "status": updated.status,
    });
    outbox::audit(
        &txn,
        outbox::NewAudit {
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

pub struct InvoiceQuery {
    pub legal_entity_id: i64,
    pub status: Option<&'static str>,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn buckets_follow_days_past_due() {
        let as_of = d("2026-06-30");
        for (due, days, label) in [
            ("2026-06-30", 0, "current"),
            ("2026-07-15", -15, "current"),
            ("2026-06-29", 1, "1-30"),
            ("2026-05-31", 30, "1-30"),
            ("2026-05-30", 31, "31-60"),
            ("2026-05-01", 60, "31-60"),
            ("2026-04-30", 61, "61-90"),
            ("2026-04-01", 90, "61-90"),
            ("2026-03-31", 91, "90+"),
        ] {
            assert_eq!(
                bucket(as_of, d(due)),
                (days, label),
                "AR aging bucket for due {due}"
            );
        }
    }
}
