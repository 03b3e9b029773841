//! The `webhook_delivery` table: one event queued for one endpoint.
use sea_orm::entity::prelude::*;

pub use crate::status::WebhookDeliveryStatus;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: i64,
    /// The outbox event (its id is its position).
    pub event_id: i64,
    /// The event's legal entity, so reads are scoped in SQL.
    pub legal_entity_id: i64,
    pub status: WebhookDeliveryStatus,
    pub attempt_count: i32,
    /// When the next attempt is due, in ms since the epoch on the
    /// database's clock; NULL once finished.
    pub next_attempt_ms: Option<i64>,
    /// The worker sending it now, and until when its claim holds.
    pub lease_owner: Option<String>,
    pub lease_expires_ms: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
