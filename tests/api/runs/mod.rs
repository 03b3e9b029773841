//! DESIGN.md, The run and The run, precisely: one active run per legal
//! entity, concurrent triggers, dry runs, the default billing entity, and
//! chunks bounded by invoices. Runs that fail are in `failures`, retried
//! requests in `idempotency`, crashes and takeovers in `faults`.

mod failures;
mod idempotency;

use std::collections::HashSet;

use entity::invoice;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::billing::{
    all_invoices, configure, contract_with, contracts, date, entity_with_contracts, insert_run,
    num, outbox, run, run_count, run_invoices, trigger, trigger_run, DELIVERY,
};
use crate::helpers::ws::{nexts, Client, BY_ENTITY};
use crate::helpers::{admin, code, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_second_trigger_while_a_run_is_active_is_a_conflict_naming_the_active_run() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "CF1", &["2026-11-01"]).await;
    let active = insert_run(&app, &e, 99, "QUEUED", 0, 0).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-11-27", "wait": true });
    let body = trigger(&app, &admin(), input).await;
    assert_eq!(
        code(&body),
        "CONFLICT",
        "The run: at most one QUEUED or RUNNING run per legal entity: {body}"
    );
    assert_eq!(
        body["errors"][0]["extensions"]["activeRunId"],
        active.to_string(),
        "The run: the CONFLICT names the active run's id"
    );
    assert_eq!(
        run_count(&app).await,
        1,
        "The run: a refused trigger creates no run"
    );
    assert!(
        all_invoices(&app).await.is_empty() && outbox(&app).await.is_empty(),
        "a refused trigger bills nothing"
    );

    let dry = json!({ "legalEntityId": e, "asOf": "2026-11-27", "dryRun": true });
    let body = trigger(&app, &admin(), dry).await;
    let r = &body["data"]["triggerBillingRun"]["runs"][0];
    assert_eq!(
        (
            r["status"].as_str(),
            r["dryRun"].as_bool(),
            r["invoiceCount"].as_i64()
        ),
        (Some("COMPLETED"), Some(true), Some(1)),
        "The run: a dry run writes nothing, so an active run does not block it: {body}"
    );
    assert!(
        all_invoices(&app).await.is_empty(),
        "The run: a dry run writes no invoice"
    );
}

#[tokio::test]
async fn twenty_simultaneous_triggers_invoice_every_contract_period_exactly_once() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "CC1", &["2026-11-01"; 50]).await;
    let input = json!({ "legalEntityId": e, "asOf": "2026-11-27", "wait": true });
    let tok = admin();
    let bodies =
        futures_util::future::join_all((0..20).map(|_| trigger(&app, &tok, input.clone()))).await;
    let mut invoiced = 0;
    let mut completed = 0;
    for body in &bodies {
        match body.get("errors") {
            None => {
                let r = &body["data"]["triggerBillingRun"]["runs"][0];
                assert_eq!(
                    r["status"], "COMPLETED",
                    "The run: an accepted run completes: {body}"
                );
                invoiced += r["invoiceCount"].as_i64().expect("count");
                completed += 1;
            }
            Some(_) => assert_eq!(
                code(body),
                "CONFLICT",
                "The run: a concurrent trigger is refused with CONFLICT: {body}"
            ),
        }
    }
    assert!(completed >= 1, "The run: one trigger wins");
    assert_eq!(
        invoiced, 50,
        "The run: the completed runs invoiced 50 between them"
    );
    let invoices = all_invoices(&app).await;
    assert_eq!(
        invoices.len(),
        50,
        "The billing schedule: each contract period invoiced exactly once"
    );
    let periods: HashSet<_> = invoices
        .iter()
        .map(|i| (i.contract_id, i.period_start))
        .collect();
    let expected: HashSet<_> = ids
        .iter()
        .map(|id| (Some(num(id)), date("2026-11-01")))
        .collect();
    assert_eq!(
        periods, expected,
        "The billing schedule: every contract, once"
    );
    let mut numbers: Vec<String> = invoices.iter().filter_map(|i| i.number.clone()).collect();
    numbers.sort();
    let gapless: Vec<String> = (1..=50).map(|n| format!("CC1-2026-{n:06}")).collect();
    assert_eq!(
        numbers, gapless,
        "Invoices: numbers gapless per legal entity and year"
    );
    assert_eq!(
        run_count(&app).await,
        completed,
        "The run: refused triggers create no run"
    );
}

