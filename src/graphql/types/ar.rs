//! The AR aging report.

use async_graphql::{Context, Enum, InputType, Lookahead, Object, SimpleObject, ID};
use tokio::sync::OnceCell;

use super::billing::{load_customer, Invoice};
use super::setup::{Customer, LegalEntity};
use crate::domain::aging::RowPage;
use crate::domain::aging::{Bucket, Buckets};
use crate::domain::amount::Amount;
use crate::graphql::guard::principal;
use crate::graphql::scalars::{money_at, Date, Dec};
use crate::service::ar::{self, AgingHead, AgingInvoice, AgingPage, AgingRow, AgingSummary};
use crate::service::{Ctx, ServiceError};

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
    /// `aging:<legal entity>:<as of>:<customer>`, see [`row_id`].
    id: ID,
    customer_id: i64,
    buckets: AgingBuckets,
    invoices: Vec<ArAgingInvoice>,
}

#[Object]
impl ArAgingRow {
    /// `aging:<legalEntityId>:<asOf>:<customerId>`: one row per customer
    /// and report, so a client cache normalising by id keeps the rows of
    /// reports of different dates apart (and replaces a row when the same
    /// report is asked again).
    async fn id(&self) -> &ID {
        &self.id
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

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::domain::aging::AgingOrder")]
pub enum ArAgingOrder {
    CustomerName,
    TotalDesc,
    #[graphql(name = "OVER_90_DESC")]
    Over90Desc,
}

#[derive(SimpleObject)]
pub struct ArAgingRowPage {
    rows: Vec<ArAgingRow>,
    /// Rows matching the search, on every page.
    total_count: i32,
    /// Where the next page starts; null on the last.
    next_offset: Option<i32>,
}

/// The report: its entity and date, and what the document asks of it.
/// [`ArAgingReport::load`] reads the selection first and computes the
/// totals, the customer count and the first `rowPage` in one statement (or
/// every row and the totals, when `rows` is asked); a field it did not
/// foresee (a second `rowPage` with other arguments) queries on its own.
pub struct ArAgingReport {
    head: AgingHead,
    summary: OnceCell<AgingSummary>,
    rows: OnceCell<Vec<ArAgingRow>>,
    first_page: Option<(RowPage, AgingPage)>,
}

impl ArAgingReport {
    pub async fn load(ctx: &Context<'_>, head: AgingHead) -> async_graphql::Result<Self> {
        let mut report = ArAgingReport {
            head,
            summary: OnceCell::new(),
            rows: OnceCell::new(),
            first_page: None,
        };
        let ahead = ctx.look_ahead();
        let service = ctx.data::<Ctx>()?;
        if ahead.field("rows").exists() {
            let rows = ar::aging_rows(service, &report.head).await?;
            let summary = ar::summary_of(&rows)?;
            let with_invoices = ahead.field("rows").field("invoices").exists();
            let rows = report.rows_with_invoices(ctx, &rows, with_invoices).await?;
            let _ = report.summary.set(summary);
            let _ = report.rows.set(rows);
            return Ok(report);
        }
        let summary = ahead.field("totals").exists() || ahead.field("customerCount").exists();
        let page = foreseen_page(&ahead.field("rowPage"));
        let (s, p) = ar::aging_view(service, &report.head, summary, page.as_ref()).await?;
        if let Some(s) = s {
            let _ = report.summary.set(s);
        }
        report.first_page = page.zip(p);
        Ok(report)
    }

    async fn summary(&self, ctx: &Context<'_>) -> async_graphql::Result<&AgingSummary> {
        self.summary
            .get_or_try_init(|| async {
                let view = ar::aging_view(ctx.data::<Ctx>()?, &self.head, true, None).await?;
                view.0.ok_or_else(|| {
                    ServiceError::Internal(anyhow::anyhow!("aging summary missing")).into()
                })
            })
            .await
    }

    /// Rows of the report, with their open invoices when `with_invoices`.
    async fn rows_with_invoices(
        &self,
        ctx: &Context<'_>,
        rows: &[AgingRow],
        with_invoices: bool,
    ) -> async_graphql::Result<Vec<ArAgingRow>> {
        let open = if with_invoices {
            let ids: Vec<i64> = rows.iter().map(|r| r.customer_id).collect();
            let (service, principal) = (ctx.data::<Ctx>()?, principal(ctx)?);
            ar::aging_invoices(service, principal, &self.head, &ids).await?
        } else {
            Vec::new()
        };
        let minor = self.head.minor_units;
        let mut by_customer: std::collections::HashMap<i64, Vec<ArAgingInvoice>> =
            Default::default();
        for open in open {
            by_customer
                .entry(open.invoice.customer_id)
                .or_default()
                .push(ArAgingInvoice { open, minor });
        }
        Ok(rows
            .iter()
            .map(|r| ArAgingRow {
                id: row_id(&self.head, r.customer_id),
                customer_id: r.customer_id,
                buckets: AgingBuckets::new(&r.buckets, r.total, minor),
                invoices: by_customer.remove(&r.customer_id).unwrap_or_default(),
            })
            .collect())
    }

    /// The page asked for: the one [`ArAgingReport::load`] computed when
    /// the arguments are the same, otherwise its own statement.
    async fn page(&self, ctx: &Context<'_>, page: &RowPage) -> async_graphql::Result<AgingPage> {
        if let Some((_, computed)) = self.first_page.as_ref().filter(|(p, _)| p == page) {
            return Ok(computed.clone());
        }
        let view = ar::aging_view(ctx.data::<Ctx>()?, &self.head, false, Some(page)).await?;
        view.1
            .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("aging page missing")).into())
    }
}

