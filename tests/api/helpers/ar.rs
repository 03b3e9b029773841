//! Invoices after a run, as accounts receivable sees them: the invoice
//! list, payments, posting and voiding, and the AR aging report.

use chrono::{Duration, NaiveDate};
use entity::{domain_event, invoice, payment};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

use super::{admin, code, TestApp};

pub const AGING: &str = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
  asOf currency
  rows { customer { id name } buckets { current days1To30 days31To60 days61To90 over90 total }
         invoices { daysPastDue bucket amountDue invoice { id dueDate } } }
  totals { current days1To30 days31To60 days61To90 over90 total } } }";
pub const PAY: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id status amountPaid amountDue } }";
pub const INVOICES: &str = "query($e: ID!, $s: InvoiceStatus, $c: ID, $from: Date, $to: Date, $first: Int, $after: String) {
  invoices(legalEntityId: $e, status: $s, customerId: $c, dueFrom: $from, dueTo: $to, first: $first, after: $after) {
    edges { cursor node { id status issueDate dueDate customer { id } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }";
pub const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { status amountPaid amountDue } }";
pub const BUCKETS: [&str; 5] = ["current", "days1To30", "days31To60", "days61To90", "over90"];

pub fn plus(d: NaiveDate, days: i64) -> String {
    (d + Duration::days(days)).to_string()
}

/// The bucket label of this many days past due.
pub fn label(days: i64) -> &'static str {
    match days {
        d if d <= 0 => "current",
        1..=30 => "1-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        _ => "90+",
    }
}

pub async fn customer_on_terms(app: &TestApp, entity: &str, name: &str, terms: i32) -> String {
    let input = json!({ "legalEntityId": entity, "name": name, "paymentTermsDays": terms });
    app.create("Customer", input).await
}

/// A billing run with `wait: true` that must complete.
pub async fn bill(app: &TestApp, entity: &str, as_of: &str) {
    let run = super::billing::run(app, entity, as_of).await;
    assert_eq!(run["status"], "COMPLETED", "{run}");
}

/// The invoice list as `tok` sees it with these filters: (nodes, pageInfo).
pub async fn list(app: &TestApp, tok: &str, vars: Value) -> (Vec<Value>, Value) {
    let body = app.gql(tok, INVOICES, vars).await;
    assert!(body.get("errors").is_none(), "invoices: {body}");
    let c = &body["data"]["invoices"];
    let nodes = c["edges"].as_array().expect("edges").iter();
    (
        nodes.map(|e| e["node"].clone()).collect(),
        c["pageInfo"].clone(),
    )
}

pub fn ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect()
}

/// The ids of a customer's invoices, oldest first.
pub async fn invoices_of(app: &TestApp, entity: &str, customer: &str) -> Vec<String> {
    let (nodes, _) = list(
        app,
        &admin(),
        json!({ "e": entity, "c": customer, "first": 100 }),
    )
    .await;
    ids(&nodes).into_iter().rev().collect()
}

/// An entity (EUR unless told) with a customer on terms 0 and one posted invoice of
/// `price`, issued and due on `on`: (entity, invoice).
pub async fn one_invoice(app: &TestApp, code: &str, price: &str, on: &str) -> (String, String) {
    one_invoice_in(app, code, "EUR", price, on).await
}

pub async fn one_invoice_in(
    app: &TestApp,
    code: &str,
    cur: &str,
    price: &str,
    on: &str,
) -> (String, String) {
    let e = app.create_entity(code, cur).await;
    let c = customer_on_terms(app, &e, &format!("{code} Customer"), 0).await;
    app.create_contract(&c, on, price, None).await;
    bill(app, &e, on).await;
    let inv = invoices_of(app, &e, &c).await;
    assert_eq!(inv.len(), 1, "one period billed");
    (e, inv[0].clone())
}

/// Invoice ids (newest first) of `e` for these filters, as admin.
pub async fn filtered(app: &TestApp, e: &str, mut vars: Value) -> Vec<String> {
    vars["e"] = json!(e);
    ids(&list(app, &admin(), vars).await.0)
}

pub async fn pay(app: &TestApp, tok: &str, invoice: &str, amount: &str, on: &str) -> Value {
    let i = json!({ "invoiceId": invoice, "amount": amount, "receivedOn": on });
    app.gql(tok, PAY, json!({ "i": i })).await
}

pub async fn paid(app: &TestApp, invoice: &str, amount: &str, on: &str) -> Value {
    let body = pay(app, &admin(), invoice, amount, on).await;
    assert!(
        body.get("errors").is_none(),
        "recordPayment {amount} on {on}: {body}"
    );
    body["data"]["recordPayment"].clone()
}

