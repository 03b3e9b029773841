//! The `webhook_attempt` table: the log of every HTTP attempt.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempt")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub at: DateTimeUtc,
    pub status_code: Option<i32>,
    pub duration_ms: i64,
    pub error: Option<String>,
    /// The response body, truncated to 2 KiB.
    pub response_body: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
