//! AR aging a page at a time (issue #19): `rowPage` searched, ordered and
//! cut in SQL, `customerCount`, and totals that stay the whole report's,
//! against one small ledger whose figures are worked out below.

use chrono::{Duration, NaiveDate};
use serde_json::{json, Value};

use crate::helpers::ar::{bad_input, bill, customer_on_terms, invoices_of, paid, void, BUCKETS};
use crate::helpers::{admin, code, spawn_app, today, token, TestApp};

const PAGE: &str = "query($e: ID!, $d: Date, $o: Int, $l: Int, $by: ArAgingOrder, $s: String) {
  arAging(legalEntityId: $e, asOf: $d) {
    totals { current days1To30 days31To60 days61To90 over90 total } customerCount
    rowPage(offset: $o, limit: $l, orderBy: $by, customerSearch: $s) {
      totalCount nextOffset
      rows { customer { name } buckets { current days1To30 days31To60 days61To90 over90 total } } } } }";

/// A yearly contract from `start`: one invoice per run until a year later.
async fn yearly(app: &TestApp, customer: &str, start: NaiveDate, price: &str) {
    let line = json!({ "description": "Licence", "quantity": "1", "unitPrice": price });
    let input = json!({ "customerId": customer, "startDate": start.to_string(),
                        "interval": "YEAR", "lines": [line] });
    app.create("Contract", input).await;
}

