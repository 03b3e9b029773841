//! One chunk of a run: loading what planning needs, and writing the
//! planned invoices, lines, numbers, contract advances and outbox events in
//! the chunk's transaction. Chunks are idempotent: a contract moves past
//! the periods it was billed for in the same transaction, and a period
//! that has an invoice is never billed again.

use std::collections::HashMap;

use chrono::{Datelike, Duration, SubsecRound, Utc};
use entity::status::InvoiceStatus;
use entity::{billing_agent_config, billing_run, customer, invoice, invoice_line, legal_entity};
use sea_orm::ConnectionTrait;
use serde_json::json;

use super::plan::{plan_chunk, ChunkInput, ChunkPlan};
use crate::domain::access::Principal;
use crate::domain::amount::{Amount, Rate};
use crate::domain::billing::invoice_number;
use crate::domain::currency::Currency;
use crate::service::agent;
use crate::service::posting::{self, posting_events, CreditTaken};
use crate::service::{Ctx, ServiceError, ServiceResult};
use crate::store::audit::{self, NewAudit};
use crate::store::numbering::Series;
use crate::store::outbox::{self, NewEvent};
use crate::store::{self, contract, due, invoice as invoices, numbering, party};

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
    max_invoices: usize,
) -> ServiceResult<(ChunkPlan, HashMap<i64, customer::Model>)> {
    let system = Principal::system("system:billing");
    let ids: Vec<i64> = contracts.iter().map(|c| c.id).collect();
    let lines = contract::lines_of(conn, &ids).await?;
    // Each id once: a chunk's lines share a few tax codes, and its
    // contracts a tenth as many customers.
    let mut tax_ids: Vec<i64> = lines.iter().filter_map(|l| l.tax_code_id).collect();
    tax_ids.sort_unstable();
    tax_ids.dedup();
    let rates = party::find_tax_codes(conn, &system, &tax_ids)
        .await?
        .into_iter()
        .map(|t| (t.id, Rate::from_e6(t.rate_e6).to_decimal()))
        .collect();
    let mut customer_ids: Vec<i64> = contracts.iter().map(|c| c.customer_id).collect();
    customer_ids.sort_unstable();
    customer_ids.dedup();
    let customers = party::find_customers(conn, &system, &customer_ids)
        .await?
        .into_iter()
        .map(|c| (c.id, c))
        .collect();
    let billed = due::billed_periods(conn, &ids).await?;
    let pauses = contract::pauses_of(conn, &ids).await?;
    let plan = plan_chunk(ChunkInput {
        contracts,
        lines: &lines,
        rates: &rates,
        pauses: &pauses,
        billed: &billed,
        as_of,
        minor_units,
        max_invoices,
    });
    Ok((plan, customers))
}

/// Plans and writes one chunk in `txn` and returns the run's progress
/// after it (saved by the caller in the same transaction). Outbox and audit
/// rows go last: their positions are taken at the end (`store::outbox`).
pub(super) async fn write_chunk(
    txn: &impl ConnectionTrait,
    mut run: billing_run::Model,
    env: &RunEnv,
    chunk: &[entity::contract::Model],
    max_invoices: usize,
) -> ServiceResult<billing_run::Model> {
    let clock = std::time::Instant::now();
    let (plan, customers) = plan_for(txn, chunk, run.as_of, env.minor_units, max_invoices).await?;
    let planned_ms = clock.elapsed().as_millis();
    let (rows, credit) = invoice_rows(txn, &run, env, &plan, &customers).await?;
    let inserted = invoices::insert_invoices(txn, rows).await?;
    posting::consume_credit(txn, &credit).await?;
    let inserted_ms = clock.elapsed().as_millis();
    let events = write_lines(txn, env, &plan, &customers, &inserted).await?;
    let lines_ms = clock.elapsed().as_millis();
    due::advance_contracts(txn, &plan.advances).await?;
    let advanced_ms = clock.elapsed().as_millis();
    let event_count = events.len();
    outbox::insert_events(txn, events).await?;
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
    tracing::debug!(
        contracts = chunk.len(),
        planned_ms,
        inserted_ms,
        lines_ms,
        advanced_ms,
        events_ms = clock.elapsed().as_millis(),
        "chunk written"
    );
    tally(&mut run, &plan)?;
    run.processed_count = add_count(run.processed_count, plan.finished as u64)?;
    if env.config.auto_post_invoices {
        run.posted_count = add_count(run.posted_count, plan.invoices.len() as u64)?;
    }
    run.event_count = add_count(run.event_count, event_count as u64)?;
    run.last_contract_id = run.last_contract_id.max(plan.resume_after);
    Ok(run)
}

