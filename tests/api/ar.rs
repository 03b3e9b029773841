//! Accounts receivable through the API: the AR aging report, payments and
//! the invoice list (DESIGN.md, Invoices, AR aging and Access).

use chrono::{Duration, NaiveDate, Utc};
use entity::{domain_event, invoice, payment};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};
use serde_json::{json, Value};

use crate::helpers::{admin, code, spawn_app, token, token_with, TestApp};

const AGING: &str = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
  asOf currency
  rows { customer { id name } buckets { current days1To30 days31To60 days61To90 over90 total }
         invoices { daysPastDue bucket amountDue invoice { id dueDate } } }
  totals { current days1To30 days31To60 days61To90 over90 total } } }";
const PAY: &str = "mutation($i: RecordPaymentInput!) { recordPayment(input: $i) { id status amountPaid amountDue } }";
const INVOICES: &str = "query($e: ID!, $s: InvoiceStatus, $c: ID, $from: Date, $to: Date, $first: Int, $after: String) {
  invoices(legalEntityId: $e, status: $s, customerId: $c, dueFrom: $from, dueTo: $to, first: $first, after: $after) {
    edges { cursor node { id status issueDate dueDate customer { id } } }
    pageInfo { hasNextPage hasPreviousPage endCursor } } }";
const INVOICE: &str = "query($id: ID!) { invoice(id: $id) { status amountPaid amountDue } }";
const BUCKETS: [&str; 5] = ["current", "days1To30", "days31To60", "days61To90", "over90"];

fn plus(d: NaiveDate, days: i64) -> String {
    (d + Duration::days(days)).to_string()
}

/// Today in the timezone of the entities `create_entity` makes, the day
/// the server posts and voids on.
fn today() -> NaiveDate {
    Utc::now()
        .with_timezone(&chrono_tz::Europe::Tallinn)
        .date_naive()
}

/// The bucket label of this many days past due.
fn label(days: i64) -> &'static str {
    match days {
        d if d <= 0 => "current",
        1..=30 => "1-30",
        31..=60 => "31-60",
        61..=90 => "61-90",
        _ => "90+",
    }
}

async fn customer(app: &TestApp, entity: &str, name: &str, terms: i32) -> String {
    let q = "mutation($i: CreateCustomerInput!) { createCustomer(input: $i) { id } }";
    let i = json!({ "legalEntityId": entity, "name": name, "paymentTermsDays": terms });
    app.data(&admin(), q, json!({ "i": i })).await["createCustomer"]["id"]
        .as_str()
        .expect("id")
        .to_string()
}

/// A billing run with `wait: true` that must complete.
async fn run(app: &TestApp, entity: &str, as_of: &str) {
    let q = "mutation($i: TriggerBillingRunInput!) { triggerBillingRun(input: $i) { runs { status } } }";
    let i = json!({ "legalEntityId": entity, "asOf": as_of, "wait": true });
    let data = app.data(&admin(), q, json!({ "i": i })).await;
    assert_eq!(data["triggerBillingRun"]["runs"][0]["status"], "COMPLETED");
}

/// The invoice list as `tok` sees it with these filters: (nodes, pageInfo).
async fn list(app: &TestApp, tok: &str, vars: Value) -> (Vec<Value>, Value) {
    let body = app.gql(tok, INVOICES, vars).await;
    assert!(body.get("errors").is_none(), "invoices: {body}");
    let c = &body["data"]["invoices"];
    let nodes = c["edges"].as_array().expect("edges").iter();
    (
        nodes.map(|e| e["node"].clone()).collect(),
        c["pageInfo"].clone(),
    )
}

fn ids(nodes: &[Value]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_string())
        .collect()
}

/// The ids of a customer's invoices, oldest first.
async fn invoices_of(app: &TestApp, entity: &str, customer: &str) -> Vec<String> {
    let (nodes, _) = list(
        app,
        &admin(),
        json!({ "e": entity, "c": customer, "first": 100 }),
    )
    .await;
    ids(&nodes).into_iter().rev().collect()
}

/// An entity (EUR unless told) with a customer on terms 0 and one posted invoice of
/// `price`, issued and due on `on`: (entity, invoice).
async fn one_invoice(app: &TestApp, code: &str, price: &str, on: &str) -> (String, String) {
    one_invoice_in(app, code, "EUR", price, on).await
}

async fn one_invoice_in(
    app: &TestApp,
    code: &str,
    cur: &str,
    price: &str,
    on: &str,
) -> (String, String) {
    let e = app.create_entity(code, cur).await;
    let c = customer(app, &e, &format!("{code} Customer"), 0).await;
    app.create_contract(&c, on, price, None).await;
    run(app, &e, on).await;
    let inv = invoices_of(app, &e, &c).await;
    assert_eq!(inv.len(), 1, "one period billed");
    (e, inv[0].clone())
}

