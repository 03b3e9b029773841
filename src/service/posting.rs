//! What posting an invoice does besides numbering it, shared by the
//! billing run (which posts whole chunks) and `postInvoice` (one draft):
//! it takes the customer's credit, oldest notes first, and starts the
//! delivery and collection events, per the agent's configuration.

use std::collections::HashMap;

use entity::status::InvoiceStatus;
use entity::{billing_agent_config, customer, invoice};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{ServiceError, ServiceResult};
use crate::domain::amount::Amount;
use crate::domain::credit::consume;
use crate::domain::events::{INVOICE_DELIVERY_REQUESTED, PAYMENT_COLLECTION_REQUESTED};
use crate::store::credit_note as notes;
use crate::store::outbox::NewEvent;

/// The customer credit invoices being posted take.
#[derive(Default)]
pub struct CreditTaken {
    /// Per invoice, in the order given.
    pub per_invoice: Vec<Amount>,
    /// Per credit note: what is consumed of it.
    notes: Vec<(i64, Amount)>,
}

/// What each of `invoices` (customer, amount due), posted in this order,
/// takes of its customer's credit: oldest notes first, never more than it
/// owes. The notes are locked until `txn` ends (see `open_credit`).
pub async fn take_credit(
    txn: &impl ConnectionTrait,
    invoices: &[(i64, Amount)],
) -> ServiceResult<CreditTaken> {
    let mut customers: Vec<i64> = invoices.iter().map(|(c, _)| *c).collect();
    customers.sort_unstable();
    customers.dedup();
    let open = notes::open_credit(txn, &customers).await?;
    let mut taken = CreditTaken {
        per_invoice: vec![Amount::ZERO; invoices.len()],
        notes: Vec::new(),
    };
    if open.is_empty() {
        return Ok(taken);
    }
    let mut left: HashMap<i64, Vec<(i64, Amount)>> = HashMap::new();
    for (note, customer, credit) in open {
        left.entry(customer)
            .or_default()
            .push((note, Amount::from_e4(credit)));
    }
    for (i, (customer, due)) in invoices.iter().enumerate() {
        let Some(balances) = left.get_mut(customer) else {
            continue;
        };
        for (note, take) in consume(balances, *due) {
            if let Some(b) = balances.iter_mut().find(|(n, _)| *n == note) {
                b.1 = Amount::from_e4(b.1.e4() - take.e4());
            }
            taken.per_invoice[i] = Amount::from_e4(taken.per_invoice[i].e4() + take.e4());
            taken.notes.push((note, take));
        }
    }
    Ok(taken)
}

/// Consumes from the notes what [`take_credit`] assigned, in the same
/// transaction as the invoices that took it.
pub async fn consume_credit(txn: &impl ConnectionTrait, taken: &CreditTaken) -> ServiceResult<()> {
    for (note, amount) in &taken.notes {
        if !notes::consume(txn, *note, amount.e4()).await? {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "credit note {note} had less credit left than was locked"
            )));
        }
    }
    Ok(())
}

/// The outbox events a posted invoice starts, per configuration and customer.
pub fn posting_events(
    config: &billing_agent_config::Model,
    customer: &customer::Model,
    inv: &invoice::Model,
    minor_units: u32,
) -> Vec<NewEvent> {
    let total = Amount::from_e4(inv.total_e4).at_minor_units(minor_units);
    let base = json!({
        "invoiceId": inv.id.to_string(),
        "number": inv.number,
        "customerId": customer.id.to_string(),
        "total": total.to_string(),
        "currency": inv.currency,
        "dueDate": inv.due_date.to_string(),
    });
    let mut out = Vec::new();
    if config.emit_delivery_events {
        if let Some(email) = &customer.email {
            let mut payload = base.clone();
            payload["email"] = json!(email);
            out.push(NewEvent {
                event_type: INVOICE_DELIVERY_REQUESTED,
                legal_entity_id: inv.legal_entity_id,
                subject_id: inv.id.to_string(),
                payload,
            });
        }
    }
    // An invoice customer credit paid in full has nothing to collect.
    let owes = inv.status != InvoiceStatus::Paid;
    if config.emit_payment_events && customer.has_payment_method && owes {
        out.push(NewEvent {
            event_type: PAYMENT_COLLECTION_REQUESTED,
            legal_entity_id: inv.legal_entity_id,
            subject_id: inv.id.to_string(),
            payload: base,
        });
    }
    out
}
