//! BillingRun, Invoice, InvoiceLine and AuditEvent.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{audit_event, billing_run, invoice, invoice_line};

use super::contract::Contract;
use super::id;
use super::setup::{Customer, LegalEntity};
use crate::domain::amount::{Amount, Price, Quantity, Rate};
use crate::domain::billing::DraftLine;
use crate::domain::currency::minor_units_of;
use crate::graphql::guard::principal;
use crate::graphql::loaders::{
    loader_error, ContractId, CreditNotesOf, CustomerId, InvoiceLinesOf, LegalEntityId, Loaders,
    RunId,
};
use crate::graphql::scalars::{decimal_at, money_at, Date, Dec};
use crate::service::{runs, Ctx, ServiceError};

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::RunStatus")]
pub enum BillingRunStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::TriggerSource")]
pub enum TriggerSource {
    Manual,
    Scheduled,
    Api,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::InvoiceStatus")]
pub enum InvoiceStatus {
    Draft,
    Posted,
    Paid,
    Void,
}

pub(crate) async fn load_entity(ctx: &Context<'_>, id: i64) -> async_graphql::Result<LegalEntity> {
    ctx.data::<Loaders>()?
        .load_one(LegalEntityId(id))
        .await
        .map_err(loader_error)?
        .map(LegalEntity)
        .ok_or_else(|| ServiceError::NotFound("legal entity").into())
}

pub(crate) async fn load_customer(ctx: &Context<'_>, id: i64) -> async_graphql::Result<Customer> {
    ctx.data::<Loaders>()?
        .load_one(CustomerId(id))
        .await
        .map_err(loader_error)?
        .map(Customer)
        .ok_or_else(|| ServiceError::NotFound("customer").into())
}

pub(crate) async fn load_contract(
    ctx: &Context<'_>,
    id: Option<i64>,
) -> async_graphql::Result<Option<Contract>> {
    let Some(id) = id else { return Ok(None) };
    Ok(ctx
        .data::<Loaders>()?
        .load_one(ContractId(id))
        .await
        .map_err(loader_error)?
        .map(Contract))
}

/// Parses an `after` cursor of our connections (an id).
pub fn cursor(after: Option<String>) -> Result<Option<i64>, ServiceError> {
    after
        .map(|c| {
            c.parse::<i64>()
                .map_err(|_| ServiceError::bad_input("after", "is not a cursor of this list"))
        })
        .transpose()
}

pub struct BillingRun(pub billing_run::Model);

#[Object]
impl BillingRun {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Per legal entity, e.g. "BR-000042".
    async fn run_number(&self) -> &str {
        &self.0.run_number
    }
    async fn legal_entity(&self, ctx: &Context<'_>) -> async_graphql::Result<LegalEntity> {
        load_entity(ctx, self.0.legal_entity_id).await
    }
    async fn status(&self) -> BillingRunStatus {
        self.0.status.into()
    }
    async fn trigger(&self) -> TriggerSource {
        self.0.trigger_source.into()
    }
    async fn triggered_by(&self) -> &str {
        &self.0.triggered_by
    }
    async fn as_of(&self) -> Date {
        Date(self.0.as_of)
    }
    /// Earliest period start billed; asOf while nothing is billed.
    async fn period_start(&self) -> Date {
        Date(self.0.period_start.unwrap_or(self.0.as_of))
    }
    /// Latest period end billed; asOf while nothing is billed.
    async fn period_end(&self) -> Date {
        Date(self.0.period_end.unwrap_or(self.0.as_of))
    }
    /// Contracts found due.
    async fn contract_count(&self) -> i32 {
        self.0.contract_count
    }
    /// Contracts processed so far (progress).
    async fn processed_count(&self) -> i32 {
        self.0.processed_count
    }
    async fn invoice_count(&self) -> i32 {
        self.0.invoice_count
    }
    /// Contracts that could not be billed (named in the audit trail).
    async fn skipped_count(&self) -> i32 {
        self.0.skipped_count
    }
    async fn invoice_total(&self, ctx: &Context<'_>) -> async_graphql::Result<Dec> {
        let entity = load_entity(ctx, self.0.legal_entity_id).await?;
        Ok(money_at(
            Amount::from_e4(self.0.invoice_total_e4),
            minor_units_of(&entity.0.currency),
        ))
    }
    /// A dry run: computed, nothing written.
    async fn dry_run(&self) -> bool {
        self.0.dry_run
    }
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }
    async fn duration_ms(&self) -> Option<i32> {
        self.0
            .duration_ms
            .map(|ms| i32::try_from(ms).unwrap_or(i32::MAX))
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// When this state was saved (each chunk's commit).
    async fn updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.updated_at
    }
    #[graphql(complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity")]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Invoice>> {
        let after = cursor(after)?;
        let (rows, more) =
            runs::run_invoices(ctx.data::<Ctx>()?, principal(ctx)?, self.0.id, first, after)
                .await?;
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|i| Edge::new(i.id.to_string(), Invoice(i))),
        );
        Ok(connection)
    }
    async fn audit_trail(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<AuditEvent>> {
        let rows = runs::audit_trail(ctx.data::<Ctx>()?, principal(ctx)?, self.0.id).await?;
        Ok(rows.into_iter().map(AuditEvent).collect())
    }
}

