//! Contract and ContractLine, with the contract's enums.

use async_graphql::{Context, Enum, Json, Object, ID};
use entity::{audit_event, contract, contract_line, contract_pause};

use super::id;
use super::setup::{Customer, TaxCode};
use crate::domain::amount::{Price, Quantity};
use crate::domain::lifecycle::{self, Pause};
use crate::domain::schedule;
use crate::graphql::loaders::{
    loader_error, CustomerId, HistoryOf, LegalEntityId, LinesOf, Loaders, PausesOf, TaxCodeId,
};
use crate::graphql::scalars::{Date, Dec};
use crate::service::entity_today;
use crate::service::ServiceError;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BillingInterval {
    Week,
    Month,
    Quarter,
    Year,
}

impl From<BillingInterval> for schedule::Interval {
    fn from(value: BillingInterval) -> Self {
        match value {
            BillingInterval::Week => schedule::Interval::Week,
            BillingInterval::Month => schedule::Interval::Month,
            BillingInterval::Quarter => schedule::Interval::Quarter,
            BillingInterval::Year => schedule::Interval::Year,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum BillingTiming {
    InAdvance,
    InArrears,
}

impl From<BillingTiming> for schedule::Timing {
    fn from(value: BillingTiming) -> Self {
        match value {
            BillingTiming::InAdvance => schedule::Timing::InAdvance,
            BillingTiming::InArrears => schedule::Timing::InArrears,
        }
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::ContractStatus")]
pub enum ContractStatus {
    Active,
    Paused,
    Cancelled,
    Ended,
}

pub struct Contract(pub contract::Model);

fn stored<T: Copy>(what: &str, code: &str, table: &[(&str, T)]) -> async_graphql::Result<T> {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            ServiceError::Internal(anyhow::anyhow!("stored {what} {code:?} is unknown")).into()
        })
}

#[Object]
impl Contract {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        ctx.data::<Loaders>()?
            .load_one(CustomerId(self.0.customer_id))
            .await
            .map_err(loader_error)?
            .map(Customer)
            .ok_or_else(|| ServiceError::NotFound("customer").into())
    }
    /// PAUSED while a pause covers today (in the legal entity's timezone).
    async fn status(&self, ctx: &Context<'_>) -> async_graphql::Result<ContractStatus> {
        let stored = self.0.status;
        if stored != entity::status::ContractStatus::Active {
            return Ok(stored.into());
        }
        let today = self.today(ctx).await?;
        Ok(if lifecycle::paused_on(&self.pauses(ctx).await?, today) {
            ContractStatus::Paused
        } else {
            ContractStatus::Active
        })
    }
    /// The pause in force or to come (null when there is none).
    async fn paused_from(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(self.current_pause(ctx).await?.map(|p| Date(p.from)))
    }
    /// Null while paused with no resume date.
    async fn paused_until(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Date>> {
        Ok(self
            .current_pause(ctx)
            .await?
            .and_then(|p| p.until.map(Date)))
    }
    async fn cancelled_at(&self) -> Option<Date> {
        self.0.cancelled_at.map(Date)
    }
    /// Amendments, pauses, resumes and cancellations, oldest first.
    async fn history(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ContractChange>> {
        let changes = ctx
            .data::<Loaders>()?
            .load_one(HistoryOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(changes.into_iter().map(ContractChange).collect())
    }
    async fn start_date(&self) -> Date {
        Date(self.0.start_date)
    }
    async fn end_date(&self) -> Option<Date> {
        self.0.end_date.map(Date)
    }
    async fn interval(&self) -> async_graphql::Result<BillingInterval> {
        use BillingInterval::*;
        stored(
            "interval",
            &self.0.billing_interval,
            &[
                ("WEEK", Week),
                ("MONTH", Month),
                ("QUARTER", Quarter),
                ("YEAR", Year),
            ],
        )
    }
    async fn interval_count(&self) -> i32 {
        self.0.interval_count
    }
    async fn timing(&self) -> async_graphql::Result<BillingTiming> {
        use BillingTiming::*;
        stored(
            "timing",
            &self.0.timing,
            &[("IN_ADVANCE", InAdvance), ("IN_ARREARS", InArrears)],
        )
    }
    /// Billing date of the first period not yet billed; null when none is left.
    async fn next_billing_date(&self) -> Option<Date> {
        self.0.next_billing_date.map(Date)
    }
    /// The lines from the latest amendment on (earlier ones are in
    /// `history`).
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ContractLine>> {
        let lines = ctx
            .data::<Loaders>()?
            .load_one(LinesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(lines
            .into_iter()
            .filter(|l| l.valid_until.is_none())
            .map(ContractLine)
            .collect())
    }
}

impl Contract {
    /// The contract's pauses, oldest first.
    async fn pauses(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Pause>> {
        let rows: Vec<contract_pause::Model> = ctx
            .data::<Loaders>()?
            .load_one(PausesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(rows
            .iter()
            .map(|p| Pause {
                from: p.from_date,
                until: p.until_date,
            })
            .collect())
    }

    async fn today(&self, ctx: &Context<'_>) -> async_graphql::Result<chrono::NaiveDate> {
        let entity = ctx
            .data::<Loaders>()?
            .load_one(LegalEntityId(self.0.legal_entity_id))
            .await
            .map_err(loader_error)?
            .ok_or(ServiceError::NotFound("legal entity"))?;
        Ok(entity_today(&entity)?)
    }

    /// The latest pause not over by today.
    async fn current_pause(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<Pause>> {
        let today = self.today(ctx).await?;
        Ok(lifecycle::current_pause(&self.pauses(ctx).await?, today))
    }
}

/// One entry of a contract's history, read from its audit trail.
pub struct ContractChange(pub audit_event::Model);

#[Object]
impl ContractChange {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// AMENDED, PAUSED, RESUMED or CANCELLED.
    async fn kind(&self) -> &str {
        &self.0.action
    }
    async fn effective_date(&self) -> async_graphql::Result<Date> {
        self.parsed()
            .as_ref()
            .and_then(|d| d.get("effectiveDate"))
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse().ok())
            .map(Date)
            .ok_or_else(|| {
                ServiceError::Internal(anyhow::anyhow!(
                    "contract change {} has no effective date",
                    self.0.id
                ))
                .into()
            })
    }
    async fn at(&self) -> chrono::DateTime<chrono::Utc> {
        self.0.at
    }
    async fn actor(&self) -> &str {
        &self.0.actor
    }
    async fn details(&self) -> Option<Json<serde_json::Value>> {
        self.parsed().map(Json)
    }
}

impl ContractChange {
    fn parsed(&self) -> Option<serde_json::Value> {
        self.0
            .details
            .as_deref()
            .and_then(|d| serde_json::from_str(d).ok())
    }
}

pub struct ContractLine(pub contract_line::Model);

#[Object]
impl ContractLine {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn description(&self) -> &str {
        &self.0.description
    }
    async fn quantity(&self) -> Dec {
        Quantity::from_e6(self.0.quantity_e6).into()
    }
    async fn unit_price(&self) -> Dec {
        Price::from_e6(self.0.unit_price_e6).into()
    }
    async fn tax_code(&self, ctx: &Context<'_>) -> async_graphql::Result<Option<TaxCode>> {
        let Some(tax_id) = self.0.tax_code_id else {
            return Ok(None);
        };
        Ok(ctx
            .data::<Loaders>()?
            .load_one(TaxCodeId(tax_id))
            .await
            .map_err(loader_error)?
            .map(TaxCode))
    }
}
