//! AR aging as of a past date A: drafts and voided invoices are not open,
//! but an invoice voided after A was open on A and a draft posted after A
//! was not; payments received later change neither.

use chrono::{Duration, NaiveDate};
use entity::payment;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, Set};
use serde_json::json;

use crate::helpers::ar::{
    aging, auto_post, bad_input, bill, customer_on_terms, due_as_of, invoices_of, label, names,
    one_invoice, open, paid, pay, payments, plus, post, row, state, void,
};
use crate::helpers::{admin, spawn_app, today};

#[tokio::test]
async fn drafts_and_voided_invoices_are_not_aged_and_take_no_payments() {
    let app = spawn_app().await;
    let e = app.create_entity("AG05", "EUR").await;
    let kept = customer_on_terms(&app, &e, "Kept AS", 0).await;
    let voided = customer_on_terms(&app, &e, "Voided AS", 0).await;
    let drafty = customer_on_terms(&app, &e, "Drafty AS", 0).await;
    app.create_contract(&kept, "2026-05-04", "100.00", None)
        .await;
    app.create_contract(&voided, "2026-05-04", "200.00", None)
        .await;
    bill(&app, &e, "2026-05-04").await;
    let void_id = invoices_of(&app, &e, &voided).await[0].clone();
    void(&app, &void_id).await;

    auto_post(&app, false).await;
    app.create_contract(&drafty, "2026-05-10", "400.00", None)
        .await;
    bill(&app, &e, "2026-05-10").await;
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
    let late = customer_on_terms(&app, &e, "Late AS", 0).await;
    let early = customer_on_terms(&app, &e, "Early AS", 0).await;
    auto_post(&app, false).await;
    app.create_contract(&late, &issued, "100.00", None).await;
    bill(&app, &e, &issued).await;
    let draft = invoices_of(&app, &e, &late).await[0].clone();
    assert_eq!(state(&app, &draft).await["status"], "DRAFT");
    // Another invoice, posted by the run on its issue date, stays open.
    auto_post(&app, true).await;
    app.create_contract(&early, &issued, "7.00", None).await;
    bill(&app, &e, &issued).await;
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

/// A back-dated report reads the payments received after its date by lag
/// class (days from the invoice's issue to the receipt, migration m0010):
/// each class is read only up to its longest lag after the date. One
/// payment at each class's longest lag and one a day past it, and one
/// beyond the last class, so a class range cut a day short, or a payment
/// filed in the wrong class, changes an amount due below.
#[tokio::test]
async fn payments_at_every_lag_class_edge_are_added_back_as_of_any_earlier_date() {
    let app = spawn_app().await;
    let issued = today() - Duration::days(1100);
    let (e, inv) = one_invoice(&app, "AG07", "1000.00", &issued.to_string()).await;
    let mut lags: Vec<i64> = migration::PAYMENT_LAG_BOUNDS
        .iter()
        .flat_map(|&b| [b, b + 1])
        .chain([1050])
        .collect();
    lags.dedup();
    for &lag in &lags {
        paid(&app, &inv, "1.00", &plus(issued, lag)).await;
    }
    for after in [0, 1, 2, 5, 21, 22, 23, 100, 1023, 1024, 1025, 1049] {
        let as_of = issued + Duration::days(after);
        let received = lags.iter().filter(|&&lag| lag <= after).count();
        let due = format!("{}.00", 1000 - received);
        assert_eq!(
            due_as_of(&app, &e, &as_of.to_string()).await,
            due,
            "AR aging as of {as_of} ({after} days after issue): every payment received later is added back"
        );
    }
}
