//! Finishing a run: COMPLETED or FAILED, exactly once. The final state is
//! written compare-and-set on the execution's lease token first; only the
//! execution whose write matched records RUN_COMPLETED/RUN_FAILED, the
//! `billing_run.*` event and the notification, in the same transaction.

use chrono::Utc;
use entity::billing_run;
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::chunk::{audit_run, RunEnv};
use crate::domain::amount::Amount;
use crate::domain::events::{BILLING_RUN_COMPLETED, BILLING_RUN_FAILED, NOTIFICATION_CREATED};
use crate::service::agent::{self, NotificationLevel};
use crate::service::{Ctx, ServiceResult};
use crate::store::notification::NewNotification;
use crate::store::outbox::{self, NewEvent};
use crate::store::runs::RunStatus;
use crate::store::{self, lease, notification};

/// `None` when this execution no longer holds the run (another finished
/// or took it over): nothing is written.
pub(super) async fn finish(
    ctx: &Ctx,
    token: &str,
    mut run: billing_run::Model,
    env: Option<&RunEnv>,
    error: Option<String>,
) -> ServiceResult<Option<billing_run::Model>> {
    let txn = store::begin_write(&ctx.db).await?;
    let now = Utc::now();
    run.status = if error.is_some() {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    run.error = error;
    run.completed_at = Some(now);
    run.duration_ms = run.started_at.map(|s| (now - s).num_milliseconds());
    settle_period(&mut run);
    let Some(run) = lease::save(&txn, run, token, ctx.lease_ms).await? else {
        txn.rollback().await?;
        return Ok(None);
    };
    // Without its environment (the run could not start) the entity's
    // currency is unknown: totals are then shown at storage scale.
    let (minor, currency) = match env {
        Some(e) => (e.minor_units, e.entity.currency.clone()),
        None => (Amount::SCALE, String::new()),
    };
    let total = Amount::from_e4(run.invoice_total_e4).at_minor_units(minor);
    let level = match env {
        Some(e) => e.config.notification_level,
        None => agent::config(&txn).await?.notification_level,
    };
    let notified = notify(&txn, &run, level, &format!("{total} {currency}")).await?;
    // Outbox and audit rows last (their positions are taken at the end).
    record(&txn, &run, total, &currency, notified).await?;
    txn.commit().await?;
    ctx.publish(&run);
    Ok(Some(run))
}

/// A run that billed nothing covers its as-of date alone (D to D); the
/// real run and the dry run both finish through here.
pub(super) fn settle_period(run: &mut billing_run::Model) {
    if run.period_start.is_none() {
        run.period_start = Some(run.as_of);
        run.period_end = Some(run.as_of);
    }
}

/// The notification the agent's level asks for: every finished run (ALL),
/// failed ones (FAILURES_ONLY) or none.
async fn notify(
    txn: &impl ConnectionTrait,
    run: &billing_run::Model,
    level: NotificationLevel,
    total: &str,
) -> ServiceResult<Option<NewEvent>> {
    let failed = run.status == RunStatus::Failed;
    let notifies = match level {
        NotificationLevel::All => true,
        NotificationLevel::FailuresOnly => failed,
        NotificationLevel::None => false,
    };
    if !notifies {
        return Ok(None);
    }
    let title = match &run.error {
        Some(e) => format!("Billing run {} failed: {e}", run.run_number),
        None => format!(
            "Billing run {} completed: {} invoices, {}",
            run.run_number,
            run.invoice_count,
            total.trim_end()
        ),
    };
    let new = NewNotification {
        legal_entity_id: run.legal_entity_id,
        run_id: run.id,
        level: level.to_string(),
        severity: if failed { "FAILURE" } else { "INFO" },
        title,
    };
    let written = notification::insert(txn, new).await?;
    // Webhooks and the `notifications` subscription carry it from here.
    Ok(Some(NewEvent {
        event_type: NOTIFICATION_CREATED,
        legal_entity_id: run.legal_entity_id,
        subject_id: written.id.to_string(),
        payload: json!({
            "notificationId": written.id.to_string(),
            "at": written.created_at,
            "severity": written.severity,
            "title": written.message,
            "subjectType": written.subject_type,
            "subjectId": written.subject_id,
        }),
    }))
}

/// The step audit rows of a completed run, then RUN_COMPLETED or RUN_FAILED
/// with its summary and the `billing_run.*` event.
async fn record(
    txn: &impl ConnectionTrait,
    run: &billing_run::Model,
    total: rust_decimal::Decimal,
    currency: &str,
    notified: Option<NewEvent>,
) -> ServiceResult<()> {
    let failed = run.status == RunStatus::Failed;
    if !failed {
        for (step, mut details) in [
            (
                "generate_invoices",
                json!({ "invoices": run.invoice_count, "skipped": run.skipped_count }),
            ),
            ("post_invoices", json!({ "posted": run.posted_count })),
            ("emit_events", json!({ "events": run.event_count })),
        ] {
            details["step"] = json!(step);
            audit_run(txn, run, "STEP_COMPLETED", details).await?;
        }
    }
    let summary = json!({
        "runId": run.id.to_string(),
        "runNumber": run.run_number,
        "contracts": run.contract_count,
        "invoices": run.invoice_count,
        "invoiceTotal": total.to_string(),
        "currency": currency,
        "error": run.error,
    });
    let (action, event_type) = if failed {
        ("RUN_FAILED", BILLING_RUN_FAILED)
    } else {
        ("RUN_COMPLETED", BILLING_RUN_COMPLETED)
    };
    audit_run(txn, run, action, summary.clone()).await?;
    // The notification's event first: `billing_run.*` stays a run's last
    // event, where a consumer may stop reading.
    outbox::insert_events(
        txn,
        notified
            .into_iter()
            .chain([NewEvent {
                event_type,
                legal_entity_id: run.legal_entity_id,
                subject_id: run.id.to_string(),
                payload: summary,
            }])
            .collect(),
    )
    .await?;
    Ok(())
}
