//! Reading the outbox and the audit trail (written by `store::outbox`), and
//! writing notifications in the caller's transaction.

use chrono::Utc;
use entity::{audit_event, domain_event, notification};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

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

/// The event bus's own reads, across every legal entity: it fans rows out
/// and each subscriber checks them against its principal. The next `limit`
/// rows after id `after`, ids ascending (ids are commit-ordered positions:
/// `store::outbox`).
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

pub async fn domain_after(
    conn: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> StoreResult<Vec<domain_event::Model>> {
    Ok(domain_event::Entity::find()
        .filter(domain_event::Column::Id.gt(after))
        .order_by_asc(domain_event::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
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

/// Outbox events of one entity after a cursor (ids commit in order).
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
