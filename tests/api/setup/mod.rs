//! Setting up billing through the API: legal entities, customers, tax codes
//! and contracts, read back as created and paged (DESIGN.md, Money and The
//! billing schedule); bad input is in `validation`. Who may see and change
//! them is in `access`.

mod bulk;
mod import;
mod validation;

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::billing::CREATE_CONTRACT;
use crate::helpers::{admin, spawn_app, TestApp};

const CREATE_ENTITY: &str =
    "mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id code name currency country timezone } }";
const CREATE_CUSTOMER: &str =
    "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id name email paymentTermsDays hasPaymentMethod legalEntity { id } } }";
const CREATE_TAX: &str =
    "mutation($i: CreateTaxCodeInput!) { createTaxCode(input: $i) { id code rate } }";
const READ_SETUP: &str = "query($e: ID!) {
  legalEntity(id: $e) { id code name currency country timezone }
  customers(legalEntityId: $e) { id name email paymentTermsDays hasPaymentMethod legalEntity { id } }
}";
const CONTRACTS: &str = "query($e: ID!, $first: Int, $after: String) {
  contracts(legalEntityId: $e, first: $first, after: $after) {
    edges { cursor node {
      id status startDate endDate interval intervalCount timing nextBillingDate
      customer { id name legalEntity { code } }
      lines { description quantity unitPrice taxCode { code rate } }
    } }
    pageInfo { hasNextPage endCursor }
  }
}";

fn dec(value: &Value) -> Decimal {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("Money: decimals travel as strings, got {value}"));
    text.parse().expect("a decimal string")
}

