//! DESIGN.md, Money (and SECURITY.md item 30): amounts are decimals that
//! never pass through a float on either database, round half away from
//! zero to the currency's minor unit per line, and fail checked, never
//! wrapped, beyond what storage can hold.

use billrun::domain::amount::Amount;
use entity::invoice;
use rust_decimal::Decimal;
use sea_orm::EntityTrait;
use serde_json::{json, Value};

use crate::helpers::ar::aging;
use crate::helpers::billing::{
    contract_with, monthly, run, run_invoices, trigger, CREATE_CONTRACT,
};
use crate::helpers::http::{clean, expect, post, rows, send, still_up, written};
use crate::helpers::{admin, spawn_app, spawn_app_with, TestApp};

fn dec(value: &Value) -> Decimal {
    let text = value
        .as_str()
        .unwrap_or_else(|| panic!("Money: decimals travel as strings, got {value}"));
    text.parse().expect("a decimal string")
}

/// 100 × this is 99,999,999,999,999.999 KWD: 17 significant digits, which a
/// double rounds to 100,000,000,000,000. Each is exact in billrun's storage
/// (prices at scale 6, amounts at scale 4 in 64-bit integers).
const PRICE: &str = "999999999999.99999";
const NET: &str = "99999999999999.999";

#[tokio::test]
async fn amounts_a_double_cannot_hold_are_stored_and_summed_exactly() {
    let app = spawn_app().await;
    let e = app.create_entity("KW", "KWD").await;
    let big = app.create_customer(&e, "Big").await;
    let small = app.create_customer(&e, "Small").await;
    for _ in 0..2 {
        let mut input = monthly(&big, PRICE);
        input["lines"][0]["quantity"] = json!("100");
        contract_with(&app, input).await;
    }
    for _ in 0..3 {
        contract_with(&app, monthly(&small, "0.1")).await;
    }
    let q = "query($e: ID!) { contracts(legalEntityId: $e) { nodes { lines { unitPrice } } } }";
    let listed = app.data(&admin(), q, json!({ "e": e })).await;
    let price = &listed["contracts"]["nodes"][0]["lines"][0]["unitPrice"];
    assert_eq!(
        dec(price),
        PRICE.parse::<Decimal>().expect("decimal"),
        "Money: a unit price round-trips exactly: {price}"
    );

    let r = run(&app, &e, "2026-01-15").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    let totals: Vec<&Value> = invoices.iter().map(|i| &i["total"]).collect();
    assert_eq!(
        totals,
        [NET, NET, "0.100", "0.100", "0.100"],
        "Money: 100 × {PRICE} bills {NET} exactly, never through a float"
    );
    let mut stored: Vec<Decimal> = invoice::Entity::find()
        .all(&app.db)
        .await
        .expect("invoices")
        .iter()
        .map(|i| Amount::from_e4(i.total_e4).to_decimal())
        .collect();
    stored.sort();
    let net: Decimal = NET.parse().expect("decimal");
    let tenth = Decimal::new(1, 1);
    assert_eq!(
        stored,
        [tenth, tenth, tenth, net, net],
        "Money: the database holds each amount exactly"
    );
    // Sums: the run's total in Rust, the aging report's in SQL.
    let exact = "200000000000000.298";
    assert_eq!(
        r["invoiceTotal"], exact,
        "Money: 2 × {NET} + 3 × 0.100, summed exactly (a double says 200000000000000.3)"
    );
    let report = aging(&app, &e, Some("2026-01-15")).await;
    assert_eq!(
        (
            &report["totals"]["total"],
            &report["rows"][1]["buckets"]["total"]
        ),
        (&json!(exact), &json!("0.300")),
        "Money: database sums are exact: {report}"
    );
}

