//! DESIGN.md, Contract lifecycle (the parts a front end and an import
//! need first): many contracts in one call, all or none; changing a
//! customer; reading one customer, contract or an entity's tax codes.

use serde_json::{json, Value};

use crate::helpers::ar::{bill, invoices_of};
use crate::helpers::{admin, code, spawn_app, token};

const CREATE: &str =
    "mutation($i: [CreateContractInput!]!) { createContracts(inputs: $i) { id status } }";

fn input(customer: &str, price: &str) -> Value {
    json!({
        "customerId": customer, "startDate": "2026-11-01", "interval": "MONTH",
        "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": price }]
    })
}

async fn contract_count(app: &crate::helpers::TestApp, e: &str) -> usize {
    let q = "query($e: ID!) { contracts(legalEntityId: $e, first: 100) { edges { node { id } } } }";
    let data = app.data(&admin(), q, json!({ "e": e })).await;
    data["contracts"]["edges"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn create_contracts_writes_all_or_none_and_names_the_bad_input_by_index() {
    let app = spawn_app().await;
    let e = app.create_entity("BK1", "EUR").await;
    let c = app.create_customer(&e, "Bulk Buyer").await;
    let good: Vec<Value> = (0..5).map(|i| input(&c, &format!("{i}0.00"))).collect();
    let body = app.gql(&admin(), CREATE, json!({ "i": good })).await;
    let made = body["data"]["createContracts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(made.len(), 5, "all five are created: {body}");
    assert!(made.iter().all(|m| m["status"] == "ACTIVE"));
    let mut bad: Vec<Value> = (0..4).map(|_| input(&c, "10.00")).collect();
    bad[2]["lines"][0]["unitPrice"] = json!("-1.00");
    let refused = app.gql(&admin(), CREATE, json!({ "i": bad })).await;
    assert_eq!(code(&refused), "BAD_USER_INPUT", "{refused}");
    assert_eq!(
        refused["errors"][0]["extensions"]["field"], "inputs.2.lines.0.unitPrice",
        "Contract lifecycle: an invalid input fails the call with its field named by index"
    );
    assert_eq!(
        contract_count(&app, &e).await,
        5,
        "all or nothing: none of the four was written"
    );
    let mut foreign = vec![input(&c, "10.00")];
    foreign.push(input("999999", "10.00"));
    let missing = app.gql(&admin(), CREATE, json!({ "i": foreign })).await;
    assert_eq!(
        missing["errors"][0]["extensions"]["field"], "inputs.1.customerId",
        "{missing}"
    );
    let too_many: Vec<Value> = (0..1001).map(|_| input(&c, "1.00")).collect();
    let over = app.gql(&admin(), CREATE, json!({ "i": too_many })).await;
    assert_eq!(
        code(&over),
        "BAD_USER_INPUT",
        "more than 1,000 is refused: {over}"
    );
    assert_eq!(over["errors"][0]["extensions"]["field"], "inputs");
    assert_eq!(contract_count(&app, &e).await, 5);
}

#[tokio::test]
async fn update_customer_changes_what_comes_next_and_issued_invoices_keep_their_due_dates() {
    let app = spawn_app().await;
    let e = app.create_entity("UC1", "EUR").await;
    let c = crate::helpers::ar::customer_on_terms(&app, &e, "Terms Ltd", 10).await;
    app.create_contract(&c, "2026-05-04", "100.00", None).await;
    bill(&app, &e, "2026-05-04").await;
    let q = "mutation($id: ID!, $i: UpdateCustomerInput!) { updateCustomer(id: $id, input: $i) { name email paymentTermsDays hasPaymentMethod } }";
    let change = json!({ "name": "Terms Ltd (renamed)", "email": "ap@terms.example", "paymentTermsDays": 45 });
    let after = app.data(&admin(), q, json!({ "id": c, "i": change })).await;
    assert_eq!(
        after["updateCustomer"],
        json!({ "name": "Terms Ltd (renamed)", "email": "ap@terms.example", "paymentTermsDays": 45, "hasPaymentMethod": false })
    );
    bill(&app, &e, "2026-06-04").await;
    let mut dues = Vec::new();
    for id in invoices_of(&app, &e, &c).await {
        let q = "query($id: ID!) { invoice(id: $id) { dueDate } }";
        dues.push(app.data(&admin(), q, json!({ "id": id })).await["invoice"]["dueDate"].clone());
    }
    assert!(
        dues.contains(&json!("2026-05-14")) && dues.contains(&json!("2026-07-19")),
        "the issued invoice keeps its 10-day due date, the next one gets 45 days: {dues:?}"
    );
    let cleared = app
        .data(&admin(), q, json!({ "id": c, "i": { "email": null } }))
        .await;
    assert_eq!(
        cleared["updateCustomer"]["email"],
        Value::Null,
        "null clears the email"
    );
    let bad = app
        .gql(
            &admin(),
            q,
            json!({ "id": c, "i": { "paymentTermsDays": -1 } }),
        )
        .await;
    assert_eq!(code(&bad), "BAD_USER_INPUT", "{bad}");
    let other = app.create_entity("UC2", "EUR").await;
    let partner = token("PARTNER", &["contracts:write"], &[&other]);
    let foreign = app
        .gql(&partner, q, json!({ "id": c, "i": { "name": "x" } }))
        .await;
    assert_eq!(
        code(&foreign),
        "NOT_FOUND",
        "another entity's customer: {foreign}"
    );
}

#[tokio::test]
async fn one_customer_one_contract_and_an_entitys_tax_codes_read_back_within_the_callers_entities()
{
    let app = spawn_app().await;
    let e = app.create_entity("RD1", "EUR").await;
    let c = app.create_customer(&e, "Reader").await;
    let vat = app.create_tax_code(&e, "VAT20", "20").await;
    let k = app
        .create_contract(&c, "2026-11-01", "10.00", Some(&vat))
        .await;
    let q = "query($c: ID!, $k: ID!, $e: ID!) { customer(id: $c) { name creditBalance } contract(id: $k) { id status } taxCodes(legalEntityId: $e) { id code rate } }";
    let vars = json!({ "c": c, "k": k, "e": e });
    let mine = app.data(&admin(), q, vars.clone()).await;
    assert_eq!(
        mine["customer"],
        json!({ "name": "Reader", "creditBalance": "0.00" })
    );
    assert_eq!(mine["contract"]["id"], json!(k));
    assert_eq!(
        mine["taxCodes"],
        json!([{ "id": vat, "code": "VAT20", "rate": "20" }])
    );
    let other = app.create_entity("RD2", "EUR").await;
    let partner = token("PARTNER", &["billing:read"], &[&other]);
    let theirs = app.data(&partner, q, vars).await;
    assert_eq!(
        (
            &theirs["customer"],
            &theirs["contract"],
            &theirs["taxCodes"]
        ),
        (&Value::Null, &Value::Null, &json!([])),
        "Access: another entity's objects read as missing: {theirs}"
    );
}