fn ids(connection: &Value) -> Vec<String> {
    connection["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| e["node"]["id"].as_str().expect("id").to_string())
        .collect()
}

/// Runs a `create…(input: $i)` mutation as admin and returns its result.
async fn create(app: &TestApp, mutation: &str, input: Value) -> Value {
    let data = app.data(&admin(), mutation, json!({ "i": input })).await;
    data.as_object()
        .and_then(|o| o.values().next())
        .cloned()
        .expect("one result")
}

#[tokio::test]
async fn a_legal_entity_customer_tax_code_and_contract_read_back_as_created() {
    let app = spawn_app().await;
    let tok = admin();
    let input = json!({ "code": "EE01", "name": "Bolt Operations OÜ", "currency": "EUR",
                        "country": "EE", "timezone": "Europe/Tallinn" });
    let entity = create(&app, CREATE_ENTITY, input.clone()).await;
    let e = entity["id"].as_str().expect("id").to_string();
    let mut expected = input;
    expected["id"] = json!(e);
    assert_eq!(entity, expected, "createLegalEntity returns what was sent");
    let customer = create(
        &app,
        CREATE_CUSTOMER,
        json!({ "legalEntityId": e, "name": "Acme AS",
                "email": "ap@acme.example", "hasPaymentMethod": true }),
    )
    .await;
    let c = customer["id"].as_str().expect("id").to_string();
    assert_eq!(
        customer["paymentTermsDays"], 30,
        "Invoices: payment terms default to 30 days"
    );
    assert_eq!(
        (
            customer["email"].as_str(),
            customer["hasPaymentMethod"].as_bool()
        ),
        (Some("ap@acme.example"), Some(true))
    );
    assert_eq!(customer["legalEntity"]["id"], e.as_str());
    let plain = create(
        &app,
        CREATE_CUSTOMER,
        json!({ "legalEntityId": e, "name": "Plain OÜ", "paymentTermsDays": 14 }),
    )
    .await;
    assert_eq!(
        (plain["email"].clone(), plain["paymentTermsDays"].clone()),
        (Value::Null, json!(14))
    );
    assert_eq!(
        plain["hasPaymentMethod"], false,
        "no payment method unless told"
    );
    let tax = create(
        &app,
        CREATE_TAX,
        json!({ "legalEntityId": e, "code": "VAT", "rate": "19.45" }),
    )
    .await;
    assert_eq!(
        tax["rate"], "19.45",
        "Money: a rate comes back exactly as sent"
    );
    let line = |tax: Value| json!([{ "description": "Fleet seat", "quantity": "2", "unitPrice": "49.00", "taxCodeId": tax }]);
    let advance = create(
        &app,
        CREATE_CONTRACT,
        json!({ "customerId": c, "startDate": "2026-01-31", "interval": "MONTH",
                "lines": line(tax["id"].clone()) }),
    )
    .await;
    let arrears = create(
        &app,
        CREATE_CONTRACT,
        json!({ "customerId": c, "startDate": "2026-01-31", "endDate": "2026-12-31",
                "interval": "MONTH", "intervalCount": 1, "timing": "IN_ARREARS",
                "lines": line(Value::Null) }),
    )
    .await;

    let read = app.data(&tok, READ_SETUP, json!({ "e": e })).await;
    assert_eq!(
        read["legalEntity"], entity,
        "legalEntity(id) reads back what was created"
    );
    assert_eq!(
        read["customers"],
        json!([customer, plain]),
        "customers(legalEntityId) lists both"
    );

    let list = app.data(&tok, CONTRACTS, json!({ "e": e })).await["contracts"].clone();
    assert_eq!(
        ids(&list),
        [
            advance["id"].as_str().expect("id"),
            arrears["id"].as_str().expect("id")
        ]
    );
    assert_eq!(list["pageInfo"]["hasNextPage"], false);
    assert_eq!(list["pageInfo"]["endCursor"], list["edges"][1]["cursor"]);
    let first = &list["edges"][0]["node"];
    assert_eq!(first["status"], "ACTIVE");
    assert_eq!(first["startDate"], "2026-01-31");
    assert_eq!(first["endDate"], Value::Null);
    assert_eq!(
        (first["interval"].as_str(), first["intervalCount"].as_i64()),
        (Some("MONTH"), Some(1))
    );
    assert_eq!(
        first["timing"], "IN_ADVANCE",
        "The billing schedule: IN_ADVANCE is the default timing"
    );
    assert_eq!(
        first["nextBillingDate"], "2026-01-31",
        "The billing schedule: IN_ADVANCE bills on the period's first day"
    );
    assert_eq!(
        first["customer"],
        json!({ "id": c, "name": "Acme AS", "legalEntity": { "code": "EE01" } })
    );
    let l = &first["lines"][0];
    assert_eq!(l["description"], "Fleet seat");
    assert_eq!(
        dec(&l["quantity"]),
        Decimal::from(2),
        "Money: quantity round-trips"
    );
    assert_eq!(
        dec(&l["unitPrice"]),
        Decimal::new(4900, 2),
        "Money: unit price round-trips"
    );
    assert_eq!(l["taxCode"], json!({ "code": "VAT", "rate": "19.45" }));
    let second = &list["edges"][1]["node"];
    assert_eq!(
        (second["timing"].as_str(), second["endDate"].as_str()),
        (Some("IN_ARREARS"), Some("2026-12-31"))
    );
    assert_eq!(second["lines"][0]["taxCode"], Value::Null);
    assert_eq!(
        second["nextBillingDate"], "2026-02-28",
        "The billing schedule: Jan 31's first period ends Feb 27 (month clamps to Feb 28), IN_ARREARS bills the day after"
    );
}

#[tokio::test]
async fn contracts_page_forward_in_creation_order_each_once() {
    let app = spawn_app().await;
    let e = app.create_entity("PG", "EUR").await;
    let c = app.create_customer(&e, "Pager").await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(app.create_contract(&c, "2026-01-01", "10.00", None).await);
    }
    let page = |first: i64, after: Value| {
        let vars = json!({ "e": e, "first": first, "after": after });
        let app = &app;
        async move { app.data(&admin(), CONTRACTS, vars).await["contracts"].clone() }
    };
    let head = page(2, Value::Null).await;
    assert_eq!(ids(&head).len(), 2, "first: 2 returns two edges");
    assert_eq!(head["pageInfo"]["hasNextPage"], true);
    let mut seen = ids(&head);
    let mut cursor = head["pageInfo"]["endCursor"].clone();
    for _ in 0..5 {
        let next = page(2, cursor.clone()).await;
        seen.extend(ids(&next));
        cursor = next["pageInfo"]["endCursor"].clone();
        if next["pageInfo"]["hasNextPage"] == false {
            break;
        }
    }
    assert_eq!(
        seen, created,
        "following endCursor sees every contract once, in creation order"
    );
}
