//! The Billing Run Agent through the API: what a run bills and when
//! (DESIGN.md, The billing schedule), the invoices it writes (Money,
//! Invoices), the audit trail and outbox it leaves (Events, audit,
//! notifications). The shared helpers here are used by `billing_runs.rs`.

use entity::{contract, domain_event, invoice};
use sea_orm::{ActiveModelTrait, EntityTrait, QueryOrder, Set};
use serde_json::{json, Value};

use crate::helpers::{admin, code, spawn_app, spawn_app_with, TestApp};

pub const RUN: &str = "id runNumber status trigger triggeredBy asOf periodStart periodEnd
  contractCount processedCount invoiceCount invoiceTotal skippedCount dryRun durationMs error
  legalEntity { id } auditTrail { action actor details }";
pub const INVOICE: &str = "id number status periodStart periodEnd issueDate dueDate currency
  subtotal taxTotal total amountDue voidReason customer { id } contract { id }
  lines { description quantity unitPrice netAmount taxRate taxAmount totalAmount }";

pub fn num(id: &str) -> i64 {
    id.parse().expect("numeric id")
}

/// `triggerBillingRun` as `tok` with `input`; the whole response body.
pub async fn trigger(app: &TestApp, tok: &str, input: Value) -> Value {
    let q = format!(
        "mutation($i: TriggerBillingRunInput!) {{ triggerBillingRun(input: $i) {{ runs {{ {RUN} }}
         dryRunInvoices {{ periodStart periodEnd issueDate dueDate currency subtotal taxTotal total
         customer {{ id }} contract {{ id }} }} }} }}"
    );
    app.gql(tok, &q, json!({ "i": input })).await
}

/// One awaited run for `entity` as of `as_of`.
pub async fn run(app: &TestApp, entity: &str, as_of: &str) -> Value {
    let input = json!({ "legalEntityId": entity, "asOf": as_of, "wait": true });
    let body = trigger(app, &admin(), input).await;
    assert!(body.get("errors").is_none(), "run failed: {body}");
    let runs = body["data"]["triggerBillingRun"]["runs"].clone();
    assert_eq!(
        runs.as_array().map(Vec::len),
        Some(1),
        "The run: one run per legal entity: {body}"
    );
    runs[0].clone()
}

pub async fn run_invoices(app: &TestApp, run_id: &Value) -> Vec<Value> {
    let q = format!(
        "query($id: ID!) {{ billingRun(id: $id) {{ invoices(first: 100) {{ nodes {{ {INVOICE} }} }} }} }}"
    );
    let data = app.data(&admin(), &q, json!({ "id": run_id })).await;
    data["billingRun"]["invoices"]["nodes"]
        .as_array()
        .expect("invoices")
        .clone()
}

pub fn field<'a>(items: &'a [Value], key: &str) -> Vec<&'a str> {
    items
        .iter()
        .map(|i| i[key].as_str().unwrap_or("<null>"))
        .collect()
}

pub fn actions(run: &Value) -> Vec<&str> {
    field(run["auditTrail"].as_array().expect("auditTrail"), "action")
}

