//! Retried requests (SECURITY.md item 28; DESIGN.md, The run, precisely:
//! "Idempotency keys commit with the work they guard; a key left pending
//! by a crash expires and can be retried").

use std::time::Duration;

use entity::{billing_run, contract, payment};
use futures_util::future::join_all;
use sea_orm::{ConnectionTrait, EntityTrait};
use serde_json::{json, Value};

use crate::helpers::billing::{monthly, CREATE_CONTRACT};
use crate::helpers::http::{expect, post, rows, send, written};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token_with};

const TRIGGER: &str = "mutation($e: ID) { triggerBillingRun(input: { legalEntityId: $e, \
    asOf: \"2026-01-15\", wait: true }) { runs { id status invoiceCount } } }";
const PAY: &str = "mutation($i: ID!, $a: Decimal!) { recordPayment(input: { invoiceId: $i, \
    amount: $a, receivedOn: \"2026-01-20\" }) { id amountPaid } }";
const FIRST_INVOICE: &str =
    "query($e: ID!) { invoices(legalEntityId: $e, first: 1) { nodes { id } } }";

#[tokio::test]
async fn idempotency_keys_replay_refuse_other_input_are_per_subject_and_survive_races() {
    let app = spawn_app().await;
    let e = app.create_entity("IDK", "EUR").await;
    let c = app.create_customer(&e, "Retry").await;
    let keyed = |key: &str, query: &str, vars: Value| {
        let request = post(&app)
            .bearer_auth(admin())
            .header("Idempotency-Key", key);
        send(request.json(&json!({ "query": query, "variables": vars })))
    };
    let contracts = || rows(&app, contract::Entity);
    // The argument: a replay, a conflict, per subject.
    let arg = |price: &str, key: &str| json!({ "i": monthly(&c, price), "k": key });
    let a1 = app
        .data(&admin(), CREATE_CONTRACT, arg("10.00", "arg-1"))
        .await;
    assert_eq!(
        app.data(&admin(), CREATE_CONTRACT, arg("10.00", "arg-1"))
            .await,
        a1
    );
    assert_eq!(
        contracts().await,
        1,
        "SECURITY 28: a retry with the same key replays, nothing new"
    );
    let other = app
        .gql(&admin(), CREATE_CONTRACT, arg("11.00", "arg-1"))
        .await;
    expect(&other, "CONFLICT");
    let colleague = token_with(|c| c.sub = "colleague".into());
    let theirs = app.data(&colleague, CREATE_CONTRACT, arg("10.00", "arg-1"));
    assert_ne!(theirs.await, a1, "keys are per subject");
    assert_eq!(contracts().await, 2);
    // Bad keys are refused before anything runs.
    let long = "k".repeat(201);
    for key in ["", long.as_str(), "tab\there"] {
        let body = app.gql(&admin(), CREATE_CONTRACT, arg("10.00", key)).await;
        expect(&body, "BAD_USER_INPUT");
    }
    // A failed first attempt releases its key for the corrected retry.
    let failed = app.gql(&admin(), CREATE_CONTRACT, arg("-1", "fix-1")).await;
    expect(&failed, "BAD_USER_INPUT");
    let fixed = app
        .data(&admin(), CREATE_CONTRACT, arg("12.00", "fix-1"))
        .await;
    let again = app
        .data(&admin(), CREATE_CONTRACT, arg("12.00", "fix-1"))
        .await;
    assert_eq!(again, fixed);
    assert_eq!(contracts().await, 3);
    // Eight racing requests with one header key: one contract.
    let vars = json!({ "i": monthly(&c, "13.00") });
    let racing = (0..8).map(|_| keyed("race-1", CREATE_CONTRACT, vars.clone()));
    let mut ids = Vec::new();
    for reply in join_all(racing).await {
        match reply.body.get("errors") {
            None => ids.push(reply.body["data"]["createContract"]["id"].clone()),
            Some(_) => expect(&reply.body, "CONFLICT"),
        }
    }
    let one = !ids.is_empty() && ids.iter().all(|id| *id == ids[0]);
    assert!(one, "one id: {ids:?}");
    assert_eq!(contracts().await, 4, "one contract for eight");

    // The header on a waited trigger and on a payment.
    let t1 = keyed("run-h", TRIGGER, json!({ "e": e })).await;
    let after_first = written(&app).await;
    let t2 = keyed("run-h", TRIGGER, json!({ "e": e })).await;
    assert_eq!(t1.body["data"], t2.body["data"], "the same runs");
    let runs = &t1.body["data"]["triggerBillingRun"]["runs"];
    assert_eq!(runs[0]["invoiceCount"], 4, "{runs}");
    assert_eq!(written(&app).await, after_first, "the retry wrote nothing");
    let invoices = app.data(&admin(), FIRST_INVOICE, json!({ "e": e })).await;
    let invoice = &invoices["invoices"]["nodes"][0]["id"];
    let p1 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "4.00" })).await;
    let p2 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "4.00" })).await;
    assert_eq!(p1.body, p2.body);
    assert_eq!(p2.body["data"]["recordPayment"]["amountPaid"], "4.00");
    let p3 = keyed("pay-h", PAY, json!({ "i": invoice, "a": "5.00" })).await;
    expect(&p3.body, "CONFLICT");
    // The same key on another operation is another request.
    let vars = json!({ "i": monthly(&c, "10.00") });
    let cross = keyed("pay-h", CREATE_CONTRACT, vars).await;
    expect(&cross.body, "CONFLICT");
    let payments = rows(&app, payment::Entity).await;
    assert_eq!((payments, contracts().await), (1, 4));
}

