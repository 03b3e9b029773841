//! DESIGN.md, AR aging: open invoices as of A, amount due as of A, days
//! past due and buckets, rows per customer sorted by name with totals per
//! bucket, and A defaulting to today in the legal entity's timezone. What
//! was open on a past A, though voided or posted since, is in `as_of`.

mod as_of;
mod credit_notes;
mod pages;

use chrono::{NaiveDate, Utc};
use serde_json::json;

use crate::helpers::ar::{
    aging, bill, customer_on_terms, due_as_of, invoices_of, names, one_invoice, open, paid, plus,
    void, BUCKETS,
};
use crate::helpers::{admin, spawn_app, TestApp};

#[tokio::test]
async fn every_bucket_boundary_lands_in_its_bucket_with_rows_and_totals_summed() {
    let app = spawn_app().await;
    let e = app.create_entity("AG01", "EUR").await;
    // One run at R; a customer on terms T has its invoice due R + T, so as
    // of R + 91 it is 91 − T days past due.
    let r: NaiveDate = "2026-03-02".parse().expect("date");
    let cases = [
        (-5, "0.50", "current"),
        (0, "1.00", "current"),
        (1, "10.00", "1-30"),
        (30, "20.00", "1-30"),
        (31, "100.00", "31-60"),
        (60, "200.00", "31-60"),
        (61, "1000.00", "61-90"),
        (90, "2000.00", "61-90"),
        (91, "10000.00", "90+"),
    ];
    for (n, (days, price, _)) in cases.iter().enumerate() {
        let c = customer_on_terms(&app, &e, &format!("Customer {n:02}"), 91 - days).await;
        app.create_contract(&c, &r.to_string(), price, None).await;
        if *days == 91 {
            app.create_contract(&c, &r.to_string(), "5000.00", None)
                .await;
        }
    }
    bill(&app, &e, &r.to_string()).await;
    let report = aging(&app, &e, Some(&plus(r, 91))).await;
    assert_eq!(report["asOf"], plus(r, 91));
    assert_eq!(report["currency"], "EUR");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        cases.len(),
        "AR aging: a row per customer with something open"
    );
    let labels = ["current", "1-30", "31-60", "61-90", "90+"];
    for (n, (days, price, label)) in cases.iter().enumerate() {
        let row = &rows[n];
        assert_eq!(
            row["customer"]["name"],
            format!("Customer {n:02}"),
            "AR aging: rows sorted by name"
        );
        let invoices = row["invoices"].as_array().expect("invoices");
        let expected_total = if *days == 91 { "15000.00" } else { price };
        assert_eq!(invoices.len(), if *days == 91 { 2 } else { 1 });
        for inv in invoices {
            assert_eq!(
                inv["daysPastDue"], *days,
                "AR aging: days past due = asOf − due date"
            );
            assert_eq!(
                inv["bucket"], *label,
                "AR aging: {days} days past due is bucket {label}"
            );
            assert_eq!(inv["invoice"]["dueDate"], plus(r, i64::from(91 - days)));
        }
        if *days != 91 {
            assert_eq!(invoices[0]["amountDue"], *price);
        }
        let slot = labels.iter().position(|l| l == label).expect("label");
        for (k, key) in BUCKETS.iter().enumerate() {
            let want = if k == slot { expected_total } else { "0.00" };
            assert_eq!(
                row["buckets"][key], want,
                "AR aging: {key} of the row with {days} days"
            );
        }
        assert_eq!(
            row["buckets"]["total"], expected_total,
            "AR aging: a row's total"
        );
    }
    let want = ["1.50", "30.00", "300.00", "3000.00", "15000.00"];
    for (key, want) in BUCKETS.iter().zip(want) {
        assert_eq!(
            report["totals"][key], want,
            "AR aging: totals per bucket ({key})"
        );
    }
    assert_eq!(
        report["totals"]["total"], "18331.50",
        "AR aging: grand total"
    );
    let q = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) { rows { ...R } } }
      fragment R on ArAgingRow { open: invoices { bucket } }";
    let d = app
        .data(&admin(), q, json!({ "e": e, "d": plus(r, 91) }))
        .await;
    let first = &d["arAging"]["rows"][0]["open"];
    assert_eq!(
        first,
        &json!([{ "bucket": "current" }]),
        "invoices via fragment, alias"
    );
}

