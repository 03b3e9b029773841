//! The names of the domain events billrun writes to its outbox (what
//! `domainEvents`, the `domainEvents` subscription and, later, webhooks
//! carry), and of the events that trigger the Billing Run Agent. One home,
//! so a consumer's filter and the writer can never spell one differently.

/// A posted invoice to send to a customer with an email address.
pub const INVOICE_DELIVERY_REQUESTED: &str = "invoice.delivery_requested";
/// A posted invoice to collect from a customer with a payment method.
pub const PAYMENT_COLLECTION_REQUESTED: &str = "payment.collection_requested";
/// A payment was recorded against an invoice.
pub const PAYMENT_RECEIVED: &str = "payment.received";
pub const BILLING_RUN_COMPLETED: &str = "billing_run.completed";
pub const BILLING_RUN_FAILED: &str = "billing_run.failed";
/// A credit note was issued (it corrects an invoice, perhaps adds credit).
pub const CREDIT_NOTE_ISSUED: &str = "credit_note.issued";
pub const CREDIT_NOTE_VOIDED: &str = "credit_note.voided";
/// A contract was amended, paused, resumed or cancelled.
pub const CONTRACT_CHANGED: &str = "contract.changed";
/// A finished run notified (per the agent's notification level).
pub const NOTIFICATION_CREATED: &str = "notification.created";

/// A webhook endpoint was disabled (410 Gone, or failing too long).
pub const WEBHOOK_ENDPOINT_DISABLED: &str = "webhook_endpoint.disabled";

/// What starts the Billing Run Agent (its definition lists them).
pub const AGENT_TRIGGERS: [&str; 2] = ["schedule.fired", "billing_run.manual_trigger"];
