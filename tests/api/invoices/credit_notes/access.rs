//! Credit notes, access: the mutations need `billing:run`; another legal
//! entity's invoice or note answers exactly as a missing one (NOT_FOUND
//! for a write, null for a read); `creditNotes(legalEntityId)` pages and
//! never lists another entity's notes.

use entity::credit_note;
use serde_json::{json, Value};

use super::{credit_lines, issue, line_ids, noted, void_note};
use crate::helpers::ar::{bad_input, one_invoice};
use crate::helpers::http::{clean, rows};
use crate::helpers::{admin, code, spawn_app, token_with, TestApp};

const MISSING: &str = "999999";
const PAGE: &str = "query($e: ID!, $first: Int, $after: String) {
  creditNotes(legalEntityId: $e, first: $first, after: $after) {
    edges { cursor node { id number invoice { id } } } pageInfo { hasNextPage endCursor } } }";

fn of_entity(role: &str, sub: &str, scopes: &[&str], entity: &str) -> String {
    let (role, sub, entity) = (role.to_string(), sub.to_string(), entity.to_string());
    let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
    token_with(move |c| {
        (c.sub, c.role, c.scopes) = (sub, role, scopes);
        c.legal_entities = vec![entity];
    })
}

async fn note_status(app: &TestApp, id: &Value) -> Value {
    let q = "query($id: ID!) { creditNote(id: $id) { status } }";
    app.data(&admin(), q, json!({ "id": id })).await["creditNote"]["status"].clone()
}

#[tokio::test]
async fn without_billing_run_the_mutations_are_forbidden_and_write_nothing() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "CNS1", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    let issued = noted(&app, &inv, &[(&line, "10.00")], true).await;
    let draft = noted(&app, &inv, &[(&line, "10.00")], false).await;
    let before = rows(&app, credit_note::Entity).await;
    for role in ["ACCOUNTANT", "PARTNER"] {
        let reader = of_entity(role, "reader", &["billing:read"], &e);
        let bodies = [
            credit_lines(&app, &reader, &inv, &[(&line, "10.00")], true).await,
            issue(&app, &reader, &draft["id"]).await,
            void_note(&app, &reader, &issued["id"]).await,
        ];
        for body in &bodies {
            assert_eq!(
                code(body),
                "FORBIDDEN",
                "Access: credit note mutations need billing:run ({role}): {body}"
            );
            clean(body);
        }
        // Reading needs billing:read only.
        let q = "query($id: ID!) { creditNote(id: $id) { id status } }";
        let read = app.data(&reader, q, json!({ "id": issued["id"] })).await;
        assert_eq!(read["creditNote"]["status"], "ISSUED");
    }
    assert_eq!(rows(&app, credit_note::Entity).await, before);
    assert_eq!(
        (
            note_status(&app, &issued["id"]).await,
            note_status(&app, &draft["id"]).await
        ),
        (json!("ISSUED"), json!("DRAFT")),
        "Access: a forbidden issue or void changes nothing"
    );
}

