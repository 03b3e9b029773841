//! Setup input that must be refused (DESIGN.md, Money and The billing
//! schedule; SECURITY.md item 29): every bad value is BAD_USER_INPUT or
//! NOT_FOUND naming its field, and refused input writes nothing.

use serde_json::{json, Value};

use super::{CREATE_CUSTOMER, CREATE_ENTITY};
use crate::helpers::billing::{monthly, CREATE_CONTRACT};
use crate::helpers::http::{expect, written};
use crate::helpers::{admin, code, spawn_app, TestApp};

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
