//! DESIGN.md, Invoices: payments reduce the amount due, an invoice with
//! nothing due is PAID, and a payment larger than the amount due is
//! refused, even when two race; every payment is validated, audited and
//! announced by a `payment.received` event.

use serde_json::{json, Value};

use crate::helpers::ar::{
    aging, bad_input, bill, customer_on_terms, ids, list, one_invoice, one_invoice_in, open, paid,
    pay, payments, plus, received_events, state,
};
use crate::helpers::{admin, spawn_app, today, token_with};

#[tokio::test]
async fn an_overpayment_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let (_, inv) = one_invoice(&app, "AG03", "100.00", "2026-05-04").await;
    paid(&app, &inv, "60.00", "2026-05-05").await;
    let body = pay(&app, &admin(), &inv, "40.01", "2026-05-06").await;
    bad_input(
        &body,
        Some("amount"),
        "Invoices: a payment larger than the amount due is refused",
    );
    let want = json!({ "status": "POSTED", "amountPaid": "60.00", "amountDue": "40.00" });
    assert_eq!(
        state(&app, &inv).await,
        want,
        "Invoices: a refused payment changes nothing"
    );
    assert_eq!(
        payments(&app, &inv).await,
        1,
        "a refused payment leaves no payment row"
    );
    assert_eq!(
        received_events(&app, &inv).await.len(),
        1,
        "a refused payment emits no payment.received"
    );

    paid(&app, &inv, "40.00", "2026-05-06").await;
    let body = pay(&app, &admin(), &inv, "0.01", "2026-05-07").await;
    bad_input(
        &body,
        Some("amount"),
        "Invoices: nothing is due on a PAID invoice",
    );
    assert_eq!(payments(&app, &inv).await, 2);
}

#[tokio::test]
async fn two_concurrent_payments_cannot_overpay() {
    let app = spawn_app().await;
    let e = app.create_entity("AG04", "EUR").await;
    for n in 0..4 {
        let c = customer_on_terms(&app, &e, &format!("Racer {n}"), 0).await;
        app.create_contract(&c, "2026-05-04", "100.00", None).await;
    }
    bill(&app, &e, "2026-05-04").await;
    let (all, _) = list(&app, &admin(), json!({ "e": e })).await;
    assert_eq!(all.len(), 4);
    for inv in ids(&all) {
        let tok = admin();
        let (a, b) = tokio::join!(
            pay(&app, &tok, &inv, "60.00", "2026-05-05"),
            pay(&app, &tok, &inv, "60.00", "2026-05-05")
        );
        let ok = [&a, &b]
            .iter()
            .filter(|x| x.get("errors").is_none())
            .count();
        assert_eq!(
            ok, 1,
            "Invoices: two payments that together overpay, one wins: {a} {b}"
        );
        let refused = if a.get("errors").is_some() { &a } else { &b };
        bad_input(
            refused,
            Some("amount"),
            "Invoices: the loser is refused as an overpayment",
        );
        assert_eq!(state(&app, &inv).await["amountPaid"], "60.00");
        assert_eq!(payments(&app, &inv).await, 1);
    }
}

#[tokio::test]
async fn record_payment_validates_its_input_and_is_audited_with_a_domain_event() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "AG07", "100.00", "2026-05-04").await;
    let clerk = token_with(|c| {
        c.sub = "clerk-42".into();
        c.role = "ACCOUNTANT".into();
        c.scopes = vec!["billing:run".into(), "billing:read".into()];
        c.legal_entities = vec![e.clone()];
    });
    let today = today();
    let cases = [
        ("0", "2026-05-05", Some("amount"), "amount must be positive"),
        ("-5.00", "2026-05-05", None, "amount must be positive"),
        ("10.001", "2026-05-05", Some("amount"), "EUR: 2 decimals"),
        (
            "10.00",
            "2026-05-03",
            Some("receivedOn"),
            "not before issue",
        ),
        (
            "10.00",
            "2030-01-01",
            Some("receivedOn"),
            "not in the future",
        ),
    ];
    for (amount, on, field, rule) in cases {
        bad_input(&pay(&app, &clerk, &inv, amount, on).await, field, rule);
    }
    let tomorrow = plus(today, 1);
    let body = pay(&app, &clerk, &inv, "10.00", &tomorrow).await;
    bad_input(
        &body,
        Some("receivedOn"),
        "receivedOn not after the entity's today",
    );
    assert_eq!(
        payments(&app, &inv).await,
        0,
        "refused payments write nothing"
    );
    assert!(received_events(&app, &inv).await.is_empty());

    let on_issue = pay(&app, &clerk, &inv, "10", "2026-05-04").await;
    assert_eq!(
        on_issue["data"]["recordPayment"]["amountPaid"], "10.00",
        "{on_issue}"
    );
    let body = pay(&app, &clerk, &inv, "15.50", &today.to_string()).await;
    assert_eq!(
        body["data"]["recordPayment"]["amountDue"], "74.50",
        "receivedOn today is allowed: {body}"
    );

    let q = "query($s: ID!) { auditEvents(subjectId: $s) { action actor subjectType legalEntityId details } }";
    let audit = app.data(&admin(), q, json!({ "s": inv })).await["auditEvents"].clone();
    let recorded: Vec<&Value> = audit
        .as_array()
        .expect("events")
        .iter()
        .filter(|a| a["action"] == "PAYMENT_RECORDED")
        .collect();
    assert_eq!(
        recorded.len(),
        2,
        "Events, audit: payments are audited: {audit}"
    );
    for a in &recorded {
        assert_eq!(a["actor"], "clerk-42", "Events, audit: with who did them");
        assert_eq!(
            (&a["subjectType"], &a["legalEntityId"]),
            (&json!("Invoice"), &json!(e))
        );
    }
    assert_eq!(recorded[1]["details"]["amount"], "15.50");
    let (jp, yen) = one_invoice_in(&app, "AG7J", "JPY", "1000", "2026-05-04").await;
    let body = pay(&app, &admin(), &yen, "10.5", "2026-05-05").await;
    bad_input(&body, Some("amount"), "Money: JPY has no minor unit");
    assert_eq!(
        paid(&app, &yen, "1", "2026-05-05").await["amountDue"],
        "999"
    );
    let report = aging(&app, &jp, Some("2026-05-06")).await;
    assert_eq!(
        open(&report),
        [("999".into(), 2, "1-30".into())],
        "Money: JPY 0 decimals"
    );
    let events = received_events(&app, &inv).await;
    assert_eq!(
        events.len(),
        2,
        "a payment.received domain event per payment"
    );
    assert_eq!(events[0].legal_entity_id.to_string(), e);
    let payload: Value = serde_json::from_str(&events[1].payload).expect("JSON payload");
    assert_eq!(
        (&payload["amount"], &payload["invoiceId"]),
        (&json!("15.50"), &json!(inv))
    );
}
