//! Scheduled billing runs. Jobs live in the database; every replica polls,
//! and a firing is claimed with a conditional UPDATE on the job's
//! `next_run_at`, so across replicas exactly one wins each firing. Time comes
//! from the caller (`tick(now)`), so tests drive the clock.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use entity::scheduled_job;
use serde_json::json;

use super::billing::{self, TriggerSource};
use super::setup::visible_entity;
use super::{agent, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::{cron, validate};
use crate::store::schedule::{self, JobSchedule};
use crate::store::{self, audit};

pub struct JobInput {
    pub cron: String,
    pub timezone: String,
    pub legal_entity_id: Option<i64>,
    pub enabled: bool,
}

fn schedule_of(cron_expr: &str, timezone: &str) -> ServiceResult<(croner::Cron, Tz)> {
    let cron = cron::parse(cron_expr)?;
    let tz = validate::timezone(timezone.trim())?;
    Ok((cron, tz))
}

fn next_run(
    job_cron: &str,
    timezone: &str,
    enabled: bool,
    after: DateTime<Utc>,
) -> ServiceResult<Option<DateTime<Utc>>> {
    if !enabled {
        return Ok(None);
    }
    let (cron, tz) = schedule_of(job_cron, timezone)?;
    Ok(cron::next_after(&cron, tz, after))
}

/// Jobs are configuration: `config:write`, and a job for every entity
/// (no legal entity) needs a token that reaches every entity.
async fn check_target(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
) -> ServiceResult<()> {
    require(principal, Scope::ConfigWrite)?;
    match legal_entity_id {
        Some(id) => visible_entity(ctx, principal, id).await.map(|_| ()),
        None if principal.entity_filter().is_some() => Err(ServiceError::Forbidden(
            "config:write on every legal entity",
        )),
        None => Ok(()),
    }
}

fn audit<'a>(
    job: &scheduled_job::Model,
    action: &'static str,
    actor: &'a str,
    details: serde_json::Value,
) -> audit::NewAudit<'a> {
    audit::NewAudit {
        legal_entity_id: job.legal_entity_id,
        subject_type: "ScheduledJob",
        subject_id: job.id.to_string(),
        action,
        actor,
        details: Some(details),
    }
}

