//! Notifications of finished runs, written in the transaction that
//! finishes the run, and their read state per token subject.

use chrono::Utc;
use entity::{notification, notification_read};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Select, Set, Statement,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewNotification {
    pub legal_entity_id: i64,
    pub run_id: i64,
    pub level: String,
    pub severity: &'static str,
    pub title: String,
}

pub async fn insert(
    conn: &impl ConnectionTrait,
    new: NewNotification,
) -> StoreResult<notification::Model> {
    Ok(notification::ActiveModel {
        legal_entity_id: Set(Some(new.legal_entity_id)),
        billing_run_id: Set(Some(new.run_id)),
        level: Set(new.level),
        message: Set(new.title),
        severity: Set(new.severity.to_string()),
        subject_type: Set("BillingRun".to_string()),
        subject_id: Set(new.run_id.to_string()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?)
}

/// Which notifications to list, for whom.
pub struct NotificationFilter<'a> {
    pub subject: &'a str,
    pub legal_entity_id: Option<i64>,
    pub unread_only: bool,
}

/// The caller's notifications: their legal entities only (in SQL), of one
/// entity if asked, unread by `subject` if asked.
fn visible(principal: &Principal, filter: &NotificationFilter<'_>) -> Select<notification::Entity> {
    let mut query = scoped(
        notification::Entity::find(),
        notification::Column::LegalEntityId,
        principal,
    )
    .filter(notification::Column::LegalEntityId.is_not_null());
    if let Some(id) = filter.legal_entity_id {
        query = query.filter(notification::Column::LegalEntityId.eq(id));
    }
    if filter.unread_only {
        let read_by_subject = Query::select()
            .column(notification_read::Column::NotificationId)
            .from(notification_read::Entity)
            .and_where(notification_read::Column::Subject.eq(filter.subject))
            .to_owned();
        query = query.filter(notification::Column::Id.not_in_subquery(read_by_subject));
    }
    query
}

/// A page, newest first, older than `before`, with whether `subject` read
/// each.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    filter: &NotificationFilter<'_>,
    before: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<(notification::Model, bool)>> {
    let mut query = visible(principal, filter);
    if let Some(before) = before {
        query = query.filter(notification::Column::Id.lt(before));
    }
    let rows = query
        .order_by_desc(notification::Column::Id)
        .limit(limit)
        .all(conn)
        .await?;
    let ids: Vec<i64> = rows.iter().map(|n| n.id).collect();
    let read: std::collections::HashSet<i64> = notification_read::Entity::find()
        .filter(notification_read::Column::Subject.eq(filter.subject))
        .filter(notification_read::Column::NotificationId.is_in(ids))
        .all(conn)
        .await?
        .into_iter()
        .map(|r| r.notification_id)
        .collect();
    Ok(rows
        .into_iter()
        .map(|n| {
            let seen = read.contains(&n.id);
            (n, seen)
        })
        .collect())
}

pub async fn unread_count(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    subject: &str,
    legal_entity_id: Option<i64>,
) -> StoreResult<u64> {
    let filter = NotificationFilter {
        subject,
        legal_entity_id,
        unread_only: true,
    };
    Ok(visible(principal, &filter).count(conn).await?)
}

/// Marks the visible ones of `ids` read for `subject`; how many changed
/// (unknown, foreign and already read ids change nothing).
pub async fn mark_read(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    subject: &str,
    ids: &[i64],
) -> StoreResult<u64> {
    let filter = NotificationFilter {
        subject,
        legal_entity_id: None,
        unread_only: true,
    };
    let mine: Vec<i64> = visible(principal, &filter)
        .filter(notification::Column::Id.is_in(ids.iter().copied()))
        .select_only()
        .column(notification::Column::Id)
        .into_tuple()
        .all(conn)
        .await?;
    if mine.is_empty() {
        return Ok(0);
    }
    // One statement for them all; rows already there (read before) stay.
    let backend = conn.get_database_backend();
    let now = Utc::now();
    let mut values: Vec<sea_orm::Value> = Vec::with_capacity(mine.len() * 3);
    let mut rows = Vec::with_capacity(mine.len());
    for id in mine {
        values.extend([id.into(), subject.into(), now.into()]);
        let n = values.len();
        rows.push(format!(
            "({}, {}, {})",
            super::next_placeholder(backend, n - 2),
            super::next_placeholder(backend, n - 1),
            super::next_placeholder(backend, n)
        ));
    }
    let sql = format!(
        "INSERT INTO notification_read (notification_id, subject, read_at) VALUES {} \
         ON CONFLICT (notification_id, subject) DO NOTHING",
        rows.join(", ")
    );
    let result = conn
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(result.rows_affected())
}
