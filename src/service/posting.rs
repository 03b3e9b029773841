//! What posting an invoice starts, shared by the billing run (which posts
//! whole chunks) and `postInvoice` (one draft): the delivery and collection
//! events, per the agent's configuration and the customer.

use entity::{billing_agent_config, customer, invoice};
use serde_json::json;

use crate::domain::amount::Amount;
use crate::domain::events::{INVOICE_DELIVERY_REQUESTED, PAYMENT_COLLECTION_REQUESTED};
use crate::store::outbox::NewEvent;

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
    if config.emit_payment_events && customer.has_payment_method {
        out.push(NewEvent {
            event_type: PAYMENT_COLLECTION_REQUESTED,
            legal_entity_id: inv.legal_entity_id,
            subject_id: inv.id.to_string(),
            payload: base,
        });
    }
    out
}