/// The invoices of a plan as rows, numbered (when the agent auto-posts)
/// from the entity's gapless sequence in this transaction, with the
/// customer credit each takes. Long because it spells out every column of
/// the row, which is worth seeing in one place.
async fn invoice_rows(
    txn: &impl ConnectionTrait,
    run: &billing_run::Model,
    env: &RunEnv,
    plan: &ChunkPlan,
    customers: &HashMap<i64, customer::Model>,
) -> ServiceResult<(Vec<invoice::Model>, CreditTaken)> {
    // Microseconds, as PostgreSQL keeps them: the models returned are the
    // rows as written, and the events built from them must say what is stored.
    let now = Utc::now().trunc_subsecs(6);
    let post = env.config.auto_post_invoices;
    let year = run.as_of.year();
    // Auto-posted invoices are posted as of their issue date (never later
    // than today): back-dated aging counts them from that date.
    let today = crate::service::entity_today(&env.entity)?;
    let posted_on = run.as_of.min(today);
    let mut next_number = if post && !plan.invoices.is_empty() {
        numbering::allocate_numbers(
            txn,
            Series::Invoice,
            run.legal_entity_id,
            year,
            plan.invoices.len() as i64,
        )
        .await?
    } else {
        0
    };
    let credit = if post {
        credit_taken(txn, plan).await?
    } else {
        CreditTaken::default()
    };
    let mut rows = Vec::with_capacity(plan.invoices.len());
    for (i, planned) in plan.invoices.iter().enumerate() {
        let applied = credit.per_invoice.get(i).copied().unwrap_or(Amount::ZERO);
        // PAID only when credit was taken and covers it all: a 0.00 invoice
        // that took none is POSTED, as postInvoice posts it.
        let covered = applied.is_positive() && applied == planned.stored.total;
        let customer = customers.get(&planned.customer_id).ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("customer {} missing", planned.customer_id))
        })?;
        let (d, stored) = (&planned.draft, &planned.stored);
        let number = post.then(|| {
            let n = invoice_number(&env.entity.code, year, next_number);
            next_number += 1;
            n
        });
        rows.push(invoice::Model {
            id: 0,
            legal_entity_id: run.legal_entity_id,
            customer_id: customer.id,
            contract_id: Some(planned.contract_id),
            contract_version: planned.contract_version,
            billing_run_id: Some(run.id),
            number,
            status: match (post, covered) {
                (false, _) => InvoiceStatus::Draft,
                (true, false) => InvoiceStatus::Posted,
                (true, true) => InvoiceStatus::Paid,
            },
            credit_applied_e4: applied.e4(),
            credit_applied_on: applied.is_positive().then_some(today),
            period_start: d.period_start,
            period_end: d.period_end,
            issue_date: run.as_of,
            due_date: run.as_of + Duration::days(i64::from(customer.payment_terms_days)),
            currency: env.entity.currency.clone(),
            subtotal_e4: stored.subtotal.e4(),
            tax_total_e4: stored.tax_total.e4(),
            total_e4: stored.total.e4(),
            amount_paid_e4: 0,
            posted_at: post.then_some(now),
            posted_on: post.then_some(posted_on),
            voided_at: None,
            voided_on: None,
            void_reason: None,
            amount_credited_e4: 0,
            credit_reduced_e4: 0,
            created_at: now,
        });
    }
    Ok((rows, credit))
}

