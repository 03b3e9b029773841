//! The `credit_note` table: a correction of a posted invoice.
use sea_orm::entity::prelude::*;

pub use crate::status::{CreditNoteReason, CreditNoteStatus};

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "credit_note")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legal_entity_id: i64,
    pub invoice_id: i64,
    pub customer_id: i64,
    /// Null while DRAFT; `<code>-CN-<year>-<000001>` once issued.
    pub number: Option<String>,
    pub status: CreditNoteStatus,
    pub reason: CreditNoteReason,
    pub memo: Option<String>,
    /// The date it was issued, in the legal entity's timezone.
    pub issue_date: Option<Date>,
    pub voided_on: Option<Date>,
    pub currency: String,
    pub subtotal_e4: i64,
    pub tax_total_e4: i64,
    pub total_e4: i64,
    /// The part that reduced the invoice's amount due.
    pub applied_to_invoice_e4: i64,
    /// The rest, which became customer credit.
    pub to_credit_balance_e4: i64,
    /// What of that credit the customer's later invoices have not consumed.
    pub credit_remaining_e4: i64,
    /// Copied from the invoice (fixed once posted) for back-dated aging.
    pub invoice_issue_date: Date,
    pub invoice_due_date: Date,
    pub invoice_posted_on: Option<Date>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub issued_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
