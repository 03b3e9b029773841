//! The outbox: writing domain events inside the caller's transaction (or
//! as one autocommit statement), reading them by position, and the wire
//! format that tells other replicas about committed writes. The audit trail
//! (`store::audit`) takes its ids from the same positions.
//!
//! Positions: every outbox and audit row's id is its position, and ids
//! commit in order, so "every row after id P" is complete whatever the
//! commit order of concurrent writers.
//! - PostgreSQL: a BIGSERIAL id is taken at insert and commits out of
//!   order, so ids come from the `event_position` counter row instead, in
//!   the same statement as the INSERT (`WITH p AS (UPDATE … RETURNING)`).
//!   The row lock is held until the writing transaction commits, so the
//!   next writer's ids are taken after this one's commit. Callers write
//!   their outbox and audit rows last in a transaction, which keeps the
//!   lock short and deadlock-free (nothing else is locked after it).
//! - SQLite: one writer at a time holds the database lock from its first
//!   write to its commit, so rowid order is commit order already.

use chrono::{DateTime, Utc};
use entity::{audit_event, billing_run, domain_event};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Statement, Value as DbValue,
};
use serde_json::Value;

use super::bulk::{Cell, Kind, Rows};
use super::{scoped, StoreError, StoreResult};
use crate::domain::access::Principal;

/// The PostgreSQL NOTIFY channel.
pub const CHANNEL: &str = "billrun_events";

/// What a NOTIFY says. Outbox and audit notifications only wake the
/// readers, which then read everything after their cursor; a run's state
/// travels whole, because re-reading the row could skip states.
#[derive(Debug, PartialEq)]
pub enum Wire {
    Run(Box<billing_run::Model>),
    RunId(i64),
    Audit,
    Domain,
}

impl Wire {
    pub fn encode(&self) -> String {
        match self {
            Wire::Run(run) => match serde_json::to_string(run) {
                // NOTIFY payloads stop at 8000 bytes.
                Ok(json) if json.len() < 7900 => format!("R:{json}"),
                _ => format!("r:{}", run.id),
            },
            Wire::RunId(id) => format!("r:{id}"),
            Wire::Audit => "a".into(),
            Wire::Domain => "d".into(),
        }
    }

    /// `None` for a payload this version does not know.
    pub fn decode(payload: &str) -> Option<Wire> {
        if let Some(json) = payload.strip_prefix("R:") {
            return serde_json::from_str(json)
                .ok()
                .map(|r| Wire::Run(Box::new(r)));
        }
        if let Some(id) = payload.strip_prefix("r:") {
            return id.parse().ok().map(Wire::RunId);
        }
        // Older replicas named id ranges (`a:1:2`); the range is not needed.
        match payload.split(':').next() {
            Some("a") => Some(Wire::Audit),
            Some("d") => Some(Wire::Domain),
            _ => None,
        }
    }
}

/// Inside a writing transaction on PostgreSQL: tells every replica, at
/// commit, what changed. A no-op on SQLite (one process tails the tables).
pub async fn announce(conn: &impl ConnectionTrait, wire: Wire) -> StoreResult<()> {
    if conn.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT pg_notify($1, $2)",
        [CHANNEL.into(), wire.encode().into()],
    ))
    .await?;
    Ok(())
}

pub struct NewEvent {
    pub event_type: &'static str,
    pub legal_entity_id: i64,
    pub subject_id: String,
    pub payload: Value,
}

/// Inserts outbox events in batches (a constant number of statements per
/// chunk, whatever the number of invoices). Call it last in a transaction.
pub async fn insert_events(conn: &impl ConnectionTrait, events: Vec<NewEvent>) -> StoreResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let now = Utc::now();
    let backend = conn.get_database_backend();
    let mut events = events.into_iter();
    loop {
        let batch: Vec<NewEvent> = events.by_ref().take(super::BATCH_ROWS).collect();
        if batch.is_empty() {
            break;
        }
        if backend == DbBackend::Postgres {
            insert_events_pg(conn, batch, now).await?;
        } else {
            const COLUMNS: [(&str, Kind); 5] = [
                ("event_type", Kind::Text),
                ("legal_entity_id", Kind::BigInt),
                ("subject_id", Kind::Text),
                ("payload", Kind::Text),
                ("created_at", Kind::Timestamp),
            ];
            let mut rows = Rows::new(backend, &COLUMNS);
            for e in batch {
                rows.push([
                    Cell::from(e.event_type),
                    Cell::from(e.legal_entity_id),
                    Cell::from(e.subject_id),
                    Cell::from(e.payload.to_string()),
                    Cell::from(now),
                ])?;
            }
            rows.insert_into(conn, "domain_event").await?;
        }
    }
    announce(conn, Wire::Domain).await
}

/// One statement: take `n` positions and insert the rows with them.
async fn insert_events_pg(
    conn: &impl ConnectionTrait,
    batch: Vec<NewEvent>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let n = batch.len();
    const COLUMNS: [(&str, Kind); 5] = [
        ("ord", Kind::BigInt),
        ("event_type", Kind::Text),
        ("legal_entity_id", Kind::BigInt),
        ("subject_id", Kind::Text),
        ("payload", Kind::Text),
    ];
    let mut rows = Rows::new(DbBackend::Postgres, &COLUMNS);
    for (ord, e) in (0i64..).zip(batch) {
        rows.push([
            Cell::from(ord),
            Cell::from(e.event_type),
            Cell::from(e.legal_entity_id),
            Cell::from(e.subject_id),
            Cell::from(e.payload.to_string()),
        ])?;
    }
    let (source, rows) = rows.source(3);
    let mut values: Vec<DbValue> = Vec::with_capacity(2 + rows.len());
    values.push(i64::try_from(n).unwrap_or(i64::MAX).into());
    values.push(now.into());
    values.extend(rows);
    let sql = format!(
        "WITH p AS (UPDATE event_position SET last_value = last_value + $1 WHERE id = 1 \
         RETURNING last_value) \
         INSERT INTO domain_event (id, event_type, legal_entity_id, subject_id, payload, created_at) \
         SELECT p.last_value - $1 + 1 + v.column1, v.column2, v.column3, v.column4, v.column5, $2 \
         FROM p, ({source}) AS v"
    );
    let result = conn
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            sql,
            values,
        ))
        .await?;
    if result.rows_affected() != n as u64 {
        return Err(StoreError::Corrupt("event_position row missing".into()));
    }
    Ok(())
}

/// The event bus's own read, across every legal entity (as
/// `audit::audit_after`): the next `limit` outbox rows after position
/// `after`.
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

#[cfg(test)]
mod tests {
    use super::Wire;

    #[test]
    fn wire_payloads_round_trip_and_old_ranges_still_wake_readers() {
        assert_eq!(Wire::decode(&Wire::RunId(7).encode()), Some(Wire::RunId(7)));
        assert_eq!(Wire::decode(&Wire::Audit.encode()), Some(Wire::Audit));
        assert_eq!(Wire::decode("d:10:20"), Some(Wire::Domain));
        assert_eq!(Wire::decode("a:3:3"), Some(Wire::Audit));
        assert_eq!(Wire::decode("x"), None);
        assert_eq!(Wire::decode("r:notanumber"), None);
    }
}