#[tokio::test]
async fn a_dry_run_returns_what_the_real_run_then_bills_and_writes_nothing() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "DR1", &["2026-10-01", "2026-11-01"]).await;
    let before = contracts(&app, &e).await;
    let body = trigger(
        &app,
        &admin(),
        json!({ "legalEntityId": e, "asOf": "2026-11-27", "dryRun": true }),
    )
    .await;
    assert!(body.get("errors").is_none(), "{body}");
    let dry = body["data"]["triggerBillingRun"]["runs"][0].clone();
    let previews = body["data"]["triggerBillingRun"]["dryRunInvoices"]
        .as_array()
        .expect("previews")
        .clone();
    assert_eq!(
        (
            dry["dryRun"].as_bool(),
            dry["status"].as_str(),
            dry["invoiceCount"].as_i64(),
            dry["invoiceTotal"].as_str()
        ),
        (Some(true), Some("COMPLETED"), Some(3), Some("30.00")),
        "The run: a dry run is the same computation: {dry}"
    );
    assert_eq!(
        previews.len(),
        3,
        "The run: a dry run returns the would-be invoices"
    );
    assert!(
        all_invoices(&app).await.is_empty(),
        "The run: a dry run writes no invoice"
    );
    assert!(
        outbox(&app).await.is_empty(),
        "The run: a dry run writes no domain event"
    );
    assert_eq!(
        contracts(&app, &e).await,
        before,
        "The run: a dry run moves no contract"
    );

    let real = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        (&real["invoiceCount"], &real["invoiceTotal"]),
        (&dry["invoiceCount"], &dry["invoiceTotal"]),
        "The run: the dry run predicted the real run"
    );
    let key = |i: &Value| {
        (
            i["contract"]["id"].clone(),
            i["periodStart"].clone(),
            i["total"].clone(),
            i["dueDate"].clone(),
        )
    };
    let predicted: Vec<_> = previews.iter().map(key).collect();
    let billed: Vec<_> = run_invoices(&app, &real["id"])
        .await
        .iter()
        .map(key)
        .collect();
    assert_eq!(
        predicted, billed,
        "The run: the would-be invoices are the invoices"
    );
}

#[tokio::test]
async fn the_default_billing_entity_limits_a_trigger_without_an_entity() {
    let app = spawn_app().await;
    let (a, _) = entity_with_contracts(&app, "DA1", &["2026-11-01"]).await;
    let (b, _) = entity_with_contracts(&app, "DB1", &["2026-11-01"]).await;
    let set = configure(&app, json!({ "defaultBillingEntityId": a })).await;
    assert_eq!(set["defaultBillingEntityId"], a.as_str());
    let input = json!({ "asOf": "2026-11-27", "wait": true });
    let body = trigger(&app, &admin(), input.clone()).await;
    let runs = body["data"]["triggerBillingRun"]["runs"]
        .as_array()
        .expect("runs")
        .clone();
    let entities: Vec<&Value> = runs.iter().map(|r| &r["legalEntity"]["id"]).collect();
    assert_eq!(
        entities,
        [&json!(a)],
        "Events, audit: Default Billing Entity Id set bills only that one: {body}"
    );
    let billed: HashSet<i64> = all_invoices(&app)
        .await
        .iter()
        .map(|i| i.legal_entity_id)
        .collect();
    assert_eq!(billed, HashSet::from([num(&a)]));

    let cleared = configure(&app, json!({ "defaultBillingEntityId": null })).await;
    assert_eq!(
        cleared["defaultBillingEntityId"],
        Value::Null,
        "null clears the default"
    );
    let body = trigger(&app, &admin(), input).await;
    let runs = body["data"]["triggerBillingRun"]["runs"]
        .as_array()
        .expect("runs")
        .clone();
    let per: Vec<(Value, Value)> = runs
        .iter()
        .map(|r| (r["legalEntity"]["id"].clone(), r["invoiceCount"].clone()))
        .collect();
    assert_eq!(
        per,
        [(json!(a), json!(0)), (json!(b), json!(1))],
        "The run: without a default, one run per legal entity: {body}"
    );
}

