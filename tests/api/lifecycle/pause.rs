//! Pauses and resumes: paused days are never billed, billed ones are
//! credited, the period holding the resume day is billed for its remaining
//! days, and the anchor never moves.

use super::*;
use crate::helpers::billing::run;

#[tokio::test]
async fn a_january_31_contract_paused_across_february_keeps_its_anchor_and_bills_from_the_resume_day(
) {
    let app = crate::helpers::spawn_app().await;
    // Periods: Jan 31–Feb 27 (28 days), Feb 28–Mar 30 (31), Mar 31–Apr 29 (30).
    let (e, k) = with_contract(&app, "PA1", monthly("2026-01-31", "IN_ADVANCE", "31.00")).await;
    run(&app, &e, "2026-01-31").await;
    let paused = change(&app, "pause", &k, json!({ "from": "2026-02-01" })).await;
    assert_eq!(
        (
            &paused["status"],
            &paused["pausedFrom"],
            &paused["pausedUntil"]
        ),
        (&json!("PAUSED"), &json!("2026-02-01"), &Value::Null),
        "Contract lifecycle: PAUSED while paused, open-ended"
    );
    // Feb 1–27 billed in advance: 31.00 × 27 / 28 = 29.892… → 29.89.
    let credited: Vec<i64> = notes(&app, &k).await.iter().map(|n| n.total_e4).collect();
    assert_eq!(
        credited,
        [298_900],
        "a period billed in advance is credited for its paused days"
    );
    let paused_run = run(&app, &e, "2026-03-01").await;
    assert_eq!(
        paused_run["invoiceCount"], 0,
        "paused days are never billed"
    );
    let resumed = change(&app, "resume", &k, json!({ "on": "2026-03-15" })).await;
    assert_eq!(kinds(&resumed), ["PAUSED", "RESUMED"]);
    assert_eq!(
        (&resumed["status"], &resumed["pausedFrom"]),
        (&json!("ACTIVE"), &Value::Null)
    );
    run(&app, &e, "2026-03-20").await;
    run(&app, &e, "2026-04-01").await;
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [
            ("2026-01-31".into(), "2026-02-27".into(), dec("31")),
            // Mar 15–30: 31.00 × 16 / 31.
            ("2026-03-15".into(), "2026-03-30".into(), dec("16")),
            // The anchor holds: the next period starts on Mar 31.
            ("2026-03-31".into(), "2026-04-29".into(), dec("31")),
        ],
        "Contract lifecycle: the period holding the resume day is billed for its remaining days"
    );
    assert_eq!(net(&app, &k).await, dec("48.11"));
}

#[tokio::test]
async fn in_arrears_a_pause_resumed_early_bills_the_days_around_it() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "PA2", monthly("2026-01-01", "IN_ARREARS", "31.00")).await;
    change(
        &app,
        "pause",
        &k,
        json!({ "from": "2026-01-11", "until": "2026-01-21" }),
    )
    .await;
    let resumed = change(&app, "resume", &k, json!({ "on": "2026-01-16" })).await;
    assert_eq!(kinds(&resumed), ["PAUSED", "RESUMED"]);
    run(&app, &e, "2026-02-01").await;
    // Jan 1–10 and Jan 16–31 at 1.00 a day: 10.00 + 16.00.
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [("2026-01-01".into(), "2026-01-31".into(), dec("26"))]
    );
    assert!(
        notes(&app, &k).await.is_empty(),
        "nothing was billed to credit"
    );
}

#[tokio::test]
async fn a_pause_inside_a_period_billed_in_advance_credits_only_its_days() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "PA3", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    change(
        &app,
        "pause",
        &k,
        json!({ "from": s(day(-1)), "until": s(day(1)) }),
    )
    .await;
    let credited: Vec<i64> = notes(&app, &k).await.iter().map(|n| n.total_e4).collect();
    assert_eq!(credited, [200_000], "T-1 and T: 2 × 10.00");
    run(&app, &e, &s(day(4))).await;
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [
            (s(day(-3)), s(day(3)), dec("70")),
            (s(day(4)), s(day(10)), dec("70")),
        ],
        "the billed period is not billed again; the next one is whole"
    );
    assert_eq!(net(&app, &k).await, dec("120"));
}
