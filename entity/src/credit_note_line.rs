//! The `credit_note_line` table: how much of one invoice line a note credits.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "credit_note_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub credit_note_id: i64,
    pub invoice_line_id: i64,
    pub line_no: i32,
    pub description: String,
    pub net_e4: i64,
    pub tax_rate_e6: i64,
    pub tax_e4: i64,
    pub total_e4: i64,
    /// The days credited, for notes written by contract changes.
    pub service_from: Option<Date>,
    pub service_to: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
