//! Credit notes, voiding: `voidCreditNote` restores what the note had
//! reduced (the invoice's amount due and status, the line's creditable
//! amount, the customer's credit) and is refused once some of its credit
//! was consumed (see `customer_credit`); `voidInvoice` is refused once an
//! invoice has payments or issued credit notes: credit it instead.

use serde_json::{json, Value};

use super::{balance, billed, invoice, issue, line_ids, noted, void_note};
use crate::helpers::ar::{bad_input, bill, customer_on_terms, invoices_of, one_invoice, paid};
use crate::helpers::billing::pick;
use crate::helpers::{admin, code, spawn_app, TestApp};

const STATE: [&str; 5] = [
    "status",
    "amountPaid",
    "amountDue",
    "amountCredited",
    "creditApplied",
];

fn state(status: &str, paid: &str, due: &str, credited: &str) -> Value {
    json!({ "status": status, "amountPaid": paid, "amountDue": due, "amountCredited": credited,
            "creditApplied": "0.00" })
}

#[tokio::test]
async fn voiding_a_note_restores_what_it_had_reduced() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "CNV1", "100.00", "2026-05-04").await;
    let customer = invoice(&app, &inv).await["customer"]["id"]
        .as_str()
        .expect("customer")
        .to_string();
    let line = line_ids(&app, &inv).await.remove(0);
    let n1 = noted(&app, &inv, &[(&line, "30.00")], true).await;
    assert_eq!(
        pick(&n1["invoice"], &STATE),
        state("POSTED", "0.00", "70.00", "30.00")
    );
    let voided = void_note(&app, &admin(), &n1["id"]).await;
    let v = &voided["data"]["voidCreditNote"];
    assert_eq!(v["status"], "VOID", "{voided}");
    assert_eq!(
        pick(&v["invoice"], &STATE),
        state("POSTED", "0.00", "100.00", "0.00"),
        "Credit notes: a void restores the amount due and amountCredited: {voided}"
    );
    let twice = void_note(&app, &admin(), &n1["id"]).await;
    bad_input(
        &twice,
        Some("id"),
        "Credit notes: a VOID note cannot be voided again",
    );

    // The line is wholly creditable again; credited in full the invoice is
    // PAID by the note, and POSTED again once the note is voided.
    let n2 = noted(&app, &inv, &[(&line, "100.00")], true).await;
    assert_eq!(
        pick(&n2["invoice"], &STATE),
        state("PAID", "0.00", "0.00", "100.00"),
        "Credit notes: the voided note's 30.00 is creditable again: {n2}"
    );
    let back = void_note(&app, &admin(), &n2["id"]).await;
    assert_eq!(
        pick(&back["data"]["voidCreditNote"]["invoice"], &STATE),
        state("POSTED", "0.00", "100.00", "0.00"),
        "Credit notes: an invoice PAID by a note is POSTED again when the note is voided: {back}"
    );

    // Voiding a draft changes nothing on the invoice; it cannot be issued then.
    let draft = noted(&app, &inv, &[(&line, "40.00")], false).await;
    let dropped = void_note(&app, &admin(), &draft["id"]).await;
    let d = &dropped["data"]["voidCreditNote"];
    assert_eq!(
        (&d["status"], &d["number"]),
        (&json!("VOID"), &Value::Null),
        "Credit notes: a DRAFT can be voided and stays unnumbered: {dropped}"
    );
    assert_eq!(
        pick(&d["invoice"], &STATE),
        state("POSTED", "0.00", "100.00", "0.00"),
        "Credit notes: voiding a draft changes nothing on the invoice"
    );
    let late = issue(&app, &admin(), &draft["id"]).await;
    bad_input(
        &late,
        Some("id"),
        "Credit notes: a VOID note cannot be issued",
    );

    // 80.00 paid, 20.00 due: a 50.00 note settles the 20.00 and 30.00 goes
    // to the customer's credit; its void takes back both.
    paid(&app, &inv, "80.00", "2026-05-10").await;
    let n3 = noted(&app, &inv, &[(&line, "50.00")], true).await;
    assert_eq!(
        (&n3["appliedToInvoice"], &n3["toCreditBalance"]),
        (&json!("20.00"), &json!("30.00")),
        "Credit notes: the amount due first, the rest to customer credit: {n3}"
    );
    assert_eq!(
        pick(&n3["invoice"], &STATE),
        state("PAID", "80.00", "0.00", "50.00")
    );
    assert_eq!(balance(&app, &e, &customer).await, "30.00");
    let undone = void_note(&app, &admin(), &n3["id"]).await;
    assert_eq!(
        pick(&undone["data"]["voidCreditNote"]["invoice"], &STATE),
        state("POSTED", "80.00", "20.00", "0.00"),
        "Credit notes: the void restores the 20.00 due: {undone}"
    );
    assert_eq!(
        balance(&app, &e, &customer).await,
        "0.00",
        "Credit notes: the void takes back the unconsumed customer credit"
    );
}

