//! The run engine: chunked, idempotent, resumable. Each chunk is one
//! transaction that writes its invoices, lines, numbers, outbox events,
//! contract advances and the run's progress together, so a crash between
//! chunks loses nothing and bills nothing twice; a resumed run continues
//! from the last committed contract id.

use std::collections::HashMap;
use std::time::Instant;

use chrono::{Datelike, Duration, Utc};
use entity::{billing_agent_config, billing_run, customer, invoice, invoice_line, legal_entity};
use sea_orm::{ConnectionTrait, Set};
use serde_json::json;

use super::plan::{plan_chunk, ChunkInput, ChunkPlan};
use crate::domain::access::Principal;
use crate::domain::billing::invoice_number;
use crate::domain::currency::Currency;
use crate::domain::money::{from_scaled, to_scaled, AMOUNT_SCALE, QTY_SCALE};
use crate::service::agent::{self, NOTIFY_ALL, NOTIFY_FAILURES};
use crate::service::{Ctx, ServiceError, ServiceResult};
use crate::store::billing::{self as runs, COMPLETED, FAILED, RUNNING};
use crate::store::journal::{self, NewAudit, NewEvent};
use crate::store::{self, contract, invoice as invoices, party};

pub const DELIVERY_REQUESTED: &str = "invoice.delivery_requested";
pub const COLLECTION_REQUESTED: &str = "payment.collection_requested";
pub const RUN_COMPLETED_EVENT: &str = "billing_run.completed";
pub const RUN_FAILED_EVENT: &str = "billing_run.failed";

/// Everything a chunk needs besides its contracts.
pub(super) struct RunEnv {
    pub entity: legal_entity::Model,
    pub config: billing_agent_config::Model,
    pub minor_units: u32,
}

pub(super) async fn load_env(ctx: &Ctx, run: &billing_run::Model) -> ServiceResult<RunEnv> {
    let system = Principal::system("system:billing");
    let entity = store::legal_entity::find(&ctx.db, &system, run.legal_entity_id)
        .await?
        .ok_or(ServiceError::NotFound("legal entity"))?;
    let minor_units = Currency::parse(&entity.currency)
        .map(Currency::minor_units)
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!(
                "entity currency {} unknown",
                entity.currency
            ))
        })?;
    let config = agent::config(&ctx.db).await?;
    Ok(RunEnv {
        entity,
        config,
        minor_units,
    })
}

