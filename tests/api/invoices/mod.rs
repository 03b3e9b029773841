//! DESIGN.md, Invoices: what a run's invoices hold (the seed's walkthrough,
//! end to end), and the invoice list. Numbering is in `numbering`,
//! payments in `payments`.

pub(crate) mod credit_notes;
mod numbering;
mod payments;

use serde_json::{json, Value};

use crate::helpers::ar::{bill, customer_on_terms, filtered, ids, invoices_of, list, paid, void};
use crate::helpers::billing::{
    actions, counts, customer, field, outbox, pick, run, run_invoices, COLLECTION, DELIVERY,
    ONE_CHUNK_TRAIL,
};
use crate::helpers::{admin, spawn_app};

#[tokio::test]
async fn the_seed_walkthrough_bills_bolt_and_starship_and_records_every_step() {
    let app = spawn_app().await;
    let e = app.create_entity("EE01", "EUR").await;
    let vat = app.create_tax_code(&e, "VAT", "19.45").await;
    let bolt = customer(&app, &e, "Bolt", Some("ap@bolt.example"), true).await;
    let starship = customer(&app, &e, "Starship", Some("ap@starship.example"), false).await;
    let kb = app
        .create_contract(&bolt, "2026-11-01", "49.00", Some(&vat))
        .await;
    let ks = app
        .create_contract(&starship, "2026-11-01", "49.00", Some(&vat))
        .await;

    let r = run(&app, &e, "2026-11-27").await;
    let keys = [
        "status",
        "contractCount",
        "processedCount",
        "invoiceCount",
        "skippedCount",
    ];
    assert_eq!(
        pick(&r, &keys),
        json!({ "status": "COMPLETED", "contractCount": 2, "processedCount": 2, "invoiceCount": 2, "skippedCount": 0 }),
        "The run: 2 contracts due, processed and invoiced, COMPLETED"
    );
    assert_eq!(r["invoiceTotal"], "117.06", "Money: 2 × 58.53 = 117.06");
    assert_eq!(
        pick(&r, &["periodStart", "periodEnd"]),
        json!({ "periodStart": "2026-11-01", "periodEnd": "2026-11-30" }),
        "The billing schedule: run period spans the periods billed"
    );
    assert_eq!(
        pick(&r, &["trigger", "triggeredBy", "runNumber"]),
        json!({ "trigger": "MANUAL", "triggeredBy": "test-user", "runNumber": "BR-000001" }),
        "The run / Events, audit: a person's MANUAL trigger, by the token's sub, numbered per legal entity"
    );
    assert!(
        r["durationMs"].is_i64(),
        "The run: a finished run has a duration: {r}"
    );

    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        invoices.len(),
        2,
        "The billing schedule: one invoice per contract period"
    );
    for (inv, (contract, customer)) in invoices.iter().zip([(&kb, &bolt), (&ks, &starship)]) {
        assert_eq!(
            pick(
                inv,
                &["subtotal", "taxTotal", "total", "amountDue", "currency"]
            ),
            json!({ "subtotal": "49.00", "taxTotal": "9.53", "total": "58.53", "amountDue": "58.53", "currency": "EUR" }),
            "Money: 49.00 + 19.45 % VAT is 49.00 + 9.53 = 58.53"
        );
        assert_eq!(
            pick(
                &inv["lines"][0],
                &["netAmount", "taxRate", "taxAmount", "totalAmount"]
            ),
            json!({ "netAmount": "49.00", "taxRate": "19.45", "taxAmount": "9.53", "totalAmount": "58.53" }),
            "Money: per line net = round(qty × price), tax = round(net × rate / 100)"
        );
        assert_eq!(
            pick(
                inv,
                &["status", "issueDate", "dueDate", "periodStart", "periodEnd"]
            ),
            json!({ "status": "POSTED", "issueDate": "2026-11-27", "dueDate": "2026-12-27",
                    "periodStart": "2026-11-01", "periodEnd": "2026-11-30" }),
            "Invoices: POSTED at once (auto post on); issue date = D; due date = issue + 30 days"
        );
        assert_eq!(
            (&inv["contract"]["id"], &inv["customer"]["id"]),
            (&json!(contract), &json!(customer))
        );
    }
    assert_eq!(
        field(&invoices, "number"),
        ["EE01-2026-000001", "EE01-2026-000002"],
        "Invoices: numbers <entity code>-<year>-<000001>, gapless"
    );

    assert_eq!(
        actions(&r),
        ONE_CHUNK_TRAIL,
        "Events, audit: the run's audit trail in order"
    );
    let trail = r["auditTrail"].as_array().expect("trail");
    assert_eq!(
        trail[0]["actor"], "test-user",
        "Events, audit: RUN_TRIGGERED's actor is the user"
    );
    let steps: Vec<Value> = trail[2..6].iter().map(|a| a["details"].clone()).collect();
    assert_eq!(
        steps,
        [
            json!({ "step": "find_due_contracts", "contracts": 2 }),
            json!({ "step": "generate_invoices", "invoices": 2, "skipped": 0 }),
            json!({ "step": "post_invoices", "posted": 2 }),
            json!({ "step": "emit_events", "events": 3 }),
        ],
        "Events, audit: STEP_COMPLETED for each workflow step, with counts"
    );

    let events = outbox(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        counts(
            &events,
            &[DELIVERY, COLLECTION, "notification.created", "billing_run.completed"]
        ),
        [2, 1, 1, 1],
        "Events: delivery for each customer with an email, collection only with a payment method, one notification (level ALL), one billing_run.completed: {kinds:?}"
    );
    assert_eq!(events.len(), 5, "Events: nothing else: {kinds:?}");
    let collected = events
        .iter()
        .find(|e| e.event_type == COLLECTION)
        .expect("collection");
    assert_eq!(
        collected.subject_id,
        invoices[0]["id"].as_str().expect("id"),
        "Events: Bolt's invoice is collected"
    );
    assert_eq!(
        kinds.last(),
        Some(&"billing_run.completed"),
        "Events: the run's end comes last"
    );
}

