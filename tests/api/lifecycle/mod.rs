//! DESIGN.md, Contract lifecycle: amend, pause, resume and cancel through
//! the API, billed by real runs, with every amount worked out by hand.
//! Amendments must not take effect before today, so those tests use
//! weekly contracts around today at 70.00 a week (10.00 a day): their
//! amounts do not depend on the month. The rest use fixed past dates.

mod amend;
mod cancel;
mod pause;
mod races;
mod refusals;

use chrono::{Duration, NaiveDate};
use entity::credit_note::CreditNoteStatus;
use entity::{credit_note, invoice};
use rust_decimal::Decimal;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use crate::helpers::billing::num;
use crate::helpers::{admin, today, TestApp};

/// What the tests read of a contract.
pub const CONTRACT: &str = "id status startDate endDate nextBillingDate pausedFrom pausedUntil \
    cancelledAt lines { description unitPrice } history { kind effectiveDate actor details }";

/// Today (in the entities' timezone) moved by `days`.
pub fn day(days: i64) -> NaiveDate {
    today() + Duration::days(days)
}

pub fn s(date: NaiveDate) -> String {
    date.to_string()
}

/// An entity, a customer and one contract from `input` (its `customerId`
/// filled in); (entity, contract).
pub async fn with_contract(app: &TestApp, code: &str, mut input: Value) -> (String, String) {
    let e = app.create_entity(code, "EUR").await;
    let c = app.create_customer(&e, &format!("{code} customer")).await;
    input["customerId"] = json!(c);
    (e.clone(), app.create("Contract", input).await)
}

pub fn lines(price: &str) -> Value {
    json!([{ "description": "Plan", "quantity": "1", "unitPrice": price }])
}

/// A weekly contract from `start` at `price` a week.
pub fn weekly(start: NaiveDate, timing: &str, price: &str) -> Value {
    json!({ "startDate": s(start), "interval": "WEEK", "timing": timing, "lines": lines(price) })
}

pub fn monthly(start: &str, timing: &str, price: &str) -> Value {
    json!({ "startDate": start, "interval": "MONTH", "timing": timing, "lines": lines(price) })
}

/// `<op>Contract(id, input)` as `token`; the whole body.
pub async fn change_as(app: &TestApp, token: &str, op: &str, id: &str, input: Value) -> Value {
    let kind = format!("{}{}", op[..1].to_uppercase(), &op[1..]);
    let q = format!(
        "mutation($id: ID!, $i: {kind}ContractInput!) {{ {op}Contract(id: $id, input: $i) {{ {CONTRACT} }} }}"
    );
    app.gql(token, &q, json!({ "id": id, "i": input })).await
}

/// A change that must succeed; the contract it returns.
pub async fn change(app: &TestApp, op: &str, id: &str, input: Value) -> Value {
    let body = change_as(app, &admin(), op, id, input).await;
    assert!(body.get("errors").is_none(), "{op} refused: {body}");
    body["data"][format!("{op}Contract")].clone()
}

pub async fn contract(app: &TestApp, id: &str) -> Value {
    let q = format!("query($id: ID!) {{ contract(id: $id) {{ {CONTRACT} }} }}");
    app.data(&admin(), &q, json!({ "id": id })).await["contract"].clone()
}

/// The contract's invoices, oldest first.
pub async fn invoices(app: &TestApp, contract: &str) -> Vec<invoice::Model> {
    invoice::Entity::find()
        .filter(invoice::Column::ContractId.eq(num(contract)))
        .order_by_asc(invoice::Column::Id)
        .all(&app.db)
        .await
        .expect("invoices")
}

/// (first day, last day, total) of each invoice.
pub fn billed(invoices: &[invoice::Model]) -> Vec<(String, String, Decimal)> {
    invoices
        .iter()
        .map(|i| {
            (
                s(i.period_start),
                s(i.period_end),
                Decimal::new(i.total_e4, 4).normalize(),
            )
        })
        .collect()
}

/// The notes on the contract's invoices, oldest first.
pub async fn notes(app: &TestApp, contract: &str) -> Vec<credit_note::Model> {
    let ids: Vec<i64> = invoices(app, contract).await.iter().map(|i| i.id).collect();
    credit_note::Entity::find()
        .filter(credit_note::Column::InvoiceId.is_in(ids))
        .order_by_asc(credit_note::Column::Id)
        .all(&app.db)
        .await
        .expect("notes")
}

/// Everything invoiced minus everything issued notes credited.
pub async fn net(app: &TestApp, contract: &str) -> Decimal {
    let invoiced: i64 = invoices(app, contract)
        .await
        .iter()
        .map(|i| i.total_e4)
        .sum();
    let credited: i64 = notes(app, contract)
        .await
        .iter()
        .filter(|n| n.status == CreditNoteStatus::Issued)
        .map(|n| n.total_e4)
        .sum();
    Decimal::new(invoiced - credited, 4).normalize()
}

pub fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

pub fn kinds(contract: &Value) -> Vec<&str> {
    contract["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["kind"].as_str().unwrap_or("?"))
        .collect()
}
