//! Idempotency keys: a unique (subject, key) row claimed before the work.

use chrono::Utc;
use entity::idempotency_key::{self, Column, Entity, KeyStatus};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use super::StoreResult;

/// Inserts a pending key; `StoreError::Conflict` when the subject already
/// holds it.
pub async fn insert_pending(
    conn: &impl ConnectionTrait,
    subject: &str,
    key: &str,
    operation: &str,
    request_hash: &str,
) -> StoreResult<idempotency_key::Model> {
    let row = idempotency_key::ActiveModel {
        subject: Set(subject.to_string()),
        idem_key: Set(key.to_string()),
        operation: Set(operation.to_string()),
        request_hash: Set(request_hash.to_string()),
        status: Set(KeyStatus::Pending),
        result: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok(row.insert(conn).await?)
}

pub async fn find(
    conn: &impl ConnectionTrait,
    subject: &str,
    key: &str,
) -> StoreResult<Option<idempotency_key::Model>> {
    Ok(Entity::find()
        .filter(Column::Subject.eq(subject))
        .filter(Column::IdemKey.eq(key))
        .one(conn)
        .await?)
}

/// Records the first request's result for replays.
pub async fn complete(conn: &impl ConnectionTrait, id: i64, result: String) -> StoreResult<()> {
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(KeyStatus::Done))
        .col_expr(Column::Result, Expr::value(result))
        .filter(Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn delete(conn: &impl ConnectionTrait, id: i64) -> StoreResult<()> {
    Entity::delete_by_id(id).exec(conn).await?;
    Ok(())
}

/// Takes over a key still pending since before `stale` (its request died
/// without finishing); `false` when it finished or was taken meanwhile.
pub async fn take_over_stale(
    conn: &impl ConnectionTrait,
    id: i64,
    stale: chrono::DateTime<Utc>,
) -> StoreResult<bool> {
    let result = Entity::update_many()
        .col_expr(Column::CreatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(KeyStatus::Pending))
        .filter(Column::CreatedAt.lt(stale))
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}
