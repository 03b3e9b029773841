//! DESIGN.md, The billing schedule: which periods a run bills and when.
//! Period k runs from start + k·interval (months clamped to the month's
//! end, always from the original start); IN_ADVANCE bills a period on its
//! first day, IN_ARREARS the day after its last; an end date prorates the
//! last period; a missed run is caught up; running twice bills nothing.

use serde_json::{json, Value};

use crate::helpers::billing::{
    all_invoices, contract_with, contracts, entity_with_contracts, field, num, run, run_invoices,
};
use crate::helpers::{admin, spawn_app};

#[tokio::test]
async fn running_twice_with_the_same_as_of_bills_nothing_the_second_time() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "ID1", &["2026-11-01"]).await;
    let first = run(&app, &e, "2026-11-27").await;
    assert_eq!(first["invoiceCount"], 1);
    let second = run(&app, &e, "2026-11-27").await;
    assert_eq!(second["status"], "COMPLETED");
    assert_eq!(second["runNumber"], "BR-000002");
    assert_eq!(
        (
            second["contractCount"].clone(),
            second["invoiceCount"].clone(),
            second["invoiceTotal"].clone()
        ),
        (json!(0), json!(0), json!("0.00")),
        "The billing schedule: running twice with the same D bills nothing the second time"
    );
    assert_eq!(
        (second["periodStart"].as_str(), second["periodEnd"].as_str()),
        (Some("2026-11-27"), Some("2026-11-27")),
        "The billing schedule: run period is D to D when it billed nothing"
    );
    assert_eq!(
        all_invoices(&app).await.len(),
        1,
        "The billing schedule: a period is invoiced at most once"
    );
    assert_eq!(
        contracts(&app, &e).await,
        [(ids[0].clone(), "ACTIVE".into(), json!("2026-12-01"))],
        "The billing schedule: the contract moves on to December"
    );
}

#[tokio::test]
async fn a_missed_run_is_caught_up_with_one_invoice_per_period() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "CU1", &["2026-08-01"]).await;
    let r = run(&app, &e, "2026-11-15").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        field(&invoices, "periodStart"),
        ["2026-08-01", "2026-09-01", "2026-10-01", "2026-11-01"],
        "The billing schedule: a missed run is caught up, one invoice per period"
    );
    assert_eq!(
        field(&invoices, "periodEnd"),
        ["2026-08-31", "2026-09-30", "2026-10-31", "2026-11-30"]
    );
    assert_eq!(
        field(&invoices, "issueDate"),
        ["2026-11-15"; 4],
        "Invoices: issue date = D"
    );
    assert_eq!(r["invoiceCount"], 4);
    assert_eq!(r["invoiceTotal"], "40.00");
    assert_eq!(
        (r["periodStart"].as_str(), r["periodEnd"].as_str()),
        (Some("2026-08-01"), Some("2026-11-30")),
        "The billing schedule: run period from the earliest start to the latest end billed"
    );
}

#[tokio::test]
async fn a_monthly_contract_from_jan_31_clamps_its_periods_to_month_ends() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "ME1", &["2026-01-31"]).await;
    let r = run(&app, &e, "2026-04-30").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        field(&invoices, "periodStart"),
        ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30"],
        "The billing schedule: month arithmetic from the start date, clamped to the month's last day"
    );
    assert_eq!(
        field(&invoices, "periodEnd"),
        ["2026-02-27", "2026-03-30", "2026-04-29", "2026-05-30"],
        "The billing schedule: a period ends the day before the next one starts"
    );
    assert_eq!(
        contracts(&app, &e).await[0],
        (ids[0].clone(), "ACTIVE".into(), json!("2026-05-31"))
    );
}

