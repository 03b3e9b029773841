//! DESIGN.md, The billing schedule: "a D more than the configured lead (a
//! few weeks) after today is refused, because nothing billed can be
//! un-billed": asOf past `--max-billing-lead-days` in the entity's
//! timezone, on the real binary started with the default and a narrower
//! lead.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::end_state::run_count;
use crate::helpers::billing::trigger;
use crate::helpers::{admin, code, fresh_database, today_in, TestApp};
use crate::process::{Opts, Server};

async fn entity_in(app: &TestApp, code: &str, timezone: &str) -> String {
    let input = json!({ "code": code, "name": format!("{code} Ltd"), "currency": "EUR",
                        "country": "KI", "timezone": timezone });
    app.create("LegalEntity", input).await
}

/// `triggerBillingRun` for `entity` (or all) as of `as_of`, waiting.
async fn trigger_as_of(app: &TestApp, entity: Option<&str>, as_of: NaiveDate) -> Value {
    let input = json!({ "legalEntityId": entity, "asOf": as_of.to_string(), "wait": true });
    trigger(app, &admin(), input).await
}

fn refused_naming_as_of(body: &Value, what: &str) {
    let message = body["errors"][0]["message"].as_str().unwrap_or("");
    assert!(
        code(body) == "BAD_USER_INPUT" && message.contains("asOf"),
        "{what}: BAD_USER_INPUT naming asOf: {body}"
    );
}

/// asOf may be at most `--max-billing-lead-days` (default 31) past today in
/// the entity's timezone; beyond it the trigger is refused and writes
/// nothing. The entity is in UTC+14, so "today" is the entity's, not the
/// server's.
#[tokio::test]
async fn an_as_of_beyond_the_billing_lead_is_refused_and_writes_no_run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = fresh_database(&dir).await;
    let mut server = Server::start("lead", &url, &Opts::default()).await;
    let mut app = TestApp::external(dir, url.clone(), server.port).await;
    let tz = chrono_tz::Pacific::Kiritimati;
    let e = entity_in(&app, "LD1", "Pacific/Kiritimati").await;
    let c = app.create_customer(&e, "LD1 customer").await;
    app.create_contract(&c, &today_in(tz).to_string(), "10.00", None)
        .await;
    let plus = |days: u64| today_in(tz) + chrono::Days::new(days);

    let body = trigger_as_of(&app, Some(&e), plus(40)).await;
    refused_naming_as_of(&body, "asOf = today + 40 days");
    let body = trigger_as_of(&app, None, plus(40)).await;
    refused_naming_as_of(&body, "asOf = today + 40 days, every entity");
    let body = trigger_as_of(&app, Some(&e), plus(32)).await;
    refused_naming_as_of(&body, "asOf = today + 32 days in the entity's timezone");
    assert_eq!(
        run_count(&app.db).await,
        0,
        "a refused asOf writes no billing_run"
    );

    for days in [30, 31] {
        let body = trigger_as_of(&app, Some(&e), plus(days)).await;
        let run = &body["data"]["triggerBillingRun"]["runs"][0];
        assert_eq!(
            run["status"], "COMPLETED",
            "asOf = today + {days} days (entity's today) is accepted: {body}"
        );
    }
    assert_eq!(run_count(&app.db).await, 2, "the accepted triggers ran");

    server.kill();
    let opts = Opts {
        args: vec!["--max-billing-lead-days".into(), "5".into()],
        ..Opts::default()
    };
    let narrow = Server::start("narrow", &url, &opts).await;
    app.retarget(narrow.port);
    let body = trigger_as_of(&app, Some(&e), plus(6)).await;
    refused_naming_as_of(&body, "--max-billing-lead-days 5: asOf = today + 6");
    assert_eq!(run_count(&app.db).await, 2, "a refused asOf writes no run");
    let body = trigger_as_of(&app, Some(&e), plus(5)).await;
    assert_eq!(
        body["data"]["triggerBillingRun"]["runs"][0]["status"], "COMPLETED",
        "--max-billing-lead-days 5: asOf = today + 5 is accepted: {body}"
    );
}