#[tokio::test]
async fn jpy_and_kwd_amounts_round_half_away_from_zero_to_their_minor_units() {
    let app = spawn_app().await;
    // (currency, lines, expected per line (net, tax), subtotal, tax, total)
    let cases = [
        (
            "JPY",
            [("1234", "3"), ("1235", "3")],
            [("3702", "370"), ("3705", "371")],
            "7407",
            "741",
            "8148",
        ),
        (
            "KWD",
            [("1.0005", "1"), ("1.0045", "1")],
            [("1.001", "0.100"), ("1.005", "0.101")],
            "2.006",
            "0.201",
            "2.207",
        ),
    ];
    for (currency, lines, expected, subtotal, tax, total) in cases {
        let e = app.create_entity(&currency[..2], currency).await;
        let rate = app.create_tax_code(&e, "VAT10", "10").await;
        let c = app.create_customer(&e, "Yen and dinar").await;
        let lines: Vec<Value> = lines
            .iter()
            .map(|(price, qty)| json!({ "description": "Seat", "quantity": qty, "unitPrice": price, "taxCodeId": rate }))
            .collect();
        contract_with(&app, json!({ "customerId": c, "startDate": "2026-11-01", "interval": "MONTH", "lines": lines })).await;
        let r = run(&app, &e, "2026-11-27").await;
        let inv = run_invoices(&app, &r["id"]).await[0].clone();
        let got: Vec<(&str, &str)> = inv["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                (
                    l["netAmount"].as_str().unwrap_or(""),
                    l["taxAmount"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got, expected,
            "Money: net = round(qty × price), tax = round(net × rate / 100), half away from zero, to {currency}'s minor unit"
        );
        assert_eq!(
            [
                &inv["subtotal"],
                &inv["taxTotal"],
                &inv["total"],
                &inv["currency"]
            ],
            [
                &json!(subtotal),
                &json!(tax),
                &json!(total),
                &json!(currency)
            ],
            "Money: invoice sums in {currency}'s minor unit"
        );
        assert_eq!(
            r["invoiceTotal"], total,
            "Money: the run total in {currency}'s minor unit"
        );
    }
}

/// quantity*unitPrice pairs refused as input.
const BAD_LINES: &str = "1000000*9999999999999 99999999*99999999 -1*10.00 -0.000001*10.00 \
    -0*10.00 1*-0.01 1*0.0000001 1*79228162514264337593543950336 \
    1*-79228162514264337593543950335 1e6*10.00 Infinity*10.00";

fn line(quantity: Value, price: Value) -> Value {
    json!([{ "description": "Edge", "quantity": quantity, "unitPrice": price }])
}

fn field_of(body: &Value) -> &Value {
    &body["errors"][0]["extensions"]["field"]
}

#[tokio::test]
async fn money_edges_are_checked_and_rounded_as_documented() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let e = app.create_entity("MNY", "EUR").await;
    let c = app.create_customer(&e, "Edges").await;
    let contract = |start: &str, interval: &str, lines: Value| json!({ "customerId": c, "startDate": start, "interval": interval, "lines": lines });
    let yearly = |q: Value, p: Value| contract("2029-01-01", "YEAR", line(q, p));
    let before = written(&app).await;
    let lines = BAD_LINES
        .split_whitespace()
        .map(|l| l.split_once('*').expect("pair"));
    let lines = lines.map(|(q, p)| (json!(q), json!(p)));
    let numbers = [(json!(1000000), json!("10")), (json!("1"), json!(0.125))];
    for (quantity, price) in lines.into_iter().chain(numbers) {
        let vars = json!({ "i": yearly(quantity, price) });
        let body = app.gql(&admin(), CREATE_CONTRACT, vars).await;
        expect(&body, "BAD_USER_INPUT");
        let named = field_of(&body).as_str().unwrap_or("lines.0");
        assert!(
            named.starts_with("lines.0"),
            "SECURITY 30: a checked error naming the line: {body}"
        );
    }
    assert_eq!(written(&app).await, before, "nothing written");

    // Half-cent ties round away from zero, on the net and on the tax.
    let tie = contract_with(&app, yearly(json!("1"), json!("0.125"))).await;
    let mut taxed = yearly(json!("1"), json!("0.10"));
    taxed["lines"][0]["taxCodeId"] = json!(app.create_tax_code(&e, "V5", "5").await);
    let taxed = contract_with(&app, taxed).await;
    // Feb 29: a yearly contract keeps its anchor; a leap February prorates by 29 days.
    let leap = contract("2028-02-29", "YEAR", line(json!("1"), json!("100.00")));
    let leap = contract_with(&app, leap).await;
    let mut short = contract("2028-02-01", "MONTH", line(json!("1"), json!("29.00")));
    short["endDate"] = json!("2028-02-14");
    let short = contract_with(&app, short).await;
    let r = run(&app, &e, "2029-03-01").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    let of = |k: &str, f: &str| -> Vec<String> {
        let mine = invoices.iter().filter(|i| i["contract"]["id"] == k);
        mine.map(|i| i[f].as_str().unwrap_or("").to_string())
            .collect()
    };
    let tie = [of(&tie, "subtotal"), of(&tie, "total")];
    assert_eq!(
        tie,
        [["0.13"], ["0.13"]],
        "Money: half away from zero: 0.125 bills 0.13"
    );
    let taxed = [of(&taxed, "taxTotal"), of(&taxed, "total")];
    assert_eq!(
        taxed,
        [["0.01"], ["0.11"]],
        "Money: half away from zero: a 0.005 tax bills 0.01"
    );
    assert_eq!(of(&leap, "periodStart"), ["2028-02-29", "2029-02-28"]);
    assert_eq!(of(&leap, "periodEnd"), ["2029-02-27", "2030-02-27"]);
    assert_eq!(of(&leap, "total"), ["100.00", "100.00"], "not prorated");
    assert_eq!(of(&short, "total"), ["14.00"], "14 of 29 days of 29.00");
    let later = run(&app, &e, "2032-03-01").await;
    let invoices = run_invoices(&app, &later["id"]).await;
    let leap_starts = invoices
        .iter()
        .filter(|i| i["contract"]["id"] == leap.as_str());
    let starts: Vec<&Value> = leap_starts.map(|i| &i["periodStart"]).collect();
    assert_eq!(starts, ["2030-02-28", "2031-02-28", "2032-02-29"]);
    still_up(&app).await;
}

