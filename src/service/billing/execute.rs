//! One execution of a run, holding a lease token of its own: start, then
//! chunk after chunk, then finish. Every step is a transaction that first
//! renews the lease compare-and-set (token and status) and is retried with
//! backoff on a transient database error; the run fails only when the
//! retries run out. A clean shutdown releases the lease between chunks.

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::billing_run;
use serde_json::json;

use super::chunk::{audit_run, count_i32, load_env, write_chunk, RunEnv};
use super::finish::finish;
use crate::service::{Ctx, ServiceError, ServiceResult};
use crate::store::runs::{self, RunStatus};
use crate::store::{self, due, lease};

/// Tries of one step before the run fails: with the backoff below, about
/// 20 s of database trouble is ridden out.
pub const MAX_ATTEMPTS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs `attempt` until it succeeds, fails for a reason other than a
/// transient database error, or has been tried `MAX_ATTEMPTS` times. No
/// retry once the server is shutting down.
pub(super) async fn with_retries<T, F, Fut>(
    ctx: &Ctx,
    what: &'static str,
    mut attempt: F,
) -> ServiceResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ServiceResult<T>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut tried = 1;
    loop {
        match attempt().await {
            Err(err)
                if err.is_transient() && tried < MAX_ATTEMPTS && !ctx.shutdown.is_cancelled() =>
            {
                tracing::warn!(step = what, attempt = tried, error = %error_chain(&err), "transient database error; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                tried += 1;
            }
            other => return other,
        }
    }
}

fn error_chain(err: &ServiceError) -> String {
    match err {
        ServiceError::Internal(e) => format!("{e:#}"),
        other => other.to_string(),
    }
}

enum Step {
    Done(Box<billing_run::Model>),
    /// Another execution holds the run now, or it finished.
    LeaseLost,
    /// Shutting down: the lease was given back.
    Released,
}

/// Executes (or resumes) a run to COMPLETED or FAILED, if its lease can be
/// claimed; a run another live execution holds is left alone.
#[tracing::instrument(skip(ctx), fields(legal_entity_id))]
pub async fn execute(ctx: Ctx, run_id: i64) {
    let started = Instant::now();
    let token = ctx.next_lease_token();
    let Some(run) = claim_and_load(&ctx, &token, run_id).await else {
        return;
    };
    tracing::Span::current().record("legal_entity_id", run.legal_entity_id);
    if run.dry_run {
        // Its caller waited in a request that is gone with the process.
        super::dry_run::fail(
            &ctx,
            &token,
            run,
            "the server stopped during the dry run".into(),
        )
        .await;
        return;
    }
    let env = with_retries(&ctx, "load environment", || load_env(&ctx, &run)).await;
    let outcome = match &env {
        Ok(env) => run_chunks(&ctx, &token, run_id, env).await,
        Err(err) => Err(ServiceError::Internal(anyhow::anyhow!(
            "the run could not start: {err}"
        ))),
    };
    let Some((run, error)) = ending(&ctx, &token, run, &env, outcome).await else {
        return;
    };
    let env = env.as_ref().ok();
    let finished = with_retries(&ctx, "finish", || {
        finish(&ctx, &token, run.clone(), env, error.clone())
    })
    .await;
    match finished {
        Ok(Some(run)) => {
            crate::telemetry::run_finished(
                run.status.to_string().as_str(),
                run.invoice_count,
                started.elapsed(),
            );
            tracing::info!(
                status = %run.status, invoices = run.invoice_count, ms = started.elapsed().as_millis() as u64,
                "billing run finished"
            )
        }
        Ok(None) => tracing::warn!("another execution holds the run; it finishes it"),
        Err(err) => tracing::error!(
            error = %error_chain(&err),
            "could not record the run's end; its lease lapses and it is resumed"
        ),
    }
}

/// Claims the run's lease for `token` and loads it; `None` when another
/// execution holds it, it is gone, or the database is unreachable (the
/// resumer tries again once the lease lapses).
async fn claim_and_load(ctx: &Ctx, token: &str, run_id: i64) -> Option<billing_run::Model> {
    match lease::claim(&ctx.db, run_id, token, ctx.lease_ms).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(err) => {
            tracing::warn!(error = %err, "could not claim the run; the resumer tries again");
            return None;
        }
    }
    let loaded = with_retries(ctx, "load run", || async {
        Ok(runs::run_by_id(&ctx.db, run_id).await?)
    })
    .await;
    match loaded {
        Ok(run) => run,
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "could not load the run; its lease lapses and it is resumed");
            None
        }
    }
}

/// How the run ends: its last state and its error (`None`: completed), or
/// `None` when this execution stops without finishing it (lease lost, or
/// released at shutdown).
async fn ending(
    ctx: &Ctx,
    token: &str,
    run: billing_run::Model,
    env: &ServiceResult<RunEnv>,
    outcome: ServiceResult<Step>,
) -> Option<(billing_run::Model, Option<String>)> {
    match outcome {
        Ok(Step::Done(run)) => Some((*run, None)),
        Ok(Step::LeaseLost) => {
            tracing::warn!("the run was taken over or finished by another execution; stopping");
            None
        }
        Ok(Step::Released) => {
            tracing::info!(
                "shutting down: lease released, the run continues elsewhere or at the next start"
            );
            None
        }
        Err(err) if ctx.shutdown.is_cancelled() => {
            tracing::warn!(error = %error_chain(&err), "stopped by shutdown; releasing the lease");
            if let Err(err) = lease::release(&ctx.db, run.id, token).await {
                tracing::warn!(error = %err, "could not release the lease; it lapses by itself");
            }
            None
        }
        Err(err) => {
            tracing::error!(error = %error_chain(&err), "billing run failed");
            let latest = match runs::run_by_id(&ctx.db, run.id).await {
                Ok(Some(latest)) => latest,
                _ => run,
            };
            Some((latest, Some(failure_message(env, &err))))
        }
    }
}