pub async fn customer(
    app: &TestApp,
    entity: &str,
    name: &str,
    email: Option<&str>,
    payment_method: bool,
) -> String {
    let q = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    let i = json!({ "legalEntityId": entity, "name": name, "email": email,
                    "hasPaymentMethod": payment_method });
    let data = app.data(&admin(), q, json!({ "i": i })).await;
    data["createCustomer"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

pub async fn contract_with(app: &TestApp, input: Value) -> String {
    let q = "mutation($i: CreateContractInput!) { createContract(input: $i) { id } }";
    let data = app.data(&admin(), q, json!({ "i": input })).await;
    data["createContract"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// `(id, status, nextBillingDate)` of an entity's contracts, in creation order.
pub async fn contracts(app: &TestApp, entity: &str) -> Vec<(String, String, Value)> {
    let q = "query($e: ID!) { contracts(legalEntityId: $e, first: 100) { nodes { id status nextBillingDate } } }";
    let data = app.data(&admin(), q, json!({ "e": entity })).await;
    data["contracts"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().expect("string").to_string();
            (s("id"), s("status"), c["nextBillingDate"].clone())
        })
        .collect()
}

pub async fn edit_contract(app: &TestApp, id: &str, edit: impl FnOnce(&mut contract::ActiveModel)) {
    let model = contract::Entity::find_by_id(num(id))
        .one(&app.db)
        .await
        .expect("read contract")
        .expect("contract exists");
    let mut active: contract::ActiveModel = model.into();
    edit(&mut active);
    active.update(&app.db).await.expect("update contract");
}

pub async fn all_invoices(app: &TestApp) -> Vec<invoice::Model> {
    invoice::Entity::find()
        .order_by_asc(invoice::Column::Id)
        .all(&app.db)
        .await
        .expect("invoices")
}

pub async fn outbox(app: &TestApp) -> Vec<domain_event::Model> {
    domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Id)
        .all(&app.db)
        .await
        .expect("domain events")
}

pub const DELIVERY: &str = "invoice.delivery_requested";
pub const COLLECTION: &str = "payment.collection_requested";

pub fn count_type(events: &[domain_event::Model], kind: &str) -> usize {
    events.iter().filter(|e| e.event_type == kind).count()
}

/// How many events of each kind, in the order asked.
pub fn counts(events: &[domain_event::Model], kinds: &[&str]) -> Vec<usize> {
    kinds.iter().map(|k| count_type(events, k)).collect()
}

/// The named fields of a JSON object, as an object.
pub fn pick(value: &Value, keys: &[&str]) -> Value {
    keys.iter()
        .map(|k| (k.to_string(), value[*k].clone()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub async fn configure(app: &TestApp, input: Value) -> Value {
    let q = "mutation($i: UpdateBillingAgentConfigInput!) { updateBillingAgentConfig(input: $i) {
      autoPostInvoices emitDeliveryEvents emitPaymentEvents notificationLevel defaultBillingEntityId } }";
    app.data(&admin(), q, json!({ "i": input })).await["updateBillingAgentConfig"].clone()
}

/// An entity with one customer and one monthly contract per start date.
pub async fn entity_with_contracts(
    app: &TestApp,
    code: &str,
    starts: &[&str],
) -> (String, Vec<String>) {
    let e = app.create_entity(code, "EUR").await;
    let c = app.create_customer(&e, &format!("{code} customer")).await;
    let mut ids = Vec::new();
    for start in starts {
        ids.push(app.create_contract(&c, start, "10.00", None).await);
    }
    (e, ids)
}

#[tokio::test]
async fn the_seed_walkthrough_bills_bolt_and_starship_and_records_every_step() {
    let app = spawn_app().await;
    let e = app.create_entity("EE01", "EUR").await;
    let vat = app.create_tax_code(&e, "VAT", "19.45").await;
    let bolt = customer(&app, &e, "Bolt", Some("ap@bolt.example"), true).await;
    let starship = customer(&app, &e, "Starship", Some("ap@starship.example"), false).await;
    let kb = app
        .create_contract(&bolt, "2026-11-01", "49.00", Some(&vat))
        .await;
    let ks = app
        .create_contract(&starship, "2026-11-01", "49.00", Some(&vat))
        .await;

    let r = run(&app, &e, "2026-11-27").await;
    let keys = [
        "status",
        "contractCount",
        "processedCount",
        "invoiceCount",
        "skippedCount",
    ];
    assert_eq!(
        pick(&r, &keys),
        json!({ "status": "COMPLETED", "contractCount": 2, "processedCount": 2, "invoiceCount": 2, "skippedCount": 0 }),
        "The run: 2 contracts due, processed and invoiced, COMPLETED"
    );
    assert_eq!(r["invoiceTotal"], "117.06", "Money: 2 × 58.53 = 117.06");
    assert_eq!(
        pick(&r, &["periodStart", "periodEnd"]),
        json!({ "periodStart": "2026-11-01", "periodEnd": "2026-11-30" }),
        "The billing schedule: run period spans the periods billed"
    );
    assert_eq!(
        pick(&r, &["trigger", "triggeredBy", "runNumber"]),
        json!({ "trigger": "MANUAL", "triggeredBy": "test-user", "runNumber": "BR-000001" }),
        "The run / Events, audit: a person's MANUAL trigger, by the token's sub, numbered per legal entity"
    );
    assert!(
        r["durationMs"].is_i64(),
        "The run: a finished run has a duration: {r}"
    );

    let invoices = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        invoices.len(),
        2,
        "The billing schedule: one invoice per contract period"
    );
    for (inv, (contract, customer)) in invoices.iter().zip([(&kb, &bolt), (&ks, &starship)]) {
        assert_eq!(
            pick(
                inv,
                &["subtotal", "taxTotal", "total", "amountDue", "currency"]
            ),
            json!({ "subtotal": "49.00", "taxTotal": "9.53", "total": "58.53", "amountDue": "58.53", "currency": "EUR" }),
            "Money: 49.00 + 19.45 % VAT is 49.00 + 9.53 = 58.53"
        );
        assert_eq!(
            pick(
                &inv["lines"][0],
                &["netAmount", "taxRate", "taxAmount", "totalAmount"]
            ),
            json!({ "netAmount": "49.00", "taxRate": "19.45", "taxAmount": "9.53", "totalAmount": "58.53" }),
            "Money: per line net = round(qty × price), tax = round(net × rate / 100)"
        );
        assert_eq!(
            pick(
                inv,
                &["status", "issueDate", "dueDate", "periodStart", "periodEnd"]
            ),
            json!({ "status": "POSTED", "issueDate": "2026-11-27", "dueDate": "2026-12-27",
                    "periodStart": "2026-11-01", "periodEnd": "2026-11-30" }),
            "Invoices: POSTED at once (auto post on); issue date = D; due date = issue + 30 days"
        );
        assert_eq!(
            (&inv["contract"]["id"], &inv["customer"]["id"]),
            (&json!(contract), &json!(customer))
        );
    }
    assert_eq!(
        field(&invoices, "number"),
        ["EE01-2026-000001", "EE01-2026-000002"],
        "Invoices: numbers <entity code>-<year>-<000001>, gapless"
    );

    assert_eq!(
        actions(&r),
        [
            "RUN_TRIGGERED",
            "RUN_STARTED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "STEP_COMPLETED",
            "RUN_COMPLETED"
        ],
        "Events, audit: the run's audit trail in order"
    );
    let trail = r["auditTrail"].as_array().expect("trail");
    assert_eq!(
        trail[0]["actor"], "test-user",
        "Events, audit: RUN_TRIGGERED's actor is the user"
    );
    let steps: Vec<Value> = trail[2..6].iter().map(|a| a["details"].clone()).collect();
    assert_eq!(
        steps,
        [
            json!({ "step": "find_due_contracts", "contracts": 2 }),
            json!({ "step": "generate_invoices", "invoices": 2, "skipped": 0 }),
            json!({ "step": "post_invoices", "posted": 2 }),
            json!({ "step": "emit_events", "events": 3 }),
        ],
        "Events, audit: STEP_COMPLETED for each workflow step, with counts"
    );

    let events = outbox(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION, "billing_run.completed"]),
        [2, 1, 1],
        "Events: delivery for each customer with an email, collection only with a payment method, one billing_run.completed: {kinds:?}"
    );
    assert_eq!(events.len(), 4, "Events: nothing else: {kinds:?}");
    let collected = events
        .iter()
        .find(|e| e.event_type == COLLECTION)
        .expect("collection");
    assert_eq!(
        collected.subject_id,
        invoices[0]["id"].as_str().expect("id"),
        "Events: Bolt's invoice is collected"
    );
    assert_eq!(
        kinds.last(),
        Some(&"billing_run.completed"),
        "Events: the run's end comes last"
    );
}

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
async fn paused_and_cancelled_contracts_are_not_billed() {
    let app = spawn_app().await;
    let starts = ["2026-11-01"; 3];
    let (e, ids) = entity_with_contracts(&app, "PC1", &starts).await;
    for (id, status) in [(&ids[1], "PAUSED"), (&ids[2], "CANCELLED")] {
        edit_contract(&app, id, |c| {
            c.status = Set(sea_orm::ActiveEnum::try_from_value(&status.to_string())
                .expect("a contract status"))
        })
        .await;
    }
    let r = run(&app, &e, "2026-11-27").await;
    assert_eq!(
        (r["contractCount"].clone(), r["invoiceCount"].clone()),
        (json!(1), json!(1)),
        "The billing schedule: PAUSED and CANCELLED contracts are not billed"
    );
    let billed: Vec<Option<i64>> = all_invoices(&app)
        .await
        .iter()
        .map(|i| i.contract_id)
        .collect();
    assert_eq!(
        billed,
        [Some(num(&ids[0]))],
        "only the ACTIVE contract is invoiced"
    );
    let listed = contracts(&app, &e).await;
    assert_eq!(
        listed
            .iter()
            .map(|c| (c.1.as_str(), c.2.clone()))
            .collect::<Vec<_>>(),
        [
            ("ACTIVE", json!("2026-12-01")),
            ("PAUSED", json!("2026-11-01")),
            ("CANCELLED", json!("2026-11-01"))
        ],
        "The billing schedule: contracts not billed do not move"
    );
}

