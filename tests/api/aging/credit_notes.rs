//! AR aging and credit notes: as of A a report subtracts what the notes
//! issued on or before A (and not voided by then) took off each invoice's
//! amount due, in that invoice's own bucket; totals still sum the buckets.
//! The API issues and voids notes today only, so the back-dated branches
//! are reached by dating a note's issue and void back in its row, as
//! `as_of` does for voided invoices.

use chrono::{Duration, NaiveDate};
use entity::credit_note;
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel, Set};
use serde_json::{json, Value};

use crate::helpers::ar::{aging, bill, customer_on_terms, invoices_of, label, paid, plus, BUCKETS};
use crate::helpers::{admin, spawn_app, today, TestApp};

fn money(v: &Value) -> Decimal {
    v.as_str().expect("money").parse().expect("decimal")
}

/// (invoice id, amount due, bucket) of each open invoice, and checks that
/// the buckets of rows and totals add up to what is open.
fn open_by_invoice(report: &Value) -> Vec<(String, String, String)> {
    let mut open = Vec::new();
    let mut sum = Decimal::ZERO;
    for row in report["rows"].as_array().expect("rows") {
        let buckets: Decimal = BUCKETS.iter().map(|b| money(&row["buckets"][b])).sum();
        assert_eq!(
            buckets,
            money(&row["buckets"]["total"]),
            "AR aging: a row's total is the sum of its buckets: {row}"
        );
        for i in row["invoices"].as_array().expect("invoices") {
            sum += money(&i["amountDue"]);
            let s = |v: &Value| v.as_str().expect("string").to_string();
            open.push((s(&i["invoice"]["id"]), s(&i["amountDue"]), s(&i["bucket"])));
        }
    }
    let totals: Decimal = BUCKETS.iter().map(|b| money(&report["totals"][b])).sum();
    assert_eq!(
        (totals, money(&report["totals"]["total"])),
        (sum, sum),
        "AR aging: the totals sum the buckets and equal the outstanding amounts: {report}"
    );
    open
}

/// The bucket of an invoice due on `due` as of `as_of`.
fn bucket(due: &str, as_of: NaiveDate) -> String {
    let due: NaiveDate = due.parse().expect("date");
    label((as_of - due).num_days()).to_string()
}

async fn due_date(app: &TestApp, invoice: &str) -> String {
    let q = "query($id: ID!) { invoice(id: $id) { dueDate } }";
    let d = app.data(&admin(), q, json!({ "id": invoice })).await;
    d["invoice"]["dueDate"].as_str().expect("due").to_string()
}

async fn issue_note(app: &TestApp, invoice: &str, net: &str) -> Value {
    let line = crate::invoices::credit_notes::line_ids(app, invoice)
        .await
        .remove(0);
    crate::invoices::credit_notes::noted(app, invoice, &[(&line, net)], true).await
}

async fn void_note(app: &TestApp, note: &Value) {
    let body = crate::invoices::credit_notes::void_note(app, &admin(), &note["id"]).await;
    assert_eq!(body["data"]["voidCreditNote"]["status"], "VOID", "{body}");
}

/// Dates a note's issue (and void) back in its row.
async fn date_back(app: &TestApp, note: &Value, issued: NaiveDate, voided: Option<NaiveDate>) {
    let id: i64 = note["id"].as_str().expect("id").parse().expect("numeric");
    let row = credit_note::Entity::find_by_id(id)
        .one(&app.db)
        .await
        .expect("read note")
        .expect("note exists");
    let mut row = row.into_active_model();
    row.issue_date = Set(Some(issued));
    if voided.is_some() {
        row.voided_on = Set(voided);
    }
    row.update(&app.db).await.expect("date the note back");
}

