//! Credit notes, refusals: only POSTED or PAID invoices can be credited;
//! every input error names its field; what is creditable on a line is its
//! net less its earlier ISSUED notes (drafts reserve nothing). A refused
//! note writes nothing.

use entity::credit_note;
use serde_json::{json, Value};

use super::{billed, credit_lines, input, invoice, issue, noted, void_note, CREATE};
use crate::helpers::ar::{auto_post, bad_input, customer_on_terms, void};
use crate::helpers::http::rows;
use crate::helpers::{admin, code, spawn_app};

#[tokio::test]
async fn only_posted_or_paid_invoices_can_be_credited_never_drafts_or_voided_ones() {
    let app = spawn_app().await;
    let e = app.create_entity("CNR1", "EUR").await;
    auto_post(&app, false).await;
    let drafty = customer_on_terms(&app, &e, "Drafty AS", 0).await;
    let (draft, d_lines) = billed(&app, &e, &drafty, "2026-05-04", &[("100.00", None)]).await;
    assert_eq!(invoice(&app, &draft).await["status"], "DRAFT");
    let body = credit_lines(&app, &admin(), &draft, &[(&d_lines[0], "10.00")], true).await;
    bad_input(
        &body,
        Some("invoiceId"),
        "Credit notes: a DRAFT invoice cannot be credited",
    );
    let as_draft = credit_lines(&app, &admin(), &draft, &[(&d_lines[0], "10.00")], false).await;
    bad_input(
        &as_draft,
        Some("invoiceId"),
        "Credit notes: not even as a draft note",
    );

    auto_post(&app, true).await;
    let posted = customer_on_terms(&app, &e, "Posted AS", 0).await;
    let (inv, lines) = billed(&app, &e, &posted, "2026-05-04", &[("100.00", None)]).await;
    // A draft note reserves nothing and does not stop a void.
    let pending = noted(&app, &inv, &[(&lines[0], "10.00")], false).await;
    assert_eq!(pending["status"], "DRAFT");
    void(&app, &inv).await;
    let body = credit_lines(&app, &admin(), &inv, &[(&lines[0], "10.00")], true).await;
    bad_input(
        &body,
        Some("invoiceId"),
        "Credit notes: a VOID invoice cannot be credited",
    );
    let late = issue(&app, &admin(), &pending["id"]).await;
    assert_eq!(
        code(&late),
        "BAD_USER_INPUT",
        "Credit notes: a draft note of an invoice voided since cannot be issued: {late}"
    );
    let after = invoice(&app, &inv).await;
    assert_eq!(
        (
            &after["status"],
            &after["amountCredited"],
            &after["creditNotes"][0]["number"]
        ),
        (&json!("VOID"), &json!("0.00"), &Value::Null),
        "Credit notes: the refused issue changed nothing: {after}"
    );
    let dropped = void_note(&app, &admin(), &pending["id"]).await;
    assert_eq!(
        dropped["data"]["voidCreditNote"]["status"], "VOID",
        "Credit notes: the draft can still be voided: {dropped}"
    );
    assert_eq!(
        rows(&app, credit_note::Entity).await,
        1,
        "Credit notes: refused notes write nothing (the one draft only)"
    );
}

/// An invoice line and the net credited on it.
type Credited<'a> = (&'a Value, &'a str);

