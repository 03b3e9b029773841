//! The Billing Run Agent's definition and configuration, and what a
//! trigger returns.

use async_graphql::{Context, Enum, Object, SimpleObject, ID};
use entity::billing_agent_config;

use super::billing::{load_contract, load_customer, BillingRun, InvoiceLine};
use super::contract::Contract;
use super::id;
use super::setup::Customer;
use crate::domain::currency::minor_units_of;
use crate::graphql::scalars::{decimal_at, Date, Dec};
use crate::service::billing::PreviewInvoice;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::NotificationLevel")]
pub enum NotificationLevel {
    All,
    FailuresOnly,
    None,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionMode {
    Code,
    Llm,
}

pub struct BillingAgentConfig(pub billing_agent_config::Model);

#[Object]
impl BillingAgentConfig {
    /// Stable, so that a client cache (Apollo, urql's graphcache) replaces
    /// the configuration it holds with what `updateBillingAgentConfig`
    /// returns.
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn auto_post_invoices(&self) -> bool {
        self.0.auto_post_invoices
    }
    async fn emit_delivery_events(&self) -> bool {
        self.0.emit_delivery_events
    }
    async fn emit_payment_events(&self) -> bool {
        self.0.emit_payment_events
    }
    async fn notification_level(&self) -> NotificationLevel {
        self.0.notification_level.into()
    }
    async fn default_billing_entity_id(&self) -> Option<ID> {
        self.0.default_billing_entity_id.map(id)
    }
}

#[derive(SimpleObject)]
pub struct AgentDefinition {
    /// The agent's key, stable across releases: what client caches key it by.
    pub id: ID,
    /// "billing-run"
    pub key: String,
    /// "Billing Run Agent"
    pub name: String,
    pub execution_mode: ExecutionMode,
    pub trigger_events: Vec<String>,
    pub config: Option<BillingAgentConfig>,
}

/// What a dry run would invoice.
pub struct InvoicePreview(pub PreviewInvoice);

#[Object]
impl InvoicePreview {
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_customer(ctx, self.0.customer_id).await
    }
    async fn contract(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Contract>> {
        load_contract(ctx, Some(self.0.contract_id)).await
    }
    async fn period_start(&self) -> Date {
        Date(self.0.draft.period_start)
    }
    async fn period_end(&self) -> Date {
        Date(self.0.draft.period_end)
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
        self.money(self.0.draft.subtotal)
    }
    async fn tax_total(&self) -> Dec {
        self.money(self.0.draft.tax_total)
    }
    async fn total(&self) -> Dec {
        self.money(self.0.draft.total)
    }
    async fn lines(&self) -> Vec<InvoiceLine> {
        let minor = self.minor();
        self.0
            .draft
            .lines
            .iter()
            .enumerate()
            .map(|(n, l)| InvoiceLine::draft(n, l, minor))
            .collect()
    }
}

impl InvoicePreview {
    fn minor(&self) -> u32 {
        minor_units_of(&self.0.currency)
    }
    fn money(&self, value: rust_decimal::Decimal) -> Dec {
        decimal_at(value, self.minor())
    }
}

#[derive(SimpleObject)]
pub struct TriggerBillingRunPayload {
    /// One per legal entity processed.
    pub runs: Vec<BillingRun>,
    /// Dry runs only: the would-be invoices (at most 1000).
    pub dry_run_invoices: Vec<InvoicePreview>,
}
