//! The `invoice` table.
use sea_orm::entity::prelude::*;

pub use crate::status::InvoiceStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legal_entity_id: i64,
    pub customer_id: i64,
    pub contract_id: Option<i64>,
    pub billing_run_id: Option<i64>,
    pub number: Option<String>,
    pub status: InvoiceStatus,
    pub period_start: Date,
    pub period_end: Date,
    pub issue_date: Date,
    pub due_date: Date,
    pub currency: String,
    pub subtotal_e4: i64,
    pub tax_total_e4: i64,
    pub total_e4: i64,
    pub amount_paid_e4: i64,
    pub posted_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
    /// The date of `posted_at` in the legal entity's timezone (an invoice a
    /// back-dated billing run posts counts as posted on its issue date).
    pub posted_on: Option<Date>,
    /// The date of `voided_at` in the legal entity's timezone.
    pub voided_on: Option<Date>,
    pub void_reason: Option<String>,
    /// The totals of its issued credit notes.
    pub amount_credited_e4: i64,
    /// The part of those that reduced its amount due.
    pub credit_reduced_e4: i64,
    /// Customer credit consumed when it was posted.
    pub credit_applied_e4: i64,
    /// When that credit was applied (today at posting, in the entity's
    /// timezone), which a back-dated run's `posted_on` may precede.
    pub credit_applied_on: Option<Date>,
    /// The contract's version when a run billed this period: the period key
    /// is (contract, period start, version), see migration m0007.
    pub contract_version: i32,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
