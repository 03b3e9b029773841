//! Dry runs: the same planning and arithmetic as a real run, chunk by
//! chunk, writing nothing but the run record. They share the state machine
//! (a lease token, compare-and-set saves) and never block real runs.

use chrono::Utc;
use entity::billing_run;
use sea_orm::TransactionTrait;

use super::chunk::{add_count, count_i32, load_env, plan_for, tally};
use super::trigger::{create_runs, Target, TriggerOutcome};
use super::{PreviewInvoice, TriggerSource, MAX_PREVIEW};
use crate::domain::access::Principal;
use crate::service::{Ctx, ServiceError, ServiceResult};
use crate::store::runs::RunStatus;
use crate::store::{self, due, lease};

pub(super) async fn preview(
    ctx: &Ctx,
    principal: &Principal,
    targets: Vec<Target>,
    source: TriggerSource,
) -> ServiceResult<TriggerOutcome> {
    let mut outcome = TriggerOutcome::default();
    for target in targets {
        let txn = store::begin_write(&ctx.db).await?;
        let (mut created, _) =
            create_runs(&txn, principal, std::slice::from_ref(&target), source, true).await?;
        txn.commit().await?;
        let run = created.pop().ok_or_else(|| {
            ServiceError::conflict("a concurrent trigger took this run number; try again")
        })?;
        ctx.publish(&run);
        let token = ctx.next_lease_token();
        if !lease::claim(&ctx.db, run.id, &token, ctx.lease_ms).await? {
            return Err(ServiceError::conflict(
                "the dry run was taken over; try again",
            ));
        }
        match compute(ctx, &token, run.clone()).await {
            Ok((run, previews)) => {
                outcome.previews.extend(previews);
                outcome.runs.push(run);
            }
            Err(err) => {
                let message = match &err {
                    ServiceError::Internal(_) => "internal error".to_string(),
                    other => other.to_string(),
                };
                fail(ctx, &token, run, message).await;
                return Err(err);
            }
        }
    }
    Ok(outcome)
}

/// Records a dry run FAILED (never left QUEUED), if `token` still holds it.
pub(super) async fn fail(ctx: &Ctx, token: &str, mut run: billing_run::Model, message: String) {
    run.status = RunStatus::Failed;
    run.error = Some(message);
    run.completed_at = Some(Utc::now());
    match lease::save(&ctx.db, run, token, ctx.lease_ms).await {
        Ok(Some(run)) => ctx.publish(&run),
        Ok(None) => {}
        Err(err) => tracing::error!(error = ?err, "could not record the failed dry run"),
    }
}

async fn compute(
    ctx: &Ctx,
    token: &str,
    mut run: billing_run::Model,
) -> ServiceResult<(billing_run::Model, Vec<PreviewInvoice>)> {
    let env = load_env(ctx, &run).await?;
    let started = Utc::now();
    run.status = RunStatus::Running;
    run.started_at = Some(started);
    run.contract_count =
        count_i32(due::count_due(&ctx.db, run.legal_entity_id, run.as_of, 0).await?)?;
    let mut previews = Vec::new();
    let mut cursor = 0;
    loop {
        if !lease::renew(&ctx.db, run.id, token, ctx.lease_ms).await? {
            return Err(ServiceError::conflict("the dry run was taken over"));
        }
        let (entity, as_of) = (run.legal_entity_id, run.as_of);
        // A chunk's reads in one transaction that only reads: one snapshot,
        // planned by index as a real run's chunk is.
        let reads = ctx.db.begin().await?;
        due::prefer_index_scans(&reads).await?;
        let chunk = due::due_chunk(&reads, entity, as_of, cursor, ctx.chunk_size).await?;
        let Some(last) = chunk.last().map(|c| c.id) else {
            reads.rollback().await?;
            break;
        };
        cursor = last;
        // Nothing moves contracts on here, so a contract is planned whole.
        let (plan, customers) =
            plan_for(&reads, &chunk, run.as_of, env.minor_units, usize::MAX).await?;
        reads.commit().await?;
        run.processed_count = add_count(run.processed_count, chunk.len() as u64)?;
        tally(&mut run, &plan)?;
        for planned in plan.invoices {
            if previews.len() < MAX_PREVIEW {
                let terms = customers
                    .get(&planned.customer_id)
                    .map_or(30, |c| c.payment_terms_days);
                previews.push(PreviewInvoice {
                    legal_entity_id: run.legal_entity_id,
                    contract_id: planned.contract_id,
                    customer_id: planned.customer_id,
                    issue_date: run.as_of,
                    due_date: run.as_of + chrono::Duration::days(i64::from(terms)),
                    currency: env.entity.currency.clone(),
                    draft: planned.draft,
                });
            }
        }
    }
    let now = Utc::now();
    run.status = RunStatus::Completed;
    run.completed_at = Some(now);
    run.duration_ms = Some((now - started).num_milliseconds());
    super::finish::settle_period(&mut run);
    let run = lease::save(&ctx.db, run, token, ctx.lease_ms)
        .await?
        .ok_or_else(|| ServiceError::conflict("the dry run was taken over"))?;
    ctx.publish(&run);
    Ok((run, previews))
}
