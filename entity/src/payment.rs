//! The `payment` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub legal_entity_id: i64,
    pub amount_e4: i64,
    pub received_on: Date,
    pub customer_id: i64,
    pub invoice_issue_date: Date,
    pub invoice_due_date: Date,
    /// The invoice's `posted_on` (payments exist only on posted invoices).
    pub invoice_posted_on: Option<Date>,
    pub reference: Option<String>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
