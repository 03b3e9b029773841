//! Credit notes, numbering: issued notes get `<entity code>-CN-<year>-<000001>`,
//! gapless per legal entity and year, in the issuing transaction; drafts
//! have none; the series is apart from the invoices'.

use chrono::Datelike;
use serde_json::{json, Value};

use super::{billed, credit_lines, issue, noted, void_note};
use crate::helpers::ar::{bad_input, bill, customer_on_terms, invoices_of, one_invoice};
use crate::helpers::{admin, spawn_app, today, TestApp};

async fn numbers(app: &TestApp, entity: &str) -> Vec<(Value, Value)> {
    let q = "query($e: ID!) { creditNotes(legalEntityId: $e, first: 100) { edges { node { number status } } } }";
    let data = app.data(&admin(), q, json!({ "e": entity })).await;
    data["creditNotes"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| (e["node"]["number"].clone(), e["node"]["status"].clone()))
        .collect()
}

async fn invoice_number(app: &TestApp, id: &str) -> Value {
    let q = "query($id: ID!) { invoice(id: $id) { number } }";
    app.data(&admin(), q, json!({ "id": id })).await["invoice"]["number"].clone()
}

#[tokio::test]
async fn notes_are_numbered_on_issue_gaplessly_per_entity_and_year_apart_from_invoices() {
    let app = spawn_app().await;
    let year = today().year();
    let cn = |n: u32| json!(format!("CNN1-CN-{year}-{n:06}"));
    let e = app.create_entity("CNN1", "EUR").await;
    let c = customer_on_terms(&app, &e, "Numbered AS", 0).await;
    let (inv, lines) = billed(&app, &e, &c, "2026-05-04", &[("100.00", None)]).await;
    let line = &lines[0];
    assert_eq!(invoice_number(&app, &inv).await, "CNN1-2026-000001");

    let d1 = noted(&app, &inv, &[(line, "10.00")], false).await;
    assert_eq!(
        (&d1["status"], &d1["number"], &d1["issueDate"]),
        (&json!("DRAFT"), &Value::Null, &Value::Null),
        "Credit notes: a draft has no number and no issue date"
    );
    let n1 = noted(&app, &inv, &[(line, "20.00")], true).await;
    assert_eq!(
        (&n1["number"], &n1["issueDate"]),
        (&cn(1), &json!(today().to_string())),
        "Credit notes: the first issued note is 000001 of its own series, issued today: {n1}"
    );
    let issued = issue(&app, &admin(), &d1["id"]).await;
    let d1_now = &issued["data"]["issueCreditNote"];
    assert_eq!(
        (&d1_now["status"], &d1_now["number"], &d1_now["issueDate"]),
        (&json!("ISSUED"), &cn(2), &json!(today().to_string())),
        "Credit notes: issueCreditNote numbers a draft when it issues it: {issued}"
    );
    let again = issue(&app, &admin(), &d1["id"]).await;
    bad_input(
        &again,
        Some("id"),
        "Credit notes: only a DRAFT can be issued",
    );

    // 70.00 left: a draft of 50.00, then an issued 50.00; the draft no
    // longer fits, and its refused issue takes no number.
    let d2 = noted(&app, &inv, &[(line, "50.00")], false).await;
    let n3 = noted(&app, &inv, &[(line, "50.00")], true).await;
    assert_eq!(n3["number"], cn(3));
    let refused = issue(&app, &admin(), &d2["id"]).await;
    bad_input(
        &refused,
        Some("lines.0.netAmount"),
        "Credit notes: the draft exceeds what is creditable now",
    );
    let over = credit_lines(&app, &admin(), &inv, &[(line, "20.01")], true).await;
    bad_input(&over, Some("lines.0.netAmount"), "Credit notes: 20.00 left");
    // A void keeps the number, and the next note does not reuse it.
    let voided = void_note(&app, &admin(), &n1["id"]).await;
    assert_eq!(
        (
            &voided["data"]["voidCreditNote"]["status"],
            &voided["data"]["voidCreditNote"]["number"]
        ),
        (&json!("VOID"), &cn(1)),
        "Credit notes: a voided note keeps its number: {voided}"
    );
    let n4 = noted(&app, &inv, &[(line, "30.00")], true).await;
    assert_eq!(
        n4["number"],
        cn(4),
        "Credit notes: gapless after a refused issue and a void: {n4}"
    );
    assert_eq!(
        numbers(&app, &e).await,
        [
            (cn(2), json!("ISSUED")),
            (cn(1), json!("VOID")),
            (Value::Null, json!("DRAFT")),
            (cn(3), json!("ISSUED")),
            (cn(4), json!("ISSUED")),
        ],
        "Credit notes: the entity's notes, oldest first"
    );

    // Invoices keep their own series.
    bill(&app, &e, "2026-06-04").await;
    let next = invoices_of(&app, &e, &c).await.pop().expect("next invoice");
    assert_eq!(
        invoice_number(&app, &next).await,
        "CNN1-2026-000002",
        "Credit notes: note numbers take nothing from the invoice series"
    );
    // Another entity starts its own series.
    let (e2, inv2) = one_invoice(&app, "CNN2", "40.00", "2026-05-04").await;
    let line2 = super::line_ids(&app, &inv2).await.remove(0);
    let other = noted(&app, &inv2, &[(&line2, "5.00")], true).await;
    assert_eq!(
        other["number"],
        format!("CNN2-CN-{year}-000001"),
        "Credit notes: each legal entity has its own series"
    );
    assert_eq!(numbers(&app, &e2).await.len(), 1);
}
