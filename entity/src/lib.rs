//! SeaORM entities: one module per table. Amount columns end in `_e4`
//! (integer at scale 4) and quantity, price and rate columns in `_e6`
//! (integer at scale 6), because SeaORM binds `Decimal` as `f64` on SQLite;
//! conversions live in one place, `billrun::domain::money`.

pub mod audit_event;
pub mod billing_agent_config;
pub mod billing_run;
pub mod contract;
pub mod contract_line;
pub mod contract_pause;
pub mod credit_note;
pub mod credit_note_line;
pub mod customer;
pub mod domain_event;
pub mod idempotency_key;
pub mod invoice;
pub mod invoice_line;
pub mod invoice_number_sequence;
pub mod legal_entity;
pub mod notification;
pub mod notification_read;
pub mod payment;
pub mod scheduled_job;
pub mod status;
pub mod tax_code;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
