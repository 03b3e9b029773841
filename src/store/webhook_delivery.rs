//! The webhook queue: the fan-out cursor, deliveries claimed with a lease
//! on the database's clock (as billing runs are, `store::lease`), and the
//! attempt log.
//!
//! Order per endpoint: only an endpoint's oldest unfinished delivery (by
//! event position) can be claimed, so a later event is never sent before
//! an earlier one has succeeded or failed finally. Exactly one worker
//! sends each attempt: the claim is a compare-and-set on the lease, and
//! the outcome is written only while the claimant still holds it.

use chrono::{DateTime, Utc};
use entity::webhook_delivery::{self, ActiveModel, Column, Entity, Model, WebhookDeliveryStatus};
use entity::{domain_event, webhook_attempt};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set, Statement,
};

use super::lease::db_now_ms;
use super::{scoped, StoreError, StoreResult};
use crate::domain::access::Principal;

/// The outbox position up to which events have been fanned out.
pub async fn cursor(conn: &impl ConnectionTrait) -> StoreResult<i64> {
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT position FROM webhook_cursor WHERE id = 1",
        ))
        .await?
        .ok_or_else(|| StoreError::Corrupt("webhook_cursor row missing".into()))?;
    Ok(row.try_get::<i64>("", "position")?)
}

/// Moves the cursor from `from` to `to`; `false` when another fan-out
/// moved it first (the caller rolls back). Taken first in its transaction,
/// the row lock serializes fan-outs on PostgreSQL.
pub async fn advance_cursor(conn: &impl ConnectionTrait, from: i64, to: i64) -> StoreResult<bool> {
    let backend = conn.get_database_backend();
    let sql = format!(
        "UPDATE webhook_cursor SET position = {} WHERE id = 1 AND position = {}",
        super::placeholder(backend, 1),
        super::placeholder(backend, 2)
    );
    let done = conn
        .execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [to.into(), from.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// A queued delivery of `event` to `endpoint`.
pub fn queued(endpoint: i64, event: &domain_event::Model, now: DateTime<Utc>) -> ActiveModel {
    ActiveModel {
        endpoint_id: Set(endpoint),
        event_id: Set(event.id),
        legal_entity_id: Set(event.legal_entity_id),
        status: Set(WebhookDeliveryStatus::Pending),
        attempt_count: Set(0),
        next_attempt_ms: Set(Some(0)),
        created_at: Set(now),
        ..Default::default()
    }
}

/// Inserts deliveries; one that exists already (a fan-out repeated after a
/// crash) is skipped.
pub async fn insert(conn: &impl ConnectionTrait, rows: Vec<ActiveModel>) -> StoreResult<()> {
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<ActiveModel> = rows.by_ref().take(super::BATCH_ROWS).collect();
        Entity::insert_many(batch)
            .on_conflict(
                OnConflict::columns([Column::EndpointId, Column::EventId])
                    .do_nothing()
                    .to_owned(),
            )
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

const OPEN: &str = "('PENDING', 'RETRYING')";

/// Ids of deliveries that may be sent now: each enabled endpoint's oldest
/// unfinished one, if it is due and nobody holds it.
pub async fn due_heads(conn: &impl ConnectionTrait, limit: usize) -> StoreResult<Vec<i64>> {
    let backend = conn.get_database_backend();
    let now = db_now_ms(backend);
    let sql = format!(
        "SELECT d.id AS id FROM webhook_endpoint e JOIN webhook_delivery d ON d.id = \
         (SELECT d2.id FROM webhook_delivery d2 WHERE d2.endpoint_id = e.id \
          AND d2.status IN {OPEN} ORDER BY d2.event_id LIMIT 1) \
         WHERE e.enabled AND d.next_attempt_ms <= {now} \
         AND (d.lease_owner IS NULL OR d.lease_expires_ms < {now}) \
         ORDER BY d.next_attempt_ms, d.id LIMIT {limit}"
    );
    let rows = conn
        .query_all_raw(Statement::from_string(backend, sql))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<i64>("", "id").map_err(StoreError::from))
        .collect()
}

/// The endpoint's oldest unfinished delivery (the only one it may be
/// sent; `claim` then checks it is due and free).
pub async fn head_of(conn: &impl ConnectionTrait, endpoint: i64) -> StoreResult<Option<i64>> {
    Ok(Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::EndpointId.eq(endpoint))
        .filter(Column::Status.is_in(WebhookDeliveryStatus::OPEN))
        .order_by_asc(Column::EventId)
        .limit(1)
        .into_tuple()
        .one(conn)
        .await?)
}

fn lapsed(backend: DbBackend) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(Column::LeaseOwner.is_null())
        .add(Expr::cust(format!(
            "lease_expires_ms < {}",
            db_now_ms(backend)
        )))
}

/// Claims delivery `id` for `token` while it is unfinished, due and not
/// held; exactly one claimant's UPDATE matches. The claimed row, or `None`.
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: i64,
    token: &str,
    lease_ms: i64,
) -> StoreResult<Option<Model>> {
    let backend = conn.get_database_backend();
    let now = db_now_ms(backend);
    let claimed = Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(token))
        .col_expr(
            Column::LeaseExpiresMs,
            Expr::cust(format!("{now} + {lease_ms}")),
        )
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_in(WebhookDeliveryStatus::OPEN))
        .filter(Expr::cust(format!("next_attempt_ms <= {now}")))
        .filter(lapsed(backend))
        .exec(conn)
        .await?;
    if claimed.rows_affected != 1 {
        return Ok(None);
    }
    Ok(Entity::find_by_id(id).one(conn).await?)
}

