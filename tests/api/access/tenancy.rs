//! Tenancy (DESIGN.md, Access; SECURITY.md items 20 and 21): a partner or
//! accountant of one legal entity sees and changes only that entity.
//! Another entity's object answers exactly as an id that does not exist,
//! and a filter naming another entity returns nothing, never a union.

use serde_json::json;

use super::{of_entity, world, MISSING};
use crate::helpers::billing::trigger;
use crate::helpers::http::{clean, written};
use crate::helpers::{admin, code, spawn_app};

/// Documents taking `$id`, which of B's ids each gets (0 entity, 1
/// customer, 3 run, 4 invoice), and the code a missing id answers with:
/// none (null or an empty list) for a read, NOT_FOUND for a write, and
/// BAD_USER_INPUT naming `customerId` for a contract's customer.
const FOREIGN: [(&str, usize, &str); 13] = [
    (
        "query($id: ID!) { billingRun(id: $id) { id runNumber invoiceTotal } }",
        3,
        NONE,
    ),
    (
        "query($id: ID!) { invoice(id: $id) { id total customer { name } } }",
        4,
        NONE,
    ),
    (
        "query($id: ID!) { contracts(legalEntityId: $id) { edges { node { id } } } }",
        0,
        NONE,
    ),
    (
        "query($id: ID!) { arAging(legalEntityId: $id, asOf: \"2026-01-20\") { asOf } }",
        0,
        "NOT_FOUND",
    ),
    (
        "query($id: ID!) { auditEvents(subjectId: $id) { id action details } }",
        3,
        NONE,
    ),
    (
        "query($id: ID!) { legalEntity(id: $id) { id name } }",
        0,
        NONE,
    ),
    (
        "mutation($id: ID!) { postInvoice(id: $id) { id } }",
        4,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { voidInvoice(id: $id, reason: \"x\") { id } }",
        4,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { recordPayment(input: { invoiceId: $id, amount: \"1.00\", \
         receivedOn: \"2026-01-20\" }) { id } }",
        4,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { triggerBillingRun(input: { legalEntityId: $id, \
         asOf: \"2026-02-15\" }) { runs { id } } }",
        0,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { createCustomer(input: { legalEntityId: $id, name: \"S\" }) { id } }",
        0,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { createTaxCode(input: { legalEntityId: $id, code: \"T\", \
         rate: \"5\" }) { id } }",
        0,
        "NOT_FOUND",
    ),
    (
        "mutation($id: ID!) { createContract(input: { customerId: $id, startDate: \"2026-01-01\", \
         interval: MONTH, lines: [{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }] }) \
         { id } }",
        1,
        "BAD_USER_INPUT",
    ),
];
/// What `code()` says of a body without errors.
const NONE: &str = "<no code>";

#[tokio::test]
async fn another_entitys_objects_answer_exactly_like_missing_ones() {
    let app = spawn_app().await;
    let [a, b] = world(&app).await;
    let before = written(&app).await;
    for role in ["PARTNER", "ACCOUNTANT"] {
        let tok = of_entity(role, &a[0]);
        let q = "query($id: ID!) { billingRun(id: $id) { id } }";
        let own = app.data(&tok, q, json!({ "id": a[3] })).await;
        assert_eq!(
            own["billingRun"]["id"],
            a[3].as_str(),
            "{role}: its own run"
        );
        for (q, which, want) in FOREIGN {
            let theirs = app.gql(&tok, q, json!({ "id": b[which] })).await;
            let missing = app.gql(&tok, q, json!({ "id": MISSING })).await;
            assert_eq!(
                theirs, missing,
                "SECURITY 20: {role}: B's object looks missing: {q}"
            );
            assert_eq!(code(&theirs), want, "{role}: {q}: {theirs}");
            clean(&theirs);
        }
    }
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 20: nothing written in B"
    );
    let q = "query($id: ID!) { invoice(id: $id) { status amountPaid } }";
    let b_invoice = app.data(&admin(), q, json!({ "id": b[4] })).await;
    let expected = json!({ "status": "POSTED", "amountPaid": "0.00" });
    assert_eq!(b_invoice["invoice"], expected);
    // The same token writes in its own entity.
    let create =
        "mutation($e: ID!) { createCustomer(input: { legalEntityId: $e, name: \"Own\" }) { id } }";
    let made = app
        .data(&of_entity("PARTNER", &a[0]), create, json!({ "e": a[0] }))
        .await;
    assert!(made["createCustomer"]["id"].is_string(), "{made}");
}

const LISTS: &str = "query($e: ID!, $c: ID) {
    customers(legalEntityId: $e) { id }
    contracts(legalEntityId: $e) { edges { node { id } } }
    billingRuns(legalEntityId: $e) { edges { node { id } } }
    invoices(legalEntityId: $e, customerId: $c) { edges { node { id } } }
    auditEvents(legalEntityId: $e) { id legalEntityId }
    domainEvents(legalEntityId: $e) { id legalEntityId } }";
const UNFILTERED: &str =
    "{ auditEvents { legalEntityId action } domainEvents { legalEntityId } legalEntities { id } }";
const ODD_FILTERS: [&str; 9] = [MISSING, "2 OR 1=1", "1,2", "*", "%", "-1", "0", " 2", "02"];

#[tokio::test]
async fn a_foreign_legal_entity_filter_never_returns_foreign_rows() {
    let app = spawn_app().await;
    let [a, b] = world(&app).await;
    let partner = of_entity("PARTNER", &a[0]);
    let own = app.data(&partner, LISTS, json!({ "e": a[0] })).await;
    for key in ["customers", "auditEvents", "domainEvents"] {
        let some = own[key].as_array().is_some_and(|l| !l.is_empty());
        assert!(some, "{key}: {own}");
    }
    let empty = json!({ "customers": [], "contracts": { "edges": [] },
        "billingRuns": { "edges": [] }, "invoices": { "edges": [] },
        "auditEvents": [], "domainEvents": [] });
    for filter in [b[0].as_str()].into_iter().chain(ODD_FILTERS) {
        let body = app.gql(&partner, LISTS, json!({ "e": filter })).await;
        assert_eq!(
            body["data"], empty,
            "SECURITY 21: a foreign filter {filter:?} returns nothing: {body}"
        );
    }
    // Its own entity with B's customer: nothing.
    let mixed = app
        .data(&partner, LISTS, json!({ "e": a[0], "c": b[1] }))
        .await;
    assert_eq!(mixed["invoices"]["edges"], json!([]));
    // No filter at all: A's rows only.
    let all = app.data(&partner, UNFILTERED, json!({})).await;
    for key in ["auditEvents", "domainEvents"] {
        let items = all[key].as_array().expect("list");
        let only_a = items.iter().all(|i| i["legalEntityId"] == a[0].as_str());
        assert!(!items.is_empty() && only_a, "{key}: {all}");
    }
    assert_eq!(all["legalEntities"], json!([{ "id": a[0] }]));
}

/// A partner with `billing:run` bills its own entity: an API run, triggered
/// by (and audited as) its client id.
#[tokio::test]
async fn a_partners_own_run_is_an_api_trigger_by_its_client_id() {
    let app = spawn_app().await;
    let [a, _] = world(&app).await;
    let runner = of_entity("PARTNER", &a[0]);
    let input = json!({ "legalEntityId": a[0], "asOf": "2026-02-15", "wait": true });
    let own = trigger(&app, &runner, input).await;
    let r = &own["data"]["triggerBillingRun"]["runs"][0];
    assert_eq!(
        (
            r["trigger"].as_str(),
            r["triggeredBy"].as_str(),
            r["invoiceCount"].as_i64()
        ),
        (Some("API"), Some("partner-a"), Some(1)),
        "Events, audit: a partner's run is API, triggered by its client id: {own}"
    );
    let trail = r["auditTrail"].as_array().expect("trail");
    assert_eq!(
        (&trail[0]["action"], &trail[0]["actor"]),
        (&json!("RUN_TRIGGERED"), &json!("partner-a")),
        "Events, audit: RUN_TRIGGERED's actor is the partner client"
    );
}
