//! Finishing a run: COMPLETED or FAILED, exactly once. The final state is
//! written compare-and-set on the execution's lease token first; only the
//! execution whose write matched records RUN_COMPLETED/RUN_FAILED, the
//! `billing_run.*` event and the notification, in the same transaction.

use chrono::Utc;
use entity::billing_run;
use serde_json::json;

use super::chunk::{audit_run, RunEnv};
use crate::domain::amount::Amount;
use crate::domain::events::{BILLING_RUN_COMPLETED, BILLING_RUN_FAILED};
use crate::service::agent::{self, NotificationLevel};
use crate::service::{Ctx, ServiceResult};
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
    let failed = error.is_some();
    run.status = if failed {
        RunStatus::Failed
    } else {
        RunStatus::Completed
    };
    run.error = error.clone();
    run.completed_at = Some(now);
    run.duration_ms = run.started_at.map(|s| (now - s).num_milliseconds());
    if run.period_start.is_none() {
        run.period_start = Some(run.as_of);
        run.period_end = Some(run.as_of);
    }
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
    let notifies = match level {
        NotificationLevel::All => true,
        NotificationLevel::FailuresOnly => failed,
        NotificationLevel::None => false,
    };
    if notifies {
        let message = match &error {
            Some(e) => format!("Billing run {} failed: {e}", run.run_number),
            None => format!(
                "Billing run {} completed: {} invoices, {} {}",
                run.run_number, run.invoice_count, total, currency
            ),
        };
        notification::insert(
            &txn,
            run.legal_entity_id,
            run.id,
            &level.to_string(),
            message,
        )
        .await?;
    }
    // Outbox and audit rows last (their positions are taken at the end).
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
            audit_run(&txn, &run, "STEP_COMPLETED", details).await?;
        }
    }
    let summary = json!({
        "runId": run.id.to_string(),
        "runNumber": run.run_number,
        "contracts": run.contract_count,
        "invoices": run.invoice_count,
        "invoiceTotal": total.to_string(),
        "currency": currency,
        "error": error,
    });
    let (action, event_type) = if failed {
        ("RUN_FAILED", BILLING_RUN_FAILED)
    } else {
        ("RUN_COMPLETED", BILLING_RUN_COMPLETED)
    };
    audit_run(&txn, &run, action, summary.clone()).await?;
    outbox::insert_events(
        &txn,
        vec![NewEvent {
            event_type,
            legal_entity_id: run.legal_entity_id,
            subject_id: run.id.to_string(),
            payload: summary,
        }],
    )
    .await?;
    txn.commit().await?;
    ctx.publish(&run);
    Ok(Some(run))
}
