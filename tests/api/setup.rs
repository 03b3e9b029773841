//! Setting up billing through the API: legal entities, customers, tax codes
//! and contracts, read back as created; their validation (DESIGN.md, Money
//! and The billing schedule; SECURITY.md item 29). Who may see and change
//! them is in `access`.

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::helpers::billing::{monthly, CREATE_CONTRACT};
use crate::helpers::http::{expect, written};
use crate::helpers::{admin, code, spawn_app, TestApp};

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

/// (legal entities, customers, contracts) as the admin sees them.
async fn counts(app: &TestApp) -> (usize, usize, usize) {
    let entities = app
        .data(&admin(), "{ legalEntities { id } }", json!({}))
        .await;
    let entities = entities["legalEntities"].as_array().expect("list").clone();
    let (mut customers, mut contracts) = (0, 0);
    for e in &entities {
        let q = "query($e: ID!) { customers(legalEntityId: $e) { id } contracts(legalEntityId: $e, first: 100) { edges { cursor } } }";
        let d = app.data(&admin(), q, json!({ "e": e["id"] })).await;
        customers += d["customers"].as_array().expect("customers").len();
        contracts += d["contracts"]["edges"].as_array().expect("edges").len();
    }
    (entities.len(), customers, contracts)
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

#[tokio::test]
async fn bad_setup_input_is_refused_with_its_field_and_writes_nothing() {
    let app = spawn_app().await;
    let a = app.create_entity("AA", "EUR").await;
    let b = app.create_entity("BB", "EUR").await;
    let cust = app.create_customer(&a, "Acme").await;
    let tax_b = app.create_tax_code(&b, "VAT", "20").await;
    #[derive(Clone, Copy)]
    enum Kind {
        Entity,
        Customer,
        Contract,
        Line,
    }
    use Kind::*;
    let (q, p) = (Some("lines.0.quantity"), Some("lines.0.unitPrice"));
    // (what, key, bad value, the field the error names when the service checks it;
    // None: refused while parsing the scalar, before any service runs).
    let cases = [
        (Entity, "currency", json!("EURO"), Some("currency")),
        (Entity, "currency", json!("ZZZ"), Some("currency")),
        (Entity, "timezone", json!("Mars/Olympus"), Some("timezone")),
        (Entity, "name", json!("  "), Some("name")),
        (Entity, "code", json!("AA"), Some("code")),
        (Customer, "name", json!("  "), Some("name")),
        (Line, "quantity", json!("0"), q),
        (Line, "quantity", json!("-1"), q),
        (Line, "unitPrice", json!("-0.01"), p),
        (Line, "quantity", json!("NaN"), None),
        (Line, "unitPrice", json!("1e5"), None),
        (Line, "unitPrice", json!("1,50"), None),
        (Line, "unitPrice", json!(49.0), None),
        (Line, "unitPrice", json!("1.1234567"), p),
        (Line, "taxCodeId", json!(tax_b), Some("lines.0.taxCodeId")),
        (Contract, "endDate", json!("2025-12-31"), Some("endDate")),
        (Contract, "intervalCount", json!(0), Some("intervalCount")),
        (Contract, "lines", json!([]), Some("lines")),
        (Contract, "customerId", json!("999999"), Some("customerId")),
        (Contract, "startDate", json!("2026-02-30"), None),
    ];
    let base = |what: Kind| match what {
        Entity => (
            CREATE_ENTITY,
            json!({ "code": "NEW", "name": "New Ltd", "currency": "EUR",
                    "country": "EE", "timezone": "Europe/Tallinn" }),
        ),
        Customer => (
            CREATE_CUSTOMER,
            json!({ "legalEntityId": a, "name": "Acme 2" }),
        ),
        Contract | Line => (
            CREATE_CONTRACT,
            json!({ "customerId": cust, "startDate": "2026-01-01", "interval": "MONTH",
                    "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": "49.00" }] }),
        ),
    };
    let before = counts(&app).await;
    for (what, key, bad, field) in cases {
        let name = format!("{key} = {bad}");
        let (mutation, mut input) = base(what);
        match what {
            Line => input["lines"][0][key] = bad,
            _ => input[key] = bad,
        }
        let body = app.gql(&admin(), mutation, json!({ "i": input })).await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "{name}: bad input is BAD_USER_INPUT: {body}"
        );
        if let Some(field) = field {
            assert_eq!(
                body["errors"][0]["extensions"]["field"], field,
                "{name}: the error names the field: {body}"
            );
        }
        assert_eq!(
            counts(&app).await,
            before,
            "{name}: refused input writes nothing"
        );
    }
    // Each case differs from a valid input in its one bad value.
    for what in [Entity, Customer, Contract] {
        let (mutation, input) = base(what);
        app.data(&admin(), mutation, json!({ "i": input })).await;
    }
}