/// The same rows, totals and count a page at a time (`rowPage`,
/// `customerCount`), without `rows`: the report computed the other way.
const AGING_PAGED: &str = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
  asOf currency customerCount
  rowPage(limit: 100) { totalCount nextOffset
    rows { customer { id name } buckets { current days1To30 days31To60 days61To90 over90 total }
           invoices { daysPastDue bucket amountDue invoice { id dueDate } } } }
  totals { current days1To30 days31To60 days61To90 over90 total } } }";

/// The report as of `as_of` (rows sorted by name), after checking that its
/// first page, totals and customer count agree with it: every as-of rule
/// the aging tests check holds for pages too.
pub async fn aging(app: &TestApp, entity: &str, as_of: Option<&str>) -> Value {
    let vars = json!({ "e": entity, "d": as_of });
    let report = app.data(&admin(), AGING, vars.clone()).await["arAging"].clone();
    let paged = app.data(&admin(), AGING_PAGED, vars).await["arAging"].clone();
    let rows = report["rows"].as_array().expect("rows");
    assert!(
        rows.len() <= 100,
        "one page holds the rows of an aging test"
    );
    assert_eq!(
        (&paged["rowPage"]["rows"], &paged["totals"], &paged["asOf"]),
        (&report["rows"], &report["totals"], &report["asOf"]),
        "AR aging: a page by name holds the report's rows, and the same totals"
    );
    assert_eq!(
        (&paged["customerCount"], &paged["rowPage"]["totalCount"]),
        (&json!(rows.len()), &json!(rows.len())),
        "AR aging: customerCount and totalCount count the rows"
    );
    report
}

/// The amount due of the first open invoice as of `d`.
pub async fn due_as_of(app: &TestApp, e: &str, d: &str) -> String {
    open(&aging(app, e, Some(d)).await)[0].0.clone()
}

/// (amountDue, daysPastDue, bucket) of each open invoice, row by row.
pub fn open(report: &Value) -> Vec<(String, i64, String)> {
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .flat_map(|r| r["invoices"].as_array().expect("invoices").clone())
        .map(|i| {
            let s = |k: &str| i[k].as_str().expect("string").to_string();
            (
                s("amountDue"),
                i["daysPastDue"].as_i64().expect("days"),
                s("bucket"),
            )
        })
        .collect()
}

pub fn names(report: &Value) -> Vec<&str> {
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .map(|r| r["customer"]["name"].as_str().expect("name"))
        .collect()
}

pub async fn payments(app: &TestApp, invoice: &str) -> u64 {
    let id: i64 = invoice.parse().expect("numeric id");
    payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(id))
        .count(&app.db)
        .await
        .expect("count payments")
}

pub async fn received_events(app: &TestApp, invoice: &str) -> Vec<domain_event::Model> {
    domain_event::Entity::find()
        .filter(domain_event::Column::EventType.eq("payment.received"))
        .filter(domain_event::Column::SubjectId.eq(invoice))
        .all(&app.db)
        .await
        .expect("domain events")
}

/// The stored invoice row.
pub async fn row(app: &TestApp, id: &str) -> invoice::Model {
    invoice::Entity::find_by_id(id.parse::<i64>().expect("numeric id"))
        .one(&app.db)
        .await
        .expect("read invoice")
        .expect("invoice exists")
}

pub async fn post(app: &TestApp, invoice: &str) {
    let q = "mutation($id: ID!) { postInvoice(id: $id) { status } }";
    let p = app.data(&admin(), q, json!({ "id": invoice })).await;
    assert_eq!(p["postInvoice"]["status"], "POSTED");
}

pub async fn auto_post(app: &TestApp, on: bool) {
    let q = "mutation($i: UpdateBillingAgentConfigInput!) { updateBillingAgentConfig(input: $i) { autoPostInvoices } }";
    let c = app
        .data(&admin(), q, json!({ "i": { "autoPostInvoices": on } }))
        .await;
    assert_eq!(c["updateBillingAgentConfig"]["autoPostInvoices"], on);
}

pub async fn state(app: &TestApp, invoice: &str) -> Value {
    app.data(&admin(), INVOICE, json!({ "id": invoice })).await["invoice"].clone()
}

pub async fn void(app: &TestApp, invoice: &str) {
    let q = "mutation($id: ID!) { voidInvoice(id: $id, reason: \"Duplicate\") { status } }";
    let v = app.data(&admin(), q, json!({ "id": invoice })).await;
    assert_eq!(v["voidInvoice"]["status"], "VOID");
}

pub fn bad_input(body: &Value, field: Option<&str>, rule: &str) {
    assert_eq!(code(body), "BAD_USER_INPUT", "{rule}: {body}");
    if let Some(field) = field {
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{rule}: {body}"
        );
    }
}
