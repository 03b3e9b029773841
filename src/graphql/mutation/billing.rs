//! Triggering runs, posting and voiding invoices, configuring the agent.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::idempotent;
use crate::graphql::scalars::{Date, Dec};
use crate::graphql::types::agent::{
    BillingAgentConfig, InvoicePreview, NotificationLevel, TriggerBillingRunPayload,
};
use crate::graphql::types::billing::{BillingRun, Invoice};
use crate::graphql::types::parse_id;
use crate::service::billing;
use crate::service::{agent, invoices, payments, runs, Ctx, ServiceError};

#[derive(InputObject)]
pub struct TriggerBillingRunInput {
    /// null: every legal entity the configuration allows (one run each).
    legal_entity_id: Option<ID>,
    /// null: today in the legal entity's timezone.
    as_of: Option<Date>,
    /// true: compute and return what would be invoiced, write nothing.
    dry_run: Option<bool>,
    /// true: return only once every run has finished.
    wait: Option<bool>,
}

#[derive(InputObject)]
pub struct UpdateBillingAgentConfigInput {
    auto_post_invoices: Option<bool>,
    emit_delivery_events: Option<bool>,
    emit_payment_events: Option<bool>,
    notification_level: Option<NotificationLevel>,
    /// null clears it; omitted leaves it.
    default_billing_entity_id: MaybeUndefined<ID>,
}

#[derive(InputObject)]
pub struct RecordPaymentInput {
    invoice_id: ID,
    amount: Dec,
    received_on: Date,
    reference: Option<String>,
}

#[derive(Default)]
pub struct BillingMutation;

#[Object]
impl BillingMutation {
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn trigger_billing_run(
        &self,
        ctx: &Context<'_>,
        input: TriggerBillingRunInput,
        #[graphql(
            desc = "Retrying with the same key returns the first runs and starts nothing new (the Idempotency-Key header works too)."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<TriggerBillingRunPayload> {
        let principal = principal(ctx)?;
        let legal_entity_id = match &input.legal_entity_id {
            None => None,
            Some(id) => Some(parse_id(id).ok_or(ServiceError::NotFound("legal entity"))?),
        };
        let source = billing::source_of(principal);
        let service = ctx.data::<Ctx>()?;
        let work = billing::trigger(
            service,
            principal,
            billing::TriggerInput {
                legal_entity_id,
                as_of: input.as_of.map(|d| d.0),
                dry_run: input.dry_run.unwrap_or(false),
                wait: input.wait.unwrap_or(false),
            },
            source,
        );
        let outcome = idempotent::once(
            ctx,
            idempotency_key,
            "triggerBillingRun",
            work,
            |o| o.runs.iter().map(|r| r.id).collect::<Vec<i64>>(),
            |ids: Vec<i64>| async move {
                Ok(billing::TriggerOutcome {
                    runs: runs::runs_by_ids(service, principal, &ids).await?,
                    previews: Vec::new(),
                })
            },
        )
        .await?;
        Ok(TriggerBillingRunPayload {
            runs: outcome.runs.into_iter().map(BillingRun).collect(),
            dry_run_invoices: outcome.previews.into_iter().map(InvoicePreview).collect(),
        })
    }

    /// Continues a FAILED run after its last committed chunk (audited as
    /// RUN_RETRIED); BAD_USER_INPUT for a run that is not FAILED, CONFLICT
    /// when its legal entity has another active run.
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn retry_billing_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<BillingRun> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("billing run"))?;
        Ok(BillingRun(
            billing::retry_run(ctx.data::<Ctx>()?, principal(ctx)?, id).await?,
        ))
    }

    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn post_invoice(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Invoice> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("invoice"))?;
        Ok(Invoice(
            invoices::post_invoice(ctx.data::<Ctx>()?, principal(ctx)?, id).await?,
        ))
    }

    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn void_invoice(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
    ) -> async_graphql::Result<Invoice> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("invoice"))?;
        Ok(Invoice(
            invoices::void_invoice(ctx.data::<Ctx>()?, principal(ctx)?, id, &reason).await?,
        ))
    }

    /// Records a payment; refused when it exceeds the amount due.
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn record_payment(
        &self,
        ctx: &Context<'_>,
        input: RecordPaymentInput,
        #[graphql(
            desc = "Retrying with the same key returns the first result and records nothing new (the Idempotency-Key header works too)."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Invoice> {
        let invoice_id = parse_id(&input.invoice_id).ok_or(ServiceError::NotFound("invoice"))?;
        let input = payments::RecordPayment {
            invoice_id,
            amount: input.amount.0,
            received_on: input.received_on.0,
            reference: input.reference,
        };
        let (service, caller) = (ctx.data::<Ctx>()?, principal(ctx)?);
        let invoice = idempotent::once(
            ctx,
            idempotency_key,
            "recordPayment",
            payments::record_payment(service, caller, input),
            |i| i.id,
            |id: i64| async move {
                invoices::invoice(service, caller, id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound("invoice").into())
            },
        )
        .await?;
        Ok(Invoice(invoice))
    }

    #[graphql(guard = "Needs(Scope::ConfigWrite)", complexity = 100)]
    async fn update_billing_agent_config(
        &self,
        ctx: &Context<'_>,
        input: UpdateBillingAgentConfigInput,
    ) -> async_graphql::Result<BillingAgentConfig> {
        let default_billing_entity_id = match input.default_billing_entity_id {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(id) => Some(Some(parse_id(&id).ok_or_else(|| {
                ServiceError::bad_input("defaultBillingEntityId", "legal entity does not exist")
            })?)),
        };
        let change = agent::ConfigChange {
            auto_post_invoices: input.auto_post_invoices,
            emit_delivery_events: input.emit_delivery_events,
            emit_payment_events: input.emit_payment_events,
            notification_level: input.notification_level.map(Into::into),
            default_billing_entity_id,
        };
        Ok(BillingAgentConfig(
            agent::update_config(ctx.data::<Ctx>()?, principal(ctx)?, change).await?,
        ))
    }
}
