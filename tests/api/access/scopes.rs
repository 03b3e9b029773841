//! Scopes (DESIGN.md, Access; SECURITY.md item 22): a token without the
//! scope a field needs is FORBIDDEN there, writes nothing, and the attempt
//! is audited as ACCESS_DENIED with the scope it lacked.

use serde_json::{json, Value};

use super::world;
use crate::helpers::http::{clean, denied, written};
use crate::helpers::{admin, code, spawn_app, token_with};

/// Root fields, the scope each needs, and a document using %E entity,
/// %C customer, %I invoice.
const GUARDED: &str = "triggerBillingRun createContract updateBillingAgentConfig \
    recordPayment voidInvoice createCustomer createScheduledJob arAging domainEvents";
const SCOPES: &str = "billing:run contracts:write config:write billing:run billing:run \
    contracts:write config:write ar:read events:read";
const GUARDED_DOCS: [&str; 9] = [
    "mutation { triggerBillingRun(input: { legalEntityId: \"%E\" }) { runs { id } } }",
    "mutation { createContract(input: { customerId: \"%C\", startDate: \"2026-01-01\", \
     interval: MONTH, lines: [{ description: \"x\", quantity: \"1\", unitPrice: \"1\" }] }) \
     { id } }",
    "mutation { updateBillingAgentConfig(input: { autoPostInvoices: false }) \
     { autoPostInvoices } }",
    "mutation { recordPayment(input: { invoiceId: \"%I\", amount: \"1.00\", \
     receivedOn: \"2026-01-20\" }) { id } }",
    "mutation { voidInvoice(id: \"%I\", reason: \"x\") { id } }",
    "mutation { createCustomer(input: { legalEntityId: \"%E\", name: \"N\" }) { id } }",
    "mutation { createScheduledJob(input: { cron: \"0 6 * * MON\", timezone: \"UTC\" }) \
     { id } }",
    "{ arAging(legalEntityId: \"%E\") { asOf } }",
    "{ domainEvents { id } }",
];
const CONFIG: &str = "{ agentDefinitions { config { autoPostInvoices defaultBillingEntityId } } }";

fn reader(role: &str, entity: &str) -> String {
    let (sub, role, entity) = (
        format!("reader-{role}"),
        role.to_string(),
        entity.to_string(),
    );
    token_with(move |c| {
        (c.sub, c.role) = (sub, role);
        c.scopes = vec!["billing:read".into()];
        c.legal_entities = vec![entity];
    })
}

#[tokio::test]
async fn each_missing_scope_is_forbidden_writes_nothing_and_is_audited() {
    let app = spawn_app().await;
    let [a, _] = world(&app).await;
    let config_before = app.data(&admin(), CONFIG, json!({})).await;
    let before = written(&app).await;
    let fields: Vec<&str> = GUARDED.split_whitespace().collect();
    let scopes: Vec<&str> = SCOPES.split_whitespace().collect();
    for role in ["ACCOUNTANT", "PARTNER"] {
        let tok = reader(role, &a[0]);
        for doc in GUARDED_DOCS {
            let doc = doc
                .replace("%E", &a[0])
                .replace("%C", &a[1])
                .replace("%I", &a[4]);
            let body = app.gql(&tok, &doc, json!({})).await;
            assert_eq!(
                code(&body),
                "FORBIDDEN",
                "SECURITY 22: a missing scope is FORBIDDEN: {role}: {body}"
            );
            assert!(body["data"].is_null(), "{role}: {body}");
            clean(&body);
        }
        let audited = denied(&app, &format!("reader-{role}")).await;
        assert_eq!(
            audited.len(),
            fields.len(),
            "{role}: one ACCESS_DENIED each"
        );
        for ((field, scope), row) in fields.iter().zip(&scopes).zip(&audited) {
            let subject = (row.subject_type.as_str(), row.subject_id.as_str());
            assert_eq!(subject, ("Access", *field));
            let details = row.details.as_deref().unwrap_or("null");
            let details: Value = serde_json::from_str(details).expect("JSON details");
            assert_eq!(details["missingScope"], *scope, "{field}");
        }
        // The denials belong to no legal entity: a partner never reads them.
        let seen = app.gql(&tok, "{ auditEvents { action } }", json!({})).await;
        assert!(!seen.to_string().contains("ACCESS_DENIED"), "{seen}");
    }
    assert_eq!(written(&app).await, before, "SECURITY 22: nothing written");
    let config_after = app.data(&admin(), CONFIG, json!({})).await;
    assert_eq!(config_after, config_before, "configuration unchanged");
    let q = "query($id: ID!) { invoice(id: $id) { status } }";
    let status = app.data(&admin(), q, json!({ "id": a[4] })).await;
    assert_eq!(status["invoice"]["status"], "POSTED");
}
