//! A run's lease: which execution holds it and until when, on the
//! database's clock. Every write of an executing run is compare-and-set on
//! its lease token and status, so a run is executed by one execution at a
//! time and finishes exactly once, whatever the replicas' clocks say.
//!
//! States: QUEUED → RUNNING → COMPLETED | FAILED; RUNNING → RUNNING when
//! another execution takes a lapsed lease over; FAILED → QUEUED by
//! `retry` (it continues after the last committed chunk).

use chrono::Utc;
use entity::billing_run::{self, Column};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, UpdateMany,
};

use super::outbox::{announce, Wire};
use super::StoreResult;

pub use entity::status::RunStatus;

const ACTIVE: [RunStatus; 2] = [RunStatus::Queued, RunStatus::Running];

/// Milliseconds since the epoch on the database's clock (the statement's
/// own time on PostgreSQL, not the transaction's start).
pub(super) fn db_now_ms(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT",
        _ => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

fn expires(backend: DbBackend, lease_ms: i64) -> Expr {
    Expr::cust(format!("{} + {lease_ms}", db_now_ms(backend)))
}

/// Nobody holds the lease, or the holder's has lapsed.
pub(super) fn lapsed(backend: DbBackend) -> sea_orm::Condition {
    sea_orm::Condition::any()
        .add(Column::LeaseOwner.is_null())
        .add(Column::LeaseExpiresMs.is_null())
        .add(Expr::cust(format!(
            "lease_expires_ms < {}",
            db_now_ms(backend)
        )))
}

/// An UPDATE of run `id` that matches only while it is unfinished.
fn unfinished(id: i64) -> UpdateMany<billing_run::Entity> {
    billing_run::Entity::update_many()
        .filter(Column::Id.eq(id))
        .filter(Column::Status.is_in(ACTIVE))
}

/// … and while the execution `token` holds it.
fn held(id: i64, token: &str) -> UpdateMany<billing_run::Entity> {
    unfinished(id).filter(Column::LeaseOwner.eq(token))
}

async fn matched(
    conn: &impl ConnectionTrait,
    update: UpdateMany<billing_run::Entity>,
) -> StoreResult<bool> {
    Ok(update.exec(conn).await?.rows_affected == 1)
}

/// Claims an unfinished run for the execution `token`: only when nobody
/// holds it or the holder's lease has lapsed. Exactly one claimant's
/// UPDATE matches.
pub async fn claim(
    conn: &impl ConnectionTrait,
    id: i64,
    token: &str,
    lease_ms: i64,
) -> StoreResult<bool> {
    let backend = conn.get_database_backend();
    let update = unfinished(id)
        .filter(lapsed(backend))
        .col_expr(Column::LeaseOwner, Expr::value(token))
        .col_expr(Column::LeaseExpiresMs, expires(backend, lease_ms));
    matched(conn, update).await
}

/// Extends the lease while the execution still holds it and the run is
/// still unfinished; `false` when it was taken over or finished.
pub async fn renew(
    conn: &impl ConnectionTrait,
    id: i64,
    token: &str,
    lease_ms: i64,
) -> StoreResult<bool> {
    let expiry = expires(conn.get_database_backend(), lease_ms);
    matched(
        conn,
        held(id, token).col_expr(Column::LeaseExpiresMs, expiry),
    )
    .await
}

/// Gives the lease up (a clean shutdown), so another replica or the next
/// start takes the run over at once instead of after the lease.
pub async fn release(conn: &impl ConnectionTrait, id: i64, token: &str) -> StoreResult<bool> {
    let update = held(id, token)
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseExpiresMs, Expr::value(Option::<i64>::None));
    matched(conn, update).await
}

/// Writes the run's state (progress, or its final status) if `token` still
/// holds it and it is unfinished, renewing the lease; `None` when it does
/// not (nothing is written). Announced to other replicas at commit.
pub async fn save(
    conn: &impl ConnectionTrait,
    mut run: billing_run::Model,
    token: &str,
    lease_ms: i64,
) -> StoreResult<Option<billing_run::Model>> {
    let backend = conn.get_database_backend();
    run.updated_at = Some(Utc::now());
    let finished = run.status.is_finished();
    let mut active: billing_run::ActiveModel = run.clone().into();
    for column in [
        Column::Status,
        Column::PeriodStart,
        Column::PeriodEnd,
        Column::ContractCount,
        Column::ProcessedCount,
        Column::InvoiceCount,
        Column::InvoiceTotalE4,
        Column::PostedCount,
        Column::EventCount,
        Column::SkippedCount,
        Column::LastContractId,
        Column::StartedAt,
        Column::CompletedAt,
        Column::DurationMs,
        Column::Error,
        Column::UpdatedAt,
    ] {
        active.reset(column);
    }
    let expiry = if finished {
        Expr::value(Option::<i64>::None)
    } else {
        expires(backend, lease_ms)
    };
    let update = held(run.id, token)
        .set(active)
        .col_expr(Column::LeaseExpiresMs, expiry);
    if !matched(conn, update).await? {
        return Ok(None);
    }
    run.lease_owner = Some(token.to_string());
    announce(conn, Wire::Run(Box::new(run.clone()))).await?;
    Ok(Some(run))
}

/// FAILED → QUEUED, keeping the run's progress so it continues after its
/// last committed chunk. `false` when the run is not FAILED (or a dry run);
/// `StoreError::Conflict` when the entity has another active run.
pub async fn retry(conn: &impl ConnectionTrait, id: i64) -> StoreResult<bool> {
    let update = billing_run::Entity::update_many()
        .col_expr(Column::Status, Expr::value(RunStatus::Queued))
        .col_expr(Column::Error, Expr::value(Option::<String>::None))
        .col_expr(
            Column::CompletedAt,
            Expr::value(Option::<chrono::DateTime<Utc>>::None),
        )
        .col_expr(Column::DurationMs, Expr::value(Option::<i64>::None))
        .col_expr(Column::LeaseOwner, Expr::value(Option::<String>::None))
        .col_expr(Column::LeaseExpiresMs, Expr::value(Option::<i64>::None))
        .col_expr(Column::UpdatedAt, Expr::value(Some(Utc::now())))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(RunStatus::Failed))
        .filter(Column::DryRun.eq(false));
    matched(conn, update).await
}