/// A row's id: the report's scope (legal entity and as-of date) and the
/// customer, so the same customer in reports of two dates has two ids.
fn row_id(head: &AgingHead, customer_id: i64) -> ID {
    ID(format!(
        "aging:{}:{}:{}",
        head.legal_entity.id,
        head.as_of.format("%Y-%m-%d"),
        customer_id
    ))
}

/// The first `rowPage` of the selection as a page, when its arguments are
/// valid (invalid ones are refused by the field itself).
fn foreseen_page(row_page: &Lookahead<'_>) -> Option<RowPage> {
    let field = row_page.selection_fields().into_iter().next()?;
    let args = field.arguments().ok()?;
    let arg = |name: &str| {
        args.iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.clone())
    };
    let offset = Option::<i32>::parse(arg("offset")).ok()?;
    let limit = Option::<i32>::parse(arg("limit")).ok()?;
    let order = Option::<ArAgingOrder>::parse(arg("orderBy")).ok()?;
    let search = Option::<String>::parse(arg("customerSearch")).ok()?;
    ar::row_page(offset, limit, order.map(Into::into), search.as_deref()).ok()
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl ArAgingReport {
    async fn legal_entity(&self) -> LegalEntity {
        LegalEntity(self.head.legal_entity.clone())
    }
    async fn as_of(&self) -> Date {
        Date(self.head.as_of)
    }
    async fn currency(&self) -> &str {
        &self.head.legal_entity.currency
    }
    /// One row per customer with something open, sorted by name.
    async fn rows(&self, ctx: &Context<'_>) -> async_graphql::Result<&[ArAgingRow]> {
        let rows = self
            .rows
            .get_or_try_init(|| async {
                let rows = ar::aging_rows(ctx.data::<Ctx>()?, &self.head).await?;
                let with_invoices = ctx.look_ahead().field("invoices").exists();
                self.rows_with_invoices(ctx, &rows, with_invoices).await
            })
            .await?;
        Ok(rows)
    }
    async fn totals(&self, ctx: &Context<'_>) -> async_graphql::Result<AgingBuckets> {
        let s = self.summary(ctx).await?;
        Ok(AgingBuckets::new(&s.totals, s.total, self.head.minor_units))
    }
    /// Customers with something open as of the date (whatever page is asked).
    async fn customer_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i32> {
        Ok(count(self.summary(ctx).await?.customer_count))
    }
    /// A page of rows: searched by customer name (any case), ordered (ties
    /// by customer id), at most 100; totals stay those of the whole report.
    #[graphql(complexity = "limit.unwrap_or(50).clamp(0, 100) as usize * child_complexity")]
    async fn row_page(
        &self,
        ctx: &Context<'_>,
        offset: Option<i32>,
        limit: Option<i32>,
        order_by: Option<ArAgingOrder>,
        customer_search: Option<String>,
    ) -> async_graphql::Result<ArAgingRowPage> {
        let order = order_by.map(Into::into);
        let asked = ar::row_page(offset, limit, order, customer_search.as_deref())?;
        let page = self.page(ctx, &asked).await?;
        let with_invoices = ctx.look_ahead().field("rows").field("invoices").exists();
        Ok(ArAgingRowPage {
            rows: self
                .rows_with_invoices(ctx, &page.rows, with_invoices)
                .await?,
            total_count: count(page.total_count),
            next_offset: page.next_offset.map(count),
        })
    }
}