const MISSING: &str = "999999";
const CONFIG: &str = "{ agentDefinitions { config { defaultBillingEntityId } } }";

/// Start dates that are impossible, malformed or centuries away, and
/// start..end pairs that are reversed, impossible or centuries long.
const BAD_STARTS: &str = "2026-02-30 2026-02-29 2026-13-01 2026-00-10 2026-1-5 \
    2026-01-01T00:00:00Z +2026-01-01 0000-01-01 1800-01-01 2300-01-01 1899-12-31";
const BAD_RANGES: &str = "2026-01-01..2026-02-30 2026-03-01..2026-02-28 \
    2026-01-01..2300-01-01 1800-01-01..2300-01-01";
const DATED_TRIGGER: &str = "mutation($e: ID, $d: Date) { triggerBillingRun(input: \
    { legalEntityId: $e, asOf: $d, wait: true }) { runs { id } } }";
/// As-of dates refused for an existing entity.
const BAD_AS_OF: [&str; 4] = ["2026-02-30", "1800-01-01", "2300-01-01", "9999-12-31"];
/// Documents using %E (an entity) or %M (a missing id), refused with BAD_USER_INPUT.
const IMPOSSIBLE: [&str; 4] = [
    "{ arAging(legalEntityId: \"%E\", asOf: \"2026-02-30\") { asOf } }",
    "{ invoices(legalEntityId: \"%E\", dueFrom: \"2026-02-30\") { nodes { id } } }",
    "mutation { recordPayment(input: { invoiceId: \"1\", amount: \"1.00\", \
     receivedOn: \"2026-02-29\" }) { id } }",
    "mutation { updateBillingAgentConfig(input: { defaultBillingEntityId: \"%M\" }) \
     { defaultBillingEntityId } }",
];
/// … and refused with NOT_FOUND.
const UNKNOWN: [&str; 4] = [
    "{ arAging(legalEntityId: \"%M\") { asOf } }",
    "mutation { createCustomer(input: { legalEntityId: \"%M\", name: \"G\" }) { id } }",
    "mutation { createTaxCode(input: { legalEntityId: \"%M\", code: \"G\", rate: \"5\" }) \
     { id } }",
    "mutation { recordPayment(input: { invoiceId: \"%M\", amount: \"1.00\", \
     receivedOn: \"2026-01-20\" }) { id } }",
];

#[tokio::test]
async fn impossible_reversed_and_century_dates_and_unknown_entities_write_nothing() {
    let app = spawn_app().await;
    let e = app.create_entity("DAT", "EUR").await;
    let c = app.create_customer(&e, "Dates").await;
    let before = written(&app).await;
    let starts = BAD_STARTS.split_whitespace().map(|s| (s, None));
    let ranges = BAD_RANGES
        .split_whitespace()
        .map(|r| r.split_once("..").expect("range"));
    for (start, end) in starts.chain(ranges.map(|(s, e)| (s, Some(e)))) {
        let mut input = monthly(&c, "10.00");
        (input["startDate"], input["endDate"]) = (json!(start), json!(end));
        let body = app
            .gql(&admin(), CREATE_CONTRACT, json!({ "i": input }))
            .await;
        expect(&body, "BAD_USER_INPUT");
    }
    let ghost = json!({ "i": monthly(MISSING, "10.00") });
    expect(
        &app.gql(&admin(), CREATE_CONTRACT, ghost).await,
        "BAD_USER_INPUT",
    );
    for as_of in BAD_AS_OF {
        let body = app
            .gql(&admin(), DATED_TRIGGER, json!({ "e": e, "d": as_of }))
            .await;
        expect(&body, "BAD_USER_INPUT");
    }
    for entity in [MISSING, "not-an-id"] {
        let vars = json!({ "e": entity, "d": "2026-01-15" });
        expect(&app.gql(&admin(), DATED_TRIGGER, vars).await, "NOT_FOUND");
    }
    for (docs, want) in [(IMPOSSIBLE, "BAD_USER_INPUT"), (UNKNOWN, "NOT_FOUND")] {
        for doc in docs {
            let doc = doc.replace("%E", &e).replace("%M", MISSING);
            expect(&app.gql(&admin(), &doc, json!({})).await, want);
        }
    }
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 29: impossible input writes nothing"
    );
    let config = app.data(&admin(), CONFIG, json!({})).await;
    let default = &config["agentDefinitions"][0]["config"]["defaultBillingEntityId"];
    assert_eq!(*default, Value::Null);
}