/// Invoice ids (newest first) of `e` for these filters, as admin.
async fn filtered(app: &TestApp, e: &str, mut vars: Value) -> Vec<String> {
    vars["e"] = json!(e);
    ids(&list(app, &admin(), vars).await.0)
}

async fn pay(app: &TestApp, tok: &str, invoice: &str, amount: &str, on: &str) -> Value {
    let i = json!({ "invoiceId": invoice, "amount": amount, "receivedOn": on });
    app.gql(tok, PAY, json!({ "i": i })).await
}

async fn paid(app: &TestApp, invoice: &str, amount: &str, on: &str) -> Value {
    let body = pay(app, &admin(), invoice, amount, on).await;
    assert!(
        body.get("errors").is_none(),
        "recordPayment {amount} on {on}: {body}"
    );
    body["data"]["recordPayment"].clone()
}

async fn aging(app: &TestApp, entity: &str, as_of: Option<&str>) -> Value {
    app.data(&admin(), AGING, json!({ "e": entity, "d": as_of }))
        .await["arAging"]
        .clone()
}

/// The amount due of the first open invoice as of `d`.
async fn due_as_of(app: &TestApp, e: &str, d: &str) -> String {
    open(&aging(app, e, Some(d)).await)[0].0.clone()
}

/// (amountDue, daysPastDue, bucket) of each open invoice, row by row.
fn open(report: &Value) -> Vec<(String, i64, String)> {
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .flat_map(|r| r["invoices"].as_array().expect("invoices").clone())
        .map(|i| {
            let s = |k: &str| i[k].as_str().expect("string").to_string();
            (
                s("amountDue"),
                i["daysPastDue"].as_i64().expect("days"),
                s("bucket"),
            )
        })
        .collect()
}

fn names(report: &Value) -> Vec<&str> {
    let rows = report["rows"].as_array().expect("rows");
    rows.iter()
        .map(|r| r["customer"]["name"].as_str().expect("name"))
        .collect()
}

async fn payments(app: &TestApp, invoice: &str) -> u64 {
    let id: i64 = invoice.parse().expect("numeric id");
    payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(id))
        .count(&app.db)
        .await
        .expect("count payments")
}

async fn received_events(app: &TestApp, invoice: &str) -> Vec<domain_event::Model> {
    domain_event::Entity::find()
        .filter(domain_event::Column::EventType.eq("payment.received"))
        .filter(domain_event::Column::SubjectId.eq(invoice))
        .all(&app.db)
        .await
        .expect("domain events")
}

/// The stored invoice row.
async fn row(app: &TestApp, id: &str) -> invoice::Model {
    invoice::Entity::find_by_id(id.parse::<i64>().expect("numeric id"))
        .one(&app.db)
        .await
        .expect("read invoice")
        .expect("invoice exists")
}

async fn post(app: &TestApp, invoice: &str) {
    let q = "mutation($id: ID!) { postInvoice(id: $id) { status } }";
    let p = app.data(&admin(), q, json!({ "id": invoice })).await;
    assert_eq!(p["postInvoice"]["status"], "POSTED");
}

async fn auto_post(app: &TestApp, on: bool) {
    let q = "mutation($i: UpdateBillingAgentConfigInput!) { updateBillingAgentConfig(input: $i) { autoPostInvoices } }";
    let c = app
        .data(&admin(), q, json!({ "i": { "autoPostInvoices": on } }))
        .await;
    assert_eq!(c["updateBillingAgentConfig"]["autoPostInvoices"], on);
}

async fn state(app: &TestApp, invoice: &str) -> Value {
    app.data(&admin(), INVOICE, json!({ "id": invoice })).await["invoice"].clone()
}

async fn void(app: &TestApp, invoice: &str) {
    let q = "mutation($id: ID!) { voidInvoice(id: $id, reason: \"Duplicate\") { status } }";
    let v = app.data(&admin(), q, json!({ "id": invoice })).await;
    assert_eq!(v["voidInvoice"]["status"], "VOID");
}

fn is(body: &Value, want: &str, rule: &str) {
    assert_eq!(code(body), want, "{rule}: {body}");
}

fn bad_input(body: &Value, field: Option<&str>, rule: &str) {
    assert_eq!(code(body), "BAD_USER_INPUT", "{rule}: {body}");
    if let Some(field) = field {
        assert_eq!(
            body["errors"][0]["extensions"]["field"], field,
            "{rule}: {body}"
        );
    }
}