#[tokio::test]
async fn another_entitys_invoice_or_note_answers_like_a_missing_one() {
    let app = spawn_app().await;
    let (a, inv_a) = one_invoice(&app, "CNTA", "100.00", "2026-05-04").await;
    let (b, inv_b) = one_invoice(&app, "CNTB", "100.00", "2026-05-04").await;
    let (line_a, line_b) = (
        line_ids(&app, &inv_a).await.remove(0),
        line_ids(&app, &inv_b).await.remove(0),
    );
    let b_issued = noted(&app, &inv_b, &[(&line_b, "10.00")], true).await;
    let b_draft = noted(&app, &inv_b, &[(&line_b, "10.00")], false).await;
    let before = rows(&app, credit_note::Entity).await;
    for role in ["PARTNER", "ACCOUNTANT"] {
        let tok = of_entity(role, "partner-a", &["billing:read", "billing:run"], &a);
        let missing = json!(MISSING);
        let pairs = [
            (
                credit_lines(&app, &tok, &inv_b, &[(&line_b, "1.00")], true).await,
                credit_lines(&app, &tok, MISSING, &[(&line_b, "1.00")], true).await,
                "createCreditNote on B's invoice",
            ),
            (
                issue(&app, &tok, &b_draft["id"]).await,
                issue(&app, &tok, &missing).await,
                "issueCreditNote of B's draft",
            ),
            (
                void_note(&app, &tok, &b_issued["id"]).await,
                void_note(&app, &tok, &missing).await,
                "voidCreditNote of B's note",
            ),
        ];
        for (theirs, none, what) in &pairs {
            assert_eq!(
                code(theirs),
                "NOT_FOUND",
                "Access: {role}: {what} is NOT_FOUND: {theirs}"
            );
            assert_eq!(
                theirs, none,
                "Access: {role}: {what} answers exactly like a missing id"
            );
            clean(theirs);
        }
        let q = "query($id: ID!) { creditNote(id: $id) { id number } }";
        let read = app.data(&tok, q, json!({ "id": b_issued["id"] })).await;
        assert_eq!(
            read["creditNote"],
            Value::Null,
            "Access: {role}: B's note reads as null"
        );
        let foreign = app.data(&tok, PAGE, json!({ "e": b })).await;
        assert_eq!(
            foreign["creditNotes"]["edges"],
            json!([]),
            "Access: {role}: creditNotes of another entity lists nothing"
        );
        // B's line on A's own invoice is no line of it.
        let mixed = credit_lines(&app, &tok, &inv_a, &[(&line_b, "1.00")], true).await;
        bad_input(
            &mixed,
            Some("lines.0.invoiceLineId"),
            "Access: another entity's line is not a line of this invoice",
        );
    }
    assert_eq!(
        rows(&app, credit_note::Entity).await,
        before,
        "Access: nothing written by the refused calls"
    );
    assert_eq!(
        (
            note_status(&app, &b_issued["id"]).await,
            note_status(&app, &b_draft["id"]).await
        ),
        (json!("ISSUED"), json!("DRAFT")),
        "Access: B's notes unchanged"
    );
    // The partner credits its own entity's invoice.
    let own = of_entity("PARTNER", "partner-a", &["billing:read", "billing:run"], &a);
    let body = credit_lines(&app, &own, &inv_a, &[(&line_a, "1.00")], true).await;
    assert_eq!(
        body["data"]["createCreditNote"]["status"], "ISSUED",
        "{body}"
    );
}

#[tokio::test]
async fn credit_notes_page_oldest_first_within_one_entity() {
    let app = spawn_app().await;
    let (a, inv_a) = one_invoice(&app, "CNPA", "100.00", "2026-05-04").await;
    let (b, inv_b) = one_invoice(&app, "CNPB", "100.00", "2026-05-04").await;
    let (line_a, line_b) = (
        line_ids(&app, &inv_a).await.remove(0),
        line_ids(&app, &inv_b).await.remove(0),
    );
    let mut mine = Vec::new();
    for n in 0..5 {
        // Interleaved with B's, so B's ids fall between A's.
        mine.push(noted(&app, &inv_a, &[(&line_a, "1.00")], n % 2 == 0).await["id"].clone());
        noted(&app, &inv_b, &[(&line_b, "1.00")], true).await;
    }
    let tok = of_entity("PARTNER", "partner-a", &["billing:read"], &a);
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut pages = Vec::new();
    loop {
        let page = app
            .data(&tok, PAGE, json!({ "e": a, "first": 2, "after": after }))
            .await;
        let c = &page["creditNotes"];
        let edges = c["edges"].as_array().expect("edges");
        pages.push(edges.len());
        for edge in edges {
            assert_eq!(edge["node"]["invoice"]["id"], inv_a.as_str());
            seen.push(edge["node"]["id"].clone());
        }
        if c["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = c["pageInfo"]["endCursor"].clone();
        assert!(pages.len() < 5, "creditNotes: paging ends");
    }
    assert_eq!(
        pages,
        [2, 2, 1],
        "creditNotes: pages of `first`, hasNextPage until the last"
    );
    assert_eq!(
        seen, mine,
        "creditNotes: every note of the entity, oldest first, none of another entity's"
    );
    let theirs = app
        .data(&admin(), PAGE, json!({ "e": b, "first": 100 }))
        .await;
    assert_eq!(
        theirs["creditNotes"]["edges"].as_array().map(Vec::len),
        Some(5)
    );
}
