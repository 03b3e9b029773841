//! What a change refuses, naming the input field, and who may change what.

use super::*;
use crate::helpers::ar::bad_input;
use crate::helpers::billing::run;
use crate::helpers::{code, token};

#[tokio::test]
async fn changes_before_a_day_billed_in_arrears_or_before_today_name_the_field() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "RF1", weekly(day(-10), "IN_ARREARS", "70.00")).await;
    run(&app, &e, &s(day(-3))).await; // bills T-10..T-4
    let cases = [
        (
            "cancel",
            json!({ "policy": "IMMEDIATE", "effectiveDate": s(day(-5)) }),
            "effectiveDate",
        ),
        ("pause", json!({ "from": s(day(-6)) }), "from"),
        (
            "amend",
            json!({ "effectiveDate": s(day(-1)), "lines": lines("1.00") }),
            "effectiveDate",
        ),
        (
            "amend",
            json!({ "effectiveDate": s(day(1)), "lines": lines("-1.00") }),
            "lines.0.unitPrice",
        ),
        (
            "pause",
            json!({ "from": s(day(2)), "until": s(day(2)) }),
            "until",
        ),
        ("resume", json!({ "on": s(day(2)) }), "on"),
    ];
    for (op, input, field) in cases {
        let body = change_as(&app, &admin(), op, &k, input.clone()).await;
        bad_input(&body, Some(field), &format!("{op} {input}"));
    }
    change(
        &app,
        "pause",
        &k,
        json!({ "from": s(day(2)), "until": s(day(9)) }),
    )
    .await;
    let overlap = change_as(&app, &admin(), "pause", &k, json!({ "from": s(day(5)) })).await;
    bad_input(&overlap, Some("from"), "pauses never overlap");
    assert_eq!(
        kinds(&contract(&app, &k).await),
        ["PAUSED"],
        "a refused change leaves no trace"
    );
    assert!(notes(&app, &k).await.is_empty());
}

#[tokio::test]
async fn a_cancelled_contract_takes_no_more_changes() {
    let app = crate::helpers::spawn_app().await;
    let (_, k) = with_contract(&app, "RF2", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    change(&app, "cancel", &k, json!({ "policy": "IMMEDIATE" })).await;
    for (op, input) in [
        ("cancel", json!({ "policy": "END_OF_TERM" })),
        ("pause", json!({ "from": s(day(0)) })),
        (
            "amend",
            json!({ "effectiveDate": s(day(0)), "lines": lines("1.00") }),
        ),
    ] {
        let body = change_as(&app, &admin(), op, &k, input).await;
        bad_input(&body, Some("id"), "the contract is cancelled");
    }
}

#[tokio::test]
async fn changing_needs_contracts_write_and_another_entitys_contract_is_not_found() {
    let app = crate::helpers::spawn_app().await;
    let (_, k) = with_contract(&app, "RF3", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    let other = app.create_entity("RF4", "EUR").await;
    let input = json!({ "from": s(day(1)) });
    let reader = token("ACCOUNTANT", &["billing:read"], &["*"]);
    assert_eq!(
        code(&change_as(&app, &reader, "pause", &k, input.clone()).await),
        "FORBIDDEN"
    );
    let partner = token("PARTNER", &["contracts:write"], &[&other]);
    let hidden = change_as(&app, &partner, "pause", &k, input.clone()).await;
    let missing = change_as(&app, &admin(), "pause", "999999", input).await;
    assert_eq!(code(&hidden), "NOT_FOUND");
    assert_eq!(
        hidden["errors"][0]["message"], missing["errors"][0]["message"],
        "same as a missing one"
    );
    assert!(kinds(&contract(&app, &k).await).is_empty());
}