#[tokio::test]
async fn every_input_error_names_its_field() {
    let app = spawn_app().await;
    let e = app.create_entity("CNR2", "EUR").await;
    let a = customer_on_terms(&app, &e, "Alpha AS", 0).await;
    let b = customer_on_terms(&app, &e, "Beta AS", 0).await;
    let (inv, ids) = billed(
        &app,
        &e,
        &a,
        "2026-05-04",
        &[("100.00", None), ("50.00", None)],
    )
    .await;
    let (_, other) = billed(&app, &e, &b, "2026-05-04", &[("70.00", None)]).await;
    let nope = json!("not-a-line");
    let cases: [(&[Credited], &str, &str); 10] = [
        (&[], "lines", "a note names at least one line"),
        (&[(&ids[0], "0")], "lines.0.netAmount", "a net of 0"),
        (
            &[(&ids[0], "10.00"), (&ids[1], "-5.00")],
            "lines.1.netAmount",
            "a negative net",
        ),
        (
            &[(&ids[0], "10.00"), (&other[0], "5.00")],
            "lines.1.invoiceLineId",
            "another invoice's line",
        ),
        (
            &[(&nope, "5.00")],
            "lines.0.invoiceLineId",
            "a line id that is no id",
        ),
        (
            &[(&ids[0], "10.00"), (&ids[0], "5.00")],
            "lines.1.invoiceLineId",
            "a line named twice",
        ),
        (
            &[(&ids[0], "100.01")],
            "lines.0.netAmount",
            "more than the line's net",
        ),
        (
            &[(&ids[1], "10.00"), (&ids[0], "100.01")],
            "lines.1.netAmount",
            "more than the second line's net",
        ),
        (
            &[(&ids[1], "50.001")],
            "lines.0.netAmount",
            "more decimals than EUR has",
        ),
        (
            &[(&ids[1], "100000000000000000000")],
            "lines.0.netAmount",
            "a net beyond what an amount can hold",
        ),
    ];
    for (lines, field, what) in cases {
        let body = credit_lines(&app, &admin(), &inv, lines, true).await;
        bad_input(
            &body,
            Some(field),
            &format!("Credit notes: {what} is refused on {field}"),
        );
    }
    let many: Vec<(&Value, &str)> = (0..101).map(|_| (&ids[0], "0.01")).collect();
    let body = credit_lines(&app, &admin(), &inv, &many, true).await;
    bad_input(
        &body,
        Some("lines"),
        "Credit notes: at most 100 lines in a note",
    );
    let mut blank_memo = input(&inv, &[(&ids[0], "10.00")], true);
    blank_memo["memo"] = json!("   ");
    let body = app.gql(&admin(), CREATE, json!({ "i": blank_memo })).await;
    bad_input(&body, Some("memo"), "Credit notes: a memo is not blank");
    let body = credit_lines(&app, &admin(), "999999", &[(&ids[0], "10.00")], true).await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "Credit notes: an invoice that does not exist: {body}"
    );
    assert_eq!(
        rows(&app, credit_note::Entity).await,
        0,
        "Credit notes: a refused note writes nothing"
    );
    let untouched = invoice(&app, &inv).await;
    assert_eq!(
        (&untouched["amountDue"], &untouched["amountCredited"]),
        (&json!("150.00"), &json!("0.00"))
    );
}

#[tokio::test]
async fn what_is_creditable_counts_issued_notes_but_not_drafts() {
    let app = spawn_app().await;
    let e = app.create_entity("CNR3", "EUR").await;
    let c = customer_on_terms(&app, &e, "Gamma AS", 0).await;
    let (inv, ids) = billed(
        &app,
        &e,
        &c,
        "2026-05-04",
        &[("100.00", None), ("50.00", None)],
    )
    .await;
    // A draft for 10.00 of line 1 and 40.00 of line 0: it reserves nothing.
    let draft = noted(&app, &inv, &[(&ids[1], "10.00"), (&ids[0], "40.00")], false).await;
    // 60.00 of line 0 issued: 40.00 left creditable on it.
    noted(&app, &inv, &[(&ids[0], "60.00")], true).await;
    let over = credit_lines(&app, &admin(), &inv, &[(&ids[0], "40.01")], true).await;
    bad_input(
        &over,
        Some("lines.0.netAmount"),
        "Credit notes: creditable = net − earlier issued notes (100.00 − 60.00 = 40.00)",
    );
    // The draft did not reserve its 40.00: another note takes them.
    noted(&app, &inv, &[(&ids[0], "40.00")], true).await;
    let late = issue(&app, &admin(), &draft["id"]).await;
    bad_input(
        &late,
        Some("lines.1.netAmount"),
        "Credit notes: issuing the draft now exceeds line 0 (its second line)",
    );
    let now = invoice(&app, &inv).await;
    assert_eq!(
        (&now["amountCredited"], &now["amountDue"]),
        (&json!("100.00"), &json!("50.00")),
        "Credit notes: the refused issue credited nothing: {now}"
    );
    let notes: Vec<&Value> = now["creditNotes"]
        .as_array()
        .expect("notes")
        .iter()
        .collect();
    assert_eq!(
        (&notes[0]["status"], &notes[0]["number"]),
        (&json!("DRAFT"), &Value::Null),
        "Credit notes: the refused draft stays an unnumbered draft: {now}"
    );
    // Line 1 is still wholly creditable: the draft never took its 10.00.
    let rest = noted(&app, &inv, &[(&ids[1], "50.00")], true).await;
    assert_eq!(
        (&rest["invoice"]["amountDue"], &rest["invoice"]["status"]),
        (&json!("0.00"), &json!("PAID")),
        "Credit notes: an invoice credited in full owes nothing and is PAID: {rest}"
    );
    let more = credit_lines(&app, &admin(), &inv, &[(&ids[1], "0.01")], true).await;
    bad_input(
        &more,
        Some("lines.0.netAmount"),
        "Credit notes: nothing is left creditable on a fully credited line",
    );
}