#[tokio::test]
async fn every_bucket_boundary_lands_in_its_bucket_with_rows_and_totals_summed() {
    let app = spawn_app().await;
    let e = app.create_entity("AG01", "EUR").await;
    // One run at R; a customer on terms T has its invoice due R + T, so as
    // of R + 91 it is 91 − T days past due.
    let r: NaiveDate = "2026-03-02".parse().expect("date");
    let cases = [
        (-5, "0.50", "current"),
        (0, "1.00", "current"),
        (1, "10.00", "1-30"),
        (30, "20.00", "1-30"),
        (31, "100.00", "31-60"),
        (60, "200.00", "31-60"),
        (61, "1000.00", "61-90"),
        (90, "2000.00", "61-90"),
        (91, "10000.00", "90+"),
    ];
    for (n, (days, price, _)) in cases.iter().enumerate() {
        let c = customer(&app, &e, &format!("Customer {n:02}"), 91 - days).await;
        app.create_contract(&c, &r.to_string(), price, None).await;
        if *days == 91 {
            app.create_contract(&c, &r.to_string(), "5000.00", None)
                .await;
        }
    }
    run(&app, &e, &r.to_string()).await;
    let report = aging(&app, &e, Some(&plus(r, 91))).await;
    assert_eq!(report["asOf"], plus(r, 91));
    assert_eq!(report["currency"], "EUR");
    let rows = report["rows"].as_array().expect("rows");
    assert_eq!(
        rows.len(),
        cases.len(),
        "AR aging: a row per customer with something open"
    );
    let labels = ["current", "1-30", "31-60", "61-90", "90+"];
    for (n, (days, price, label)) in cases.iter().enumerate() {
        let row = &rows[n];
        assert_eq!(
            row["customer"]["name"],
            format!("Customer {n:02}"),
            "AR aging: rows sorted by name"
        );
        let invoices = row["invoices"].as_array().expect("invoices");
        let expected_total = if *days == 91 { "15000.00" } else { price };
        assert_eq!(invoices.len(), if *days == 91 { 2 } else { 1 });
        for inv in invoices {
            assert_eq!(
                inv["daysPastDue"], *days,
                "AR aging: days past due = asOf − due date"
            );
            assert_eq!(
                inv["bucket"], *label,
                "AR aging: {days} days past due is bucket {label}"
            );
            assert_eq!(inv["invoice"]["dueDate"], plus(r, i64::from(91 - days)));
        }
        if *days != 91 {
            assert_eq!(invoices[0]["amountDue"], *price);
        }
        let slot = labels.iter().position(|l| l == label).expect("label");
        for (k, key) in BUCKETS.iter().enumerate() {
            let want = if k == slot { expected_total } else { "0.00" };
            assert_eq!(
                row["buckets"][key], want,
                "AR aging: {key} of the row with {days} days"
            );
        }
        assert_eq!(
            row["buckets"]["total"], expected_total,
            "AR aging: a row's total"
        );
    }
    let want = ["1.50", "30.00", "300.00", "3000.00", "15000.00"];
    for (key, want) in BUCKETS.iter().zip(want) {
        assert_eq!(
            report["totals"][key], want,
            "AR aging: totals per bucket ({key})"
        );
    }
    assert_eq!(
        report["totals"]["total"], "18331.50",
        "AR aging: grand total"
    );
    let q = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) { rows { ...R } } }
      fragment R on ArAgingRow { open: invoices { bucket } }";
    let d = app
        .data(&admin(), q, json!({ "e": e, "d": plus(r, 91) }))
        .await;
    let first = &d["arAging"]["rows"][0]["open"];
    assert_eq!(
        first,
        &json!([{ "bucket": "current" }]),
        "invoices via fragment, alias"
    );
}

#[tokio::test]
async fn payments_reduce_the_amount_due_only_as_of_their_received_date() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "AG02", "300.00", "2026-05-04").await;
    let p = paid(&app, &inv, "100.00", "2026-05-10").await;
    assert_eq!(
        (&p["status"], &p["amountPaid"], &p["amountDue"]),
        (&json!("POSTED"), &json!("100.00"), &json!("200.00"))
    );
    let after = aging(&app, &e, Some("2026-05-20")).await;
    assert_eq!(
        open(&after),
        [("200.00".into(), 16, "1-30".into())],
        "AR aging: amount due as of A = total − payments received on or before A"
    );
    assert_eq!(after["totals"]["days1To30"], "200.00");
    let on_day = aging(&app, &e, Some("2026-05-10")).await;
    assert_eq!(
        open(&on_day)[0].0,
        "200.00",
        "AR aging: a payment received on A counts"
    );
    let before = aging(&app, &e, Some("2026-05-09")).await;
    assert_eq!(
        open(&before),
        [("300.00".into(), 5, "1-30".into())],
        "AR aging: a payment received after A does not reduce the amount due as of A"
    );
    assert_eq!(before["totals"]["total"], "300.00");

    paid(&app, &inv, "50.00", "2026-06-15").await;
    assert_eq!(due_as_of(&app, &e, "2026-06-01").await, "200.00");
    assert_eq!(due_as_of(&app, &e, "2026-06-20").await, "150.00");

    let p = paid(&app, &inv, "150.00", "2026-07-01").await;
    assert_eq!(p["status"], "PAID", "Invoices: PAID when nothing is due");
    assert_eq!(
        (&p["amountPaid"], &p["amountDue"]),
        (&json!("300.00"), &json!("0.00"))
    );
    let later = aging(&app, &e, Some("2026-07-02")).await;
    assert_eq!(
        later["rows"],
        json!([]),
        "AR aging: a paid invoice is not open"
    );
    assert_eq!(later["totals"]["total"], "0.00");
    assert_eq!(
        open(&aging(&app, &e, Some("2026-06-30")).await),
        [("150.00".into(), 57, "31-60".into())],
        "AR aging: an invoice paid after A is still open as of A"
    );
    assert_eq!(due_as_of(&app, &e, "2026-05-09").await, "300.00");
    let issued_later = aging(&app, &e, Some("2026-05-03")).await;
    assert_eq!(
        issued_later["rows"],
        json!([]),
        "AR aging: only invoices issued on or before A"
    );
    assert_eq!(aging(&app, &e, None).await["rows"], json!([]));
}