#[tokio::test]
async fn a_voided_invoice_keeps_its_number_and_its_period_is_never_billed_again() {
    let app = spawn_app().await;
    let (e, ids) = entity_with_contracts(&app, "VD1", &["2026-11-01"]).await;
    let r = run(&app, &e, "2026-11-27").await;
    let inv = run_invoices(&app, &r["id"]).await[0].clone();
    let void = "mutation($id: ID!, $r: String!) { voidInvoice(id: $id, reason: $r) { id number status voidReason amountDue } }";
    for blank in ["", "   "] {
        let body = app
            .gql(&admin(), void, json!({ "id": inv["id"], "r": blank }))
            .await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "Invoices: a void needs a reason: {body}"
        );
    }
    let voided = app
        .data(
            &admin(),
            void,
            json!({ "id": inv["id"], "r": "Duplicate of a manual invoice" }),
        )
        .await;
    assert_eq!(
        voided["voidInvoice"],
        json!({ "id": inv["id"], "number": "VD1-2026-000001", "status": "VOID",
                "voidReason": "Duplicate of a manual invoice", "amountDue": "0.00" }),
        "Invoices: voiding keeps the number"
    );
    let next = run(&app, &e, "2026-12-05").await;
    let invoices = run_invoices(&app, &next["id"]).await;
    assert_eq!(
        field(&invoices, "periodStart"),
        ["2026-12-01"],
        "The billing schedule: voiding does not make its period billable again"
    );
    assert_eq!(
        field(&invoices, "number"),
        ["VD1-2026-000002"],
        "Invoices: numbering goes on gapless"
    );
    // Even a contract rewound to its first period finds both periods billed.
    edit_contract(&app, &ids[0], |c| {
        c.next_period_index = Set(0);
        c.next_billing_date = Set(chrono::NaiveDate::from_ymd_opt(2026, 11, 1));
    })
    .await;
    let again = run(&app, &e, "2026-12-05").await;
    assert_eq!(
        again["invoiceCount"], 0,
        "The billing schedule: a contract period is invoiced at most once, whatever happens; a void is a decision, not a retry"
    );
    assert_eq!(all_invoices(&app).await.len(), 2);
}