const TRIGGER_WITH_KEY: &str = "mutation($i: TriggerBillingRunInput!, $k: String) {
    triggerBillingRun(input: $i, idempotencyKey: $k) { runs { id status } } }";

#[tokio::test]
async fn a_key_left_pending_by_a_request_cut_at_its_timeout_can_be_retried_once_it_expires() {
    let app = spawn_app_with(|a| {
        a.request_timeout_secs = 1;
        a.idempotency_pending_secs = 2;
    })
    .await;
    let e = app.create_entity("IDK", "EUR").await;
    let c = app.create_customer(&e, "Waiting").await;
    app.create_contract(&c, "2026-11-01", "10.00", None).await;
    // A lock held by another session keeps the trigger's transaction
    // waiting past the request timeout.
    let blocker = billrun::store::begin_write(&app.db).await.expect("begin");
    let lock = match app.db.get_database_backend() {
        sea_orm::DbBackend::Postgres => "LOCK TABLE billing_run IN EXCLUSIVE MODE",
        _ => "UPDATE legal_entity SET name = name",
    };
    blocker.execute_unprepared(lock).await.expect("lock");
    let input = json!({ "i": { "legalEntityId": e, "asOf": "2026-11-30", "wait": true }, "k": "nightly-1" });
    let cut = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .json(&json!({ "query": TRIGGER_WITH_KEY, "variables": input }))
        .send()
        .await
        .expect("sent");
    assert_eq!(cut.status().as_u16(), 408, "the request is cut at 1 s");
    blocker.rollback().await.expect("unlock");
    if app.db.get_database_backend() == sea_orm::DbBackend::Postgres {
        // The key's claim committed before the blocked work: pending.
        let retry = app.gql(&admin(), TRIGGER_WITH_KEY, input.clone()).await;
        assert_eq!(
            code(&retry),
            "CONFLICT",
            "still pending right after: {retry}"
        );
    }
    // (On SQLite the lock held the key's claim too; its statement may still
    // land once the lock is gone, leaving the key pending just the same.)
    tokio::time::sleep(Duration::from_millis(2100)).await; // the key's TTL, not background work
    let retried = app.gql(&admin(), TRIGGER_WITH_KEY, input.clone()).await;
    assert!(
        retried.get("errors").is_none(),
        "the expired key is taken over: {retried}"
    );
    assert_eq!(
        retried["data"]["triggerBillingRun"]["runs"][0]["status"],
        "COMPLETED"
    );
    let replay = app.gql(&admin(), TRIGGER_WITH_KEY, input).await;
    assert_eq!(
        replay["data"]["triggerBillingRun"]["runs"][0]["id"],
        retried["data"]["triggerBillingRun"]["runs"][0]["id"],
        "and from then on it replays as usual"
    );
    let runs = billing_run::Entity::find()
        .all(&app.db)
        .await
        .expect("runs");
    assert_eq!(runs.len(), 1, "the cut request created nothing");
}
