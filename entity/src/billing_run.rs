//! The `billing_run` table.
use sea_orm::entity::prelude::*;

pub use crate::status::{RunStatus, TriggerSource};

/// Serializable so a committed state can travel whole in a NOTIFY payload.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "billing_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub legal_entity_id: i64,
    pub seq: i32,
    pub run_number: String,
    pub status: RunStatus,
    pub trigger_source: TriggerSource,
    pub triggered_by: String,
    pub as_of: Date,
    pub dry_run: bool,
    pub period_start: Option<Date>,
    pub period_end: Option<Date>,
    pub contract_count: i32,
    pub processed_count: i32,
    pub invoice_count: i32,
    pub invoice_total_e4: i64,
    pub posted_count: i32,
    pub event_count: i32,
    pub skipped_count: i32,
    /// Resume cursor: contracts with a smaller id are done.
    pub last_contract_id: i64,
    /// The lease token of the execution holding the run (`<replica>/<n>`,
    /// one per execution, never reused), and when the lease lapses, in ms
    /// since the epoch on the database's clock.
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
    pub started_at: Option<DateTimeUtc>,
    pub completed_at: Option<DateTimeUtc>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    /// When this state was written (just before its commit).
    pub updated_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
