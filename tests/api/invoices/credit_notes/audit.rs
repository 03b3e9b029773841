//! Credit notes, events and audit: each issue and void writes an audit row
//! with its actor and a domain event (`credit_note.issued`,
//! `credit_note.voided`) in the same transaction, so a refused issue
//! writes neither.

use serde_json::{json, Value};

use super::{issue, line_ids, void_note};
use crate::helpers::ar::{bad_input, one_invoice};
use crate::helpers::{admin, spawn_app, token_with, TestApp};

fn clerk(sub: &str, entity: &str) -> String {
    let (sub, entity) = (sub.to_string(), entity.to_string());
    token_with(move |c| {
        (c.sub, c.role) = (sub, "ACCOUNTANT".into());
        c.scopes = vec!["billing:read".into(), "billing:run".into()];
        c.legal_entities = vec![entity];
    })
}

async fn audit_of(app: &TestApp, subject: &Value) -> Vec<Value> {
    let q = "query($s: ID!) { auditEvents(subjectId: $s) { action actor subjectType subjectId legalEntityId details } }";
    let data = app.data(&admin(), q, json!({ "s": subject })).await;
    // Subject ids are per type: the invoice or run "1" is not note "1".
    let rows = data["auditEvents"].as_array().expect("audit").iter();
    rows.filter(|r| r["subjectType"] == "CreditNote")
        .cloned()
        .collect()
}

fn actions(rows: &[Value]) -> Vec<(&str, &str)> {
    rows.iter()
        .map(|r| {
            (
                r["action"].as_str().expect("action"),
                r["actor"].as_str().expect("actor"),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_issue_and_void_is_audited_with_its_actor_and_emits_a_domain_event() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "CNA9", "100.00", "2026-05-04").await;
    let line = line_ids(&app, &inv).await.remove(0);
    let (ann, bob) = (clerk("clerk-ann", &e), clerk("clerk-bob", &e));
    let create = |tok: &str, net: &str, issue: bool| {
        let tok = tok.to_string();
        let net = net.to_string();
        let (app, inv, line) = (&app, inv.clone(), line.clone());
        async move {
            let body = super::credit_lines(app, &tok, &inv, &[(&line, net.as_str())], issue).await;
            assert!(body.get("errors").is_none(), "{body}");
            body["data"]["createCreditNote"].clone()
        }
    };
    // A draft of 70.00 that will no longer fit; 30.00 issued by Ann; a
    // draft of 20.00 by Ann that Bob issues; Ann voids her 30.00.
    let big = create(&ann, "70.00", false).await;
    let n1 = create(&ann, "30.00", true).await;
    let d = create(&ann, "20.00", false).await;
    let issued = issue(&app, &bob, &d["id"]).await;
    assert!(issued.get("errors").is_none(), "{issued}");
    let refused = issue(&app, &bob, &big["id"]).await;
    bad_input(
        &refused,
        Some("lines.0.netAmount"),
        "70.00 > 50.00 creditable",
    );
    let voided = void_note(&app, &ann, &n1["id"]).await;
    assert!(voided.get("errors").is_none(), "{voided}");

    let n1_audit = audit_of(&app, &n1["id"]).await;
    assert_eq!(
        actions(&n1_audit),
        [
            ("CREDIT_NOTE_ISSUED", "clerk-ann"),
            ("CREDIT_NOTE_VOIDED", "clerk-ann")
        ],
        "Events, audit: issuing and voiding a note are audited with the caller as actor: {n1_audit:?}"
    );
    for row in &n1_audit {
        assert_eq!(
            (&row["subjectType"], &row["legalEntityId"]),
            (&json!("CreditNote"), &json!(e))
        );
        assert_eq!(row["details"]["number"], n1["number"]);
        assert_eq!(row["details"]["total"], "30.00");
        assert_eq!(row["details"]["invoiceId"], inv.as_str());
    }
    assert_eq!(
        actions(&audit_of(&app, &d["id"]).await),
        [
            ("CREDIT_NOTE_CREATED", "clerk-ann"),
            ("CREDIT_NOTE_ISSUED", "clerk-bob")
        ],
        "Events, audit: the actor is whoever issued the draft"
    );
    assert_eq!(
        actions(&audit_of(&app, &big["id"]).await),
        [("CREDIT_NOTE_CREATED", "clerk-ann")],
        "Events, audit: a refused issue writes no audit row (same transaction)"
    );

    let q = "query($e: ID!) { domainEvents(legalEntityId: $e, types: [\"credit_note.issued\", \"credit_note.voided\"]) { type legalEntityId subjectId payload } }";
    let events = app.data(&admin(), q, json!({ "e": e })).await["domainEvents"].clone();
    let seen: Vec<(&str, &str)> = events
        .as_array()
        .expect("events")
        .iter()
        .map(|ev| {
            (
                ev["type"].as_str().expect("type"),
                ev["subjectId"].as_str().expect("subject"),
            )
        })
        .collect();
    let id = |n: &Value| n["id"].as_str().expect("id").to_string();
    assert_eq!(
        seen,
        [
            ("credit_note.issued", id(&n1).as_str()),
            ("credit_note.issued", id(&d).as_str()),
            ("credit_note.voided", id(&n1).as_str()),
        ],
        "Events: one credit_note.issued per issue, one credit_note.voided per void, none for the refused issue: {events}"
    );
    let payload = &events[1]["payload"];
    assert_eq!(
        (
            &payload["number"],
            &payload["total"],
            &payload["status"],
            &payload["invoiceId"]
        ),
        (
            &issued["data"]["issueCreditNote"]["number"],
            &json!("20.00"),
            &json!("ISSUED"),
            &json!(inv)
        ),
        "Events: the payload names the note, its number, total and invoice: {payload}"
    );
    assert_eq!(events[2]["payload"]["status"], "VOID");
    assert_eq!(events[0]["legalEntityId"], e.as_str());
}
