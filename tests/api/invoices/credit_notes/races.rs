//! Credit notes, races: what the database enforces when requests race
//! (every limit is a guard in an UPDATE's WHERE). On PostgreSQL these
//! requests really run at once (`join_all` over separate HTTP requests, a
//! pool of 5 connections); SQLite serialises the writing transactions, but
//! the checks read before them still race, so there too the UPDATEs' guards
//! are what refuse the losers.

use std::collections::BTreeSet;

use chrono::Datelike;
use entity::credit_note;
use futures_util::future::join_all;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::{balance, billed, input, invoice, line_ids, noted, CREATE};
use crate::helpers::ar::{auto_post, bill, customer_on_terms, invoices_of, one_invoice, paid};
use crate::helpers::http::rows;
use crate::helpers::{admin, code, today};

/// The refusals a lost race may answer with.
const LOST: [&str; 2] = ["BAD_USER_INPUT", "CONFLICT"];

fn lost_codes(bodies: &[Value]) -> BTreeSet<String> {
    bodies
        .iter()
        .filter(|b| b.get("errors").is_some())
        .map(|b| code(b).to_string())
        .collect()
}

#[tokio::test]
async fn racing_notes_on_one_line_never_credit_more_than_its_net() {
    let app = crate::helpers::spawn_app().await;
    let (_, inv) = one_invoice(&app, "CNX1", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    // Ten notes of 30.00 at once on a 100.00 line: floor(100 / 30) = 3 fit.
    let i = input(&inv, &[(&line, "30.00")], true);
    let tok = admin();
    let bodies = join_all((0..10).map(|_| app.gql(&tok, CREATE, json!({ "i": i })))).await;
    let won: Vec<&Value> = bodies
        .iter()
        .filter(|b| b.get("errors").is_none())
        .map(|b| &b["data"]["createCreditNote"])
        .collect();
    assert_eq!(
        won.len(),
        3,
        "Credit notes: of 10 racing notes of 30.00 on a 100.00 line exactly 3 are issued: {bodies:?}"
    );
    let codes = lost_codes(&bodies);
    assert!(
        codes.iter().all(|c| LOST.contains(&c.as_str())),
        "Credit notes: a note that lost the race is refused as input or a conflict, nothing else: {codes:?}"
    );
    let issued: Decimal = won
        .iter()
        .map(|n| {
            assert_eq!(n["status"], "ISSUED", "{n}");
            n["total"]
                .as_str()
                .expect("total")
                .parse::<Decimal>()
                .expect("money")
        })
        .sum();
    assert_eq!(
        issued,
        Decimal::new(9000, 2),
        "Credit notes: 3 × 30.00 = 90.00 issued"
    );
    let now = invoice(&app, &inv).await;
    assert_eq!(
        (&now["amountCredited"], &now["amountDue"]),
        (&json!("90.00"), &json!("10.00")),
        "Credit notes: amountCredited is the sum of the issued notes, never above the line's net: {now}"
    );
    let year = today().year();
    let numbers: BTreeSet<String> = won
        .iter()
        .map(|n| n["number"].as_str().expect("number").to_string())
        .collect();
    let gapless: BTreeSet<String> = (1..=3).map(|n| format!("CNX1-CN-{year}-{n:06}")).collect();
    assert_eq!(
        numbers, gapless,
        "Credit notes: the winners are numbered gaplessly; the losers consumed no number"
    );
    assert_eq!(
        rows(&app, credit_note::Entity).await,
        3,
        "Credit notes: a note that lost the race left no row"
    );
}

#[tokio::test]
async fn racing_issues_of_one_draft_issue_it_once() {
    let app = crate::helpers::spawn_app().await;
    let (_, inv) = one_invoice(&app, "CNX2", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    // A draft of 40.00: two issues would still fit the line (80.00 of
    // 100.00), so only the note's own state can refuse the second.
    let draft = noted(&app, &inv, &[(&line, "40.00")], false).await;
    let q = "mutation($id: ID!) { issueCreditNote(id: $id) { id number status } }";
    let tok = admin();
    let bodies = join_all((0..6).map(|_| app.gql(&tok, q, json!({ "id": draft["id"] })))).await;
    let won: Vec<&Value> = bodies
        .iter()
        .filter(|b| b.get("errors").is_none())
        .collect();
    assert_eq!(
        won.len(),
        1,
        "Credit notes: a draft is issued once however many issue it at once: {bodies:?}"
    );
    let codes = lost_codes(&bodies);
    assert!(
        codes.iter().all(|c| LOST.contains(&c.as_str())),
        "Credit notes: the other issues are refused: {codes:?}"
    );
    let now = invoice(&app, &inv).await;
    assert_eq!(
        (&now["amountCredited"], &now["amountDue"]),
        (&json!("40.00"), &json!("60.00")),
        "Credit notes: the draft's 40.00 counted once: {now}"
    );
    let next = noted(&app, &inv, &[(&line, "60.00")], true).await;
    let year = today().year();
    assert_eq!(
        next["number"],
        format!("CNX2-CN-{year}-000002"),
        "Credit notes: the refused issues consumed no number, and 60.00 was still creditable"
    );
}

#[tokio::test]
async fn racing_voids_of_one_note_restore_it_once() {
    let app = crate::helpers::spawn_app().await;
    let (_, inv) = one_invoice(&app, "CNX5", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    let note = noted(&app, &inv, &[(&line, "30.00")], true).await;
    let q = "mutation($id: ID!) { voidCreditNote(id: $id) { id status } }";
    let tok = admin();
    let bodies = join_all((0..6).map(|_| app.gql(&tok, q, json!({ "id": note["id"] })))).await;
    let won = bodies.iter().filter(|b| b.get("errors").is_none()).count();
    assert_eq!(
        won, 1,
        "Credit notes: a note is voided once however many void it at once: {bodies:?}"
    );
    let codes = lost_codes(&bodies);
    assert!(
        codes.iter().all(|c| LOST.contains(&c.as_str())),
        "Credit notes: the other voids are refused: {codes:?}"
    );
    let now = invoice(&app, &inv).await;
    assert_eq!(
        (&now["amountCredited"], &now["amountDue"]),
        (&json!("0.00"), &json!("100.00")),
        "Credit notes: the void restored the 30.00 once, not once per request: {now}"
    );
    // Restored once: exactly the line's 100.00 is creditable again.
    let over = super::credit_lines(&app, &tok, &inv, &[(&line, "100.01")], true).await;
    assert_eq!(code(&over), "BAD_USER_INPUT", "{over}");
    noted(&app, &inv, &[(&line, "100.00")], true).await;
}

#[tokio::test]
async fn racing_postings_never_consume_more_customer_credit_than_there_is() {
    let app = crate::helpers::spawn_app().await;
    let e = app.create_entity("CNX3", "EUR").await;
    let c = customer_on_terms(&app, &e, "Racer AS", 0).await;
    let (paid_inv, lines) = billed(&app, &e, &c, "2026-05-04", &[("100.00", None)]).await;
    paid(&app, &paid_inv, "100.00", "2026-05-05").await;
    noted(&app, &paid_inv, &[(&lines[0], "50.00")], true).await;
    assert_eq!(balance(&app, &e, &c).await, "50.00");
    // Two drafts of 40.00 for the same customer, posted at once: 80.00
    // owed against 50.00 of credit, so 40.00 + 10.00 is taken, never 80.00.
    auto_post(&app, false).await;
    for _ in 0..2 {
        app.create_contract(&c, "2026-05-10", "40.00", None).await;
    }
    bill(&app, &e, "2026-05-10").await;
    let drafts: Vec<String> = invoices_of(&app, &e, &c).await.split_off(1);
    assert_eq!(drafts.len(), 2);
    let q = "mutation($id: ID!) { postInvoice(id: $id) { id status creditApplied amountDue } }";
    let tok = admin();
    let bodies = join_all(drafts.iter().map(|d| app.gql(&tok, q, json!({ "id": d })))).await;
    let mut taken: Vec<(String, String, String)> = bodies
        .iter()
        .map(|b| {
            assert!(b.get("errors").is_none(), "postInvoice: {b}");
            let p = &b["data"]["postInvoice"];
            let s = |k: &str| p[k].as_str().expect(k).to_string();
            (s("creditApplied"), s("amountDue"), s("status"))
        })
        .collect();
    taken.sort();
    assert_eq!(
        taken,
        [
            ("10.00".into(), "30.00".into(), "POSTED".into()),
            ("40.00".into(), "0.00".into(), "PAID".into()),
        ],
        "Customer credit: racing postings take 40.00 and the remaining 10.00, oldest first, never more"
    );
    assert_eq!(balance(&app, &e, &c).await, "0.00");
}

/// voidInvoice reads the invoice before its transaction: a note issued in
/// between must not leave a VOID invoice credited (nor a credited invoice
/// voided).
#[tokio::test]
async fn a_note_racing_a_void_of_its_invoice_never_leaves_a_voided_invoice_credited() {
    let app = crate::helpers::spawn_app().await;
    let e = app.create_entity("CNX4", "EUR").await;
    let mut invoices = Vec::new();
    for n in 0..8 {
        let c = customer_on_terms(&app, &e, &format!("Pair {n}"), 0).await;
        app.create_contract(&c, "2026-05-04", "100.00", None).await;
        invoices.push(c);
    }
    bill(&app, &e, "2026-05-04").await;
    let mut pairs = Vec::new();
    for c in &invoices {
        let inv = invoices_of(&app, &e, c).await.remove(0);
        let line = line_ids(&app, &inv).await.remove(0);
        pairs.push((inv, line));
    }
    let void = "mutation($id: ID!) { voidInvoice(id: $id, reason: \"Duplicate\") { status } }";
    let tok = admin();
    let requests = pairs.iter().flat_map(|(inv, line)| {
        let i = input(inv, &[(line, "30.00")], true);
        [
            app.gql(&tok, CREATE, json!({ "i": i })),
            app.gql(&tok, void, json!({ "id": inv })),
        ]
    });
    let bodies = join_all(requests).await;
    for (n, (inv, _)) in pairs.iter().enumerate() {
        let now = invoice(&app, inv).await;
        let both = bodies[2 * n..2 * n + 2]
            .iter()
            .filter(|b| b.get("errors").is_none())
            .count();
        assert!(
            !(now["status"] == "VOID" && now["amountCredited"] != "0.00"),
            "Credit notes: a VOID invoice never has issued credit notes: {now} after {:?}",
            &bodies[2 * n..2 * n + 2]
        );
        assert_eq!(
            both,
            1,
            "Credit notes / voidInvoice: of a note and a void racing, exactly one wins: {now} after {:?}",
            &bodies[2 * n..2 * n + 2]
        );
    }
}
