//! The AR aging report.

use async_graphql::{Context, Object, SimpleObject, ID};

use super::billing::{load_customer, Invoice};
use super::id;
use super::setup::{Customer, LegalEntity};
use crate::domain::aging::{Bucket, Buckets};
use crate::domain::amount::Amount;
use crate::graphql::scalars::{money_at, Date, Dec};
use crate::service::ar::{AgingInvoice, AgingReport};
use crate::service::ServiceError;

#[derive(SimpleObject)]
pub struct AgingBuckets {
    /// Not yet due (due date on or after asOf).
    current: Dec,
    #[graphql(name = "days1To30")]
    days_1_to_30: Dec,
    #[graphql(name = "days31To60")]
    days_31_to_60: Dec,
    #[graphql(name = "days61To90")]
    days_61_to_90: Dec,
    over90: Dec,
    total: Dec,
}

impl AgingBuckets {
    fn new(b: &Buckets, total: Amount, minor: u32) -> Self {
        let at = |bucket| money_at(b.get(bucket), minor);
        AgingBuckets {
            current: at(Bucket::Current),
            days_1_to_30: at(Bucket::Days1To30),
            days_31_to_60: at(Bucket::Days31To60),
            days_61_to_90: at(Bucket::Days61To90),
            over90: at(Bucket::Over90),
            total: money_at(total, minor),
        }
    }
}

pub struct ArAgingInvoice {
    open: AgingInvoice,
    minor: u32,
}

#[Object]
impl ArAgingInvoice {
    async fn invoice(&self) -> Invoice {
        Invoice(self.open.invoice.clone())
    }
    async fn days_past_due(&self) -> async_graphql::Result<i32> {
        i32::try_from(self.open.days_past_due).map_err(|_| {
            ServiceError::Internal(anyhow::anyhow!("days past due out of range")).into()
        })
    }
    /// "current" | "1-30" | "31-60" | "61-90" | "90+"
    async fn bucket(&self) -> &str {
        self.open.bucket.label()
    }
    /// What was due on this invoice as of the report's date.
    async fn amount_due(&self) -> Dec {
        money_at(self.open.amount_due, self.minor)
    }
}

pub struct ArAgingRow {
    customer_id: i64,
    buckets: AgingBuckets,
    invoices: Vec<ArAgingInvoice>,
}

#[Object]
impl ArAgingRow {
    /// The customer's id: a report has one row per customer. A client cache
    /// normalising by id holds one row per customer, so a page showing two
    /// reports of different dates at once keys rows by report instead
    /// (Apollo `keyFields`, urql `keys`).
    async fn id(&self) -> ID {
        id(self.customer_id)
    }
    async fn customer(&self, ctx: &Context<'_>) -> async_graphql::Result<Customer> {
        load_customer(ctx, self.customer_id).await
    }
    async fn buckets(&self) -> &AgingBuckets {
        &self.buckets
    }
    /// Open invoices as of the report's date, oldest due first (at most 100).
    async fn invoices(&self) -> &[ArAgingInvoice] {
        &self.invoices
    }
}

pub struct ArAgingReport {
    report: AgingReport,
    rows: Vec<ArAgingRow>,
}

impl ArAgingReport {
    pub fn new(report: AgingReport, open: Vec<AgingInvoice>) -> Self {
        let minor = report.minor_units;
        let mut by_customer: std::collections::HashMap<i64, Vec<ArAgingInvoice>> =
            Default::default();
        for open in open {
            by_customer
                .entry(open.invoice.customer_id)
                .or_default()
                .push(ArAgingInvoice { open, minor });
        }
        let rows = report
            .rows
            .iter()
            .map(|r| ArAgingRow {
                customer_id: r.customer_id,
                buckets: AgingBuckets::new(&r.buckets, r.total, minor),
                invoices: by_customer.remove(&r.customer_id).unwrap_or_default(),
            })
            .collect();
        ArAgingReport { report, rows }
    }
}

#[Object]
impl ArAgingReport {
    async fn legal_entity(&self) -> LegalEntity {
        LegalEntity(self.report.legal_entity.clone())
    }
    async fn as_of(&self) -> Date {
        Date(self.report.as_of)
    }
    async fn currency(&self) -> &str {
        &self.report.legal_entity.currency
    }
    /// One row per customer with something open, sorted by name.
    async fn rows(&self) -> &[ArAgingRow] {
        &self.rows
    }
    async fn totals(&self) -> AgingBuckets {
        AgingBuckets::new(
            &self.report.totals,
            self.report.total,
            self.report.minor_units,
        )
    }
}
