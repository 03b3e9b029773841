//! The AR aging report.

use async_graphql::{Context, Object, SimpleObject};
use entity::invoice;

use super::billing::{load_customer, Invoice};
use super::setup::{Customer, LegalEntity};
use crate::graphql::scalars::{amount, Date, Dec};
use crate::service::ar::{bucket, AgingReport};
use crate::store::aging::{Buckets, OpenInvoice};

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
    fn new(b: &Buckets, minor: u32) -> Self {
        AgingBuckets {
            current: amount(b.current, minor),
            days_1_to_30: amount(b.days_1_30, minor),
            days_31_to_60: amount(b.days_31_60, minor),
            days_61_to_90: amount(b.days_61_90, minor),
            over90: amount(b.over_90, minor),
            total: amount(b.total(), minor),
        }
    }
}

pub struct ArAgingInvoice {
    invoice: invoice::Model,
    days_past_due: i64,
    bucket: &'static str,
    amount_due_e4: i64,
    minor: u32,
}

#[Object]
impl ArAgingInvoice {
    async fn invoice(&self) -> Invoice {
        Invoice(self.invoice.clone())
    }
    async fn days_past_due(&self) -> i32 {
        i32::try_from(self.days_past_due).unwrap_or(i32::MAX)
    }
    /// "current" | "1-30" | "31-60" | "61-90" | "90+"
    async fn bucket(&self) -> &str {
        self.bucket
    }
    /// What was due on this invoice as of the report's date.
    async fn amount_due(&self) -> Dec {
        amount(self.amount_due_e4, self.minor)
    }
}

pub struct ArAgingRow {
    customer_id: i64,
    buckets: AgingBuckets,
    invoices: Vec<ArAgingInvoice>,
}

#[Object]
impl ArAgingRow {
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
    pub fn new(report: AgingReport, open: Vec<(OpenInvoice, invoice::Model)>) -> Self {
        let minor = report.minor_units;
        let mut by_customer: std::collections::HashMap<i64, Vec<ArAgingInvoice>> =
            Default::default();
        for (o, model) in open {
            let (days, label) = bucket(report.as_of, o.due_date);
            by_customer
                .entry(o.customer_id)
                .or_default()
                .push(ArAgingInvoice {
                    invoice: model,
                    days_past_due: days,
                    bucket: label,
                    amount_due_e4: o.amount_due_e4,
                    minor,
                });
        }
        let rows = report
            .rows
            .iter()
            .map(|r| ArAgingRow {
                customer_id: r.customer_id,
                buckets: AgingBuckets::new(&r.buckets, minor),
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
        AgingBuckets::new(&self.report.totals, self.report.minor_units)
    }
}
