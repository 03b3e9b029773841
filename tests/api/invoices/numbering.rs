//! DESIGN.md, Invoices: a posted invoice gets `<entity code>-<year>-<000001>`,
//! gapless per legal entity and year, in the transaction that posts it;
//! drafts have none; voiding keeps the number (and, The billing schedule,
//! does not make the period billable again).

use sea_orm::Set;
use serde_json::{json, Value};

use crate::helpers::billing::{
    all_invoices, configure, counts, edit_contract, entity_with_contracts, field, outbox,
    outbox_types, run, run_invoices, COLLECTION, DELIVERY,
};
use crate::helpers::{admin, code, spawn_app};

#[tokio::test]
async fn a_voided_invoice_keeps_its_number_and_its_period_is_never_billed_again() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "VD1", &["2026-11-01"]).await;
    let r = run(&app, &e, "2026-11-27").await;
    let inv = run_invoices(&app, &r["id"]).await[0].clone();
    let void = "mutation($id: ID!, $r: String!) { voidInvoice(id: $id, reason: $r) { id number status voidReason amountDue } }";
    for blank in ["", "   "] {
        let body = app
            .gql(&admin(), void, json!({ "id": inv["id"], "r": blank }))
            .await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "Invoices: a void needs a reason: {body}"
        );
    }
    let voided = app
        .data(
            &admin(),
            void,
            json!({ "id": inv["id"], "r": "Duplicate of a manual invoice" }),
        )
        .await;
    assert_eq!(
        voided["voidInvoice"],
        json!({ "id": inv["id"], "number": "VD1-2026-000001", "status": "VOID",
                "voidReason": "Duplicate of a manual invoice", "amountDue": "0.00" }),
        "Invoices: voiding keeps the number"
    );
    let next = run(&app, &e, "2026-12-05").await;
    let invoices = run_invoices(&app, &next["id"]).await;
    assert_eq!(
        field(&invoices, "periodStart"),
        ["2026-12-01"],
        "The billing schedule: voiding does not make its period billable again"
    );
    assert_eq!(
        field(&invoices, "number"),
        ["VD1-2026-000002"],
        "Invoices: numbering goes on gapless"
    );
    // Even a contract rewound to its first period finds both periods billed.
    edit_contract(&app, &ids[0], |c| {
        c.next_period_index = Set(0);
        c.next_billing_date = Set(chrono::NaiveDate::from_ymd_opt(2026, 11, 1));
    })
    .await;
    let again = run(&app, &e, "2026-12-05").await;
    assert_eq!(
        again["invoiceCount"], 0,
        "The billing schedule: a contract period is invoiced at most once, whatever happens; a void is a decision, not a retry"
    );
    assert_eq!(all_invoices(&app).await.len(), 2);
}

#[tokio::test]
async fn with_auto_post_off_runs_make_drafts_that_post_in_posting_order() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "AP1", &["2026-11-01", "2026-11-01"]).await;
    let config = configure(&app, json!({ "autoPostInvoices": false })).await;
    assert_eq!(config["autoPostInvoices"], false);
    let r = run(&app, &e, "2026-11-27").await;
    let drafts = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        field(&drafts, "status"),
        ["DRAFT", "DRAFT"],
        "Invoices: auto post off makes DRAFTs"
    );
    assert_eq!(
        field(&drafts, "number"),
        ["<null>", "<null>"],
        "Invoices: drafts have no number"
    );
    assert_eq!(
        outbox_types(&app).await,
        ["notification.created", "billing_run.completed"],
        "Events: drafts start no delivery or collection (the run notifies, level ALL)"
    );

    let post = "mutation($id: ID!) { postInvoice(id: $id) { id number status } }";
    let second = app
        .data(&admin(), post, json!({ "id": drafts[1]["id"] }))
        .await;
    assert_eq!(
        second["postInvoice"],
        json!({ "id": drafts[1]["id"], "number": "AP1-2026-000001", "status": "POSTED" }),
        "Invoices: numbers are assigned when posting, in posting order"
    );
    let first = app
        .data(&admin(), post, json!({ "id": drafts[0]["id"] }))
        .await;
    assert_eq!(
        first["postInvoice"]["number"], "AP1-2026-000002",
        "Invoices: gapless per legal entity and year"
    );
    let body = app
        .gql(&admin(), post, json!({ "id": drafts[1]["id"] }))
        .await;
    assert_eq!(
        code(&body),
        "CONFLICT",
        "Invoices: only a draft can be posted: {body}"
    );
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [2, 2],
        "Events: posting a draft emits its events in the posting transaction"
    );

    let audit = app
        .data(
            &admin(),
            "{ auditEvents { subjectType action actor details } }",
            json!({}),
        )
        .await;
    let changed: Vec<&Value> = audit["auditEvents"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["action"] == "CONFIG_UPDATED")
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "Events, audit: config changes are audited: {audit}"
    );
    assert_eq!(changed[0]["subjectType"], "BillingAgentConfig");
    assert_eq!(
        changed[0]["actor"], "test-user",
        "Events, audit: with who did them"
    );
    let details = &changed[0]["details"];
    assert_eq!(
        (
            details["before"]["autoPostInvoices"].clone(),
            details["after"]["autoPostInvoices"].clone()
        ),
        (json!(true), json!(false)),
        "Events, audit: config change details carry before and after: {details}"
    );
    let posted = audit["auditEvents"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["action"] == "INVOICE_POSTED")
        .count();
    assert_eq!(posted, 2, "Events, audit: postings are audited");
}
