//! Billing runs through the API, and the rows they leave: triggering and
//! awaiting runs (`wait: true`), reading their invoices, the entities and
//! contracts they bill, the agent's configuration and the outbox.

use chrono::{NaiveDate, Utc};
use entity::{billing_run, contract, domain_event, invoice};
use sea_orm::{ActiveModelTrait, EntityTrait, PaginatorTrait, QueryOrder, Set};
use serde_json::{json, Value};

use super::{admin, TestApp};

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
    let input = json!({ "legalEntityId": entity, "name": name, "email": email,
                        "hasPaymentMethod": payment_method });
    app.create("Customer", input).await
}

pub async fn contract_with(app: &TestApp, input: Value) -> String {
    app.create("Contract", input).await
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

pub fn date(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

/// A billing_run row written directly: a state only a crash or a
/// concurrent trigger can leave.
pub async fn insert_run(
    app: &TestApp,
    entity: &str,
    seq: i32,
    status: &str,
    count: i32,
    after: i64,
) -> i64 {
    billing_run::ActiveModel {
        legal_entity_id: Set(num(entity)),
        seq: Set(seq),
        run_number: Set(format!("BR-{seq:06}")),
        status: Set(sea_orm::ActiveEnum::try_from_value(&status.to_string()).expect("a run status")),
        trigger_source: Set(entity::status::TriggerSource::Manual),
        triggered_by: Set("test-user".into()),
        as_of: Set(date("2026-11-27")),
        dry_run: Set(false),
        period_start: Set(None),
        period_end: Set(None),
        contract_count: Set(count),
        processed_count: Set(0),
        invoice_count: Set(0),
        invoice_total_e4: Set(0),
        posted_count: Set(0),
        event_count: Set(0),
        skipped_count: Set(0),
        last_contract_id: Set(after),
        started_at: Set((status == "RUNNING").then(Utc::now)),
        completed_at: Set(None),
        duration_ms: Set(None),
        error: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(&app.db)
    .await
    .expect("insert billing_run")
    .id
}

pub async fn run_count(app: &TestApp) -> u64 {
    billing_run::Entity::find()
        .count(&app.db)
        .await
        .expect("count runs")
}

pub const COMPLETED_EVENT: &str = "billing_run.completed";

/// The audit trail of a run that billed in one chunk, in order.
pub const ONE_CHUNK_TRAIL: [&str; 7] = [
    "RUN_TRIGGERED",
    "RUN_STARTED",
    "STEP_COMPLETED",
    "STEP_COMPLETED",
    "STEP_COMPLETED",
    "STEP_COMPLETED",
    "RUN_COMPLETED",
];

/// The rows of a run's `auditTrail` with this action.
pub fn audited<'a>(run: &'a Value, action: &str) -> Vec<&'a Value> {
    let trail = run["auditTrail"].as_array().expect("auditTrail");
    trail.iter().filter(|a| a["action"] == action).collect()
}

/// The types of the outbox's events, in id order.
pub async fn outbox_types(app: &TestApp) -> Vec<String> {
    outbox(app)
        .await
        .into_iter()
        .map(|e| e.event_type)
        .collect()
}

/// An entity with `contracts` monthly contracts from 2026-11-01.
pub async fn entity_with(app: &TestApp, code: &str, contracts: usize) -> String {
    let starts = vec!["2026-11-01"; contracts];
    entity_with_contracts(app, code, &starts).await.0
}

/// Triggers a run of `entity` as admin, waiting for it to finish or not;
/// its id.
pub async fn trigger_run(app: &TestApp, entity: &str, as_of: &str, wait: bool) -> String {
    let input = json!({ "legalEntityId": entity, "asOf": as_of, "wait": wait });
    let body = trigger(app, &admin(), input).await;
    body["data"]["triggerBillingRun"]["runs"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("The run: the trigger is accepted: {body}"))
        .to_string()
}

pub const CREATE_CONTRACT: &str = "mutation($i: CreateContractInput!, $k: String) \
    { createContract(input: $i, idempotencyKey: $k) { id } }";

/// Input for a monthly contract of `customer` from 2026-01-01, one line at `price`.
pub fn monthly(customer: &str, price: &str) -> Value {
    let line = json!([{ "description": "Plan", "quantity": "1", "unitPrice": price }]);
    json!({ "customerId": customer, "startDate": "2026-01-01", "interval": "MONTH", "lines": line })
}