/// A customer with one monthly contract for 100 × `price` at 100 % tax.
async fn big_contract(app: &TestApp, e: &str, tax: &str, name: &str, price: &str) -> Value {
    let c = app.create_customer(e, name).await;
    let mut input = monthly(&c, price);
    input["lines"][0]["quantity"] = json!("100");
    input["lines"][0]["taxCodeId"] = json!(tax);
    app.gql(&admin(), CREATE_CONTRACT, json!({ "i": input }))
        .await
}

/// 100 × this, doubled by 100 % tax, is the largest whole amount storable
/// (i64::MAX at scale 4 is 922,337,203,685,477.5807).
const HALF_MAX_PRICE: &str = "4611686018427.38";
const HALF: &str = "461168601842738.00";
const WHOLE: &str = "922337203685476.00";

#[tokio::test]
async fn amounts_at_the_storage_limit_bill_exactly_and_run_totals_beyond_it_fail_checked() {
    let app = spawn_app().await;
    let e = app.create_entity("MAX", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    let over = big_contract(&app, &e, &full, "Over", "4611686018427.39").await;
    expect(&over, "BAD_USER_INPUT");
    let x = big_contract(&app, &e, &full, "X", HALF_MAX_PRICE).await;
    assert!(x.get("errors").is_none(), "{x}");
    let r = run(&app, &e, "2026-01-15").await;
    let inv = &run_invoices(&app, &r["id"]).await[0];
    let amounts = [&inv["subtotal"], &inv["taxTotal"], &inv["total"]];
    assert_eq!(amounts, [HALF, HALF, WHOLE], "exact at the edge");
    assert_eq!(r["invoiceTotal"], WHOLE);
    // Two such invoices in one run exceed what a run total can hold.
    let y = big_contract(&app, &e, &full, "Y", HALF_MAX_PRICE).await;
    assert!(y.get("errors").is_none(), "{y}");
    let invoices_before = rows(&app, invoice::Entity).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-02-15", "wait": true });
    let body = trigger(&app, &admin(), input).await;
    clean(&body);
    let status = &body["data"]["triggerBillingRun"]["runs"][0]["status"];
    assert_eq!(
        status, "FAILED",
        "SECURITY 30: checked, not a wrapped total: {body}"
    );
    let invoices_after = rows(&app, invoice::Entity).await;
    assert_eq!(invoices_after, invoices_before, "the chunk wrote nothing");
    still_up(&app).await;
}

const AGING_TOTAL: &str =
    "{ arAging(legalEntityId: \"%E\", asOf: \"2026-01-15\") { totals { total } } }";

#[tokio::test]
async fn aging_totals_beyond_the_storage_limit_are_a_checked_error_not_a_panic() {
    let app = spawn_app().await;
    let e = app.create_entity("AGM", "EUR").await;
    let full = app.create_tax_code(&e, "FULL", "100").await;
    big_contract(&app, &e, &full, "X", HALF_MAX_PRICE).await;
    run(&app, &e, "2026-01-15").await;
    // Billed in a run of its own, so no run total overflows.
    big_contract(&app, &e, &full, "Y", HALF_MAX_PRICE).await;
    assert_eq!(run(&app, &e, "2026-01-15").await["invoiceCount"], 1);
    let query = json!({ "query": AGING_TOTAL.replace("%E", &e) });
    let reply = send(post(&app).bearer_auth(admin()).json(&query)).await;
    assert_eq!(reply.status, 200, "no panic: {}", reply.body);
    // The data, not the request, is out of range: a checked INTERNAL with
    // a fixed message (the cause is logged), never a wrapped total.
    expect(&reply.body, "INTERNAL");
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    still_up(&app).await;
}