/// What an attempt leaves: the new state and, while retries remain, the
/// delay before the next one.
pub struct Outcome {
    pub status: WebhookDeliveryStatus,
    pub attempts: i32,
    pub retry_in_ms: Option<i64>,
}

/// Writes an attempt's outcome while `token` still holds the delivery
/// (the lease is released); `false` when it was taken over meanwhile.
pub async fn settle(
    conn: &impl ConnectionTrait,
    id: i64,
    token: &str,
    outcome: &Outcome,
) -> StoreResult<bool> {
    let backend = conn.get_database_backend();
    let next = match outcome.retry_in_ms {
        Some(ms) => Expr::cust(format!("{} + {ms}", db_now_ms(backend))),
        None => Expr::value(Option::<i64>::None),
    };
    let update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(outcome.status))
        .col_expr(Column::AttemptCount, Expr::value(outcome.attempts))
        .col_expr(Column::NextAttemptMs, next)
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseExpiresMs, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::LeaseOwner.eq(token));
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Gives a claim back untried (a clean shutdown, a disabled endpoint).
pub async fn release(conn: &impl ConnectionTrait, id: i64, token: &str) -> StoreResult<()> {
    Entity::update_many()
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseExpiresMs, Expr::value(Option::<i64>::None))
        .filter(Column::Id.eq(id))
        .filter(Column::LeaseOwner.eq(token))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn log_attempt(
    conn: &impl ConnectionTrait,
    row: webhook_attempt::ActiveModel,
) -> StoreResult<()> {
    webhook_attempt::Entity::insert(row)
        .exec_without_returning(conn)
        .await?;
    Ok(())
}

/// FAILED → RETRYING, due now: one more attempt (manual retry). `false`
/// when the delivery is not FAILED.
pub async fn retry(conn: &impl ConnectionTrait, id: i64) -> StoreResult<bool> {
    let backend = conn.get_database_backend();
    let update = Entity::update_many()
        .col_expr(Column::Status, Expr::value(WebhookDeliveryStatus::Retrying))
        .col_expr(Column::NextAttemptMs, Expr::cust(db_now_ms(backend)))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(WebhookDeliveryStatus::Failed));
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Deletes attempt logs written before `before`; how many.
pub async fn purge_attempts(
    conn: &impl ConnectionTrait,
    before: DateTime<Utc>,
) -> StoreResult<u64> {
    let gone = webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::At.lt(before))
        .exec(conn)
        .await?;
    Ok(gone.rows_affected)
}

pub async fn by_id(conn: &impl ConnectionTrait, id: i64) -> StoreResult<Option<Model>> {
    Ok(Entity::find_by_id(id).one(conn).await?)
}

/// One endpoint's deliveries the principal may see (the event's legal
/// entity, in SQL), newest first, before the cursor `before`.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    endpoint: i64,
    status: Option<WebhookDeliveryStatus>,
    before: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<Model>> {
    let mut query = scoped(Entity::find(), Column::LegalEntityId, principal)
        .filter(Column::EndpointId.eq(endpoint));
    if let Some(status) = status {
        query = query.filter(Column::Status.eq(status));
    }
    if let Some(before) = before {
        query = query.filter(Column::Id.lt(before));
    }
    Ok(query
        .order_by_desc(Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// The attempts of these deliveries, oldest first.
pub async fn attempts_of(
    conn: &impl ConnectionTrait,
    deliveries: &[i64],
) -> StoreResult<Vec<webhook_attempt::Model>> {
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::DeliveryId.is_in(deliveries.iter().copied()))
        .order_by_asc(webhook_attempt::Column::DeliveryId)
        .order_by_asc(webhook_attempt::Column::Id)
        .all(conn)
        .await?)
}

/// The outbox events with these ids.
pub async fn events(
    conn: &impl ConnectionTrait,
    ids: &[i64],
) -> StoreResult<Vec<domain_event::Model>> {
    Ok(domain_event::Entity::find()
        .filter(domain_event::Column::Id.is_in(ids.iter().copied()))
        .all(conn)
        .await?)
}

pub use webhook_delivery::Model as Delivery;

/// What the queue holds for the metrics: outbox events not fanned out yet,
/// open deliveries, and when the oldest open one was queued.
pub async fn backlog(
    conn: &impl ConnectionTrait,
) -> StoreResult<(i64, i64, Option<DateTime<Utc>>)> {
    let newest: Option<Option<i64>> = domain_event::Entity::find()
        .select_only()
        .column_as(domain_event::Column::Id.max(), "id")
        .into_tuple()
        .one(conn)
        .await?;
    let not_fanned_out = (newest.flatten().unwrap_or(0) - cursor(conn).await?).max(0);
    let open: Option<(i64, Option<DateTime<Utc>>)> = Entity::find()
        .select_only()
        .column_as(Column::Id.count(), "open")
        .column_as(Column::CreatedAt.min(), "oldest")
        .filter(Column::Status.is_in(WebhookDeliveryStatus::OPEN))
        .into_tuple()
        .one(conn)
        .await?;
    let (open, oldest) = open.unwrap_or((0, None));
    Ok((not_fanned_out, open, oldest))
}
