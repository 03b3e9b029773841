//! The Billing Run Agent: triggering runs (one per legal entity), dry runs,
//! and resuming runs a restart interrupted. The chunked engine lives in
//! `engine`, the per-chunk arithmetic in `plan`.

pub mod engine;
pub mod plan;

use chrono::{Datelike, NaiveDate, Utc};
use entity::{billing_run, legal_entity};
use serde_json::json;

use super::setup::visible_entity;
use super::{agent, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::billing::DraftInvoice;
use crate::domain::money::{to_scaled, AMOUNT_SCALE};
use crate::store::{self, billing as runs, StoreError};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TriggerSource {
    Manual,
    Scheduled,
    Api,
}

impl TriggerSource {
    /// A trigger over the API: partners integrate by API; people press the
    /// Run button.
    pub fn requested_by(principal: &Principal) -> Self {
        if principal.role == crate::domain::access::Role::Partner {
            TriggerSource::Api
        } else {
            TriggerSource::Manual
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            TriggerSource::Manual => "MANUAL",
            TriggerSource::Scheduled => "SCHEDULED",
            TriggerSource::Api => "API",
        }
    }
}

pub struct TriggerInput {
    pub legal_entity_id: Option<i64>,
    pub as_of: Option<NaiveDate>,
    pub dry_run: bool,
    pub wait: bool,
}

/// A would-be invoice of a dry run.
pub struct PreviewInvoice {
    pub legal_entity_id: i64,
    pub contract_id: i64,
    pub customer_id: i64,
    pub issue_date: NaiveDate,
    pub due_date: NaiveDate,
    pub currency: String,
    pub draft: DraftInvoice,
}

pub struct TriggerOutcome {
    pub runs: Vec<billing_run::Model>,
    pub previews: Vec<PreviewInvoice>,
}

/// Dry runs return at most this many would-be invoices (the counts and
/// totals on the run cover all of them).
pub const MAX_PREVIEW: usize = 1000;

/// Today in the legal entity's timezone.
pub fn entity_today(entity: &legal_entity::Model) -> NaiveDate {
    match entity.timezone.parse::<chrono_tz::Tz>() {
        Ok(tz) => Utc::now().with_timezone(&tz).date_naive(),
        Err(_) => Utc::now().date_naive(),
    }
}

#[tracing::instrument(skip_all, fields(actor = %principal.subject))]
pub async fn trigger(
    ctx: &Ctx,
    principal: &Principal,
    input: TriggerInput,
    source: TriggerSource,
) -> ServiceResult<TriggerOutcome> {
    require(principal, Scope::BillingRun)?;
    if let Some(d) = input.as_of.filter(|d| !(1900..=2200).contains(&d.year())) {
        return Err(ServiceError::bad_input(
            "asOf",
            format!("{d} is outside the years 1900-2200"),
        ));
    }
    let entities = match input.legal_entity_id {
        Some(id) => vec![visible_entity(ctx, principal, id).await?],
        None => match agent::config(&ctx.db).await?.default_billing_entity_id {
            Some(id) => vec![visible_entity(ctx, principal, id).await?],
            None => store::legal_entity::list(&ctx.db, principal).await?,
        },
    };
    if !input.dry_run {
        for entity in &entities {
            if let Some(active) = runs::active_run(&ctx.db, entity.id).await? {
                return Err(conflict(&entity.code, active.id));
            }
        }
    }
    let mut outcome = TriggerOutcome {
        runs: Vec::new(),
        previews: Vec::new(),
    };
    let mut handles = Vec::new();
    for entity in entities {
        let as_of = input.as_of.unwrap_or_else(|| entity_today(&entity));
        let run = create_run(ctx, principal, &entity, as_of, input.dry_run, source).await?;
        if input.dry_run {
            let run_id = run.id;
            let (run, previews) = match dry_run(ctx, run).await {
                Ok(done) => done,
                Err(err) => {
                    fail_dry_run(ctx, run_id, &err).await;
                    return Err(err);
                }
            };
            outcome.previews.extend(previews);
            outcome.runs.push(run);
        } else {
            let task_ctx = ctx.clone();
            handles.push(ctx.tasks.spawn(engine::execute(task_ctx, run.id)));
            outcome.runs.push(run);
        }
    }
    if input.wait {
        for handle in handles {
            if let Err(err) = handle.await {
                tracing::error!(error = ?err, "billing run task panicked");
            }
        }
        let system = Principal::system("system:billing");
        let ids: Vec<i64> = outcome.runs.iter().map(|r| r.id).collect();
        let mut fresh = runs::find_runs(&ctx.db, &system, &ids).await?;
        fresh.sort_by_key(|r| r.id);
        outcome.runs = fresh;
    }
    Ok(outcome)
}

fn conflict(code: &str, active_run_id: i64) -> ServiceError {
    ServiceError::Conflict {
        message: format!("legal entity {code} already has an active billing run"),
        active_run_id: Some(active_run_id),
    }
}

async fn create_run(
    ctx: &Ctx,
    principal: &Principal,
    entity: &legal_entity::Model,
    as_of: NaiveDate,
    dry_run: bool,
    source: TriggerSource,
) -> ServiceResult<billing_run::Model> {
    let txn = store::begin_write(&ctx.db).await?;
    let new = runs::NewRun {
        legal_entity_id: entity.id,
        trigger_source: source.code(),
        triggered_by: principal.subject.clone(),
        as_of,
        dry_run,
    };
    let run = match runs::insert_run(&txn, new).await {
        Ok(run) => run,
        Err(StoreError::Conflict(_)) => {
            txn.rollback().await?;
            // The partial unique index saw a concurrent trigger win.
            let active = runs::active_run(&ctx.db, entity.id).await?;
            return Err(match active {
                Some(active) => conflict(&entity.code, active.id),
                None => {
                    ServiceError::conflict("a concurrent trigger took this run number; try again")
                }
            });
        }
        Err(err) => return Err(err.into()),
    };
    engine::audit_run(
        &txn,
        &run,
        "RUN_TRIGGERED",
        json!({ "trigger": source.code(), "asOf": as_of.to_string(), "dryRun": dry_run }),
    )
    .await?;
    txn.commit().await?;
    ctx.publish(&run);
    Ok(run)
}

/// A dry run that could not finish is recorded FAILED, never left QUEUED.
async fn fail_dry_run(ctx: &Ctx, run_id: i64, err: &ServiceError) {
    let Ok(Some(mut run)) = runs::run_by_id(&ctx.db, run_id).await else {
        return;
    };
    run.status = runs::FAILED.into();
    run.error = Some(match err {
        ServiceError::Internal(_) => "internal error".into(),
        other => other.to_string(),
    });
    run.completed_at = Some(Utc::now());
    if let Err(e) = runs::save_run(&ctx.db, run).await {
        tracing::error!(error = ?e, "could not record the failed dry run");
    }
}

/// The same planning as a real run, chunk by chunk; writes nothing but the
/// run record, which is marked as a dry run and never blocks real runs.
async fn dry_run(
    ctx: &Ctx,
    mut run: billing_run::Model,
) -> ServiceResult<(billing_run::Model, Vec<PreviewInvoice>)> {
    let env = engine::load_env(ctx, &run).await?;
    let started = Utc::now();
    run.started_at = Some(started);
    run.contract_count =
        i32::try_from(runs::count_due(&ctx.db, run.legal_entity_id, run.as_of, 0).await?)
            .unwrap_or(i32::MAX);
    let mut previews = Vec::new();
    let mut cursor = 0;
    loop {
        let chunk = runs::due_chunk(
            &ctx.db,
            run.legal_entity_id,
            run.as_of,
            cursor,
            ctx.chunk_size,
        )
        .await?;
        let Some(last) = chunk.last().map(|c| c.id) else {
            break;
        };
        cursor = last;
        let (plan, customers) =
            engine::plan_for(&ctx.db, &chunk, run.as_of, env.minor_units).await?;
        run.processed_count += i32::try_from(chunk.len()).unwrap_or(i32::MAX);
        run.skipped_count += i32::try_from(plan.skipped.len()).unwrap_or(i32::MAX);
        for planned in plan.invoices {
            let total = to_scaled(planned.draft.total, AMOUNT_SCALE).map_err(|_| {
                ServiceError::Internal(anyhow::anyhow!("amount exceeds the storage range"))
            })?;
            run.invoice_total_e4 = run.invoice_total_e4.saturating_add(total);
            run.invoice_count += 1;
            let (s, e) = (planned.draft.period_start, planned.draft.period_end);
            run.period_start = Some(run.period_start.map_or(s, |p| p.min(s)));
            run.period_end = Some(run.period_end.map_or(e, |p| p.max(e)));
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
    run.status = runs::COMPLETED.into();
    run.completed_at = Some(now);
    run.duration_ms = Some((now - started).num_milliseconds());
    if run.period_start.is_none() {
        run.period_start = Some(run.as_of);
        run.period_end = Some(run.as_of);
    }
    let run = runs::save_run(&ctx.db, run).await?;
    Ok((run, previews))
}

/// Looks for orphaned runs every `every` until `stop`: a replica that died
/// mid-run loses its lease, and whichever replica looks next takes over.
pub async fn run_resumer(
    ctx: Ctx,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.tick().await; // start-up already resumed once
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {
                if let Err(err) = resume_unfinished(&ctx).await {
                    tracing::warn!(error = ?err, "could not look for unfinished runs");
                }
            }
        }
    }
}

/// Resumes the runs a crash or restart left QUEUED or RUNNING. Chunks are
/// idempotent, so resuming bills nothing twice.
pub async fn resume_unfinished(ctx: &Ctx) -> ServiceResult<usize> {
    let unfinished = runs::unfinished_runs(&ctx.db).await?;
    for run in &unfinished {
        tracing::info!(run_id = run.id, status = %run.status, "resuming billing run");
        ctx.tasks.spawn(engine::execute(ctx.clone(), run.id));
    }
    Ok(unfinished.len())
}