#[tokio::test]
async fn an_overpayment_is_refused_and_writes_nothing() {
    let app = spawn_app().await;
    let (_, inv) = one_invoice(&app, "AG03", "100.00", "2026-05-04").await;
    paid(&app, &inv, "60.00", "2026-05-05").await;
    let body = pay(&app, &admin(), &inv, "40.01", "2026-05-06").await;
    bad_input(
        &body,
        Some("amount"),
        "Invoices: a payment larger than the amount due is refused",
    );
    let want = json!({ "status": "POSTED", "amountPaid": "60.00", "amountDue": "40.00" });
    assert_eq!(
        state(&app, &inv).await,
        want,
        "Invoices: a refused payment changes nothing"
    );
    assert_eq!(
        payments(&app, &inv).await,
        1,
        "a refused payment leaves no payment row"
    );
    assert_eq!(
        received_events(&app, &inv).await.len(),
        1,
        "a refused payment emits no payment.received"
    );

    paid(&app, &inv, "40.00", "2026-05-06").await;
    let body = pay(&app, &admin(), &inv, "0.01", "2026-05-07").await;
    bad_input(
        &body,
        Some("amount"),
        "Invoices: nothing is due on a PAID invoice",
    );
    assert_eq!(payments(&app, &inv).await, 2);
}

#[tokio::test]
async fn two_concurrent_payments_cannot_overpay() {
    let app = spawn_app().await;
    let e = app.create_entity("AG04", "EUR").await;
    for n in 0..4 {
        let c = customer(&app, &e, &format!("Racer {n}"), 0).await;
        app.create_contract(&c, "2026-05-04", "100.00", None).await;
    }
    run(&app, &e, "2026-05-04").await;
    let (all, _) = list(&app, &admin(), json!({ "e": e })).await;
    assert_eq!(all.len(), 4);
    for inv in ids(&all) {
        let tok = admin();
        let (a, b) = tokio::join!(
            pay(&app, &tok, &inv, "60.00", "2026-05-05"),
            pay(&app, &tok, &inv, "60.00", "2026-05-05")
        );
        let ok = [&a, &b]
            .iter()
            .filter(|x| x.get("errors").is_none())
            .count();
        assert_eq!(
            ok, 1,
            "Invoices: two payments that together overpay, one wins: {a} {b}"
        );
        let refused = if a.get("errors").is_some() { &a } else { &b };
        bad_input(
            refused,
            Some("amount"),
            "Invoices: the loser is refused as an overpayment",
        );
        assert_eq!(state(&app, &inv).await["amountPaid"], "60.00");
        assert_eq!(payments(&app, &inv).await, 1);
    }
}

#[tokio::test]
async fn drafts_and_voided_invoices_are_not_aged_and_take_no_payments() {
    let app = spawn_app().await;
    let e = app.create_entity("AG05", "EUR").await;
    let kept = customer(&app, &e, "Kept AS", 0).await;
    let voided = customer(&app, &e, "Voided AS", 0).await;
    let drafty = customer(&app, &e, "Drafty AS", 0).await;
    app.create_contract(&kept, "2026-05-04", "100.00", None)
        .await;
    app.create_contract(&voided, "2026-05-04", "200.00", None)
        .await;
    run(&app, &e, "2026-05-04").await;
    let void_id = invoices_of(&app, &e, &voided).await[0].clone();
    void(&app, &void_id).await;

    auto_post(&app, false).await;
    app.create_contract(&drafty, "2026-05-10", "400.00", None)
        .await;
    run(&app, &e, "2026-05-10").await;
    let draft_id = invoices_of(&app, &e, &drafty).await[0].clone();
    assert_eq!(state(&app, &draft_id).await["status"], "DRAFT");

    // As of today: the void happened today, so it counts.
    let t = today().to_string();
    let report = aging(&app, &e, Some(&t)).await;
    assert_eq!(
        names(&report),
        ["Kept AS"],
        "AR aging: drafts and voided invoices are not open"
    );
    assert_eq!(report["totals"]["total"], "100.00");
    assert_eq!(
        names(&aging(&app, &e, Some("2026-05-20")).await),
        ["Kept AS", "Voided AS"],
        "AR aging: an invoice voided after A was open on A"
    );

    let body = pay(&app, &admin(), &draft_id, "10.00", "2026-05-11").await;
    bad_input(&body, None, "recordPayment is refused on a DRAFT");
    let body = pay(&app, &admin(), &void_id, "10.00", "2026-05-11").await;
    bad_input(&body, None, "recordPayment is refused on a VOID invoice");
    assert_eq!(
        payments(&app, &draft_id).await + payments(&app, &void_id).await,
        0
    );

    post(&app, &draft_id).await;
    let report = aging(&app, &e, Some(&t)).await;
    assert_eq!(
        names(&report),
        ["Drafty AS", "Kept AS"],
        "AR aging: a posted draft is open"
    );
    let days = (today() - "2026-05-10".parse::<NaiveDate>().expect("date")).num_days();
    assert_eq!(
        open(&report)[0],
        ("400.00".into(), days, label(days).into())
    );
    assert_eq!(
        names(&aging(&app, &e, Some("2026-05-20")).await),
        ["Kept AS", "Voided AS"],
        "AR aging: a draft posted after A was not open on A"
    );
}

