//! The Billing Run Agent's definition and configuration.

use entity::billing_agent_config;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::store::agent::{self as settings, ConfigValues};
use crate::store::{self, audit, StoreError};

pub const AGENT_KEY: &str = "billing-run";
pub const AGENT_NAME: &str = "Billing Run Agent";
pub use crate::domain::events::AGENT_TRIGGERS as TRIGGER_EVENTS;

pub use entity::status::NotificationLevel;

/// The one configuration row, created with the defaults on first read.
pub async fn config(conn: &impl ConnectionTrait) -> ServiceResult<billing_agent_config::Model> {
    if let Some(row) = settings::find_config(conn).await? {
        return Ok(row);
    }
    let defaults = ConfigValues {
        auto_post_invoices: true,
        emit_delivery_events: true,
        emit_payment_events: true,
        notification_level: NotificationLevel::All,
        default_billing_entity_id: None,
    };
    match settings::insert_config(conn, defaults).await {
        Ok(row) => Ok(row),
        // Another request created it first.
        Err(StoreError::Conflict(_)) => settings::find_config(conn)
            .await?
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("agent configuration missing"))),
        Err(err) => Err(err.into()),
    }
}

pub async fn read_config(
    ctx: &Ctx,
    principal: &Principal,
) -> ServiceResult<billing_agent_config::Model> {
    require(principal, Scope::BillingRead)?;
    config(&ctx.db).await
}

#[derive(Default)]
pub struct ConfigChange {
    pub auto_post_invoices: Option<bool>,
    pub emit_delivery_events: Option<bool>,
    pub emit_payment_events: Option<bool>,
    pub notification_level: Option<NotificationLevel>,
    /// `Some(None)` clears it.
    pub default_billing_entity_id: Option<Option<i64>>,
}

fn as_json(c: &billing_agent_config::Model) -> serde_json::Value {
    json!({
        "autoPostInvoices": c.auto_post_invoices,
        "emitDeliveryEvents": c.emit_delivery_events,
        "emitPaymentEvents": c.emit_payment_events,
        "notificationLevel": c.notification_level,
        "defaultBillingEntityId": c.default_billing_entity_id.map(|id| id.to_string()),
    })
}

/// The configuration is global, so changing it takes `config:write` on
/// every legal entity. Audited with before and after.
#[tracing::instrument(skip_all)]
pub async fn update_config(
    ctx: &Ctx,
    principal: &Principal,
    change: ConfigChange,
) -> ServiceResult<billing_agent_config::Model> {
    require(principal, Scope::ConfigWrite)?;
    if principal.entity_filter().is_some() {
        return Err(ServiceError::Forbidden(
            "config:write on every legal entity",
        ));
    }
    if let Some(Some(id)) = change.default_billing_entity_id {
        if store::legal_entity::find(&ctx.db, principal, id)
            .await?
            .is_none()
        {
            return Err(ServiceError::bad_input(
                "defaultBillingEntityId",
                "legal entity does not exist",
            ));
        }
    }
    let txn = store::begin_write(&ctx.db).await?;
    let before = config(&txn).await?;
    let values = ConfigValues {
        auto_post_invoices: change
            .auto_post_invoices
            .unwrap_or(before.auto_post_invoices),
        emit_delivery_events: change
            .emit_delivery_events
            .unwrap_or(before.emit_delivery_events),
        emit_payment_events: change
            .emit_payment_events
            .unwrap_or(before.emit_payment_events),
        notification_level: change
            .notification_level
            .unwrap_or(before.notification_level),
        default_billing_entity_id: change
            .default_billing_entity_id
            .unwrap_or(before.default_billing_entity_id),
    };
    let after = settings::update_config(&txn, values).await?;
    audit::record(
        &txn,
        audit::NewAudit {
            legal_entity_id: None,
            subject_type: "BillingAgentConfig",
            subject_id: AGENT_KEY.into(),
            action: "CONFIG_UPDATED",
            actor: &principal.subject,
            details: Some(json!({ "before": as_json(&before), "after": as_json(&after) })),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}