#[tokio::test]
async fn a_note_reduces_aging_from_its_issue_date_in_its_invoices_own_bucket() {
    let app = spawn_app().await;
    let t = today();
    let e = app.create_entity("AGC1", "EUR").await;
    let vat = app.create_tax_code(&e, "VAT20", "20").await;
    let c = customer_on_terms(&app, &e, "Aged AS", 0).await;
    app.create_contract(&c, "2026-08-04", "100.00", Some(&vat))
        .await;
    // Three monthly invoices of 120.00 (100.00 + 20 %), each due on its
    // issue date: three buckets as of today.
    for on in ["2026-08-04", "2026-09-04", "2026-10-04"] {
        bill(&app, &e, on).await;
    }
    let inv = invoices_of(&app, &e, &c).await;
    let [i1, i2, i3] = [0, 1, 2].map(|n| inv[n].clone());
    let mut dues = Vec::new();
    for i in &inv {
        dues.push(due_date(&app, i).await);
    }
    let b = |n: usize, on: NaiveDate| bucket(&dues[n], on);
    // I2: 25.00 + 20 % = 30.00 off its 120.00 due: 90.00.
    let n2 = issue_note(&app, &i2, "25.00").await;
    assert_eq!(n2["appliedToInvoice"], "30.00");
    // I3: 100.00 paid on 2026-10-10, 20.00 due; its 30.00 note settles the
    // 20.00 (PAID) and 10.00 goes to the customer's credit.
    paid(&app, &i3, "100.00", "2026-10-10").await;
    let n3 = issue_note(&app, &i3, "25.00").await;
    assert_eq!(
        (&n3["appliedToInvoice"], &n3["toCreditBalance"]),
        (&json!("20.00"), &json!("10.00"))
    );

    let now = open_by_invoice(&aging(&app, &e, Some(&t.to_string())).await);
    assert_eq!(
        now,
        [
            (i1.clone(), "120.00".into(), b(0, t)),
            (i2.clone(), "90.00".into(), b(1, t)),
        ],
        "AR aging: as of today the note took 30.00 off I2 in I2's bucket; I3 is paid"
    );
    let report = aging(&app, &e, None).await;
    assert_eq!(open_by_invoice(&report), now, "asOf defaults to today");
    for (n, key) in BUCKETS.iter().enumerate() {
        let want: Decimal = [(0, "120.00"), (1, "90.00")]
            .iter()
            .filter(|(i, _)| label_key(&b(*i, t)) == n)
            .map(|(_, a)| a.parse::<Decimal>().expect("decimal"))
            .sum();
        assert_eq!(
            money(&report["totals"][key]),
            want,
            "AR aging: bucket {key} holds each invoice's amount after its notes: {report}"
        );
    }
    assert_eq!(report["totals"]["total"], "210.00");

    let y = t - Duration::days(1);
    assert_eq!(
        open_by_invoice(&aging(&app, &e, Some(&y.to_string())).await),
        [
            (i1.clone(), "120.00".into(), b(0, y)),
            (i2.clone(), "120.00".into(), b(1, y)),
            (i3.clone(), "20.00".into(), b(2, y)),
        ],
        "AR aging: as of yesterday, before the notes' issue date, I2 owed 120.00 and I3 20.00"
    );
    let before_payment: NaiveDate = "2026-10-05".parse().expect("date");
    assert_eq!(
        open_by_invoice(&aging(&app, &e, Some("2026-10-05")).await),
        [
            (i1, "120.00".into(), b(0, before_payment)),
            (i2, "120.00".into(), b(1, before_payment)),
            (i3, "120.00".into(), b(2, before_payment)),
        ],
        "AR aging: before the payment and the notes, the full amounts"
    );
}

fn label_key(label: &str) -> usize {
    ["current", "1-30", "31-60", "61-90", "90+"]
        .iter()
        .position(|l| *l == label)
        .expect("label")
}

