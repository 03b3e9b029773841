//! The `notification` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notification")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legal_entity_id: Option<i64>,
    pub billing_run_id: Option<i64>,
    /// The agent's notification level when it was written.
    pub level: String,
    /// The title a person reads in a list.
    pub message: String,
    /// "INFO" or "FAILURE".
    pub severity: String,
    pub subject_type: String,
    pub subject_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