/// Yearly contracts: (start, price).
type Contracts<'a> = &'a [(NaiveDate, &'a str)];

/// The ledger, with T = today: runs on D1 = T − 200 and D2 = T − 45
/// (due = run date + the customer's terms). As of T (days past due):
///
/// | customer      | terms | invoices                          | current | 1-30 | 31-60 | 90+ | total |
/// |---------------|-------|-----------------------------------|---------|------|-------|-----|-------|
/// | Acme AS       | 0     | D1 400 (200 d), D2 100 (45 d)     |         |      | 100   | 400 | 500   |
/// | Bolt AS       | 30    | D2 900 (15 d)                     |         | 900  |       |     | 900   |
/// | Cedar acme AS | 0     | D1 250 (200 d)                    |         |      |       | 250 | 250   |
/// | Delta AS      | 60    | D2 300 (−15 d)                    | 300     |      |       |     | 300   |
/// | Echo AS       | 30    | D1 600 (170 d)                    |         |      |       | 600 | 600   |
/// | Foxtrot AS    | 0     | D1 200, paid in full on T − 35    |         |      |       |     | –     |
/// | Golf AS       | 30    | D2 500 (15 d), 250 paid on T − 44 |         | 250  |       |     | 250   |
/// | Hotel AS      | 0     | D1 700, voided today              |         |      |       |     | –     |
///
/// Totals: current 300, 1-30 1150, 31-60 100, 61-90 0, 90+ 1250, total
/// 2800; six customers. Customers are created in table order, so ids rise
/// down the table (Cedar before Golf, both 250 in total).
async fn ledger(app: &TestApp, code: &str) -> (String, NaiveDate) {
    let e = app.create_entity(code, "EUR").await;
    let t = today();
    let (d1, d2) = (t - Duration::days(200), t - Duration::days(45));
    let plan: [(&str, i32, Contracts); 8] = [
        ("Acme AS", 0, &[(d1, "400.00"), (d2, "100.00")]),
        ("Bolt AS", 30, &[(d2, "900.00")]),
        ("Cedar acme AS", 0, &[(d1, "250.00")]),
        ("Delta AS", 60, &[(d2, "300.00")]),
        ("Echo AS", 30, &[(d1, "600.00")]),
        ("Foxtrot AS", 0, &[(d1, "200.00")]),
        ("Golf AS", 30, &[(d2, "500.00")]),
        ("Hotel AS", 0, &[(d1, "700.00")]),
    ];
    let mut ids = Vec::new();
    for (name, terms, contracts) in plan {
        let c = customer_on_terms(app, &e, name, terms).await;
        for (start, price) in contracts {
            yearly(app, &c, *start, price).await;
        }
        ids.push(c);
    }
    bill(app, &e, &d1.to_string()).await;
    bill(app, &e, &d2.to_string()).await;
    for (n, amount, days_ago) in [(5, "200.00", 35), (6, "250.00", 44)] {
        let invoice = invoices_of(app, &e, &ids[n]).await[0].clone();
        paid(
            app,
            &invoice,
            amount,
            &(t - Duration::days(days_ago)).to_string(),
        )
        .await;
    }
    let hotel = invoices_of(app, &e, &ids[7]).await[0].clone();
    void(app, &hotel).await;
    (e, t)
}

async fn page(app: &TestApp, tok: &str, vars: Value) -> Value {
    app.data(tok, PAGE, vars).await["arAging"].clone()
}

fn names(report: &Value) -> Vec<&str> {
    let rows = report["rowPage"]["rows"].as_array().expect("rows");
    rows.iter()
        .map(|r| r["customer"]["name"].as_str().expect("name"))
        .collect()
}

fn assert_totals(report: &Value, want: [&str; 6], rule: &str) {
    for (key, want) in BUCKETS.iter().chain(&["total"]).zip(want) {
        assert_eq!(report["totals"][key], want, "{rule}: totals.{key}");
    }
}

const TODAY_TOTALS: [&str; 6] = ["300.00", "1150.00", "100.00", "0.00", "1250.00", "2800.00"];

#[tokio::test]
async fn row_pages_order_by_name_total_owed_and_over_90_with_ties_by_customer_id() {
    let app = spawn_app().await;
    let (e, _) = ledger(&app, "AGP1").await;
    let by = |order: &str| json!({ "e": e, "by": order });
    let name = page(&app, &admin(), json!({ "e": e })).await;
    assert_eq!(
        names(&name),
        [
            "Acme AS",
            "Bolt AS",
            "Cedar acme AS",
            "Delta AS",
            "Echo AS",
            "Golf AS"
        ],
        "AR aging pages: by customer name unless told; paid and voided customers have no row"
    );
    assert_eq!(name, page(&app, &admin(), by("CUSTOMER_NAME")).await);
    assert_eq!(name["customerCount"], 6);
    assert_eq!(name["rowPage"]["totalCount"], 6);
    assert_eq!(name["rowPage"]["nextOffset"], Value::Null);
    assert_totals(&name, TODAY_TOTALS, "AR aging pages as of today");
    let acme = &name["rowPage"]["rows"][0]["buckets"];
    assert_eq!(
        [&acme["days31To60"], &acme["over90"], &acme["total"]],
        ["100.00", "400.00", "500.00"],
        "AR aging pages: a row's buckets"
    );
    let total = page(&app, &admin(), by("TOTAL_DESC")).await;
    assert_eq!(
        names(&total),
        [
            "Bolt AS",
            "Echo AS",
            "Acme AS",
            "Delta AS",
            "Cedar acme AS",
            "Golf AS"
        ],
        "AR aging pages: total owed, most first; Cedar and Golf (250 each) by customer id"
    );
    let over90 = page(&app, &admin(), by("OVER_90_DESC")).await;
    assert_eq!(
        names(&over90),
        [
            "Echo AS",
            "Acme AS",
            "Cedar acme AS",
            "Bolt AS",
            "Delta AS",
            "Golf AS"
        ],
        "AR aging pages: over 90 days, most first; the three with none by customer id"
    );
    for report in [&total, &over90] {
        assert_totals(
            report,
            TODAY_TOTALS,
            "AR aging pages: totals whatever the order",
        );
    }
}

#[tokio::test]
async fn customer_search_matches_names_in_any_case_and_wildcards_literally() {
    let app = spawn_app().await;
    let (e, _) = ledger(&app, "AGP2").await;
    let found = page(
        &app,
        &admin(),
        json!({ "e": e, "s": "ACME", "by": "TOTAL_DESC" }),
    )
    .await;
    assert_eq!(
        names(&found),
        ["Acme AS", "Cedar acme AS"],
        "AR aging pages: customerSearch is case-insensitive, anywhere in the name"
    );
    assert_eq!(
        found["rowPage"]["totalCount"], 2,
        "totalCount counts the matches"
    );
    assert_eq!(
        found["customerCount"], 6,
        "customerCount is the whole report's"
    );
    assert_totals(
        &found,
        TODAY_TOTALS,
        "AR aging pages: totals are not searched",
    );
    let first = page(&app, &admin(), json!({ "e": e, "s": "acme", "l": 1 })).await;
    assert_eq!(names(&first), ["Acme AS"]);
    assert_eq!(first["rowPage"]["nextOffset"], 1);
    let second = page(
        &app,
        &admin(),
        json!({ "e": e, "s": "aCmE", "l": 1, "o": 1 }),
    )
    .await;
    assert_eq!(names(&second), ["Cedar acme AS"]);
    assert_eq!(second["rowPage"]["nextOffset"], Value::Null);
    for literal in ["%", "_", "A_me", "\\"] {
        let none = page(&app, &admin(), json!({ "e": e, "s": literal })).await;
        assert_eq!(
            none["rowPage"]["totalCount"], 0,
            "AR aging pages: {literal:?} in a search matches only itself"
        );
        assert_eq!(none["rowPage"]["rows"], json!([]));
    }
}

#[tokio::test]
async fn paging_with_next_offset_reaches_every_row_exactly_once_with_whole_totals() {
    let app = spawn_app().await;
    let (e, _) = ledger(&app, "AGP3").await;
    for order in ["CUSTOMER_NAME", "TOTAL_DESC", "OVER_90_DESC"] {
        let whole = page(&app, &admin(), json!({ "e": e, "by": order })).await;
        let mut seen = Vec::new();
        let mut offset = Some(json!(0));
        while let Some(o) = offset {
            let p = page(
                &app,
                &admin(),
                json!({ "e": e, "by": order, "l": 4, "o": o }),
            )
            .await;
            assert_eq!(p["rowPage"]["totalCount"], 6);
            assert_totals(
                &p,
                TODAY_TOTALS,
                "AR aging pages: totals independent of the page",
            );
            seen.extend(names(&p).into_iter().map(String::from));
            offset = Some(p["rowPage"]["nextOffset"].clone()).filter(|n| !n.is_null());
            assert!(seen.len() <= 6, "AR aging pages: paging ends ({order})");
        }
        assert_eq!(
            seen,
            names(&whole),
            "AR aging pages: pages of 4 by {order} give every row exactly once, in order"
        );
    }
    let beyond = page(&app, &admin(), json!({ "e": e, "o": 6 })).await;
    assert_eq!(beyond["rowPage"]["rows"], json!([]));
    assert_eq!(beyond["rowPage"]["totalCount"], 6);
    assert_eq!(beyond["rowPage"]["nextOffset"], Value::Null);
    assert_eq!(beyond["customerCount"], 6);
}

#[tokio::test]
async fn a_back_dated_row_page_shows_what_was_open_on_its_date() {
    let app = spawn_app().await;
    let (e, t) = ledger(&app, "AGP4").await;
    // As of B = T − 46 (D2 − 1): D2's invoices were not issued, Foxtrot
    // (paid on T − 35) and Hotel (voided today) were open. Every open
    // invoice was issued on D1 = T − 200, so all are 90+: Hotel 700 (due
    // D1, 154 days), Echo 600 (due D1 + 30, 124 days), Acme 400, Cedar 250,
    // Foxtrot 200 (154 days each); total 2150.
    let b = (t - Duration::days(46)).to_string();
    let report = page(
        &app,
        &admin(),
        json!({ "e": e, "d": b, "by": "OVER_90_DESC" }),
    )
    .await;
    assert_eq!(
        names(&report),
        [
            "Hotel AS",
            "Echo AS",
            "Acme AS",
            "Cedar acme AS",
            "Foxtrot AS"
        ],
        "AR aging pages as of a past date: paid and voided since count, issued since does not"
    );
    assert_eq!(report["customerCount"], 5);
    let totals = ["0.00", "0.00", "0.00", "0.00", "2150.00", "2150.00"];
    assert_totals(&report, totals, "AR aging pages as of a past date");
    let searched = page(&app, &admin(), json!({ "e": e, "d": b, "s": "o" })).await;
    assert_eq!(names(&searched), ["Echo AS", "Foxtrot AS", "Hotel AS"]);
    assert_totals(
        &searched,
        totals,
        "AR aging pages as of a past date, searched",
    );
}

#[tokio::test]
async fn a_partner_pages_only_its_own_legal_entity() {
    let app = spawn_app().await;
    let (mine, _) = ledger(&app, "AGP5").await;
    let theirs = app.create_entity("AGP6", "EUR").await;
    let other = customer_on_terms(&app, &theirs, "Acme Other AS", 0).await;
    yearly(&app, &other, today() - Duration::days(10), "50.00").await;
    bill(&app, &theirs, &(today() - Duration::days(10)).to_string()).await;
    let partner = token("PARTNER", &["ar:read"], &[mine.as_str()]);
    let own = page(&app, &partner, json!({ "e": mine, "s": "acme" })).await;
    assert_eq!(
        names(&own),
        ["Acme AS", "Cedar acme AS"],
        "Access: a partner's pages hold only its legal entity's customers"
    );
    let body = app.gql(&partner, PAGE, json!({ "e": theirs })).await;
    assert_eq!(
        code(&body),
        "NOT_FOUND",
        "Access: another entity's aging is NOT_FOUND: {body}"
    );
    assert_eq!(body["data"], Value::Null, "and no data of it");
}

#[tokio::test]
async fn a_limit_above_100_or_a_negative_offset_is_bad_input() {
    let app = spawn_app().await;
    let e = app.create_entity("AGP7", "EUR").await;
    for (vars, field) in [
        (json!({ "e": e, "l": 101 }), "limit"),
        (json!({ "e": e, "l": -1 }), "limit"),
        (json!({ "e": e, "o": -1 }), "offset"),
        (json!({ "e": e, "s": "x".repeat(201) }), "customerSearch"),
    ] {
        let body = app.gql(&admin(), PAGE, vars).await;
        bad_input(
            &body,
            Some(field),
            "AR aging pages: at most 100 rows, from offset 0 on",
        );
    }
    let most = page(&app, &admin(), json!({ "e": e, "l": 100 })).await;
    assert_eq!(most["rowPage"]["rows"], json!([]), "100 is allowed");
}
