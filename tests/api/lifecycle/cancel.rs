//! Cancellations: IMMEDIATE ends the contract on E (credited after E in
//! advance, billed through E in arrears), END_OF_TERM at the current
//! period's end with nothing credited.

use super::*;
use crate::helpers::billing::run;
use entity::credit_note::CreditNoteReason;

#[tokio::test]
async fn immediate_in_advance_credits_the_days_after_the_end_and_bills_nothing_more() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "CA1", monthly("2026-11-01", "IN_ADVANCE", "30.00")).await;
    run(&app, &e, "2026-11-01").await;
    let cancelled = change(
        &app,
        "cancel",
        &k,
        json!({ "policy": "IMMEDIATE", "effectiveDate": "2026-11-20", "reason": "Customer left" }),
    )
    .await;
    assert_eq!(
        (
            &cancelled["status"],
            &cancelled["endDate"],
            &cancelled["cancelledAt"],
            &cancelled["nextBillingDate"]
        ),
        (
            &json!("CANCELLED"),
            &json!("2026-11-20"),
            &json!(s(day(0))),
            &Value::Null
        ),
        "cancelledAt is the day the cancellation was recorded"
    );
    assert_eq!(
        cancelled["history"][0]["details"]["reason"],
        "Customer left"
    );
    let notes = notes(&app, &k).await;
    // Nov 21–30: 30.00 × 10 / 30.
    assert_eq!(
        notes
            .iter()
            .map(|n| (n.reason, n.total_e4))
            .collect::<Vec<_>>(),
        [(CreditNoteReason::OrderCancellation, 100_000)],
        "Contract lifecycle: the billed period is credited for the days after E"
    );
    assert_eq!(run(&app, &e, &s(day(0))).await["invoiceCount"], 0);
    assert_eq!(net(&app, &k).await, dec("20"));
}

#[tokio::test]
async fn immediate_in_arrears_bills_the_final_period_through_the_end_date() {
    let app = crate::helpers::spawn_app().await;
    let input = json!({ "startDate": "2025-06-01", "interval": "YEAR", "timing": "IN_ARREARS",
                        "lines": lines("365.00") });
    let (e, k) = with_contract(&app, "CA2", input).await;
    let cancelled = change(
        &app,
        "cancel",
        &k,
        json!({ "policy": "IMMEDIATE", "effectiveDate": "2026-03-01" }),
    )
    .await;
    assert_eq!(
        (&cancelled["status"], &cancelled["nextBillingDate"]),
        (&json!("CANCELLED"), &json!("2026-03-02")),
        "a cancelled contract in arrears still has its final period to bill"
    );
    run(&app, &e, &s(day(0))).await;
    run(&app, &e, &s(day(0))).await;
    // Jun 1, 2025 – Mar 1, 2026: 274 of 365 days at 1.00.
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [("2025-06-01".into(), "2026-03-01".into(), dec("274"))],
        "Contract lifecycle: the next run bills the final period through E and nothing after"
    );
    assert_eq!(contract(&app, &k).await["status"], "CANCELLED");
}

#[tokio::test]
async fn end_of_term_ends_with_the_current_period_and_credits_nothing() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "CA3", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    let dated = change_as(
        &app,
        &admin(),
        "cancel",
        &k,
        json!({ "policy": "END_OF_TERM", "effectiveDate": s(day(1)) }),
    )
    .await;
    crate::helpers::ar::bad_input(&dated, Some("effectiveDate"), "END_OF_TERM takes no date");
    let cancelled = change(&app, "cancel", &k, json!({ "policy": "END_OF_TERM" })).await;
    assert_eq!(
        (&cancelled["status"], &cancelled["endDate"]),
        (&json!("CANCELLED"), &json!(s(day(3))))
    );
    assert!(
        notes(&app, &k).await.is_empty(),
        "END_OF_TERM credits nothing"
    );
    assert_eq!(run(&app, &e, &s(day(4))).await["invoiceCount"], 0);
    assert_eq!(net(&app, &k).await, dec("70"));
}
