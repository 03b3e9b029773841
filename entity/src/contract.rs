//! The `contract` table.
use sea_orm::entity::prelude::*;

pub use crate::status::ContractStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Deserialize)]
#[sea_orm(table_name = "contract")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legal_entity_id: i64,
    pub customer_id: i64,
    pub status: ContractStatus,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub billing_interval: String,
    pub interval_count: i32,
    pub timing: String,
    /// Index of the first period not yet billed.
    pub next_period_index: i32,
    /// Billing date of that period; NULL when no period is left.
    pub next_billing_date: Option<Date>,
    pub created_at: DateTimeUtc,
    /// Bumped by every write to the billing state (a run moving the contract
    /// on, a lifecycle change), compared-and-set so racing writers serialize.
    pub version: i32,
    /// The last day the billing cursor has passed; NULL: the day before
    /// period `next_period_index` starts.
    pub billed_through: Option<Date>,
    /// The day a cancellation was recorded.
    pub cancelled_at: Option<Date>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
