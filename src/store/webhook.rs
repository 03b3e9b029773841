//! Webhook endpoints: every read is by owner (a token subject), so another
//! user's endpoint is never loaded for a request; the worker's reads (every
//! enabled endpoint) are the only ones across owners.

use chrono::{DateTime, Utc};
use entity::webhook_endpoint::{self, ActiveModel, Column, Entity, Model};
use entity::{webhook_attempt, webhook_delivery};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
};

use super::StoreResult;

pub async fn insert(conn: &impl ConnectionTrait, row: ActiveModel) -> StoreResult<Model> {
    Ok(row.insert(conn).await?)
}

pub async fn update(conn: &impl ConnectionTrait, row: ActiveModel) -> StoreResult<Model> {
    Ok(row.update(conn).await?)
}

/// The endpoint `id` if `owner` created it.
pub async fn owned(
    conn: &impl ConnectionTrait,
    owner: &str,
    id: i64,
) -> StoreResult<Option<Model>> {
    Ok(Entity::find_by_id(id)
        .filter(Column::OwnerSubject.eq(owner))
        .one(conn)
        .await?)
}

/// The endpoints `owner` created, oldest first.
pub async fn owned_all(conn: &impl ConnectionTrait, owner: &str) -> StoreResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::OwnerSubject.eq(owner))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

/// Every enabled endpoint (the fan-out's read).
pub async fn enabled(conn: &impl ConnectionTrait) -> StoreResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Enabled.eq(true))
        .order_by_asc(Column::Id)
        .all(conn)
        .await?)
}

pub async fn by_id(conn: &impl ConnectionTrait, id: i64) -> StoreResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(conn).await?)
}

/// Deletes an endpoint with its deliveries and their attempt logs.
pub async fn delete(conn: &impl ConnectionTrait, id: i64) -> StoreResult<bool> {
    let deliveries = Query::select()
        .column(webhook_delivery::Column::Id)
        .from(webhook_delivery::Entity)
        .and_where(webhook_delivery::Column::EndpointId.eq(id))
        .to_owned();
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::DeliveryId.in_subquery(deliveries))
        .exec(conn)
        .await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .exec(conn)
        .await?;
    let gone = Entity::delete_by_id(id).exec(conn).await?;
    Ok(gone.rows_affected == 1)
}

/// Disables an enabled endpoint; `false` when it was disabled already (so
/// the caller writes the `webhook_endpoint.disabled` event once).
pub async fn disable(conn: &impl ConnectionTrait, id: i64, reason: &str) -> StoreResult<bool> {
    let update = Entity::update_many()
        .col_expr(Column::Enabled, Expr::value(false))
        .col_expr(Column::DisabledReason, Expr::value(reason))
        .filter(Column::Id.eq(id))
        .filter(Column::Enabled.eq(true));
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// A success clears the failing streak.
pub async fn succeeded(conn: &impl ConnectionTrait, id: i64) -> StoreResult<()> {
    Entity::update_many()
        .col_expr(
            Column::FailingSince,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::FailingSince.is_not_null())
        .exec(conn)
        .await?;
    Ok(())
}

/// A failure starts the failing streak unless one is running; the
/// streak's start either way.
pub async fn failed(
    conn: &impl ConnectionTrait,
    id: i64,
    at: DateTime<Utc>,
) -> StoreResult<Option<DateTime<Utc>>> {
    Entity::update_many()
        .col_expr(Column::FailingSince, Expr::value(Some(at)))
        .filter(Column::Id.eq(id))
        .filter(Column::FailingSince.is_null())
        .exec(conn)
        .await?;
    Ok(by_id(conn, id).await?.and_then(|e| e.failing_since))
}

pub use webhook_endpoint::Model as Endpoint;