#[tokio::test]
async fn with_auto_post_off_runs_make_drafts_that_post_in_posting_order() {
    let app = spawn_app().await;
    let (e, _) = entity_with_contracts(&app, "AP1", &["2026-11-01", "2026-11-01"]).await;
    let config = configure(&app, json!({ "autoPostInvoices": false })).await;
    assert_eq!(config["autoPostInvoices"], false);
    let r = run(&app, &e, "2026-11-27").await;
    let drafts = run_invoices(&app, &r["id"]).await;
    assert_eq!(
        field(&drafts, "status"),
        ["DRAFT", "DRAFT"],
        "Invoices: auto post off makes DRAFTs"
    );
    assert_eq!(
        field(&drafts, "number"),
        ["<null>", "<null>"],
        "Invoices: drafts have no number"
    );
    let events = outbox(&app).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        kinds,
        ["billing_run.completed"],
        "Events: drafts start no delivery or collection"
    );

    let post = "mutation($id: ID!) { postInvoice(id: $id) { id number status } }";
    let second = app
        .data(&admin(), post, json!({ "id": drafts[1]["id"] }))
        .await;
    assert_eq!(
        second["postInvoice"],
        json!({ "id": drafts[1]["id"], "number": "AP1-2026-000001", "status": "POSTED" }),
        "Invoices: numbers are assigned when posting, in posting order"
    );
    let first = app
        .data(&admin(), post, json!({ "id": drafts[0]["id"] }))
        .await;
    assert_eq!(
        first["postInvoice"]["number"], "AP1-2026-000002",
        "Invoices: gapless per legal entity and year"
    );
    let body = app
        .gql(&admin(), post, json!({ "id": drafts[1]["id"] }))
        .await;
    assert_eq!(
        code(&body),
        "CONFLICT",
        "Invoices: only a draft can be posted: {body}"
    );
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [2, 2],
        "Events: posting a draft emits its events in the posting transaction"
    );

    let audit = app
        .data(
            &admin(),
            "{ auditEvents { subjectType action actor details } }",
            json!({}),
        )
        .await;
    let changed: Vec<&Value> = audit["auditEvents"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["action"] == "CONFIG_UPDATED")
        .collect();
    assert_eq!(
        changed.len(),
        1,
        "Events, audit: config changes are audited: {audit}"
    );
    assert_eq!(changed[0]["subjectType"], "BillingAgentConfig");
    assert_eq!(
        changed[0]["actor"], "test-user",
        "Events, audit: with who did them"
    );
    let details = &changed[0]["details"];
    assert_eq!(
        (
            details["before"]["autoPostInvoices"].clone(),
            details["after"]["autoPostInvoices"].clone()
        ),
        (json!(true), json!(false)),
        "Events, audit: config change details carry before and after: {details}"
    );
    let posted = audit["auditEvents"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|a| a["action"] == "INVOICE_POSTED")
        .count();
    assert_eq!(posted, 2, "Events, audit: postings are audited");
}