#[tokio::test]
async fn payments_reduce_the_amount_due_only_as_of_their_received_date() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "AG02", "300.00", "2026-05-04").await;
    let p = paid(&app, &inv, "100.00", "2026-05-10").await;
    assert_eq!(
        (&p["status"], &p["amountPaid"], &p["amountDue"]),
        (&json!("POSTED"), &json!("100.00"), &json!("200.00"))
    );
    let after = aging(&app, &e, Some("2026-05-20")).await;
    assert_eq!(
        open(&after),
        [("200.00".into(), 16, "1-30".into())],
        "AR aging: amount due as of A = total − payments received on or before A"
    );
    assert_eq!(after["totals"]["days1To30"], "200.00");
    let on_day = aging(&app, &e, Some("2026-05-10")).await;
    assert_eq!(
        open(&on_day)[0].0,
        "200.00",
        "AR aging: a payment received on A counts"
    );
    let before = aging(&app, &e, Some("2026-05-09")).await;
    assert_eq!(
        open(&before),
        [("300.00".into(), 5, "1-30".into())],
        "AR aging: a payment received after A does not reduce the amount due as of A"
    );
    assert_eq!(before["totals"]["total"], "300.00");

    paid(&app, &inv, "50.00", "2026-06-15").await;
    assert_eq!(due_as_of(&app, &e, "2026-06-01").await, "200.00");
    assert_eq!(due_as_of(&app, &e, "2026-06-20").await, "150.00");

    let p = paid(&app, &inv, "150.00", "2026-07-01").await;
    assert_eq!(p["status"], "PAID", "Invoices: PAID when nothing is due");
    assert_eq!(
        (&p["amountPaid"], &p["amountDue"]),
        (&json!("300.00"), &json!("0.00"))
    );
    let later = aging(&app, &e, Some("2026-07-02")).await;
    assert_eq!(
        later["rows"],
        json!([]),
        "AR aging: a paid invoice is not open"
    );
    assert_eq!(later["totals"]["total"], "0.00");
    assert_eq!(
        open(&aging(&app, &e, Some("2026-06-30")).await),
        [("150.00".into(), 57, "31-60".into())],
        "AR aging: an invoice paid after A is still open as of A"
    );
    assert_eq!(due_as_of(&app, &e, "2026-05-09").await, "300.00");
    let issued_later = aging(&app, &e, Some("2026-05-03")).await;
    assert_eq!(
        issued_later["rows"],
        json!([]),
        "AR aging: only invoices issued on or before A"
    );
    assert_eq!(aging(&app, &e, None).await["rows"], json!([]));
}

#[tokio::test]
async fn rows_list_only_customers_with_something_open_sorted_by_name() {
    let app = spawn_app().await;
    let e = app.create_entity("AG06", "EUR").await;
    let mut by_name = std::collections::HashMap::new();
    for name in [
        "Zeta AS", "Mu AS", "Beta AS", "Gamma AS", "Alpha AS", "Delta AS",
    ] {
        let c = customer_on_terms(&app, &e, name, 0).await;
        if name != "Gamma AS" {
            app.create_contract(&c, "2026-05-04", "100.00", None).await;
        }
        by_name.insert(name, c);
    }
    bill(&app, &e, "2026-05-04").await;
    let beta = invoices_of(&app, &e, &by_name["Beta AS"]).await[0].clone();
    paid(&app, &beta, "100.00", "2026-05-05").await;
    let delta = invoices_of(&app, &e, &by_name["Delta AS"]).await[0].clone();
    void(&app, &delta).await;

    let report = aging(&app, &e, Some("2026-05-06")).await;
    assert_eq!(
        names(&report),
        ["Alpha AS", "Delta AS", "Mu AS", "Zeta AS"],
        "AR aging: one row per customer with something open, sorted by name (Delta voided later)"
    );
    assert_eq!(report["totals"]["days1To30"], "400.00");
    let before = aging(&app, &e, Some("2026-05-04")).await;
    assert_eq!(
        names(&before),
        ["Alpha AS", "Beta AS", "Delta AS", "Mu AS", "Zeta AS"]
    );
    assert_eq!(before["totals"]["current"], "500.00");
    let now = aging(&app, &e, None).await;
    assert_eq!(
        names(&now),
        ["Alpha AS", "Mu AS", "Zeta AS"],
        "AR aging: paid and voided invoices are not open"
    );
    assert_eq!(now["totals"]["total"], "300.00");
}

/// An entity in `timezone` (USD, no contracts); its id.
async fn entity_in(app: &TestApp, code: &str, timezone: &str) -> String {
    let input = json!({ "code": code, "name": code, "currency": "USD", "country": "KI",
                        "timezone": timezone });
    app.create("LegalEntity", input).await
}

/// UTC+14 and UTC-11 are 25 hours apart, so at any instant their dates
/// differ: a server that took "today" in UTC, or in any one zone, answers
/// the same date for both and fails here at any hour of the day.
#[tokio::test]
async fn as_of_defaults_to_today_in_the_entity_timezone() {
    let app = spawn_app().await;
    let zones = [
        ("AGKI", chrono_tz::Pacific::Kiritimati),
        ("AGPP", chrono_tz::Pacific::Pago_Pago),
    ];
    let mut answered = Vec::new();
    for (code, tz) in zones {
        let e = entity_in(&app, code, tz.name()).await;
        let before = Utc::now();
        let report = aging(&app, &e, None).await;
        let after = Utc::now();
        let as_of: NaiveDate = report["asOf"]
            .as_str()
            .expect("asOf")
            .parse()
            .expect("date");
        let local = [before, after].map(|t| t.with_timezone(&tz).date_naive());
        assert!(
            local.contains(&as_of),
            "AR aging: asOf defaults to today in the entity's timezone {tz} ({local:?}), got {as_of}"
        );
        answered.push(as_of);
    }
    assert_ne!(
        answered[0], answered[1],
        "AR aging: today in UTC+14 and in UTC-11 are never the same date"
    );
}
