//! The outbox of domain events, the audit trail and notifications. Always
//! written in the caller's transaction, beside what they describe, so an
//! event is never lost and never visible before its transaction commits.

use chrono::Utc;
use entity::{audit_event, domain_event, notification};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement,
};
use serde_json::Value;

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewEvent {
    pub event_type: &'static str,
    pub legal_entity_id: i64,
    pub subject_id: String,
    pub payload: Value,
}

/// Inserts outbox events in batches (a constant number of statements per
/// chunk, whatever the number of invoices).
pub async fn insert_events(conn: &impl ConnectionTrait, events: Vec<NewEvent>) -> StoreResult<()> {
    let now = Utc::now();
    let mut rows = events.into_iter().map(|e| domain_event::ActiveModel {
        event_type: Set(e.event_type.to_string()),
        legal_entity_id: Set(e.legal_entity_id),
        subject_id: Set(e.subject_id),
        payload: Set(e.payload.to_string()),
        created_at: Set(now),
        ..Default::default()
    });
    loop {
        let batch: Vec<_> = rows.by_ref().take(super::BATCH_ROWS).collect();
        if batch.is_empty() {
            return Ok(());
        }
        let ids = domain_event::Entity::insert_many(batch)
            .exec_with_returning_keys(conn)
            .await?;
        // Every replica reads these rows once this transaction commits.
        if let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) {
            announce(conn, format!("d:{first}:{last}")).await?;
        }
    }
}

pub struct NewAudit<'a> {
    pub legal_entity_id: Option<i64>,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub action: &'static str,
    pub actor: &'a str,
    pub details: Option<Value>,
}

pub async fn audit(
    conn: &impl ConnectionTrait,
    entry: NewAudit<'_>,
) -> StoreResult<audit_event::Model> {
    let row = audit_event::ActiveModel {
        at: Set(Utc::now()),
        legal_entity_id: Set(entry.legal_entity_id),
        subject_type: Set(entry.subject_type.to_string()),
        subject_id: Set(entry.subject_id),
        action: Set(entry.action.to_string()),
        actor: Set(entry.actor.to_string()),
        details: Set(entry.details.map(|d| d.to_string())),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    announce(conn, format!("a:{}:{}", row.id, row.id)).await?;
    Ok(row)
}

pub async fn notify(
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

/// Inside a writing transaction on PostgreSQL: tells every replica, at
/// commit, which rows to read (payload formats: `crate::events`). A no-op
/// on SQLite.
pub async fn announce(conn: &impl ConnectionTrait, payload: String) -> StoreResult<()> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [crate::events::CHANNEL.into(), payload.into()],
    ))
    .await?;
    Ok(())
}

/// Which ids the event bus reads.
pub enum IdRange {
    /// The next `limit` ids after `after`.
    After { after: i64, limit: u64 },
    /// Exactly `first..=last` (what one NOTIFY names).
    Between(i64, i64),
}

/// The event bus's own reads, across every legal entity: it fans rows out
/// and each subscriber checks them against its principal. Ids ascending.
pub async fn audit_rows(
    conn: &impl ConnectionTrait,
    ids: IdRange,
) -> StoreResult<Vec<audit_event::Model>> {
    rows_by_id::<audit_event::Entity>(conn, audit_event::Column::Id, ids).await
}

pub async fn domain_rows(
    conn: &impl ConnectionTrait,
    ids: IdRange,
) -> StoreResult<Vec<domain_event::Model>> {
    rows_by_id::<domain_event::Entity>(conn, domain_event::Column::Id, ids).await
}

async fn rows_by_id<E: EntityTrait>(
    conn: &impl ConnectionTrait,
    id: E::Column,
    ids: IdRange,
) -> StoreResult<Vec<E::Model>> {
    let query = E::find().order_by_asc(id);
    let query = match ids {
        IdRange::After { after, limit } => query.filter(id.gt(after)).limit(limit),
        IdRange::Between(first, last) => query.filter(id.between(first, last)),
    };
    Ok(query.all(conn).await?)
}

/// The newest audit and outbox ids (0 when there are none).
pub async fn last_event_ids(conn: &impl ConnectionTrait) -> StoreResult<(i64, i64)> {
    let audit: Option<Option<i64>> = audit_event::Entity::find()
        .select_only()
        .column_as(audit_event::Column::Id.max(), "id")
        .into_tuple()
        .one(conn)
        .await?;
    let domain: Option<Option<i64>> = domain_event::Entity::find()
        .select_only()
        .column_as(domain_event::Column::Id.max(), "id")
        .into_tuple()
        .one(conn)
        .await?;
    Ok((audit.flatten().unwrap_or(0), domain.flatten().unwrap_or(0)))
}

/// Which audit events to read; every field narrows.
#[derive(Default)]
pub struct AuditFilter<'a> {
    pub legal_entity_id: Option<i64>,
    pub subject_type: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    /// Only events after this id (a cursor; ids are monotonic).
    pub after: i64,
}

/// Audit events, oldest first, filtered by the caller's entities in SQL.
/// Events without a legal entity (global configuration) are visible only to
/// callers that reach every entity.
pub async fn audit_events(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    filter: AuditFilter<'_>,
    limit: u64,
) -> StoreResult<Vec<audit_event::Model>> {
    let mut query = scoped(
        audit_event::Entity::find(),
        audit_event::Column::LegalEntityId,
        principal,
    )
    .filter(audit_event::Column::Id.gt(filter.after));
    if principal.entity_filter().is_some() {
        query = query.filter(audit_event::Column::LegalEntityId.is_not_null());
    }
    if let Some(id) = filter.legal_entity_id {
        query = query.filter(audit_event::Column::LegalEntityId.eq(id));
    }
    if let Some(subject_type) = filter.subject_type {
        query = query.filter(audit_event::Column::SubjectType.eq(subject_type));
    }
    if let Some(subject_id) = filter.subject_id {
        query = query.filter(audit_event::Column::SubjectId.eq(subject_id));
    }
    Ok(query
        .order_by_asc(audit_event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Outbox events of one entity after a cursor (ids are monotonic).
pub async fn events_after(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    types: Option<&[String]>,
    after: i64,
    limit: u64,
) -> StoreResult<Vec<domain_event::Model>> {
    let mut query = scoped(
        domain_event::Entity::find(),
        domain_event::Column::LegalEntityId,
        principal,
    )
    .filter(domain_event::Column::Id.gt(after));
    if let Some(id) = legal_entity_id {
        query = query.filter(domain_event::Column::LegalEntityId.eq(id));
    }
    if let Some(types) = types {
        query = query.filter(domain_event::Column::EventType.is_in(types.iter().cloned()));
    }
    Ok(query
        .order_by_asc(domain_event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}