#[tokio::test]
async fn emit_flags_off_emit_no_delivery_or_collection_events() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let (e, _) = entity_with_contracts(&app, "EF1", &["2026-11-01"]).await;
    configure(&app, json!({ "emitDeliveryEvents": false })).await;
    run(&app, &e, "2026-11-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [0, 1],
        "Events: Emit Delivery Events off emits no invoice.delivery_requested"
    );
    configure(
        &app,
        json!({ "emitDeliveryEvents": true, "emitPaymentEvents": false }),
    )
    .await;
    run(&app, &e, "2026-12-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [1, 1],
        "Events: Emit Payment Events off emits no payment.collection_requested"
    );
    configure(&app, json!({ "emitDeliveryEvents": false })).await;
    run(&app, &e, "2027-01-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [1, 1],
        "Events: both flags off emit neither"
    );
    assert_eq!(
        count_type(&events, "billing_run.completed"),
        3,
        "Events: each run still ends with billing_run.completed"
    );
    assert_eq!(all_invoices(&app).await.len(), 3);
}

#[tokio::test]
async fn jpy_and_kwd_amounts_round_half_away_from_zero_to_their_minor_units() {
    let app = spawn_app().await;
    // (currency, lines, expected per line (net, tax), subtotal, tax, total)
    let cases = [
        (
            "JPY",
            [("1234", "3"), ("1235", "3")],
            [("3702", "370"), ("3705", "371")],
            "7407",
            "741",
            "8148",
        ),
        (
            "KWD",
            [("1.0005", "1"), ("1.0045", "1")],
            [("1.001", "0.100"), ("1.005", "0.101")],
            "2.006",
            "0.201",
            "2.207",
        ),
    ];
    for (currency, lines, expected, subtotal, tax, total) in cases {
        let e = app.create_entity(&currency[..2], currency).await;
        let rate = app.create_tax_code(&e, "VAT10", "10").await;
        let c = app.create_customer(&e, "Yen and dinar").await;
        let lines: Vec<Value> = lines
            .iter()
            .map(|(price, qty)| json!({ "description": "Seat", "quantity": qty, "unitPrice": price, "taxCodeId": rate }))
            .collect();
        contract_with(&app, json!({ "customerId": c, "startDate": "2026-11-01", "interval": "MONTH", "lines": lines })).await;
        let r = run(&app, &e, "2026-11-27").await;
        let inv = run_invoices(&app, &r["id"]).await[0].clone();
        let got: Vec<(&str, &str)> = inv["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .map(|l| {
                (
                    l["netAmount"].as_str().unwrap_or(""),
                    l["taxAmount"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got, expected,
            "Money: net = round(qty × price), tax = round(net × rate / 100), half away from zero, to {currency}'s minor unit"
        );
        assert_eq!(
            [
                &inv["subtotal"],
                &inv["taxTotal"],
                &inv["total"],
                &inv["currency"]
            ],
            [
                &json!(subtotal),
                &json!(tax),
                &json!(total),
                &json!(currency)
            ],
            "Money: invoice sums in {currency}'s minor unit"
        );
        assert_eq!(
            r["invoiceTotal"], total,
            "Money: the run total in {currency}'s minor unit"
        );
    }
}