async fn void_invoice(app: &TestApp, id: &str) -> Value {
    let q = "mutation($id: ID!) { voidInvoice(id: $id, reason: \"Wrong customer\") { status } }";
    app.gql(&admin(), q, json!({ "id": id })).await
}

fn credit_it_instead(body: &Value, what: &str) {
    bad_input(
        body,
        None,
        &format!("voidInvoice: refused once the invoice has {what}"),
    );
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains("credit"),
        "voidInvoice: the refusal says to credit the invoice instead ({what}): {body}"
    );
}

#[tokio::test]
async fn void_invoice_is_refused_once_there_are_payments_or_issued_notes() {
    let app = spawn_app().await;
    let e = app.create_entity("CNV2", "EUR").await;
    let mut invoices = Vec::new();
    for name in ["Part AS", "Full AS", "Noted AS", "Draft AS"] {
        let c = customer_on_terms(&app, &e, name, 0).await;
        let (inv, lines) = billed(&app, &e, &c, "2026-05-04", &[("100.00", None)]).await;
        invoices.push((c, inv, lines.into_iter().next().expect("line")));
    }
    let [part, full, noted_inv, drafted] = [0, 1, 2, 3].map(|n| invoices[n].clone());

    paid(&app, &part.1, "10.00", "2026-05-05").await;
    credit_it_instead(&void_invoice(&app, &part.1).await, "a payment");
    paid(&app, &full.1, "100.00", "2026-05-05").await;
    credit_it_instead(
        &void_invoice(&app, &full.1).await,
        "payments (PAID in full)",
    );
    noted(&app, &noted_inv.1, &[(&noted_inv.2, "10.00")], true).await;
    credit_it_instead(
        &void_invoice(&app, &noted_inv.1).await,
        "an issued credit note",
    );
    for (_, inv, _) in [&part, &full, &noted_inv] {
        assert_ne!(
            invoice(&app, inv).await["status"],
            "VOID",
            "voidInvoice: a refused void changes nothing"
        );
    }
    // A draft note is not issued: the invoice can still be voided.
    noted(&app, &drafted.1, &[(&drafted.2, "10.00")], false).await;
    let ok = void_invoice(&app, &drafted.1).await;
    assert_eq!(
        ok["data"]["voidInvoice"]["status"], "VOID",
        "voidInvoice: a draft credit note does not stop a void: {ok}"
    );

    // An invoice that took customer credit when posted is settled too.
    noted(&app, &full.1, &[(&full.2, "10.00")], true).await;
    bill(&app, &e, "2026-06-04").await;
    let next = invoices_of(&app, &e, &full.0).await.pop().expect("next");
    assert_eq!(invoice(&app, &next).await["creditApplied"], "10.00");
    let body = void_invoice(&app, &next).await;
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    credit_it_instead(&body, "customer credit applied");
}
