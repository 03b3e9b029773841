//! CreditNote and CreditNoteLine.

use async_graphql::{Context, Enum, Object, ID};
use entity::{credit_note, credit_note_line};

use super::billing::{load_customer, Invoice, InvoiceLine};
use super::id;
use super::setup::Customer;
use crate::domain::amount::Amount;
use crate::domain::currency::minor_units_of;
use crate::graphql::loaders::{loader_error, CreditNoteLinesOf, InvoiceId, InvoiceLineId, Loaders};
use crate::graphql::scalars::{money_at, Date, Dec};
use crate::service::ServiceError;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::CreditNoteReason")]
pub enum CreditNoteReason {
    DuplicateCharge,
    ProductUnsatisfactory,
    OrderChange,
    OrderCancellation,
    FraudulentCharge,
    Other,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::CreditNoteStatus")]
pub enum CreditNoteStatus {
    Draft,
    Issued,
    Void,
}

pub struct CreditNote(pub credit_note::Model);

impl CreditNote {
    fn money(&self, raw_e4: i64) -> Dec {
        money_at(Amount::from_e4(raw_e4), minor_units_of(&self.0.currency))
    }
}

#[Object]
impl CreditNote {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// Null while DRAFT; its own gapless series per legal entity and year.
    async fn number(&self) -> Option<&str> {
        self.0.number.as_deref()
    }
    async fn status(&self) -> CreditNoteStatus {
        self.0.status.into()
    }
    async fn invoice(&self, ctx: &Context<'_>) -> async_graphql::Result<Invoice> {
        ctx.data::<Loaders>()?
            .load_one(InvoiceId(self.0.invoice_id))
            .await
            .map_err(loader_error)?
            .map(Invoice)
            .ok_or_else(|| ServiceError::NotFound("invoice").into())
    }
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_customer(ctx, self.0.customer_id).await
    }
    async fn reason(&self) -> CreditNoteReason {
        self.0.reason.into()
    }
    async fn memo(&self) -> Option<&str> {
        self.0.memo.as_deref()
    }
    async fn issue_date(&self) -> Option<Date> {
        self.0.issue_date.map(Date)
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
    /// The part that reduced the invoice's amount due.
    async fn applied_to_invoice(&self) -> Dec {
        self.money(self.0.applied_to_invoice_e4)
    }
    /// The rest (the invoice was already paid): customer credit.
    async fn to_credit_balance(&self) -> Dec {
        self.money(self.0.to_credit_balance_e4)
    }
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CreditNoteLine>> {
        let minor = minor_units_of(&self.0.currency);
        let lines = ctx
            .data::<Loaders>()?
            .load_one(CreditNoteLinesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(lines
            .into_iter()
            .map(|line| CreditNoteLine { line, minor })
            .collect())
    }
}

pub struct CreditNoteLine {
    line: credit_note_line::Model,
    minor: u32,
}

#[Object]
impl CreditNoteLine {
    async fn id(&self) -> ID {
        id(self.line.id)
    }
    async fn invoice_line(&self, ctx: &Context<'_>) -> async_graphql::Result<InvoiceLine> {
        ctx.data::<Loaders>()?
            .load_one(InvoiceLineId(self.line.invoice_line_id))
            .await
            .map_err(loader_error)?
            .map(|l| InvoiceLine::stored(&l, self.minor))
            .ok_or_else(|| ServiceError::NotFound("invoice line").into())
    }
    async fn description(&self) -> &str {
        &self.line.description
    }
    async fn net_amount(&self) -> Dec {
        money_at(Amount::from_e4(self.line.net_e4), self.minor)
    }
    /// At the invoice line's tax rate.
    async fn tax_amount(&self) -> Dec {
        money_at(Amount::from_e4(self.line.tax_e4), self.minor)
    }
    async fn total_amount(&self) -> Dec {
        money_at(Amount::from_e4(self.line.total_e4), self.minor)
    }
}
