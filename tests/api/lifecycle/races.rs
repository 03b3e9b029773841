//! Changes on one contract are serialized, against each other and against
//! a run: whatever the interleaving, each period is billed and credited so
//! that the net is what the final terms say.

use super::*;
use crate::helpers::billing::{run, trigger_run};

#[tokio::test]
async fn racing_amendments_apply_one_after_the_other() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "RC1", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    run(&app, &e, &s(day(0))).await;
    let prices = ["140.00", "210.00", "280.00", "350.00", "420.00"];
    let admin = admin();
    let racers = prices.iter().map(|p| {
        let input = json!({ "effectiveDate": s(day(1)), "lines": lines(p) });
        change_as(&app, &admin, "amend", &k, input)
    });
    for body in futures_util::future::join_all(racers).await {
        assert!(
            body.get("errors").is_none(),
            "every amendment applies: {body}"
        );
    }
    run(&app, &e, &s(day(0))).await;
    let latest = contract(&app, &k).await;
    assert_eq!(kinds(&latest), ["AMENDED"; 5]);
    let weekly_price = dec(latest["lines"][0]["unitPrice"].as_str().expect("price"));
    // T-3..T at 10.00, then T+1..T+3 at the last amendment's daily price.
    let expected = dec("40") + weekly_price * Decimal::from(3) / Decimal::from(7);
    assert_eq!(net(&app, &k).await, expected.normalize());
}

#[tokio::test]
async fn a_change_racing_a_run_is_billed_correctly_and_once() {
    let app = crate::helpers::spawn_app().await;
    let (e, k) = with_contract(&app, "RC2", weekly(day(-3), "IN_ADVANCE", "70.00")).await;
    let customer = contract_customer(&app, &k).await;
    let mut others = Vec::new();
    for _ in 0..60 {
        let mut input = weekly(day(-3), "IN_ADVANCE", "70.00");
        input["customerId"] = json!(customer);
        others.push(app.create("Contract", input).await);
    }
    let run_id = trigger_run(&app, &e, &s(day(0)), false).await;
    let input = json!({ "effectiveDate": s(day(1)), "lines": lines("140.00") });
    change(&app, "amend", &k, input).await;
    finished(&app, &run_id).await;
    run(&app, &e, &s(day(0))).await;
    assert_eq!(
        net(&app, &k).await,
        dec("100"),
        "4 × 10.00 + 3 × 20.00, whichever came first"
    );
    for other in others.iter().take(5) {
        assert_eq!(net(&app, other).await, dec("70"));
    }
}

async fn contract_customer(app: &TestApp, k: &str) -> String {
    let q = "query($id: ID!) { contract(id: $id) { customer { id } } }";
    let data = app.data(&admin(), q, json!({ "id": k })).await;
    data["contract"]["customer"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

async fn finished(app: &TestApp, run_id: &str) {
    let q = "query($id: ID!) { billingRun(id: $id) { status } }";
    crate::helpers::poll_until(
        "the run finishes",
        std::time::Duration::from_secs(60),
        std::time::Duration::from_millis(50),
        || async {
            let data = app.data(&admin(), q, json!({ "id": run_id })).await;
            let status = data["billingRun"]["status"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (status == "COMPLETED").then_some(())
        },
    )
    .await;
}