#[tokio::test]
async fn the_invoice_list_filters_and_pages_newest_first() {
    let app = spawn_app().await;
    let e = app.create_entity("AG09", "EUR").await;
    let a = customer_on_terms(&app, &e, "Alpha AS", 0).await;
    let b = customer_on_terms(&app, &e, "Beta AS", 10).await;
    app.create_contract(&a, "2026-03-02", "100.00", None).await;
    app.create_contract(&b, "2026-03-02", "200.00", None).await;
    for as_of in ["2026-03-02", "2026-04-02", "2026-05-02"] {
        bill(&app, &e, as_of).await;
    }
    let (ia, ib) = (
        invoices_of(&app, &e, &a).await,
        invoices_of(&app, &e, &b).await,
    );
    assert_eq!((ia.len(), ib.len()), (3, 3));
    paid(&app, &ia[0], "100.00", "2026-03-05").await;
    void(&app, &ib[1]).await;

    let (all, info) = list(&app, &admin(), json!({ "e": e })).await;
    let all_ids: Vec<i64> = ids(&all).iter().map(|i| i.parse().expect("id")).collect();
    let mut sorted = all_ids.clone();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(
        (all_ids.len(), &all_ids),
        (6, &sorted),
        "invoices: newest first"
    );
    let issued: Vec<&str> = all
        .iter()
        .map(|n| n["issueDate"].as_str().expect("date"))
        .collect();
    assert!(
        issued.windows(2).all(|w| w[0] >= w[1]),
        "invoices: newest first {issued:?}"
    );
    assert_eq!(info["hasNextPage"], false);

    let filtered = |vars: Value| filtered(&app, &e, vars);
    assert_eq!(filtered(json!({ "s": "PAID" })).await, [ia[0].clone()]);
    assert_eq!(filtered(json!({ "s": "VOID" })).await, [ib[1].clone()]);
    assert_eq!(filtered(json!({ "s": "POSTED" })).await.len(), 4);
    assert_eq!(filtered(json!({ "s": "DRAFT" })).await.len(), 0);
    let rev = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>();
    assert_eq!(
        filtered(json!({ "c": a })).await,
        rev(&ia),
        "invoices: customerId filter"
    );
    assert_eq!(
        filtered(json!({ "c": b, "s": "POSTED" })).await,
        [ib[2].clone(), ib[0].clone()]
    );
    let window = filtered(json!({ "from": "2026-04-02", "to": "2026-04-12" })).await;
    let mut want = vec![ia[1].clone(), ib[1].clone()];
    want.sort_by_key(|i| std::cmp::Reverse(i.parse::<i64>().expect("id")));
    assert_eq!(window, want, "invoices: dueFrom/dueTo are inclusive");
    assert_eq!(
        filtered(json!({ "to": "2026-03-02" })).await,
        [ia[0].clone()]
    );
    let from = filtered(json!({ "from": "2026-05-03" })).await;
    assert_eq!(from, [ib[2].clone()], "due 2026-05-12 only");

    let (p1, i1) = list(&app, &admin(), json!({ "e": e, "first": 4 })).await;
    assert_eq!((p1.len(), &i1["hasNextPage"]), (4, &json!(true)));
    let (p2, i2) = list(
        &app,
        &admin(),
        json!({ "e": e, "first": 4, "after": i1["endCursor"] }),
    )
    .await;
    assert_eq!((p2.len(), &i2["hasNextPage"]), (2, &json!(false)));
    assert_eq!(
        [ids(&p1), ids(&p2)].concat(),
        ids(&all),
        "pages join into the full list"
    );
}