/// What customer credit the plan's invoices take when posted (rarely any:
/// one indexed read per chunk).
async fn credit_taken(txn: &impl ConnectionTrait, plan: &ChunkPlan) -> ServiceResult<CreditTaken> {
    let owing: Vec<(i64, Amount)> = plan
        .invoices
        .iter()
        .map(|p| (p.customer_id, p.stored.total))
        .collect();
    posting::take_credit(txn, &owing).await
}

/// Writes the lines of the inserted invoices and returns the outbox events
/// their posting starts (written last by the caller).
async fn write_lines(
    txn: &impl ConnectionTrait,
    env: &RunEnv,
    plan: &ChunkPlan,
    customers: &HashMap<i64, customer::Model>,
    inserted: &[invoice::Model],
) -> ServiceResult<Vec<NewEvent>> {
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
        let drafts = planned.draft.lines.iter().zip(&planned.stored.lines);
        for (line_no, (d, l)) in drafts.enumerate() {
            line_rows.push(invoice_line::Model {
                id: 0,
                invoice_id: inv.id,
                line_no: count_i32(line_no as u64)?,
                description: d.description.clone(),
                quantity_e6: l.quantity.e6(),
                unit_price_e6: l.unit_price.e6(),
                net_e4: l.net.e4(),
                tax_rate_e6: l.tax_rate.e6(),
                tax_e4: l.tax.e4(),
                total_e4: l.total.e4(),
                contract_line_id: d.contract_line_id,
                service_from: d.service.map(|s| s.from),
                service_to: d.service.map(|s| s.to),
                credited_e4: 0,
            });
        }
        if env.config.auto_post_invoices {
            if let Some(customer) = customers.get(&planned.customer_id) {
                events.extend(posting_events(&env.config, customer, inv, env.minor_units));
            }
        }
    }
    invoices::insert_lines(txn, line_rows).await?;
    Ok(events)
}

/// Adds a plan's invoices, total, skipped contracts and periods to the
/// run's progress. The real run and the dry run both count through here,
/// so a dry run promises exactly the totals the real run would reach (and
/// refuses the same overflow).
pub(super) fn tally(run: &mut billing_run::Model, plan: &ChunkPlan) -> ServiceResult<()> {
    let totals = plan.invoices.iter().map(|p| p.stored.total);
    let chunk_total = Amount::sum(totals).map_err(|_| overflow("run total"))?;
    run.invoice_total_e4 = Amount::from_e4(run.invoice_total_e4)
        .checked_add(chunk_total)
        .map_err(|_| overflow("run total"))?
        .e4();
    run.invoice_count = add_count(run.invoice_count, plan.invoices.len() as u64)?;
    run.skipped_count = add_count(run.skipped_count, plan.skipped.len() as u64)?;
    for planned in &plan.invoices {
        let (s, e) = (planned.draft.period_start, planned.draft.period_end);
        run.period_start = Some(run.period_start.map_or(s, |p| p.min(s)));
        run.period_end = Some(run.period_end.map_or(e, |p| p.max(e)));
    }
    Ok(())
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
    audit::record(
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

pub(super) fn overflow(what: &str) -> ServiceError {
    ServiceError::Internal(anyhow::anyhow!("{what} exceeds the storage range"))
}

/// Counts are stored as 32-bit integers: one that would not fit fails the
/// chunk loudly instead of saturating.
pub(super) fn count_i32(n: u64) -> ServiceResult<i32> {
    i32::try_from(n).map_err(|_| overflow("count"))
}

pub(super) fn add_count(count: i32, n: u64) -> ServiceResult<i32> {
    count
        .checked_add(count_i32(n)?)
        .ok_or_else(|| overflow("count"))
}
