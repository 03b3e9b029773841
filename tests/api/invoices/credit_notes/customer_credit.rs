//! Credit notes, customer credit: what a note credits beyond the invoice's
//! amount due (the invoice was paid) is the customer's credit, consumed
//! oldest note first by the customer's next posted invoices, in the posting
//! transaction (`creditApplied`); an invoice it covers in full is PAID.

use serde_json::{json, Value};

use super::{balance, billed, invoice, issue, noted, void_note};
use crate::helpers::ar::{auto_post, bad_input, bill, customer_on_terms, invoices_of, paid};
use crate::helpers::billing::{outbox, pick, COLLECTION};
use crate::helpers::{admin, spawn_app};

const CREDITED: [&str; 4] = ["status", "creditApplied", "amountDue", "amountCredited"];

#[tokio::test]
async fn credit_from_a_paid_invoice_is_consumed_oldest_first_by_the_next_posted_invoices() {
    let app = spawn_app().await;
    let e = app.create_entity("CNC1", "EUR").await;
    let input = json!({ "legalEntityId": e, "name": "Credited AS", "paymentTermsDays": 0,
                        "hasPaymentMethod": true });
    let c = app.create("Customer", input).await;
    let other = customer_on_terms(&app, &e, "Other AS", 0).await;
    let (first, lines) = billed(&app, &e, &c, "2026-05-04", &[("100.00", None)]).await;
    paid(&app, &first, "100.00", "2026-05-05").await;
    // Paid in full: both notes go wholly to the customer's credit, the
    // older one (A, 30.00) first in line, then B (50.00): 80.00 in all.
    let a = noted(&app, &first, &[(&lines[0], "30.00")], true).await;
    let b = noted(&app, &first, &[(&lines[0], "50.00")], true).await;
    for note in [&a, &b] {
        assert_eq!(
            (
                &note["appliedToInvoice"],
                &note["toCreditBalance"],
                &note["total"]
            ),
            (&json!("0.00"), &note["total"], &note["total"]),
            "Customer credit: a note on a PAID invoice is all customer credit: {note}"
        );
    }
    assert_eq!(
        (
            &b["customer"]["creditBalance"],
            &balance(&app, &e, &c).await
        ),
        (&json!("80.00"), &json!("80.00")),
        "Customer credit: Customer.creditBalance is the unused credit (30.00 + 50.00)"
    );
    assert_eq!(
        pick(&invoice(&app, &first).await, &CREDITED),
        json!({ "status": "PAID", "creditApplied": "0.00", "amountDue": "0.00", "amountCredited": "80.00" })
    );

    // The next run (as of 2026-05-20) bills a new 20.00 contract of the
    // customer and a 15.00 one of another customer: 20.00 is taken from A
    // (30.00 → 10.00 left), none of it by the other customer.
    app.create_contract(&c, "2026-05-20", "20.00", None).await;
    app.create_contract(&other, "2026-05-20", "15.00", None)
        .await;
    bill(&app, &e, "2026-05-20").await;
    let second = invoices_of(&app, &e, &c).await.pop().expect("second");
    assert_eq!(
        pick(&invoice(&app, &second).await, &CREDITED),
        json!({ "status": "PAID", "creditApplied": "20.00", "amountDue": "0.00", "amountCredited": "0.00" }),
        "Customer credit: the next posted invoice takes the credit when posted, and one covered in full is PAID"
    );
    let theirs = invoices_of(&app, &e, &other).await.pop().expect("other");
    assert_eq!(
        pick(&invoice(&app, &theirs).await, &CREDITED),
        json!({ "status": "POSTED", "creditApplied": "0.00", "amountDue": "15.00", "amountCredited": "0.00" }),
        "Customer credit: another customer's invoice takes none of it"
    );
    assert_eq!(balance(&app, &e, &c).await, "60.00", "80.00 − 20.00");

    // A was consumed from (oldest first), B untouched: A cannot be voided,
    // B can; what is left afterwards, 10.00, is what A had left.
    let refused = void_note(&app, &admin(), &a["id"]).await;
    bad_input(
        &refused,
        Some("id"),
        "Credit notes: a note whose customer credit was partly consumed cannot be voided (oldest first: A)",
    );
    let untouched = void_note(&app, &admin(), &b["id"]).await;
    assert_eq!(
        untouched["data"]["voidCreditNote"]["status"], "VOID",
        "Credit notes: a note none of whose credit was consumed can be voided (B was not reached): {untouched}"
    );
    assert_eq!(
        balance(&app, &e, &c).await,
        "10.00",
        "Customer credit: 30.00 − 20.00 is left of A once B is voided"
    );

    // The contract's next period (100.00) takes the last 10.00 and owes 90.00.
    bill(&app, &e, "2026-06-04").await;
    let third = invoices_of(&app, &e, &c).await.pop().expect("third");
    assert_eq!(
        pick(&invoice(&app, &third).await, &CREDITED),
        json!({ "status": "POSTED", "creditApplied": "10.00", "amountDue": "90.00", "amountCredited": "0.00" }),
        "Customer credit: an invoice takes what is left and owes the rest"
    );
    assert_eq!(balance(&app, &e, &c).await, "0.00");
    let collected: Vec<String> = outbox(&app)
        .await
        .into_iter()
        .filter(|ev| ev.event_type == COLLECTION)
        .map(|ev| ev.subject_id)
        .collect();
    assert!(
        !collected.contains(&second) && collected.contains(&third),
        "Customer credit: an invoice credit paid in full has nothing to collect; one still owing has: {collected:?}"
    );
    let still = void_note(&app, &admin(), &a["id"]).await;
    bad_input(&still, Some("id"), "Credit notes: A is consumed in full");
}

