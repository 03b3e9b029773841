//! Amendments: new lines from an effective date, credited and re-billed in
//! advance, split in arrears (70.00 a week is 10.00 a day; 140.00 is 20.00).

use super::*;
use crate::helpers::billing::run;
use entity::credit_note::CreditNoteReason;
use entity::invoice_line;

#[tokio::test]
async fn in_advance_the_billed_days_from_the_date_are_credited_and_the_next_run_bills_the_new_lines_once(
) {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "AM1", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    let amended = change(
        &app,
        "amend",
        &k,
        json!({ "effectiveDate": s(day(1)), "lines": lines("140.00") }),
    )
    .await;
    assert_eq!(
        amended["lines"],
        json!([{ "description": "Plan", "unitPrice": "140" }])
    );
    assert_eq!(
        kinds(&amended),
        ["AMENDED"],
        "every change is in the history"
    );
    assert_eq!(amended["history"][0]["effectiveDate"], s(day(1)));
    assert_eq!(
        amended["history"][0]["actor"], "test-user",
        "audited with who made it"
    );
    // The old lines' days from the date, T+1..T+3: 3 × 10.00.
    let notes = notes(&app, &k).await;
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].reason, notes[0].status, notes[0].total_e4),
        (CreditNoteReason::OrderChange, CreditNoteStatus::Issued, 300_000),
        "Contract lifecycle: an in-advance period already billed is credited for the old lines' days"
    );
    run(&app, &e, &s(day(0))).await;
    run(&app, &e, &s(day(0))).await;
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [
            (s(day(-3)), s(day(3)), dec("70")),
            (s(day(1)), s(day(3)), dec("60")),
        ],
        "Contract lifecycle: the next run bills the new lines for those days, exactly once"
    );
    // 4 days at 10.00 and 3 at 20.00.
    assert_eq!(net(&app, &k).await, dec("100"));
}

#[tokio::test]
async fn an_amendment_from_a_billed_period_start_credits_it_all_and_bills_it_again_at_the_new_price(
) {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "AM2", weekly(day(0), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    change(
        &app,
        "amend",
        &k,
        json!({ "effectiveDate": s(day(0)), "lines": lines("140.00") }),
    )
    .await;
    run(&app, &e, &s(day(0))).await;
    run(&app, &e, &s(day(0))).await;
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [
            (s(day(0)), s(day(6)), dec("70")),
            (s(day(0)), s(day(6)), dec("140")),
        ],
        "Contract lifecycle: the same period start is billed again once, under the contract's new version"
    );
    assert_eq!(
        notes(&app, &k).await[0].total_e4,
        700_000,
        "credited in full"
    );
    assert_eq!(net(&app, &k).await, dec("140"));
}

#[tokio::test]
async fn an_amendment_at_a_period_not_billed_yet_needs_no_credit_and_no_proration() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "AM3", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    change(
        &app,
        "amend",
        &k,
        json!({ "effectiveDate": s(day(4)), "lines": lines("140.00") }),
    )
    .await;
    assert!(
        notes(&app, &k).await.is_empty(),
        "nothing billed from that day"
    );
    run(&app, &e, &s(day(4))).await;
    assert_eq!(
        billed(&invoices(&app, &k).await),
        [
            (s(day(-3)), s(day(3)), dec("70")),
            (s(day(4)), s(day(10)), dec("140")),
        ]
    );
}

#[tokio::test]
async fn in_arrears_the_period_is_billed_split_old_lines_before_the_date_new_ones_from_it() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "AM4", weekly(day(-3), "IN_ARREARS", "70.00")).await;
    change(
        &app,
        "amend",
        &k,
        json!({ "effectiveDate": s(day(1)), "lines": lines("140.00") }),
    )
    .await;
    run(&app, &e, &s(day(4))).await;
    let invoices = invoices(&app, &k).await;
    assert_eq!(billed(&invoices), [(s(day(-3)), s(day(3)), dec("100"))]);
    let nets: Vec<i64> = invoice_line::Entity::find()
        .filter(invoice_line::Column::InvoiceId.eq(invoices[0].id))
        .order_by_asc(invoice_line::Column::LineNo)
        .all(&app.db)
        .await
        .expect("lines")
        .iter()
        .map(|l| l.net_e4)
        .collect();
    assert_eq!(
        nets,
        [400_000, 600_000],
        "Contract lifecycle: old lines for T-3..T (4 × 10.00), new from T+1 (3 × 20.00)"
    );
}
