//! The Billing Run Agent's one configuration row (id 1).

use chrono::Utc;
use entity::billing_agent_config::{self, Entity as Config, NotificationLevel};
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set};

use super::StoreResult;

const ID: i64 = 1;

/// Every setting of the configuration.
pub struct ConfigValues {
    pub auto_post_invoices: bool,
    pub emit_delivery_events: bool,
    pub emit_payment_events: bool,
    pub notification_level: NotificationLevel,
    pub default_billing_entity_id: Option<i64>,
}

pub async fn find_config(
    conn: &impl ConnectionTrait,
) -> StoreResult<Option<billing_agent_config::Model>> {
    Ok(Config::find_by_id(ID).one(conn).await?)
}

fn row(values: ConfigValues) -> billing_agent_config::ActiveModel {
    billing_agent_config::ActiveModel {
        id: Set(ID),
        auto_post_invoices: Set(values.auto_post_invoices),
        emit_delivery_events: Set(values.emit_delivery_events),
        emit_payment_events: Set(values.emit_payment_events),
        notification_level: Set(values.notification_level),
        default_billing_entity_id: Set(values.default_billing_entity_id),
        updated_at: Set(Utc::now()),
    }
}

/// `StoreError::Conflict` when another request created it first.
pub async fn insert_config(
    conn: &impl ConnectionTrait,
    values: ConfigValues,
) -> StoreResult<billing_agent_config::Model> {
    Ok(row(values).insert(conn).await?)
}

pub async fn update_config(
    conn: &impl ConnectionTrait,
    values: ConfigValues,
) -> StoreResult<billing_agent_config::Model> {
    Ok(row(values).update(conn).await?)
}