#[tokio::test]
async fn posting_a_draft_takes_the_customers_credit() {
    let app = spawn_app().await;
    let e = app.create_entity("CNC2", "EUR").await;
    let c = customer_on_terms(&app, &e, "Drafted AS", 0).await;
    let (first, lines) = billed(&app, &e, &c, "2026-05-04", &[("100.00", None)]).await;
    // Drafted while 100.00 was due, issued once it was paid: the split is
    // made when the note is issued, so all of it is customer credit.
    let early = noted(&app, &first, &[(&lines[0], "60.00")], false).await;
    paid(&app, &first, "100.00", "2026-05-05").await;
    let issued = issue(&app, &admin(), &early["id"]).await;
    let note = &issued["data"]["issueCreditNote"];
    assert_eq!(
        (&note["appliedToInvoice"], &note["toCreditBalance"]),
        (&json!("0.00"), &json!("60.00")),
        "Customer credit: a draft issued after its invoice was paid goes to customer credit: {issued}"
    );
    assert_eq!(balance(&app, &e, &c).await, "60.00");

    auto_post(&app, false).await;
    let (draft, _) = billed(&app, &e, &c, "2026-05-10", &[("50.00", None)]).await;
    assert_eq!(
        pick(&invoice(&app, &draft).await, &CREDITED),
        json!({ "status": "DRAFT", "creditApplied": "0.00", "amountDue": "50.00", "amountCredited": "0.00" }),
        "Customer credit: a draft takes nothing"
    );
    assert_eq!(balance(&app, &e, &c).await, "60.00");
    let q = "mutation($id: ID!) { postInvoice(id: $id) { status creditApplied amountDue amountCredited } }";
    let posted = app.data(&admin(), q, json!({ "id": draft })).await;
    assert_eq!(
        posted["postInvoice"],
        json!({ "status": "PAID", "creditApplied": "50.00", "amountDue": "0.00", "amountCredited": "0.00" }),
        "Customer credit: postInvoice takes the credit in its transaction; covered in full, the invoice is PAID"
    );
    assert_eq!(balance(&app, &e, &c).await, "10.00", "60.00 − 50.00");

    let (draft2, _) = billed(&app, &e, &c, "2026-05-12", &[("25.00", None)]).await;
    let posted: Value = app.data(&admin(), q, json!({ "id": draft2 })).await;
    assert_eq!(
        posted["postInvoice"],
        json!({ "status": "POSTED", "creditApplied": "10.00", "amountDue": "15.00", "amountCredited": "0.00" }),
        "Customer credit: the rest of the credit, and the invoice owes the rest"
    );
    assert_eq!(balance(&app, &e, &c).await, "0.00");
}

#[tokio::test]
async fn an_invoice_that_took_no_credit_is_not_paid_by_it() {
    let app = spawn_app().await;
    let e = app.create_entity("CNC3", "EUR").await;
    let c = customer_on_terms(&app, &e, "Free AS", 0).await;
    // A free plan: a 0.00 invoice, posted by the run as before credit
    // notes existed (and as postInvoice posts one): POSTED, no credit taken.
    let (free, _) = billed(&app, &e, &c, "2026-05-04", &[("0.00", None)]).await;
    assert_eq!(
        pick(&invoice(&app, &free).await, &CREDITED),
        json!({ "status": "POSTED", "creditApplied": "0.00", "amountDue": "0.00", "amountCredited": "0.00" }),
        "Customer credit: only an invoice the credit covered is PAID by it; a 0.00 invoice took none"
    );
}
