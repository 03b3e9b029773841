//! Notifications of finished runs, written in the transaction that
//! finishes the run.

use chrono::Utc;
use entity::notification;
use sea_orm::{ActiveModelTrait, ConnectionTrait, Set};

use super::StoreResult;

pub async fn insert(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    run_id: i64,
    level: &str,
    message: String,
) -> StoreResult<()> {
    notification::ActiveModel {
        legal_entity_id: Set(Some(legal_entity_id)),
        billing_run_id: Set(Some(run_id)),
        level: Set(level.to_string()),
        message: Set(message),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}
