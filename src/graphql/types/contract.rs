//! Contract and ContractLine, with the contract's enums.

use async_graphql::{Context, Enum, Object, ID};
use entity::{contract, contract_line};

use super::id;
use super::setup::{Customer, TaxCode};
use crate::domain::amount::{Price, Quantity};
use crate::domain::schedule;
use crate::graphql::loaders::{loader_error, CustomerId, LinesOf, Loaders, TaxCodeId};
use crate::graphql::scalars::{Date, Dec};
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
    async fn status(&self) -> ContractStatus {
        self.0.status.into()
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
    async fn lines(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<ContractLine>> {
        let lines = ctx
            .data::<Loaders>()?
            .load_one(LinesOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or_default();
        Ok(lines.into_iter().map(ContractLine).collect())
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