#[tokio::test]
async fn a_voided_note_stops_reducing_aging_from_its_void_date() {
    let app = spawn_app().await;
    let t = today();
    let e = app.create_entity("AGC2", "EUR").await;
    let c = customer_on_terms(&app, &e, "Voided AS", 0).await;
    app.create_contract(&c, "2026-08-04", "100.00", None).await;
    bill(&app, &e, "2026-08-04").await;
    let inv = invoices_of(&app, &e, &c).await.remove(0);
    let due = due_date(&app, &inv).await;
    let amount = |report: &Value| {
        let open = open_by_invoice(report);
        let as_of: NaiveDate = report["asOf"]
            .as_str()
            .expect("asOf")
            .parse()
            .expect("date");
        assert_eq!(open.len(), 1, "{report}");
        assert_eq!(
            (&open[0].0, &open[0].2),
            (&inv, &bucket(&due, as_of)),
            "AR aging: the invoice, in its own bucket: {report}"
        );
        open[0].1.clone()
    };
    let on = |d: NaiveDate| d.to_string();

    // Issued and voided today: as of today the full 100.00 again, and as
    // of yesterday it did not exist yet.
    let n = issue_note(&app, &inv, "40.00").await;
    assert_eq!(amount(&aging(&app, &e, None).await), "60.00");
    void_note(&app, &n).await;
    assert_eq!(
        amount(&aging(&app, &e, Some(&on(t))).await),
        "100.00",
        "AR aging: a note voided today no longer reduces the invoice as of today"
    );
    assert_eq!(amount(&aging(&app, &e, Some(&plus(t, -1))).await), "100.00");

    // Issued ten days ago (dated back in the row), still ISSUED: it
    // reduces the invoice from that day on, not before.
    let m = issue_note(&app, &inv, "30.00").await;
    date_back(&app, &m, t - Duration::days(10), None).await;
    assert_eq!(
        amount(&aging(&app, &e, Some(&plus(t, -10))).await),
        "70.00",
        "AR aging: a note issued on A counts as of A"
    );
    assert_eq!(
        amount(&aging(&app, &e, Some(&plus(t, -11))).await),
        "100.00",
        "AR aging: a note issued after A does not count as of A"
    );
    // Voided today: as of today it no longer counts, but as of the days it
    // was issued it still did.
    void_note(&app, &m).await;
    assert_eq!(amount(&aging(&app, &e, None).await), "100.00");
    assert_eq!(
        amount(&aging(&app, &e, Some(&plus(t, -5))).await),
        "70.00",
        "AR aging: a note issued before A and voided after A still reduced the invoice on A"
    );
    // Voided three days ago: not on its void date, still the day before.
    date_back(
        &app,
        &m,
        t - Duration::days(10),
        Some(t - Duration::days(3)),
    )
    .await;
    assert_eq!(
        amount(&aging(&app, &e, Some(&plus(t, -3))).await),
        "100.00",
        "AR aging: a note voided on A does not reduce the invoice as of A"
    );
    assert_eq!(amount(&aging(&app, &e, Some(&plus(t, -4))).await), "70.00");
    assert_eq!(
        amount(&aging(&app, &e, Some(&plus(t, -11))).await),
        "100.00"
    );
}

/// Customer credit taken by an invoice a back-dated run posts counts from
/// the day it was applied (today), not the run's as-of date (its
/// `posted_on`): the note it came from did not exist before.
#[tokio::test]
async fn customer_credit_reduces_aging_only_from_when_it_was_applied() {
    let app = spawn_app().await;
    let e = app.create_entity("AGC3", "EUR").await;
    let c = customer_on_terms(&app, &e, "Later AS", 0).await;
    app.create_contract(&c, "2026-05-04", "100.00", None).await;
    bill(&app, &e, "2026-05-04").await;
    let first = invoices_of(&app, &e, &c).await.remove(0);
    paid(&app, &first, "100.00", "2026-05-05").await;
    // 30.00 of customer credit, issued today.
    issue_note(&app, &first, "30.00").await;
    // A run as of 2026-06-04 (in the past) bills the next period, posted
    // as of 2026-06-04, and takes the 30.00 today.
    bill(&app, &e, "2026-06-04").await;
    let second = invoices_of(&app, &e, &c).await.remove(1);
    let now = open_by_invoice(&aging(&app, &e, None).await);
    assert_eq!(now[0].0, second);
    assert_eq!(now[0].1, "70.00", "AR aging: today the credit counts");
    let then = open_by_invoice(&aging(&app, &e, Some("2026-06-10")).await);
    assert_eq!(
        then[0].1, "100.00",
        "AR aging: as of 2026-06-10 the credit (issued today) did not exist yet"
    );
}