pub async fn create_job(
    ctx: &Ctx,
    principal: &Principal,
    input: JobInput,
    now: DateTime<Utc>,
) -> ServiceResult<scheduled_job::Model> {
    let (_, tz) = schedule_of(&input.cron, &input.timezone)?;
    check_target(ctx, principal, input.legal_entity_id).await?;
    let cron_expr = input.cron.trim().to_string();
    let next = next_run(&cron_expr, tz.name(), input.enabled, now)?;
    let txn = store::begin_write(&ctx.db).await?;
    let job = JobSchedule {
        cron: cron_expr,
        timezone: tz.name().to_string(),
        legal_entity_id: input.legal_entity_id,
        enabled: input.enabled,
        next_run_at: next,
    };
    let job = schedule::insert(&txn, agent::AGENT_KEY, job, now).await?;
    audit::record(
        &txn,
        audit(
            &job,
            "SCHEDULE_CREATED",
            &principal.subject,
            json!({ "cron": job.cron, "timezone": job.timezone }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(job)
}

async fn visible_job(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<scheduled_job::Model> {
    let job = schedule::find(&ctx.db, id)
        .await?
        .ok_or(ServiceError::NotFound("scheduled job"))?;
    if principal.can_see_row(job.legal_entity_id) {
        Ok(job)
    } else {
        Err(ServiceError::NotFound("scheduled job"))
    }
}

#[derive(Default)]
pub struct JobChange {
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub legal_entity_id: Option<Option<i64>>,
    pub enabled: Option<bool>,
}

pub async fn update_job(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    change: JobChange,
    now: DateTime<Utc>,
) -> ServiceResult<scheduled_job::Model> {
    require(principal, Scope::ConfigWrite)?;
    let job = visible_job(ctx, principal, id).await?;
    let cron_expr = change
        .cron
        .map(|c| c.trim().to_string())
        .unwrap_or(job.cron.clone());
    let timezone = change.timezone.unwrap_or(job.timezone.clone());
    let (_, tz) = schedule_of(&cron_expr, &timezone)?;
    let legal_entity_id = change.legal_entity_id.unwrap_or(job.legal_entity_id);
    check_target(ctx, principal, legal_entity_id).await?;
    let enabled = change.enabled.unwrap_or(job.enabled);
    let next = next_run(&cron_expr, tz.name(), enabled, now)?;
    let txn = store::begin_write(&ctx.db).await?;
    let to = JobSchedule {
        cron: cron_expr,
        timezone: tz.name().to_string(),
        legal_entity_id,
        enabled,
        next_run_at: next,
    };
    let updated = schedule::update(&txn, job.clone(), to).await?;
    audit::record(
        &txn,
        audit(&updated, "SCHEDULE_UPDATED", &principal.subject, json!({
            "before": { "cron": job.cron, "timezone": job.timezone, "enabled": job.enabled },
            "after": { "cron": updated.cron, "timezone": updated.timezone, "enabled": updated.enabled },
        })),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

pub async fn delete_job(ctx: &Ctx, principal: &Principal, id: i64) -> ServiceResult<bool> {
    require(principal, Scope::ConfigWrite)?;
    let job = visible_job(ctx, principal, id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    schedule::delete(&txn, job.id).await?;
    audit::record(
        &txn,
        audit(
            &job,
            "SCHEDULE_DELETED",
            &principal.subject,
            json!({ "cron": job.cron }),
        ),
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

pub async fn jobs(ctx: &Ctx, principal: &Principal) -> ServiceResult<Vec<scheduled_job::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(schedule::list(&ctx.db, principal).await?)
}

#[derive(Debug, PartialEq, Eq)]
pub enum Firing {
    /// This replica claimed the firing and triggered these runs (legal
    /// entities that were busy are recorded as SCHEDULE_CONFLICT).
    Fired {
        job_id: i64,
        run_ids: Vec<i64>,
        missed: usize,
    },
    /// Every entity of the job already had an active run; recorded, not
    /// retried.
    Conflict {
        job_id: i64,
        active_run_id: Option<i64>,
    },
    /// Another replica claimed it first.
    Lost { job_id: i64 },
    /// The job could not fire (its stored cron or timezone no longer
    /// parses, or its entity is gone): recorded as SCHEDULE_FAILED, and the
    /// other jobs fire regardless.
    Failed { job_id: i64 },
}

/// Fires every enabled job due at `now`, once each. A job that missed
/// several firings (the server was down) fires once and records how many it
/// caught up; its next firing is the first one after `now`. A job that
/// cannot fire is reported and skipped; it never stops the others.
pub async fn tick(ctx: &Ctx, now: DateTime<Utc>) -> ServiceResult<Vec<Firing>> {
    let due = schedule::due(&ctx.db, now).await?;
    let mut out = Vec::with_capacity(due.len());
    for job in due {
        let firing = match fire(ctx, &job, now).await {
            Ok(firing) => firing,
            Err(err) if err.is_transient() => return Err(err),
            Err(err) => {
                tracing::error!(job_id = job.id, error = ?err, "scheduled job cannot fire; skipped");
                skip_broken(ctx, &job, &err, now).await?
            }
        };
        out.push(firing);
    }
    Ok(out)
}

/// The claim of a firing, its runs and its audit rows commit together, so a
/// crash between them never loses a firing or fires it twice.
async fn fire(ctx: &Ctx, job: &scheduled_job::Model, now: DateTime<Utc>) -> ServiceResult<Firing> {
    let Some(claimed) = job.next_run_at else {
        return Ok(Firing::Lost { job_id: job.id });
    };
    let (cron, tz) = schedule_of(&job.cron, &job.timezone)?;
    let next = cron::next_after(&cron, tz, now);
    // Firings after the claimed one that also passed while we were down.
    let missed = cron::count_between(&cron, tz, claimed, now, 10_000);
    let actor = format!("system:scheduler:{}", job.id);
    let system = Principal::system(actor.clone());
    let as_of = claimed.with_timezone(&tz).date_naive();
    let targets = billing::targets(ctx, &system, job.legal_entity_id, Some(as_of)).await?;
    let txn = store::begin_write(&ctx.db).await?;
    if !schedule::claim_firing(&txn, job.id, claimed, next, now).await? {
        txn.rollback().await?;
        return Ok(Firing::Lost { job_id: job.id });
    }
    let (created, busy) =
        billing::create_runs(&txn, &system, &targets, TriggerSource::Scheduled, false).await?;
    let details = json!({
        "scheduledFor": claimed.to_rfc3339(),
        "asOf": as_of.to_string(),
        "caughtUp": missed > 0,
        "missedFirings": missed,
    });
    for b in &busy {
        let mut details = details.clone();
        details["code"] = json!("CONFLICT");
        details["message"] = json!(format!(
            "legal entity {} already has an active billing run",
            b.code
        ));
        details["activeRunId"] = json!(b.active_run_id.map(|id| id.to_string()));
        audit::record(&txn, audit(job, "SCHEDULE_CONFLICT", &actor, details)).await?;
    }
    let run_ids: Vec<i64> = created.iter().map(|r| r.id).collect();
    if !created.is_empty() {
        let mut details = details;
        details["runIds"] = json!(run_ids.iter().map(|id| id.to_string()).collect::<Vec<_>>());
        audit::record(&txn, audit(job, "SCHEDULE_FIRED", &actor, details)).await?;
    }
    txn.commit().await?;
    billing::launch(ctx, created, false).await?;
    Ok(if run_ids.is_empty() && !busy.is_empty() {
        Firing::Conflict {
            job_id: job.id,
            active_run_id: busy.first().and_then(|b| b.active_run_id),
        }
    } else {
        Firing::Fired {
            job_id: job.id,
            run_ids,
            missed,
        }
    })
}

/// Moves a job that cannot fire past this firing (to its next one, or to
/// none when its schedule no longer parses: it waits for an update) and
/// records SCHEDULE_FAILED with the reason, in one transaction.
async fn skip_broken(
    ctx: &Ctx,
    job: &scheduled_job::Model,
    err: &ServiceError,
    now: DateTime<Utc>,
) -> ServiceResult<Firing> {
    let Some(claimed) = job.next_run_at else {
        return Ok(Firing::Lost { job_id: job.id });
    };
    let next = schedule_of(&job.cron, &job.timezone)
        .ok()
        .and_then(|(cron, tz)| cron::next_after(&cron, tz, now));
    let txn = store::begin_write(&ctx.db).await?;
    if !schedule::claim_firing(&txn, job.id, claimed, next, now).await? {
        txn.rollback().await?;
        return Ok(Firing::Lost { job_id: job.id });
    }
    let actor = format!("system:scheduler:{}", job.id);
    let reason = match err {
        ServiceError::Internal(_) => "internal error".to_string(),
        other => other.to_string(),
    };
    let details = json!({
        "scheduledFor": claimed.to_rfc3339(),
        "error": reason,
        "nextRunAt": next.map(|n| n.to_rfc3339()),
    });
    audit::record(&txn, audit(job, "SCHEDULE_FAILED", &actor, details)).await?;
    txn.commit().await?;
    Ok(Firing::Failed { job_id: job.id })
}

/// Polls for due jobs every `every` until `stop` is cancelled. Every
/// replica runs one; the claim makes each firing happen once.
pub async fn run_poller(
    ctx: Ctx,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {
                if let Err(err) = tick(&ctx, Utc::now()).await {
                    tracing::warn!(error = ?err, "scheduler tick failed; retrying at the next poll");
                }
            }
        }
    }
}