#[tokio::test]
async fn rows_list_only_customers_with_something_open_sorted_by_name() {
    let app = spawn_app().await;
    let e = app.create_entity("AG06", "EUR").await;
    let mut by_name = std::collections::HashMap::new();
    for name in [
        "Zeta AS", "Mu AS", "Beta AS", "Gamma AS", "Alpha AS", "Delta AS",
    ] {
        let c = customer(&app, &e, name, 0).await;
        if name != "Gamma AS" {
            app.create_contract(&c, "2026-05-04", "100.00", None).await;
        }
        by_name.insert(name, c);
    }
    run(&app, &e, "2026-05-04").await;
    let beta = invoices_of(&app, &e, &by_name["Beta AS"]).await[0].clone();
    paid(&app, &beta, "100.00", "2026-05-05").await;
    let delta = invoices_of(&app, &e, &by_name["Delta AS"]).await[0].clone();
    void(&app, &delta).await;

    let report = aging(&app, &e, Some("2026-05-06")).await;
    assert_eq!(
        names(&report),
        ["Alpha AS", "Delta AS", "Mu AS", "Zeta AS"],
        "AR aging: one row per customer with something open, sorted by name (Delta voided later)"
    );
    assert_eq!(report["totals"]["days1To30"], "400.00");
    let before = aging(&app, &e, Some("2026-05-04")).await;
    assert_eq!(
        names(&before),
        ["Alpha AS", "Beta AS", "Delta AS", "Mu AS", "Zeta AS"]
    );
    assert_eq!(before["totals"]["current"], "500.00");
    let now = aging(&app, &e, None).await;
    assert_eq!(
        names(&now),
        ["Alpha AS", "Mu AS", "Zeta AS"],
        "AR aging: paid and voided invoices are not open"
    );
    assert_eq!(now["totals"]["total"], "300.00");
}

#[tokio::test]
async fn an_invoice_voided_after_the_as_of_date_was_open_on_it() {
    let app = spawn_app().await;
    let t = today();
    // Issued, due and (auto-)posted 20 days ago; voided today.
    let (e, inv) = one_invoice(&app, "AG11", "100.00", &plus(t, -20)).await;
    void(&app, &inv).await;
    let stored = row(&app, &inv).await;
    assert_eq!(
        (stored.posted_on, stored.voided_on),
        (Some(t - Duration::days(20)), Some(t)),
        "a run posts on its date; a void is dated today in the entity's timezone"
    );

    let report = aging(&app, &e, Some(&plus(t, -10))).await;
    assert_eq!(
        open(&report),
        [("100.00".into(), 10, "1-30".into())],
        "AR aging: an invoice voided after A was open on A"
    );
    assert_eq!(report["rows"][0]["invoices"][0]["invoice"]["id"], inv);
    assert_eq!(report["totals"]["days1To30"], "100.00");
    assert_eq!(report["totals"]["total"], "100.00");
    assert_eq!(
        aging(&app, &e, Some(&plus(t, -1))).await["totals"]["total"],
        "100.00",
        "AR aging: open the day before its void"
    );
    assert_eq!(
        aging(&app, &e, Some(&plus(t, -21))).await["rows"],
        json!([]),
        "AR aging: not open before its issue date"
    );
    for as_of in [Some(t.to_string()), Some(plus(t, 1)), None] {
        let r = aging(&app, &e, as_of.as_deref()).await;
        assert_eq!(
            r["rows"],
            json!([]),
            "AR aging: not open as of its void date or later ({as_of:?})"
        );
        assert_eq!(r["totals"]["total"], "0.00");
    }

    // The API voids today only: date the void five days back in the row to
    // see a back-dated report on and just before the void date.
    let mut earlier = stored.into_active_model();
    earlier.voided_on = Set(Some(t - Duration::days(5)));
    earlier.update(&app.db).await.expect("date the void back");
    assert_eq!(
        aging(&app, &e, Some(&plus(t, -5))).await["rows"],
        json!([]),
        "AR aging: voided on A is not open on A"
    );
    assert_eq!(
        open(&aging(&app, &e, Some(&plus(t, -6))).await),
        [("100.00".into(), 14, "1-30".into())],
        "AR aging: open the day before its void date"
    );
}

