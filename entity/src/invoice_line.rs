//! The `invoice_line` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "invoice_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub line_no: i32,
    pub description: String,
    pub quantity_e6: i64,
    pub unit_price_e6: i64,
    pub net_e4: i64,
    pub tax_rate_e6: i64,
    pub tax_e4: i64,
    pub total_e4: i64,
    /// What issued credit notes have credited of `net_e4`.
    pub credited_e4: i64,
    /// The contract line billed and the days this line covers (engine lines).
    pub contract_line_id: Option<i64>,
    pub service_from: Option<Date>,
    pub service_to: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
