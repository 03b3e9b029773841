//! The `billing_agent_config` table.
use sea_orm::entity::prelude::*;

pub use crate::status::NotificationLevel;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "billing_agent_config")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub auto_post_invoices: bool,
    pub emit_delivery_events: bool,
    pub emit_payment_events: bool,
    pub notification_level: NotificationLevel,
    pub default_billing_entity_id: Option<i64>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
