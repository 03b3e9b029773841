//! The `contract_line` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "contract_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub contract_id: i64,
    pub line_no: i32,
    pub description: String,
    pub quantity_e6: i64,
    pub unit_price_e6: i64,
    pub tax_code_id: Option<i64>,
    /// First day in force (NULL: the contract's start).
    pub valid_from: Option<Date>,
    /// Last day in force, inclusive (NULL: open-ended).
    pub valid_until: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