/// Loads what planning needs for a chunk of contracts, in three queries.
pub(super) async fn plan_for(
    conn: &impl ConnectionTrait,
    contracts: &[entity::contract::Model],
    as_of: chrono::NaiveDate,
    minor_units: u32,
) -> ServiceResult<(ChunkPlan, HashMap<i64, customer::Model>)> {
    let system = Principal::system("system:billing");
    let ids: Vec<i64> = contracts.iter().map(|c| c.id).collect();
    let lines = contract::lines_of(conn, &ids).await?;
    let tax_ids: Vec<i64> = lines.iter().filter_map(|l| l.tax_code_id).collect();
    let rates = party::find_tax_codes(conn, &system, &tax_ids)
        .await?
        .into_iter()
        .map(|t| (t.id, from_scaled(t.rate_e6, QTY_SCALE)))
        .collect();
    let customer_ids: Vec<i64> = contracts.iter().map(|c| c.customer_id).collect();
    let customers = party::find_customers(conn, &system, &customer_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let billed = runs::billed_periods(conn, &ids).await?;
    let plan = plan_chunk(ChunkInput {
        contracts,
        lines: &lines,
        rates: &rates,
        billed: &billed,
        as_of,
        minor_units,
    });
    Ok((plan, customers))
}

/// How long a replica's claim on a run holds without renewal. Each chunk
/// renews it; a replica that crashed loses it after this long, and another
/// replica (or the restarted one) takes the run over.
pub const LEASE: chrono::Duration = chrono::Duration::seconds(60);

/// Executes (or resumes) a run to COMPLETED or FAILED, if this replica can
/// claim it; a run another live replica holds is left alone.
#[tracing::instrument(skip(ctx), fields(legal_entity_id))]
pub async fn execute(ctx: Ctx, run_id: i64) {
    let started = Instant::now();
    let now = Utc::now();
    match runs::claim_run(&ctx.db, run_id, &ctx.instance, now, now + LEASE).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::debug!("run is finished or held by another replica");
            return;
        }
        Err(err) => {
            tracing::error!(error = ?err, "could not claim the run");
            return;
        }
    }
    let run = match runs::run_by_id(&ctx.db, run_id).await {
        Ok(Some(run)) => run,
        Ok(None) => return,
        Err(err) => {
            tracing::error!(error = ?err, "could not load the run");
            return;
        }
    };
    tracing::Span::current().record("legal_entity_id", run.legal_entity_id);
    let env = load_env(&ctx, &run).await;
    let result = match &env {
        Ok(env) => run_chunks(&ctx, run.clone(), env).await,
        Err(err) => Err(ServiceError::Internal(anyhow::anyhow!(
            "cannot start: {err}"
        ))),
    };
    let outcome = match result {
        Ok(Some(run)) => finish(&ctx, run, env.as_ref().ok(), None).await,
        Ok(None) => {
            tracing::warn!("another replica took the run over; stopping here");
            return;
        }
        Err(err) => {
            tracing::error!(error = ?err, "billing run failed");
            let message = match (&env, &err) {
                (Err(cause), _) => format!("the run could not start: {cause}"),
                (_, ServiceError::Internal(_)) => {
                    "the database failed during the run; trigger it again to finish".into()
                }
                (_, other) => other.to_string(),
            };
            let latest = runs::run_by_id(&ctx.db, run_id)
                .await
                .ok()
                .flatten()
                .unwrap_or(run);
            finish(&ctx, latest, env.as_ref().ok(), Some(message)).await
        }
    };
    match outcome {
        Ok(run) => tracing::info!(
            status = %run.status, invoices = run.invoice_count, ms = started.elapsed().as_millis() as u64,
            "billing run finished"
        ),
        Err(err) => {
            tracing::error!(error = ?err, "could not record the run's end; it will be resumed")
        }
    }
}

/// Renews this replica's lease in `txn`; `false` when it was lost.
async fn still_ours(ctx: &Ctx, txn: &impl ConnectionTrait, run_id: i64) -> ServiceResult<bool> {
    Ok(runs::renew_lease(txn, run_id, &ctx.instance, Utc::now() + LEASE).await?)
}

/// Runs every chunk; `None` when another replica took the run over.
async fn run_chunks(
    ctx: &Ctx,
    mut run: billing_run::Model,
    env: &RunEnv,
) -> ServiceResult<Option<billing_run::Model>> {
    let txn = store::begin_write(&ctx.db).await?;
    if !still_ours(ctx, &txn, run.id).await? {
        return Ok(None);
    }
    if run.status == RUNNING {
        audit_run(
            &txn,
            &run,
            "RUN_RESUMED",
            json!({ "afterContractId": run.last_contract_id }),
        )
        .await?;
    } else {
        run.status = RUNNING.into();
        run.started_at = Some(Utc::now());
        run.contract_count =
            count_i32(runs::count_due(&txn, run.legal_entity_id, run.as_of, 0).await?);
        audit_run(
            &txn,
            &run,
            "RUN_STARTED",
            json!({ "asOf": run.as_of.to_string() }),
        )
        .await?;
        audit_run(
            &txn,
            &run,
            "STEP_COMPLETED",
            json!({ "step": "find_due_contracts", "contracts": run.contract_count }),
        )
        .await?;
    }
    run = runs::save_run(&txn, run).await?;
    txn.commit().await?;
    ctx.publish(&run);

    loop {
        let txn = store::begin_write(&ctx.db).await?;
        if !still_ours(ctx, &txn, run.id).await? {
            return Ok(None);
        }
        let chunk = runs::due_chunk(
            &txn,
            run.legal_entity_id,
            run.as_of,
            run.last_contract_id,
            ctx.chunk_size,
        )
        .await?;
        let Some(last) = chunk.last().map(|c| c.id) else {
            txn.rollback().await?;
            return Ok(Some(run));
        };
        run = write_chunk(&txn, run, env, &chunk).await?;
        run.last_contract_id = last;
        run = runs::save_run(&txn, run).await?;
        txn.commit().await?;
        ctx.publish(&run);
    }
}

