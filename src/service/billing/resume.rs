//! Runs nobody is executing: taken over by whichever replica looks first
//! (at start-up, then every third of a lease), and failed runs continued
//! on request (`retryBillingRun`).

use std::time::Duration;

use entity::billing_run;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::execute::execute;
use crate::domain::access::{Principal, Scope};
use crate::service::{require, Ctx, ServiceError, ServiceResult};
use crate::store::audit::{self, NewAudit};
use crate::store::outbox::{self, Wire};
use crate::store::runs::{self, RunStatus};
use crate::store::{self, lease, StoreError};

/// How often a replica looks for runs whose lease lapsed: a third of the
/// lease, so a crashed execution is taken over within about 1⅓ leases.
pub fn resume_every(lease_ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(1000).max(500))
}

/// Looks for orphaned runs every `every` until `stop`.
pub async fn run_resumer(ctx: Ctx, every: Duration, stop: CancellationToken) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval.tick().await; // start-up already looked once
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {
                if let Err(err) = resume_orphans(&ctx).await {
                    tracing::warn!(error = ?err, "could not look for unfinished runs");
                }
            }
        }
    }
}

/// Starts an execution for every unfinished run whose lease is free or has
/// lapsed (each execution claims it compare-and-set, so across replicas one
/// wins). Chunks are idempotent, so resuming bills nothing twice.
pub async fn resume_orphans(ctx: &Ctx) -> ServiceResult<usize> {
    let orphans = runs::orphaned_runs(&ctx.db).await?;
    for run in &orphans {
        tracing::info!(run_id = run.id, status = %run.status, "taking over billing run");
        ctx.tasks.spawn(execute(ctx.clone(), run.id));
    }
    Ok(orphans.len())
}

/// FAILED → QUEUED, then executed again from its last committed chunk.
pub async fn retry_run(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<billing_run::Model> {
    require(principal, Scope::BillingRun)?;
    let run = runs::find_run(&ctx.db, principal, id)
        .await?
        .ok_or(ServiceError::NotFound("billing run"))?;
    if run.status != RunStatus::Failed || run.dry_run {
        let what = if run.dry_run {
            "a dry run".to_string()
        } else {
            run.status.to_string()
        };
        return Err(ServiceError::bad_input(
            "id",
            format!("only a FAILED billing run can be retried; this one is {what}"),
        ));
    }
    let txn = store::begin_write(&ctx.db).await?;
    match lease::retry(&txn, id).await {
        Ok(true) => {}
        Ok(false) => {
            txn.rollback().await?;
            return Err(ServiceError::conflict(
                "the run changed meanwhile; reload it",
            ));
        }
        Err(StoreError::Conflict(_)) => {
            txn.rollback().await?;
            let active = runs::active_run(&ctx.db, run.legal_entity_id).await?;
            return Err(ServiceError::Conflict {
                message: "the legal entity already has an active billing run".into(),
                active_run_id: active.map(|r| r.id),
            });
        }
        Err(err) => return Err(err.into()),
    }
    outbox::announce(&txn, Wire::RunId(id)).await?;
    audit::record(
        &txn,
        NewAudit {
            legal_entity_id: Some(run.legal_entity_id),
            subject_type: "BillingRun",
            subject_id: id.to_string(),
            action: "RUN_RETRIED",
            actor: &principal.subject,
            details: Some(json!({ "afterContractId": run.last_contract_id.to_string() })),
        },
    )
    .await?;
    txn.commit().await?;
    let queued = runs::run_by_id(&ctx.db, id)
        .await?
        .ok_or(ServiceError::NotFound("billing run"))?;
    ctx.publish(&queued);
    ctx.tasks.spawn(execute(ctx.clone(), id));
    Ok(queued)
}