#[tokio::test]
async fn a_draft_posted_after_the_as_of_date_was_not_open_on_it() {
    let app = spawn_app().await;
    let t = today();
    let (issued, a) = (plus(t, -20), plus(t, -10));
    let e = app.create_entity("AG12", "EUR").await;
    let late = customer(&app, &e, "Late AS", 0).await;
    let early = customer(&app, &e, "Early AS", 0).await;
    auto_post(&app, false).await;
    app.create_contract(&late, &issued, "100.00", None).await;
    run(&app, &e, &issued).await;
    let draft = invoices_of(&app, &e, &late).await[0].clone();
    assert_eq!(state(&app, &draft).await["status"], "DRAFT");
    // Another invoice, posted by the run on its issue date, stays open.
    auto_post(&app, true).await;
    app.create_contract(&early, &issued, "7.00", None).await;
    run(&app, &e, &issued).await;
    assert_eq!(names(&aging(&app, &e, Some(&a)).await), ["Early AS"]);

    post(&app, &draft).await;
    assert_eq!(
        row(&app, &draft).await.posted_on,
        Some(t),
        "postInvoice is dated today in the entity's timezone"
    );
    let report = aging(&app, &e, Some(&a)).await;
    assert_eq!(
        names(&report),
        ["Early AS"],
        "AR aging: a draft posted after A was not open on A"
    );
    assert_eq!(report["totals"]["total"], "7.00");
    assert_eq!(
        names(&aging(&app, &e, Some(&plus(t, -1))).await),
        ["Early AS"]
    );
    let on_posting = aging(&app, &e, Some(&t.to_string())).await;
    assert_eq!(
        names(&on_posting),
        ["Early AS", "Late AS"],
        "AR aging: open as of its posting date"
    );
    assert_eq!(on_posting["rows"][1]["invoices"][0]["amountDue"], "100.00");
    assert_eq!(on_posting["rows"][1]["buckets"]["days1To30"], "100.00");

    // Its payments, received before A or after it, do not bring it back.
    paid(&app, &draft, "40.00", &plus(t, -15)).await;
    assert_eq!(names(&aging(&app, &e, Some(&a)).await), ["Early AS"]);
    let now = aging(&app, &e, None).await;
    assert_eq!(now["rows"][1]["invoices"][0]["amountDue"], "60.00");
    let p = paid(&app, &draft, "60.00", &t.to_string()).await;
    assert_eq!(p["status"], "PAID");
    let received: Vec<Option<NaiveDate>> = payment::Entity::find()
        .filter(payment::Column::InvoiceId.eq(draft.parse::<i64>().expect("id")))
        .all(&app.db)
        .await
        .expect("payments")
        .into_iter()
        .map(|p| p.invoice_posted_on)
        .collect();
    assert_eq!(
        received,
        [Some(t), Some(t)],
        "payments carry the posting date"
    );
    for as_of in [a.clone(), plus(t, -1)] {
        let r = aging(&app, &e, Some(&as_of)).await;
        assert_eq!(
            names(&r),
            ["Early AS"],
            "AR aging: a payment after A does not bring back an invoice posted after A ({as_of})"
        );
        assert_eq!(r["totals"]["total"], "7.00");
    }
    assert_eq!(names(&aging(&app, &e, None).await), ["Early AS"]);
}

