//! The audit trail: writing a row (last in its transaction: its id is a
//! commit-ordered position, see `store::outbox`) and reading it, by
//! subject for the API or by position for the event bus.

use chrono::Utc;
use entity::audit_event;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Set, Statement, Value as DbValue,
};
use serde_json::Value;

use super::outbox::{announce, Wire};
use super::{scoped, StoreError, StoreResult};
use crate::domain::access::Principal;

pub struct NewAudit<'a> {
    pub legal_entity_id: Option<i64>,
    pub subject_type: &'static str,
    pub subject_id: String,
    pub action: &'static str,
    pub actor: &'a str,
    pub details: Option<Value>,
}

/// Writes one audit row (call it last in a transaction, or alone).
pub async fn record(
    conn: &impl ConnectionTrait,
    entry: NewAudit<'_>,
) -> StoreResult<audit_event::Model> {
    let at = Utc::now();
    let details = entry.details.map(|d| d.to_string());
    let row = if conn.get_database_backend() == DbBackend::Postgres {
        let sql = "WITH p AS (UPDATE event_position SET last_value = last_value + 1 WHERE id = 1 \
                   RETURNING last_value) \
                   INSERT INTO audit_event (id, at, legal_entity_id, subject_type, subject_id, action, actor, details) \
                   SELECT p.last_value, $1, $2, $3, $4, $5, $6, $7 FROM p RETURNING *";
        let values: Vec<DbValue> = vec![
            at.into(),
            entry.legal_entity_id.into(),
            entry.subject_type.into(),
            entry.subject_id.into(),
            entry.action.into(),
            entry.actor.into(),
            details.into(),
        ];
        audit_event::Entity::find()
            .from_raw_sql(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .one(conn)
            .await?
            .ok_or_else(|| StoreError::Corrupt("event_position row missing".into()))?
    } else {
        audit_event::ActiveModel {
            at: Set(at),
            legal_entity_id: Set(entry.legal_entity_id),
            subject_type: Set(entry.subject_type.to_string()),
            subject_id: Set(entry.subject_id),
            action: Set(entry.action.to_string()),
            actor: Set(entry.actor.to_string()),
            details: Set(details),
            ..Default::default()
        }
        .insert(conn)
        .await?
    };
    announce(conn, Wire::Audit).await?;
    Ok(row)
}

/// The event bus's own read, across every legal entity (it fans rows out
/// and each subscriber checks them against its principal): the next
/// `limit` rows after position `after`.
pub async fn audit_after(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> StoreResult<Vec<audit_event::Model>> {
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::Id.gt(after))
        .order_by_asc(audit_event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

/// Which audit events to read; every field narrows.
#[derive(Default)]
pub struct AuditFilter<'a> {
    pub legal_entity_id: Option<i64>,
    pub subject_type: Option<&'a str>,
    pub subject_id: Option<&'a str>,
    /// Only events after this id (a cursor; ids commit in order).
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

/// The lifecycle changes of the given contracts (their history), oldest
/// first; the contracts were read through `scoped` by the caller.
pub async fn contract_changes(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<Vec<audit_event::Model>> {
    const KINDS: [&str; 4] = ["AMENDED", "PAUSED", "RESUMED", "CANCELLED"];
    Ok(audit_event::Entity::find()
        .filter(audit_event::Column::SubjectType.eq("Contract"))
        .filter(audit_event::Column::SubjectId.is_in(contract_ids.iter().map(i64::to_string)))
        .filter(audit_event::Column::Action.is_in(KINDS))
        .order_by_asc(audit_event::Column::Id)
        .all(conn)
        .await?)
}
