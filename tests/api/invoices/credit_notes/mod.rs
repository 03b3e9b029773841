//! DESIGN.md, Credit notes: a note corrects a POSTED or PAID invoice line
//! by line, reduces its amount due first and turns the rest into customer
//! credit; numbered from its own gapless series. One file per rule group:
//! amounts (tax per line, minor units), refusals (which invoices, which
//! inputs), races, numbering, customer credit, voiding, audit and events,
//! access. Aging with credit notes is in `aging::credit_notes`.

mod access;
mod amounts;
mod audit;
mod customer_credit;
mod numbering;
mod races;
mod refusals;
mod voiding;

use chrono::Datelike;
use serde_json::{json, Value};

use crate::helpers::ar::{bad_input, bill, invoices_of, one_invoice, paid, state};
use crate::helpers::{admin, today, TestApp};

/// Everything a note says of itself and of its invoice.
pub const FULL: &str = "id number status issueDate currency reason memo \
    subtotal taxTotal total appliedToInvoice toCreditBalance \
    customer { id creditBalance } \
    lines { description netAmount taxAmount totalAmount invoiceLine { id } } \
    invoice { id status total amountPaid amountDue amountCredited creditApplied }";
pub const CREATE: &str =
    "mutation($i: CreateCreditNoteInput!) { createCreditNote(input: $i) { id number status total appliedToInvoice toCreditBalance } }";
/// An invoice as credit notes change it.
pub const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { id number status total amountPaid \
    amountDue amountCredited creditApplied customer { id creditBalance } \
    creditNotes { id number status } } }";

pub async fn line_ids(app: &TestApp, invoice: &str) -> Vec<Value> {
    let q = "query($id: ID!) { invoice(id: $id) { lines { id } } }";
    let data = app.data(&admin(), q, json!({ "id": invoice })).await;
    data["invoice"]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["id"].clone())
        .collect()
}

pub async fn credit(app: &TestApp, invoice: &str, line: &Value, net: &str, issue: bool) -> Value {
    credit_lines(app, &admin(), invoice, &[(line, net)], issue).await
}

/// The input of a note on `invoice` crediting `lines` (invoice line, net).
pub fn input(invoice: &str, lines: &[(&Value, &str)], issue: bool) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(line, net)| json!({ "invoiceLineId": line, "netAmount": net }))
        .collect();
    json!({
        "invoiceId": invoice,
        "reason": "PRODUCT_UNSATISFACTORY",
        "lines": lines,
        "issue": issue,
    })
}

/// `createCreditNote` as `tok` selecting [`FULL`]; the whole body.
pub async fn credit_lines(
    app: &TestApp,
    tok: &str,
    invoice: &str,
    lines: &[(&Value, &str)],
    issue: bool,
) -> Value {
    let q = format!(
        "mutation($i: CreateCreditNoteInput!) {{ createCreditNote(input: $i) {{ {FULL} }} }}"
    );
    let i = input(invoice, lines, issue);
    app.gql(tok, &q, json!({ "i": i })).await
}

/// A note that must be created (issued unless `issue` is false); the note.
pub async fn noted(app: &TestApp, invoice: &str, lines: &[(&Value, &str)], issue: bool) -> Value {
    let body = credit_lines(app, &admin(), invoice, lines, issue).await;
    assert!(
        body.get("errors").is_none(),
        "createCreditNote {lines:?}: {body}"
    );
    body["data"]["createCreditNote"].clone()
}

/// `issueCreditNote` as `tok`; the whole body.
pub async fn issue(app: &TestApp, tok: &str, note: &Value) -> Value {
    let q = format!("mutation($id: ID!) {{ issueCreditNote(id: $id) {{ {FULL} }} }}");
    app.gql(tok, &q, json!({ "id": note })).await
}

/// `voidCreditNote` as `tok`; the whole body.
pub async fn void_note(app: &TestApp, tok: &str, note: &Value) -> Value {
    let q = format!("mutation($id: ID!) {{ voidCreditNote(id: $id) {{ {FULL} }} }}");
    app.gql(tok, &q, json!({ "id": note })).await
}

/// The invoice as [`INVOICE`] reads it.
pub async fn invoice(app: &TestApp, id: &str) -> Value {
    app.data(&admin(), INVOICE, json!({ "id": id })).await["invoice"].clone()
}

/// A customer's unused credit, as the entity's customer list shows it.
pub async fn balance(app: &TestApp, entity: &str, customer: &str) -> Value {
    let q = "query($e: ID!) { customers(legalEntityId: $e) { id creditBalance } }";
    let data = app.data(&admin(), q, json!({ "e": entity })).await;
    let all = data["customers"].as_array().expect("customers");
    let one = all
        .iter()
        .find(|c| c["id"] == customer)
        .expect("customer listed");
    one["creditBalance"].clone()
}

/// A monthly contract of `customer` from `start` with these lines (unit
/// price, tax code), billed once as of `start`: the invoice and its line ids.
pub async fn billed(
    app: &TestApp,
    entity: &str,
    customer: &str,
    start: &str,
    lines: &[(&str, Option<&str>)],
) -> (String, Vec<Value>) {
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (price, tax))| {
            json!({ "description": format!("Line {n}"), "quantity": "1", "unitPrice": price,
                    "taxCodeId": tax })
        })
        .collect();
    let input = json!({ "customerId": customer, "startDate": start, "interval": "MONTH",
                        "lines": lines });
    app.create("Contract", input).await;
    bill(app, entity, start).await;
    let inv = invoices_of(app, entity, customer)
        .await
        .pop()
        .expect("billed");
    let ids = line_ids(app, &inv).await;
    (inv, ids)
}

#[tokio::test]
async fn a_note_reduces_the_amount_due_first_and_the_rest_becomes_customer_credit() {
    let app = crate::helpers::spawn_app().await;
    let (_, inv) = one_invoice(&app, "CN1", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    // 30.00 credited of the 100.00 line (no tax): the invoice owes 70.00.
    let first = credit(&app, &inv, &line, "30.00", true).await;
    let note = &first["data"]["createCreditNote"];
    let year = today().year();
    assert_eq!(note["number"], format!("CN1-CN-{year}-000001"), "{first}");
    assert_eq!(
        (
            &note["status"],
            &note["appliedToInvoice"],
            &note["toCreditBalance"]
        ),
        (&json!("ISSUED"), &json!("30.00"), &json!("0.00")),
        "Credit notes: an issued note reduces the amount due first: {first}"
    );
    assert_eq!(note["invoice"]["amountDue"], "70.00");
    assert_eq!(note["invoice"]["amountCredited"], "30.00");
    paid(&app, &inv, "70.00", "2026-05-05").await;
    assert_eq!(state(&app, &inv).await["status"], "PAID");
    // The invoice is paid: a further 10.00 becomes customer credit.
    let second = credit(&app, &inv, &line, "10.00", true).await;
    let note = &second["data"]["createCreditNote"];
    assert_eq!(
        note["number"],
        format!("CN1-CN-{year}-000002"),
        "gapless: {second}"
    );
    assert_eq!(
        (&note["appliedToInvoice"], &note["toCreditBalance"]),
        (&json!("0.00"), &json!("10.00")),
        "Credit notes: what exceeds the amount due is customer credit: {second}"
    );
    assert_eq!(note["customer"]["creditBalance"], "10.00");
    // 60.00 is left creditable on the line; 60.01 is refused.
    let over = credit(&app, &inv, &line, "60.01", true).await;
    bad_input(
        &over,
        Some("lines.0.netAmount"),
        "Credit notes: at most what is still creditable on the line",
    );
}