#[tokio::test]
async fn a_contract_twenty_years_behind_is_billed_in_chunks_of_at_most_the_invoice_cap() {
    let app = spawn_app_with(|a| a.run_chunk_invoices = 100).await;
    let e = app.create_entity("CAP", "EUR").await;
    let c = app.create_customer(&e, "Far behind").await;
    let weekly = json!({ "customerId": c, "startDate": "2006-12-04", "interval": "WEEK",
        "lines": [{ "description": "Seat", "quantity": "1", "unitPrice": "10.00" }] });
    contract_with(&app, weekly).await;
    // Each chunk commits and publishes the run's progress: the invoice
    // counts it announces step by at most the cap.
    let mut ws = Client::authed(app.port, &admin()).await;
    ws.subscribe("runs", BY_ENTITY, json!({ "e": e })).await;
    ws.barrier().await;
    trigger_run(&app, &e, "2026-11-30", false).await;
    let frames = ws
        .gather(|f| {
            let updates = nexts(f, "runs", "billingRunUpdated");
            updates.last().is_some_and(|r| r["status"] == "COMPLETED")
        })
        .await;
    let updates = nexts(&frames, "runs", "billingRunUpdated");
    let done = updates.last().expect("the final state");
    assert_eq!(
        (&done["invoiceCount"], &done["processedCount"]),
        (&json!(1044), &json!(1)),
        "every weekly period since 2006-12-04, one contract finished once: {done}"
    );
    let mut billed: Vec<i64> = updates
        .iter()
        .filter_map(|u| u["invoiceCount"].as_i64())
        .collect();
    billed.dedup();
    let steps: Vec<i64> = billed.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        billed.len() >= 11 && steps.iter().all(|s| (1..=100).contains(s)),
        "The run, precisely: a chunk is bounded by invoices (100 here), so 1044 take 11 chunks: {billed:?}"
    );
    let invoices = invoice::Entity::find()
        .order_by_asc(invoice::Column::PeriodStart)
        .all(&app.db)
        .await
        .expect("invoices");
    assert_eq!(invoices.len(), 1044, "every weekly period since 2006-12-04");
    for pair in invoices.windows(2) {
        assert_eq!(
            pair[1].period_start,
            pair[0].period_end + chrono::Duration::days(1),
            "The billing schedule: periods tile, each billed once"
        );
    }
    let mut numbers: Vec<i64> = invoices
        .iter()
        .filter_map(|i| i.number.as_deref()?.rsplit('-').next()?.parse().ok())
        .collect();
    numbers.sort_unstable();
    assert_eq!(
        numbers,
        (1..=1044).collect::<Vec<_>>(),
        "Invoices: numbers gapless across chunks"
    );
}

#[tokio::test]
async fn a_run_writes_line_descriptions_and_event_payloads_exactly_as_given() {
    // A run's batches reach PostgreSQL as array literals: quotes,
    // backslashes, commas, braces, NULL-looking text and non-ASCII must
    // come back as they went in.
    let app = spawn_app().await;
    let e = app.create_entity("QT", "EUR").await;
    let c = app
        .create_customer(&e, "O'Brien \"Quoted\" \\ Ltd, {braces}")
        .await;
    let descriptions = [
        "Plan \"Pro\", {annual}",
        "back\\slash \\\" end\\",
        "NULL",
        "{}",
        "ünïcödé — 💶 ${x} 'quoted'",
    ];
    let lines: Vec<Value> = descriptions
        .iter()
        .map(|d| json!({ "description": d, "quantity": "1", "unitPrice": "1.00" }))
        .collect();
    contract_with(
        &app,
        json!({ "customerId": c, "startDate": "2026-11-01", "interval": "MONTH", "lines": lines }),
    )
    .await;
    let r = run(&app, &e, "2026-11-27").await;
    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(invoices.len(), 1, "The run: one invoice: {invoices:?}");
    let got: Vec<&str> = invoices[0]["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["description"].as_str().unwrap_or("<not a string>"))
        .collect();
    assert_eq!(
        got, descriptions,
        "The run: each line keeps its contract line's description"
    );
    // Every payload is JSON, full of quotes: it must parse as written.
    let events = outbox(&app).await;
    let delivery = events
        .iter()
        .find(|e| e.event_type == DELIVERY)
        .expect("Events: posting asks for delivery");
    let payload: Value = serde_json::from_str(&delivery.payload).expect("a JSON payload");
    assert_eq!(
        (&payload["invoiceId"], &payload["email"]),
        (&invoices[0]["id"], &json!("ap@example.com")),
        "Events: the payload names the invoice and the customer's email: {payload}"
    );
}