#[tokio::test]
async fn an_in_arrears_contract_is_billed_the_day_after_its_period() {
    let app = spawn_app().await;
    let e = app.create_entity("AR1", "EUR").await;
    let c = app.create_customer(&e, "Arrears").await;
    contract_with(
        &app,
        json!({ "customerId": c, "startDate": "2026-01-01", "interval": "MONTH", "timing": "IN_ARREARS",
                "lines": [{ "description": "Usage", "quantity": "1", "unitPrice": "20.00" }] }),
    )
    .await;
    let early = run(&app, &e, "2026-01-31").await;
    assert_eq!(
        early["invoiceCount"], 0,
        "The billing schedule: IN_ARREARS is not due on the period's last day"
    );
    let due = run(&app, &e, "2026-02-01").await;
    let invoices = run_invoices(&app, &due["id"]).await;
    assert_eq!(
        invoices.len(),
        1,
        "The billing schedule: IN_ARREARS bills the day after the period"
    );
    assert_eq!(
        (
            invoices[0]["periodStart"].as_str(),
            invoices[0]["periodEnd"].as_str(),
            invoices[0]["issueDate"].as_str()
        ),
        (Some("2026-01-01"), Some("2026-01-31"), Some("2026-02-01")),
        "The billing schedule: February 1 bills January"
    );
    assert_eq!(contracts(&app, &e).await[0].2, json!("2026-03-01"));
}

#[tokio::test]
async fn an_end_date_prorates_the_last_period_and_then_the_contract_ends() {
    let app = spawn_app().await;
    let e = app.create_entity("EN1", "EUR").await;
    let c = app.create_customer(&e, "Short").await;
    let k = contract_with(
        &app,
        json!({ "customerId": c, "startDate": "2026-01-01", "endDate": "2026-01-10", "interval": "MONTH",
                "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": "31.00" }] }),
    )
    .await;
    let r = run(&app, &e, "2026-01-15").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(
        (
            invoices[0]["total"].as_str(),
            invoices[0]["periodEnd"].as_str()
        ),
        (Some("10.00"), Some("2026-01-10")),
        "The billing schedule: a cut period is prorated by days (31.00 × 10 / 31)"
    );
    assert_eq!(r["periodEnd"], "2026-01-10");
    for as_of in ["2026-02-01", "2026-06-01"] {
        let later = run(&app, &e, as_of).await;
        assert_eq!(
            later["invoiceCount"], 0,
            "The billing schedule: no period starts after the end date ({as_of})"
        );
    }
    assert_eq!(
        contracts(&app, &e).await,
        [(k, "ENDED".into(), Value::Null)],
        "The billing schedule: a contract with no period left is ENDED"
    );
    assert_eq!(all_invoices(&app).await.len(), 1);
}

#[tokio::test]
async fn paused_contracts_are_not_billed_and_a_cancelled_one_only_through_its_end() {
    let app = spawn_app().await;
    let starts = ["2026-11-01"; 3];
    let (e, ids) = entity_with_contracts(&app, "PC1", &starts).await;
    let pause =
        "mutation($id: ID!) { pauseContract(id: $id, input: { from: \"2026-11-01\" }) { id } }";
    app.data(&admin(), pause, json!({ "id": ids[1] })).await;
    let cancel = "mutation($id: ID!) { cancelContract(id: $id, \
        input: { policy: IMMEDIATE, effectiveDate: \"2026-11-10\" }) { id } }";
    app.data(&admin(), cancel, json!({ "id": ids[2] })).await;
    for as_of in ["2026-11-27", "2026-12-01"] {
        run(&app, &e, as_of).await;
    }
    let billed: Vec<(Option<i64>, i64)> = all_invoices(&app)
        .await
        .iter()
        .map(|i| (i.contract_id, i.total_e4))
        .collect();
    assert_eq!(
        billed,
        [
            (Some(num(&ids[0])), 100_000),
            // Nov 1–10 of 30 days: 10.00 × 10 / 30 = 3.33.
            (Some(num(&ids[2])), 33_300),
            (Some(num(&ids[0])), 100_000),
        ],
        "The billing schedule: PAUSED contracts are not billed, a CANCELLED one gets its final partial period"
    );
    let listed = contracts(&app, &e).await;
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.1.as_str(), c.2.clone()))
            .collect::<Vec<_>>(),
        [
            ("ACTIVE", json!("2027-01-01")),
            ("PAUSED", json!("2027-01-01")),
            ("CANCELLED", Value::Null)
        ],
        "a paused contract keeps its schedule; a cancelled one has no period left"
    );
}
