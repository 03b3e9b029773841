//! Triggering runs: one per legal entity, all created in one transaction
//! or none, then executed in the background (or awaited with `wait`).

use chrono::{Datelike, NaiveDate};
use entity::{billing_run, legal_entity};
use sea_orm::{DatabaseTransaction, TransactionTrait};
use serde_json::json;

use super::chunk::audit_run;
use super::execute::execute;
use super::{dry_run, TriggerSource};
use crate::domain::access::{Principal, Scope};
use crate::service::entity_today;
use crate::service::setup::visible_entity;
use crate::service::{agent, require, Ctx, ServiceError, ServiceResult};
use crate::store::{self, runs, StoreError};

pub struct TriggerInput {
    pub legal_entity_id: Option<i64>,
    pub as_of: Option<NaiveDate>,
    pub dry_run: bool,
    pub wait: bool,
}

#[derive(Default)]
pub struct TriggerOutcome {
    pub runs: Vec<billing_run::Model>,
    pub previews: Vec<super::PreviewInvoice>,
}

/// What one run bills: a legal entity as of a date.
pub struct Target {
    pub entity: legal_entity::Model,
    pub as_of: NaiveDate,
}

/// A legal entity that already had an active run.
pub struct Busy {
    pub code: String,
    pub active_run_id: Option<i64>,
}

/// Starts one run per legal entity. A trigger for several entities starts
/// all of them or none: when one is busy, nothing is created and the
/// answer is CONFLICT naming it (so a CONFLICT never hides a started run).
#[tracing::instrument(skip_all, fields(actor = %principal.subject))]
pub async fn trigger(
    ctx: &Ctx,
    principal: &Principal,
    input: TriggerInput,
    source: TriggerSource,
) -> ServiceResult<TriggerOutcome> {
    require(principal, Scope::BillingRun)?;
    let targets = targets(ctx, principal, input.legal_entity_id, input.as_of).await?;
    if input.dry_run {
        return dry_run::preview(ctx, principal, targets, source).await;
    }
    let txn = store::begin_write(&ctx.db).await?;
    let (created, busy) = create_runs(&txn, principal, &targets, source, false).await?;
    if let Some(busy) = busy.first() {
        txn.rollback().await?;
        return Err(conflict(&busy.code, busy.active_run_id));
    }
    txn.commit().await?;
    Ok(TriggerOutcome {
        runs: launch(ctx, created, input.wait).await?,
        previews: Vec::new(),
    })
}

/// The entities a trigger bills (the named one, the configured default, or
/// every visible one) and the as-of date of each, checked: at most
/// `max_lead_days` after today in the entity's timezone, because a run
/// cannot be undone and voiding never re-opens a period.
pub async fn targets(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    as_of: Option<NaiveDate>,
) -> ServiceResult<Vec<Target>> {
    if let Some(d) = as_of.filter(|d| !(1900..=2200).contains(&d.year())) {
        return Err(ServiceError::bad_input(
            "asOf",
            format!("{d} is outside the years 1900-2200"),
        ));
    }
    let entities = match legal_entity_id {
        Some(id) => vec![visible_entity(ctx, principal, id).await?],
        None => match agent::config(&ctx.db).await?.default_billing_entity_id {
            Some(id) => vec![visible_entity(ctx, principal, id).await?],
            None => store::legal_entity::list(&ctx.db, principal).await?,
        },
    };
    entities
        .into_iter()
        .map(|entity| {
            let today = entity_today(&entity)?;
            let as_of = as_of.unwrap_or(today);
            let lead = (as_of - today).num_days();
            if lead > ctx.max_lead_days {
                return Err(ServiceError::bad_input(
                    "asOf",
                    format!(
                        "{as_of} is {lead} days after today ({today} in {}); at most {} days ahead can be billed",
                        entity.timezone, ctx.max_lead_days
                    ),
                ));
            }
            Ok(Target { entity, as_of })
        })
        .collect()
}

fn conflict(code: &str, active_run_id: Option<i64>) -> ServiceError {
    ServiceError::Conflict {
        message: format!("legal entity {code} already has an active billing run"),
        active_run_id,
    }
}

/// Inserts a QUEUED run per target in `txn` (each behind a savepoint, so a
/// busy entity does not abort the others) and audits RUN_TRIGGERED last.
/// Returns the runs created and the entities found busy; the caller decides
/// whether to commit.
pub async fn create_runs(
    txn: &DatabaseTransaction,
    principal: &Principal,
    targets: &[Target],
    source: TriggerSource,
    dry_run: bool,
) -> ServiceResult<(Vec<billing_run::Model>, Vec<Busy>)> {
    let mut created = Vec::with_capacity(targets.len());
    let mut busy = Vec::new();
    for target in targets {
        let mut tries = 0;
        loop {
            let savepoint = txn.begin().await?;
            let new = runs::NewRun {
                legal_entity_id: target.entity.id,
                trigger_source: source,
                triggered_by: principal.subject.clone(),
                as_of: target.as_of,
                dry_run,
            };
            match runs::insert_run(&savepoint, new).await {
                Ok(run) => {
                    savepoint.commit().await?;
                    created.push(run);
                    break;
                }
                Err(StoreError::Conflict(_)) => {
                    savepoint.rollback().await?;
                    // The partial unique index saw an active run, or a
                    // concurrent trigger took this run number (then retry).
                    let active = if dry_run {
                        None
                    } else {
                        runs::active_run(txn, target.entity.id).await?
                    };
                    tries += 1;
                    if active.is_some() || tries >= 3 {
                        busy.push(Busy {
                            code: target.entity.code.clone(),
                            active_run_id: active.map(|r| r.id),
                        });
                        break;
                    }
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    for run in &created {
        let details = json!({
            "trigger": source,
            "asOf": run.as_of.to_string(),
            "dryRun": dry_run,
        });
        audit_run(txn, run, "RUN_TRIGGERED", details).await?;
    }
    Ok((created, busy))
}

/// Publishes committed runs and starts their executions; with `wait`,
/// returns their state once every one has finished.
pub async fn launch(
    ctx: &Ctx,
    created: Vec<billing_run::Model>,
    wait: bool,
) -> ServiceResult<Vec<billing_run::Model>> {
    let mut handles = Vec::with_capacity(created.len());
    for run in &created {
        ctx.publish(run);
        handles.push(ctx.tasks.spawn(execute(ctx.clone(), run.id)));
    }
    if !wait {
        return Ok(created);
    }
    for handle in handles {
        if let Err(err) = handle.await {
            tracing::error!(error = ?err, "billing run task panicked");
        }
    }
    let system = Principal::system("system:billing");
    let ids: Vec<i64> = created.iter().map(|r| r.id).collect();
    let mut fresh = runs::find_runs(&ctx.db, &system, &ids).await?;
    fresh.sort_by_key(|r| r.id);
    Ok(fresh)
}
