//! DESIGN.md, Credit notes: a note corrects a POSTED or PAID invoice line
//! by line, reduces its amount due first and turns the rest into customer
//! credit; numbered from its own gapless series.

use chrono::Datelike;
use serde_json::{json, Value};

use crate::helpers::ar::{bad_input, one_invoice, paid, state};
use crate::helpers::{admin, today, TestApp};

pub const NOTE: &str = "id number status total appliedToInvoice toCreditBalance \
    lines { netAmount taxAmount totalAmount invoiceLine { id } } \
    invoice { status amountDue amountCredited customer { creditBalance } }";

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
    let q = format!(
        "mutation($i: CreateCreditNoteInput!) {{ createCreditNote(input: $i) {{ {NOTE} }} }}"
    );
    let input = json!({
        "invoiceId": invoice,
        "reason": "PRODUCT_UNSATISFACTORY",
        "lines": [{ "invoiceLineId": line, "netAmount": net }],
        "issue": issue,
    });
    app.gql(&admin(), &q, json!({ "i": input })).await
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
        (&note["status"], &note["appliedToInvoice"], &note["toCreditBalance"]),
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
    assert_eq!(note["number"], format!("CN1-CN-{year}-000002"), "gapless: {second}");
    assert_eq!(
        (&note["appliedToInvoice"], &note["toCreditBalance"]),
        (&json!("0.00"), &json!("10.00")),
        "Credit notes: what exceeds the amount due is customer credit: {second}"
    );
    assert_eq!(note["invoice"]["customer"]["creditBalance"], "10.00");
    // 60.00 is left creditable on the line; 60.01 is refused.
    let over = credit(&app, &inv, &line, "60.01", true).await;
    bad_input(
        &over,
        Some("lines.0.netAmount"),
        "Credit notes: at most what is still creditable on the line",
    );
}