pub struct Invoice(pub invoice::Model);

impl Invoice {
    fn money(&self, raw_e4: i64) -> Dec {
        money_at(Amount::from_e4(raw_e4), minor_units_of(&self.0.currency))
    }
}

#[Object]
impl Invoice {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Null while DRAFT; gapless per legal entity and year once posted.
    async fn number(&self) -> Option<&str> {
        self.0.number.as_deref()
    }
    async fn status(&self) -> InvoiceStatus {
        self.0.status.into()
    }
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_customer(ctx, self.0.customer_id).await
    }
    async fn contract(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Contract>> {
        load_contract(ctx, self.0.contract_id).await
    }
    async fn billing_run(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<BillingRun>> {
        let Some(run_id) = self.0.billing_run_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(RunId(run_id))
            .await
            .map_err(loader_error)?
            .map(BillingRun))
    }
    async fn period_start(&self) -> Date {
        Date(self.0.period_start)
    }
    async fn period_end(&self) -> Date {
        Date(self.0.period_end)
    }
    async fn issue_date(&self) -> Date {
        Date(self.0.issue_date)
    }
    async fn due_date(&self) -> Date {
        Date(self.0.due_date)
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn subtotal(&self) -> Dec {
        self.money(self.0.subtotal_e4)
    }
    async fn tax_total(&self) -> Dec {
        self.money(self.0.tax_total_e4)
    }
    async fn total(&self) -> Dec {
        self.money(self.0.total_e4)
    }
    async fn amount_paid(&self) -> Dec {
        self.money(self.0.amount_paid_e4)
    }
    async fn amount_due(&self) -> Dec {
        self.money(crate::domain::billing::amount_due_e4(
            self.0.status == entity::status::InvoiceStatus::Void,
            self.0.total_e4,
            [
                self.0.amount_paid_e4,
                self.0.credit_reduced_e4,
                self.0.credit_applied_e4,
            ],
        ))
    }
    async fn void_reason(&self) -> Option<&str> {
        self.0.void_reason.as_deref()
    }
    /// The totals of its ISSUED credit notes.
    async fn amount_credited(&self) -> Dec {
        self.money(self.0.amount_credited_e4)
    }
    /// Customer credit consumed when it was posted.
    async fn credit_applied(&self) -> Dec {
        self.money(self.0.credit_applied_e4)
    }
    async fn credit_notes(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<super::credit_note::CreditNote>> {
        let notes = ctx
            .data::<Loaders>()?
            .load_one(CreditNotesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(notes
            .into_iter()
            .map(super::credit_note::CreditNote)
            .collect())
    }
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<InvoiceLine>> {
        let minor = minor_units_of(&self.0.currency);
        let lines = ctx
            .data::<Loaders>()?
            .load_one(InvoiceLinesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(lines
            .iter()
            .map(|l| InvoiceLine::stored(l, minor))
            .collect())
    }
}

#[derive(SimpleObject)]
pub struct InvoiceLine {
    /// A dry run's would-be lines have ids of their own ("preview-<n>"),
    /// which no credit note can name.
    id: ID,
    description: String,
    quantity: Dec,
    unit_price: Dec,
    net_amount: Dec,
    tax_rate: Dec,
    tax_amount: Dec,
    total_amount: Dec,
}

impl InvoiceLine {
    pub fn stored(l: &invoice_line::Model, minor: u32) -> Self {
        InvoiceLine {
            id: id(l.id),
            description: l.description.clone(),
            quantity: Quantity::from_e6(l.quantity_e6).into(),
            unit_price: Price::from_e6(l.unit_price_e6).into(),
            net_amount: money_at(Amount::from_e4(l.net_e4), minor),
            tax_rate: Rate::from_e6(l.tax_rate_e6).into(),
            tax_amount: money_at(Amount::from_e4(l.tax_e4), minor),
            total_amount: money_at(Amount::from_e4(l.total_e4), minor),
        }
    }

    pub fn draft(n: usize, l: &DraftLine, minor: u32) -> Self {
        InvoiceLine {
            id: ID(format!("preview-{n}")),
            description: l.description.clone(),
            quantity: Dec(l.quantity.normalize()),
            unit_price: Dec(l.unit_price.normalize()),
            net_amount: decimal_at(l.net, minor),
            tax_rate: Dec(l.tax_rate.normalize()),
            tax_amount: decimal_at(l.tax, minor),
            total_amount: decimal_at(l.total, minor),
        }
    }
}

pub struct AuditEvent(pub audit_event::Model);

#[Object]
impl AuditEvent {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn legal_entity_id(&self) -> Option<ID> {
        self.0.legal_entity_id.map(id)
    }
    async fn subject_type(&self) -> &str {
        &self.0.subject_type
    }
    async fn subject_id(&self) -> ID {
        ID(self.0.subject_id.clone())
    }
    async fn action(&self) -> &str {
        &self.0.action
    }
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn details(&self) -> Option<async_graphql::Json<serde_json::Value>> {
        self.0
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
            .map(async_graphql::Json)
    }
}