/// What the run's `error` says: the cause, never SQL.
fn failure_message(env: &ServiceResult<RunEnv>, err: &ServiceError) -> String {
    match (env, err) {
        (Err(cause), _) => format!("the run could not start: {cause}"),
        (_, ServiceError::Internal(_)) if err.is_transient() => format!(
            "the database was unreachable or refused the work {MAX_ATTEMPTS} times in a row \
             (connection lost, timeout or deadlock); retryBillingRun continues after the last committed chunk"
        ),
        (_, ServiceError::Internal(_)) => {
            "the database failed during the run; retryBillingRun continues after the last committed chunk".into()
        }
        (_, other) => other.to_string(),
    }
}

async fn run_chunks(ctx: &Ctx, token: &str, run_id: i64, env: &RunEnv) -> ServiceResult<Step> {
    // Only the chunk reads' plans depend on it: a failure costs speed, not
    // correctness, so it never stops the run.
    if let Err(err) = due::refresh_statistics(&ctx.db).await {
        tracing::warn!(error = %err, "could not refresh the contracts' statistics; chunks may read slower");
    }
    if with_retries(ctx, "start", || start(ctx, token, run_id))
        .await?
        .is_none()
    {
        return Ok(Step::LeaseLost);
    }
    loop {
        if ctx.shutdown.is_cancelled() {
            if let Err(err) = lease::release(&ctx.db, run_id, token).await {
                tracing::warn!(error = %err, "could not release the lease; it lapses by itself");
            }
            return Ok(Step::Released);
        }
        match with_retries(ctx, "chunk", || next_chunk(ctx, token, run_id, env)).await? {
            Chunk::Written => {}
            Chunk::NoneLeft(run) => return Ok(Step::Done(run)),
            Chunk::LeaseLost => return Ok(Step::LeaseLost),
        }
    }
}

/// QUEUED → RUNNING (RUN_STARTED, or RUN_RESUMED for a retried run), or
/// RUNNING → RUNNING for a takeover (RUN_RESUMED). `None`: lease lost.
async fn start(ctx: &Ctx, token: &str, run_id: i64) -> ServiceResult<Option<billing_run::Model>> {
    let txn = store::begin_write(&ctx.db).await?;
    if !lease::renew(&txn, run_id, token, ctx.lease_ms).await? {
        txn.rollback().await?;
        return Ok(None);
    }
    let Some(mut run) = runs::run_by_id(&txn, run_id).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    let fresh = run.status == RunStatus::Queued && run.started_at.is_none();
    if fresh {
        run.started_at = Some(Utc::now());
        run.contract_count =
            count_i32(due::count_due(&txn, run.legal_entity_id, run.as_of, 0).await?)?;
    }
    let resumed_from = run.status;
    run.status = RunStatus::Running;
    let Some(run) = lease::save(&txn, run, token, ctx.lease_ms).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    if fresh {
        let started = json!({ "asOf": run.as_of.to_string() });
        audit_run(&txn, &run, "RUN_STARTED", started).await?;
        let found = json!({ "step": "find_due_contracts", "contracts": run.contract_count });
        audit_run(&txn, &run, "STEP_COMPLETED", found).await?;
    } else {
        let details = json!({
            "afterContractId": run.last_contract_id.to_string(),
            "retried": resumed_from == RunStatus::Queued,
        });
        audit_run(&txn, &run, "RUN_RESUMED", details).await?;
    }
    txn.commit().await?;
    ctx.publish(&run);
    Ok(Some(run))
}

enum Chunk {
    Written,
    NoneLeft(Box<billing_run::Model>),
    LeaseLost,
}

/// The next chunk, from the run's committed cursor (read in the chunk's
/// own transaction, so a retry after a commit whose answer was lost
/// continues from what really committed).
async fn next_chunk(ctx: &Ctx, token: &str, run_id: i64, env: &RunEnv) -> ServiceResult<Chunk> {
    let clock = std::time::Instant::now();
    let txn = store::begin_write(&ctx.db).await?;
    due::prefer_index_scans(&txn).await?;
    if !lease::renew(&txn, run_id, token, ctx.lease_ms).await? {
        txn.rollback().await?;
        return Ok(Chunk::LeaseLost);
    }
    let Some(run) = runs::run_by_id(&txn, run_id).await? else {
        txn.rollback().await?;
        return Ok(Chunk::LeaseLost);
    };
    let (entity, as_of, after) = (run.legal_entity_id, run.as_of, run.last_contract_id);
    let begun_ms = clock.elapsed().as_millis();
    let chunk = due::due_chunk(&txn, entity, as_of, after, ctx.chunk_size).await?;
    let read_ms = clock.elapsed().as_millis();
    if chunk.is_empty() {
        txn.rollback().await?;
        return Ok(Chunk::NoneLeft(Box::new(run)));
    }
    let run = write_chunk(&txn, run, env, &chunk, ctx.chunk_invoices).await?;
    let written_ms = clock.elapsed().as_millis();
    let Some(run) = lease::save(&txn, run, token, ctx.lease_ms).await? else {
        txn.rollback().await?;
        return Ok(Chunk::LeaseLost);
    };
    let saved_ms = clock.elapsed().as_millis();
    txn.commit().await?;
    ctx.publish(&run);
    tracing::debug!(
        begun_ms,
        read_ms,
        written_ms,
        saved_ms,
        committed_ms = clock.elapsed().as_millis(),
        "chunk committed"
    );
    Ok(Chunk::Written)
}