async fn write_chunk(
    txn: &impl ConnectionTrait,
    mut run: billing_run::Model,
    env: &RunEnv,
    chunk: &[entity::contract::Model],
) -> ServiceResult<billing_run::Model> {
    let clock = std::time::Instant::now();
    let (plan, customers) = plan_for(txn, chunk, run.as_of, env.minor_units).await?;
    let planned_ms = clock.elapsed().as_millis();
    let now = Utc::now();
    let post = env.config.auto_post_invoices;
    let year = run.as_of.year();
    let mut next_number = if post && !plan.invoices.is_empty() {
        runs::allocate_numbers(txn, run.legal_entity_id, year, plan.invoices.len() as i64).await?
    } else {
        0
    };
    let mut rows = Vec::with_capacity(plan.invoices.len());
    let mut chunk_total: i64 = 0;
    for planned in &plan.invoices {
        let customer = customers.get(&planned.customer_id).ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("customer {} missing", planned.customer_id))
        })?;
        let d = &planned.draft;
        let total = scaled(d.total)?;
        chunk_total = chunk_total
            .checked_add(total)
            .ok_or_else(|| overflow("run total"))?;
        let number = post.then(|| {
            let n = invoice_number(&env.entity.code, year, next_number);
            next_number += 1;
            n
        });
        rows.push(invoice::ActiveModel {
            legal_entity_id: Set(run.legal_entity_id),
            customer_id: Set(customer.id),
            contract_id: Set(Some(planned.contract_id)),
            billing_run_id: Set(Some(run.id)),
            number: Set(number),
            status: Set(if post { "POSTED" } else { "DRAFT" }.into()),
            period_start: Set(d.period_start),
            period_end: Set(d.period_end),
            issue_date: Set(run.as_of),
            due_date: Set(run.as_of + Duration::days(i64::from(customer.payment_terms_days))),
            currency: Set(env.entity.currency.clone()),
            subtotal_e4: Set(scaled(d.subtotal)?),
            tax_total_e4: Set(scaled(d.tax_total)?),
            total_e4: Set(total),
            amount_paid_e4: Set(0),
            posted_at: Set(post.then_some(now)),
            posted_on: Set(post.then(|| run.as_of.min(super::entity_today(&env.entity)))),
            voided_at: Set(None),
            void_reason: Set(None),
            created_at: Set(now),
            ..Default::default()
        });
    }
    let inserted = invoices::insert_invoices(txn, rows).await?;
    let inserted_ms = clock.elapsed().as_millis();
    let by_period: HashMap<(i64, chrono::NaiveDate), &invoice::Model> = inserted
        .iter()
        .filter_map(|i| i.contract_id.map(|c| ((c, i.period_start), i)))
        .collect();
    let mut line_rows = Vec::new();
    let mut events = Vec::new();
    for planned in &plan.invoices {
        let Some(inv) = by_period.get(&(planned.contract_id, planned.draft.period_start)) else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "inserted invoice not returned"
            )));
        };
        for (i, l) in planned.draft.lines.iter().enumerate() {
            line_rows.push(invoice_line::ActiveModel {
                invoice_id: Set(inv.id),
                line_no: Set(i32::try_from(i).unwrap_or(i32::MAX)),
                description: Set(l.description.clone()),
                quantity_e6: Set(
                    to_scaled(l.quantity, QTY_SCALE).map_err(|_| overflow("quantity"))?
                ),
                unit_price_e6: Set(
                    to_scaled(l.unit_price, QTY_SCALE).map_err(|_| overflow("price"))?
                ),
                net_e4: Set(scaled(l.net)?),
                tax_rate_e6: Set(to_scaled(l.tax_rate, QTY_SCALE).map_err(|_| overflow("rate"))?),
                tax_e4: Set(scaled(l.tax)?),
                total_e4: Set(scaled(l.total)?),
                ..Default::default()
            });
        }
        if post {
            if let Some(customer) = customers.get(&planned.customer_id) {
                events.extend(posting_events(&env.config, customer, inv, env.minor_units));
            }
        }
    }
    invoices::insert_lines(txn, line_rows).await?;
    let event_count = events.len();
    journal::insert_events(txn, events).await?;
    let lines_events_ms = clock.elapsed().as_millis();
    runs::advance_contracts(txn, &plan.advances).await?;
    tracing::debug!(
        contracts = chunk.len(),
        planned_ms,
        inserted_ms,
        lines_events_ms,
        advanced_ms = clock.elapsed().as_millis(),
        "chunk written"
    );
    for (contract_id, reason) in &plan.skipped {
        tracing::warn!(contract_id, %reason, "contract skipped");
        audit_run(
            txn,
            &run,
            "CONTRACT_SKIPPED",
            json!({ "contractId": contract_id.to_string(), "reason": reason }),
        )
        .await?;
    }

    let n = count_i32(inserted.len() as u64);
    run.processed_count += count_i32(chunk.len() as u64);
    run.invoice_count += n;
    if post {
        run.posted_count += n;
    }
    run.event_count += count_i32(event_count as u64);
    run.skipped_count += count_i32(plan.skipped.len() as u64);
    run.invoice_total_e4 = run
        .invoice_total_e4
        .checked_add(chunk_total)
        .ok_or_else(|| overflow("run total"))?;
    for planned in &plan.invoices {
        let (s, e) = (planned.draft.period_start, planned.draft.period_end);
        run.period_start = Some(run.period_start.map_or(s, |p| p.min(s)));
        run.period_end = Some(run.period_end.map_or(e, |p| p.max(e)));
    }
    Ok(run)
}