#[tokio::test]
async fn record_payment_validates_its_input_and_is_audited_with_a_domain_event() {
    let app = spawn_app().await;
    let (e, inv) = one_invoice(&app, "AG07", "100.00", "2026-05-04").await;
    let clerk = token_with(|c| {
        c.sub = "clerk-42".into();
        c.role = "ACCOUNTANT".into();
        c.scopes = vec!["billing:run".into(), "billing:read".into()];
        c.legal_entities = vec![e.clone()];
    });
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Tallinn)
        .date_naive();
    let cases = [
        ("0", "2026-05-05", Some("amount"), "amount must be positive"),
        ("-5.00", "2026-05-05", None, "amount must be positive"),
        ("10.001", "2026-05-05", Some("amount"), "EUR: 2 decimals"),
        (
            "10.00",
            "2026-05-03",
            Some("receivedOn"),
            "not before issue",
        ),
        (
            "10.00",
            "2030-01-01",
            Some("receivedOn"),
            "not in the future",
        ),
    ];
    for (amount, on, field, rule) in cases {
        bad_input(&pay(&app, &clerk, &inv, amount, on).await, field, rule);
    }
    let tomorrow = plus(today, 1);
    let body = pay(&app, &clerk, &inv, "10.00", &tomorrow).await;
    bad_input(
        &body,
        Some("receivedOn"),
        "receivedOn not after the entity's today",
    );
    assert_eq!(
        payments(&app, &inv).await,
        0,
        "refused payments write nothing"
    );
    assert!(received_events(&app, &inv).await.is_empty());

    let on_issue = pay(&app, &clerk, &inv, "10", "2026-05-04").await;
    assert_eq!(
        on_issue["data"]["recordPayment"]["amountPaid"], "10.00",
        "{on_issue}"
    );
    let body = pay(&app, &clerk, &inv, "15.50", &today.to_string()).await;
    assert_eq!(
        body["data"]["recordPayment"]["amountDue"], "74.50",
        "receivedOn today is allowed: {body}"
    );

    let q = "query($s: ID!) { auditEvents(subjectId: $s) { action actor subjectType legalEntityId details } }";
    let audit = app.data(&admin(), q, json!({ "s": inv })).await["auditEvents"].clone();
    let recorded: Vec<&Value> = audit
        .as_array()
        .expect("events")
        .iter()
        .filter(|a| a["action"] == "PAYMENT_RECORDED")
        .collect();
    assert_eq!(
        recorded.len(),
        2,
        "Events, audit: payments are audited: {audit}"
    );
    for a in &recorded {
        assert_eq!(a["actor"], "clerk-42", "Events, audit: with who did them");
        assert_eq!(
            (&a["subjectType"], &a["legalEntityId"]),
            (&json!("Invoice"), &json!(e))
        );
    }
    assert_eq!(recorded[1]["details"]["amount"], "15.50");
    let (jp, yen) = one_invoice_in(&app, "AG7J", "JPY", "1000", "2026-05-04").await;
    let body = pay(&app, &admin(), &yen, "10.5", "2026-05-05").await;
    bad_input(&body, Some("amount"), "Money: JPY has no minor unit");
    assert_eq!(
        paid(&app, &yen, "1", "2026-05-05").await["amountDue"],
        "999"
    );
    let report = aging(&app, &jp, Some("2026-05-06")).await;
    assert_eq!(
        open(&report),
        [("999".into(), 2, "1-30".into())],
        "Money: JPY 0 decimals"
    );
    let events = received_events(&app, &inv).await;
    assert_eq!(
        events.len(),
        2,
        "a payment.received domain event per payment"
    );
    assert_eq!(events[0].legal_entity_id.to_string(), e);
    let payload: Value = serde_json::from_str(&events[1].payload).expect("JSON payload");
    assert_eq!(
        (&payload["amount"], &payload["invoiceId"]),
        (&json!("15.50"), &json!(inv))
    );
}

#[tokio::test]
async fn as_of_defaults_to_today_in_the_entity_timezone() {
    let app = spawn_app().await;
    let tallinn = app.create_entity("AG08", "EUR").await;
    let q = "mutation($i: CreateLegalEntityInput!) { createLegalEntity(input: $i) { id } }";
    let i = json!({ "code": "AG8W", "name": "West", "currency": "USD", "country": "AS", "timezone": "Pacific/Pago_Pago" });
    let samoa = app.data(&admin(), q, json!({ "i": i })).await["createLegalEntity"]["id"].clone();
    let samoa = samoa.as_str().expect("id");
    for (e, tz) in [
        (tallinn.as_str(), chrono_tz::Europe::Tallinn),
        (samoa, chrono_tz::Pacific::Pago_Pago),
    ] {
        let before = Utc::now().with_timezone(&tz).date_naive().to_string();
        let report = aging(&app, e, None).await;
        let after = Utc::now().with_timezone(&tz).date_naive().to_string();
        let as_of = report["asOf"].as_str().expect("asOf");
        assert!(
            as_of == before || as_of == after,
            "AR aging: asOf defaults to today in {tz} ({before}), got {as_of}"
        );
    }
}

