//! The AR aging report a page at a time: its summary (totals per bucket and
//! the number of customers with something open) and one page of its rows,
//! searched, ordered and cut in SQL. Both come from one evaluation of the
//! per-customer aggregate ([`super::aging`]'s grouped statement, a
//! materialized CTE that every part reads), so asking for the totals and the
//! first page costs one pass over the open invoices, not two.

use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};

use super::aging::{aging_row, buckets_of, grouped_sql, AgingRow};
use super::placeholder as p;
use super::StoreResult;
use crate::domain::aging::{AgingOrder, Buckets, RowPage};

/// The whole report's totals and how many customers have something open.
pub struct Summary {
    pub totals: Buckets,
    pub customers: u64,
}

/// One page of rows and how many rows match its search.
pub struct Page {
    pub rows: Vec<AgingRow>,
    pub total_count: u64,
}

#[derive(Default)]
pub struct View {
    pub summary: Option<Summary>,
    pub page: Option<Page>,
}

/// Which part of the statement a result row belongs to (column `kind`).
const SUMMARY: i32 = 0;
const COUNT: i32 = 1;
const ROW: i32 = 2;

/// The summary (when `summary`) and a page (when `page`), in one statement
/// over the grouped rows of the legal entity's report as of `as_of`.
pub async fn aging_view(
    conn: &impl ConnectionTrait,
    legal_entity_id: i64,
    as_of: NaiveDate,
    back_dated: bool,
    summary: bool,
    page: Option<&RowPage>,
) -> StoreResult<View> {
    if !summary && page.is_none() {
        return Ok(View::default());
    }
    let backend = conn.get_database_backend();
    let (sql, values) = view_sql(backend, legal_entity_id, as_of, back_dated, summary, page);
    let rows = conn
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    let mut view = View {
        summary: None,
        page: page.map(|_| Page {
            rows: Vec::new(),
            total_count: 0,
        }),
    };
    for r in &rows {
        let count = || -> Result<u64, sea_orm::DbErr> {
            Ok(u64::try_from(r.try_get::<i64>("", "n")?).unwrap_or(0))
        };
        match (r.try_get::<i32>("", "kind")?, view.page.as_mut()) {
            (SUMMARY, _) => {
                view.summary = Some(Summary {
                    totals: buckets_of(r)?,
                    customers: count()?,
                })
            }
            (COUNT, Some(page)) => page.total_count = count()?,
            (ROW, Some(page)) => page.rows.push(aging_row(r)?),
            _ => {}
        }
    }
    Ok(view)
}

/// The statement of [`aging_view`]: the grouped rows as CTE `agg`, then
/// up to three parts told apart by `kind` (the summary, the page's match
/// count, the page's rows) and ordered by it, rows in the page's order.
fn view_sql(
    backend: DbBackend,
    legal_entity_id: i64,
    as_of: NaiveDate,
    back_dated: bool,
    summary: bool,
    page: Option<&RowPage>,
) -> (String, Vec<Value>) {
    let (grouped, mut values) = grouped_sql(backend, legal_entity_id, as_of, back_dated);
    let sum_fn = super::aging::sum_fn(backend);
    let sum = |b: usize| format!("CAST(COALESCE({sum_fn}(b{b}), 0) AS BIGINT) AS b{b}");
    let mut parts = Vec::new();
    if summary {
        let sums: Vec<String> = (0..5).map(sum).collect();
        parts.push(format!(
            "SELECT {SUMMARY} AS kind, 0 AS customer_id, '' AS name, {}, 0 AS total, COUNT(*) AS n FROM agg",
            sums.join(", ")
        ));
    }
    let mut order_by = String::new();
    if let Some(page) = page {
        let filter = search_filter(backend, page, &mut values);
        // A page needs the names before it is cut only to search or sort
        // by them; otherwise only its own rows are joined to customers.
        let join = if filter.is_empty() && page.order != AgingOrder::CustomerName {
            ""
        } else {
            " JOIN customer c ON c.id = a.customer_id"
        };
        parts.push(format!(
            "SELECT {COUNT} AS kind, 0 AS customer_id, '' AS name, 0 AS b0, 0 AS b1, 0 AS b2, 0 AS b3, 0 AS b4, \
               0 AS total, COUNT(*) AS n FROM agg a{join}{filter}"
        ));
        values.push(i64::try_from(page.limit).unwrap_or(i64::MAX).into());
        values.push(i64::try_from(page.offset).unwrap_or(i64::MAX).into());
        let (limit, offset) = (p(backend, values.len() - 1), p(backend, values.len()));
        let (inner, outer) = order_sql(page.order);
        parts.push(format!(
            "SELECT {ROW} AS kind, r.customer_id, c.name, r.b0, r.b1, r.b2, r.b3, r.b4, r.total, 0 AS n \
             FROM (SELECT a.*, a.b0 + a.b1 + a.b2 + a.b3 + a.b4 AS total FROM agg a{join}{filter} \
                   ORDER BY {inner} LIMIT {limit} OFFSET {offset}) r \
             JOIN customer c ON c.id = r.customer_id"
        ));
        order_by = format!(", {outer}");
    }
    let sql = format!(
        "WITH agg AS MATERIALIZED ({grouped}) {} ORDER BY kind{order_by}",
        parts.join(" UNION ALL ")
    );
    (sql, values)
}

/// The page's order before it is cut (over `agg a`, `c` joined when by
/// name) and after (over the output columns); both end with the customer
/// id, so ties are broken the same way on every request.
fn order_sql(order: AgingOrder) -> (&'static str, &'static str) {
    match order {
        AgingOrder::CustomerName => ("c.name, a.customer_id", "name, customer_id"),
        AgingOrder::TotalDesc => ("total DESC, a.customer_id", "total DESC, customer_id"),
        AgingOrder::Over90Desc => ("a.b4 DESC, a.customer_id", "b4 DESC, customer_id"),
    }
}

/// ` WHERE` the customer name contains the page's (lower-cased) search,
/// or nothing without one. The pattern is bound, its `%`, `_` and `\`
/// escaped so they match themselves. SQLite's LOWER folds ASCII letters
/// only, so there a name's non-ASCII capitals match only themselves.
fn search_filter(backend: DbBackend, page: &RowPage, values: &mut Vec<Value>) -> String {
    let Some(search) = page.search.as_deref() else {
        return String::new();
    };
    let mut pattern = String::with_capacity(search.len() + 2);
    pattern.push('%');
    for ch in search.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(ch);
    }
    pattern.push('%');
    values.push(pattern.into());
    format!(
        " WHERE LOWER(c.name) LIKE {} ESCAPE '\\'",
        p(backend, values.len())
    )
}