/// The outbox events a posted invoice starts, per configuration and customer.
pub fn posting_events(
    config: &billing_agent_config::Model,
    customer: &customer::Model,
    inv: &invoice::Model,
    minor_units: u32,
) -> Vec<NewEvent> {
    let mut total = from_scaled(inv.total_e4, AMOUNT_SCALE);
    total.rescale(minor_units);
    let base = json!({
        "invoiceId": inv.id.to_string(),
        "number": inv.number,
        "customerId": customer.id.to_string(),
        "total": total.to_string(),
        "currency": inv.currency,
        "dueDate": inv.due_date.to_string(),
    });
    let mut out = Vec::new();
    if config.emit_delivery_events {
        if let Some(email) = &customer.email {
            let mut payload = base.clone();
            payload["email"] = json!(email);
            out.push(NewEvent {
                event_type: DELIVERY_REQUESTED,
                legal_entity_id: inv.legal_entity_id,
                subject_id: inv.id.to_string(),
                payload,
            });
        }
    }
    if config.emit_payment_events && customer.has_payment_method {
        out.push(NewEvent {
            event_type: COLLECTION_REQUESTED,
            legal_entity_id: inv.legal_entity_id,
            subject_id: inv.id.to_string(),
            payload: base,
        });
    }
    out
}