#[tokio::test]
async fn the_invoice_list_filters_pages_newest_first_and_stays_in_its_entity() {
    let app = spawn_app().await;
    let e = app.create_entity("AG09", "EUR").await;
    let a = customer(&app, &e, "Alpha AS", 0).await;
    let b = customer(&app, &e, "Beta AS", 10).await;
    app.create_contract(&a, "2026-03-02", "100.00", None).await;
    app.create_contract(&b, "2026-03-02", "200.00", None).await;
    for as_of in ["2026-03-02", "2026-04-02", "2026-05-02"] {
        run(&app, &e, as_of).await;
    }
    let (ia, ib) = (
        invoices_of(&app, &e, &a).await,
        invoices_of(&app, &e, &b).await,
    );
    assert_eq!((ia.len(), ib.len()), (3, 3));
    paid(&app, &ia[0], "100.00", "2026-03-05").await;
    void(&app, &ib[1]).await;

    let (all, info) = list(&app, &admin(), json!({ "e": e })).await;
    let all_ids: Vec<i64> = ids(&all).iter().map(|i| i.parse().expect("id")).collect();
    let mut sorted = all_ids.clone();
    sorted.sort_unstable_by(|x, y| y.cmp(x));
    assert_eq!(
        (all_ids.len(), &all_ids),
        (6, &sorted),
        "invoices: newest first"
    );
    let issued: Vec<&str> = all
        .iter()
        .map(|n| n["issueDate"].as_str().expect("date"))
        .collect();
    assert!(
        issued.windows(2).all(|w| w[0] >= w[1]),
        "invoices: newest first {issued:?}"
    );
    assert_eq!(info["hasNextPage"], false);

    let filtered = |vars: Value| filtered(&app, &e, vars);
    assert_eq!(filtered(json!({ "s": "PAID" })).await, [ia[0].clone()]);
    assert_eq!(filtered(json!({ "s": "VOID" })).await, [ib[1].clone()]);
    assert_eq!(filtered(json!({ "s": "POSTED" })).await.len(), 4);
    assert_eq!(filtered(json!({ "s": "DRAFT" })).await.len(), 0);
    let rev = |v: &[String]| v.iter().rev().cloned().collect::<Vec<_>>();
    assert_eq!(
        filtered(json!({ "c": a })).await,
        rev(&ia),
        "invoices: customerId filter"
    );
    assert_eq!(
        filtered(json!({ "c": b, "s": "POSTED" })).await,
        [ib[2].clone(), ib[0].clone()]
    );
    let window = filtered(json!({ "from": "2026-04-02", "to": "2026-04-12" })).await;
    let mut want = vec![ia[1].clone(), ib[1].clone()];
    want.sort_by_key(|i| std::cmp::Reverse(i.parse::<i64>().expect("id")));
    assert_eq!(window, want, "invoices: dueFrom/dueTo are inclusive");
    assert_eq!(
        filtered(json!({ "to": "2026-03-02" })).await,
        [ia[0].clone()]
    );
    let from = filtered(json!({ "from": "2026-05-03" })).await;
    assert_eq!(from, [ib[2].clone()], "due 2026-05-12 only");

    let (p1, i1) = list(&app, &admin(), json!({ "e": e, "first": 4 })).await;
    assert_eq!((p1.len(), &i1["hasNextPage"]), (4, &json!(true)));
    let (p2, i2) = list(
        &app,
        &admin(),
        json!({ "e": e, "first": 4, "after": i1["endCursor"] }),
    )
    .await;
    assert_eq!((p2.len(), &i2["hasNextPage"]), (2, &json!(false)));
    assert_eq!(
        [ids(&p1), ids(&p2)].concat(),
        ids(&all),
        "pages join into the full list"
    );

    let other = app.create_entity("AG9B", "EUR").await;
    let partner = token("PARTNER", &["billing:read"], &[&other]);
    let (seen, _) = list(&app, &partner, json!({ "e": e })).await;
    assert!(
        seen.is_empty(),
        "Access: another entity's invoices are not listed"
    );
    let own = token("PARTNER", &["billing:read"], &[&e]);
    assert_eq!(list(&app, &own, json!({ "e": e })).await.0.len(), 6);
}

#[tokio::test]
async fn aging_and_payments_stay_within_the_callers_legal_entities() {
    let app = spawn_app().await;
    let (a, _) = one_invoice(&app, "AG10", "100.00", "2026-05-04").await;
    let (b, inv_b) = one_invoice(&app, "AG1B", "200.00", "2026-05-04").await;
    let reader = token("PARTNER", &["ar:read"], &[&a]);
    let own = app
        .data(&reader, AGING, json!({ "e": a, "d": "2026-05-10" }))
        .await;
    assert_eq!(
        names(&own["arAging"]),
        ["AG10 Customer"],
        "AR aging: only the entity's customers"
    );
    assert_eq!(own["arAging"]["totals"]["total"], "100.00");
    let body = app.gql(&reader, AGING, json!({ "e": b })).await;
    is(
        &body,
        "NOT_FOUND",
        "Access: another legal entity is NOT_FOUND",
    );
    let accountant = token("ACCOUNTANT", &["ar:read"], &[&a]);
    let body = app.gql(&accountant, AGING, json!({ "e": b })).await;
    is(
        &body,
        "NOT_FOUND",
        "Access: another legal entity is NOT_FOUND",
    );
    let no_scope = token("PARTNER", &["billing:read", "billing:run"], &[&a]);
    let body = app.gql(&no_scope, AGING, json!({ "e": a })).await;
    is(&body, "FORBIDDEN", "Access: arAging needs ar:read");

    let payer = token("PARTNER", &["billing:run", "billing:read"], &[&a]);
    let body = pay(&app, &payer, &inv_b, "10.00", "2026-05-05").await;
    is(
        &body,
        "NOT_FOUND",
        "Access: another entity's invoice is NOT_FOUND",
    );
    assert_eq!(
        payments(&app, &inv_b).await,
        0,
        "nothing written for another entity's invoice"
    );
}
