//! The `idempotency_key` table: one row per (caller, key), holding the
//! first request's fingerprint and, once done, its result.
use sea_orm::entity::prelude::*;

pub use crate::status::KeyStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject: String,
    pub idem_key: String,
    pub operation: String,
    pub request_hash: String,
    pub status: KeyStatus,
    /// JSON: the ids the first request produced.
    pub result: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