async fn finish(
    ctx: &Ctx,
    mut run: billing_run::Model,
    env: Option<&RunEnv>,
    error: Option<String>,
) -> ServiceResult<billing_run::Model> {
    let txn = store::begin_write(&ctx.db).await?;
    if !still_ours(ctx, &txn, run.id).await? {
        txn.rollback().await?;
        return Ok(run);
    }
    let now = Utc::now();
    let failed = error.is_some();
    if !failed {
        for (step, details) in [
            (
                "generate_invoices",
                json!({ "invoices": run.invoice_count, "skipped": run.skipped_count }),
            ),
            ("post_invoices", json!({ "posted": run.posted_count })),
            ("emit_events", json!({ "events": run.event_count })),
        ] {
            let mut details = details;
            details["step"] = json!(step);
            audit_run(&txn, &run, "STEP_COMPLETED", details).await?;
        }
    }
    run.status = if failed { FAILED } else { COMPLETED }.into();
    run.error = error.clone();
    run.completed_at = Some(now);
    run.duration_ms = run.started_at.map(|s| (now - s).num_milliseconds());
    if run.period_start.is_none() {
        run.period_start = Some(run.as_of);
        run.period_end = Some(run.as_of);
    }
    // Without its environment (the run could not start) the entity's
    // currency is unknown: totals are then shown at storage scale.
    let (minor, currency) = match env {
        Some(e) => (e.minor_units, e.entity.currency.clone()),
        None => (AMOUNT_SCALE, String::new()),
    };
    let mut total = from_scaled(run.invoice_total_e4, AMOUNT_SCALE);
    total.rescale(minor);
    let summary = json!({
        "runId": run.id.to_string(),
        "runNumber": run.run_number,
        "contracts": run.contract_count,
        "invoices": run.invoice_count,
        "invoiceTotal": total.to_string(),
        "currency": currency,
        "error": error,
    });
    let action = if failed {
        "RUN_FAILED"
    } else {
        "RUN_COMPLETED"
    };
    audit_run(&txn, &run, action, summary.clone()).await?;
    journal::insert_events(
        &txn,
        vec![NewEvent {
            event_type: if failed {
                RUN_FAILED_EVENT
            } else {
                RUN_COMPLETED_EVENT
            },
            legal_entity_id: run.legal_entity_id,
            subject_id: run.id.to_string(),
            payload: summary,
        }],
    )
    .await?;
    let level = match env {
        Some(e) => e.config.notification_level.clone(),
        None => agent::config(&txn).await?.notification_level,
    };
    let level = level.as_str();
    if level == NOTIFY_ALL || (level == NOTIFY_FAILURES && failed) {
        let message = match &error {
            Some(e) => format!("Billing run {} failed: {e}", run.run_number),
            None => format!(
                "Billing run {} completed: {} invoices, {} {}",
                run.run_number, run.invoice_count, total, currency
            ),
        };
        journal::notify(&txn, run.legal_entity_id, run.id, level, message).await?;
    }
    let run = runs::save_run(&txn, run).await?;
    txn.commit().await?;
    ctx.publish(&run);
    Ok(run)
}

pub(super) async fn audit_run(
    conn: &impl ConnectionTrait,
    run: &billing_run::Model,
    action: &'static str,
    details: serde_json::Value,
) -> ServiceResult<()> {
    let actor = if action == "RUN_TRIGGERED" {
        run.triggered_by.as_str()
    } else {
        "system:billing-run-agent"
    };
    journal::audit(
        conn,
        NewAudit {
            legal_entity_id: Some(run.legal_entity_id),
            subject_type: "BillingRun",
            subject_id: run.id.to_string(),
            action,
            actor,
            details: Some(details),
        },
    )
    .await?;
    Ok(())
}

fn scaled(value: rust_decimal::Decimal) -> ServiceResult<i64> {
    to_scaled(value, AMOUNT_SCALE).map_err(|_| overflow("amount"))
}

fn overflow(what: &str) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{what} exceeds the storage range"))
}

fn count_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
