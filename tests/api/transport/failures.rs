//! When the database fails or is slow (SECURITY.md items 10 and 12): a
//! generic INTERNAL with a request id, nothing half-written, a 408 at the
//! request timeout that never lands later, and a pool that recovers.

use std::time::{Duration, Instant};

use entity::legal_entity;
use futures_util::future::join_all;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::json;

use super::{adm, gql, new_customer, with};
use crate::helpers::billing::{monthly, CREATE_CONTRACT};
use crate::helpers::http::{expect, post, raw_json, send, still_up, written, Reply};
use crate::helpers::{admin, is_postgres, poll_until, spawn_app, spawn_app_with, TestApp};

const FAILING_TRIGGER_PG: [&str; 2] = [
    "CREATE FUNCTION secret_fn() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION \
     'constraint secret_guard violated: SELECT * FROM customer' USING ERRCODE = '23514'; \
     END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER secret_guard BEFORE INSERT ON customer FOR EACH ROW \
     EXECUTE FUNCTION secret_fn()",
];
const FAILING_TRIGGER_SQLITE: &str = "CREATE TRIGGER secret_guard BEFORE INSERT ON customer \
     BEGIN SELECT RAISE(ABORT, 'constraint secret_guard violated: SELECT * FROM customer'); END";
const DROP_TRIGGER: [&str; 2] = [
    "DROP TRIGGER secret_guard",
    "DROP TRIGGER secret_guard ON customer",
];
const RENAME: [&str; 2] = [
    "ALTER TABLE contract_line RENAME TO contract_line_gone",
    "ALTER TABLE contract_line_gone RENAME TO contract_line",
];
const LINES: &str =
    "query($e: ID!) { contracts(legalEntityId: $e) { nodes { lines { description } } } }";

async fn sql(app: &TestApp, statement: &str) {
    app.db.execute_unprepared(statement).await.expect(statement);
}

async fn post_with_id(app: &TestApp, doc: &str, id: &str) -> Reply {
    let request = post(app).bearer_auth(admin()).header("x-request-id", id);
    send(request.json(&json!({ "query": doc }))).await
}

#[tokio::test]
async fn database_failures_are_generic_with_a_request_id_and_roll_back() {
    let app = spawn_app().await;
    let e = app.create_entity("DBF", "EUR").await;
    let c = app.create_customer(&e, "Existing").await;
    app.create_contract(&c, "2026-01-01", "10.00", None).await;
    let pg = usize::from(is_postgres(&app.database_url));
    let install = [&[FAILING_TRIGGER_SQLITE][..], &FAILING_TRIGGER_PG[..]][pg];
    for statement in install {
        sql(&app, statement).await;
    }
    let before = written(&app).await;
    let reply = post_with_id(&app, &new_customer(&e, "Boom"), "sec-req-42").await;
    expect(&reply.body, "INTERNAL");
    assert_eq!(
        reply.body["errors"][0]["message"], "internal error",
        "SECURITY 10: a database error is a generic message"
    );
    let id = reply.headers.get("x-request-id").map(|v| v.as_bytes());
    assert_eq!(
        id,
        Some(&b"sec-req-42"[..]),
        "SECURITY 10: plus the caller's request id"
    );
    let reply = raw_json(&app, r#"{"query": "{"}"#.into()).await;
    let id = reply.headers.get("x-request-id");
    assert!(id.is_some_and(|v| !v.is_empty()), "a request id to quote");
    sql(&app, DROP_TRIGGER[pg]).await;
    assert_eq!(written(&app).await, before, "nothing written");
    // A unique constraint the API does not know about: CONFLICT, unnamed.
    sql(&app, "CREATE UNIQUE INDEX secret_idx ON customer (name)").await;
    expect(&adm(&app, &new_customer(&e, "Existing")).await, "CONFLICT");
    // A table gone: a read fails generically, and a write rolls back the
    // contract with its lines.
    sql(&app, RENAME[0]).await;
    let reply = post(&app).bearer_auth(admin());
    let reply = send(reply.json(&json!({ "query": LINES, "variables": { "e": e } }))).await;
    expect(&reply.body, "INTERNAL");
    assert!(
        reply.headers.get("x-request-id").is_some(),
        "a request id to quote"
    );
    let vars = json!({ "i": monthly(&c, "10.00") });
    expect(&gql(&app, CREATE_CONTRACT, vars.clone()).await, "INTERNAL");
    sql(&app, RENAME[1]).await;
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 10: the contract rolled back"
    );
    app.data(&admin(), CREATE_CONTRACT, vars).await;
    still_up(&app).await;
}

/// Holds the write lock on legal_entity (reads still pass) until rolled back.
async fn lock_legal_entities(app: &TestApp) -> sea_orm::DatabaseTransaction {
    use sea_orm::{SqliteTransactionMode, TransactionOptions, TransactionTrait};
    let options = TransactionOptions {
        isolation_level: None,
        access_mode: None,
        sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
    };
    let blocker = app.db.begin_with_options(options).await.expect("begin");
    if is_postgres(&app.database_url) {
        let lock = "LOCK TABLE legal_entity IN EXCLUSIVE MODE";
        blocker.execute_unprepared(lock).await.expect("lock");
    }
    blocker
}

const NEW_ENTITY: &str = "mutation { createLegalEntity(input: { code: \"%E\", name: \"S\", \
    currency: \"EUR\", country: \"EE\", timezone: \"UTC\" }) { id } }";

async fn create_entity(app: &TestApp, code: String) -> Reply {
    let doc = with(NEW_ENTITY, &code);
    let request = post(app).bearer_auth(admin());
    send(request.json(&json!({ "query": doc }))).await
}

/// How many legal entities have a code starting with `prefix`.
async fn entities_named(app: &TestApp, prefix: &str) -> u64 {
    let slow = legal_entity::Column::Code.starts_with(prefix);
    let query = legal_entity::Entity::find().filter(slow);
    query.count(&app.db).await.expect("count")
}

#[tokio::test]
async fn timed_out_requests_are_408_and_the_pool_recovers() {
    let app = spawn_app_with(|a| {
        a.request_timeout_secs = 1;
        a.db.db_pool_size = 2;
    })
    .await;
    let blocker = lock_legal_entities(&app).await;
    let started = Instant::now();
    // More waiting writers than the pool has connections.
    let writes = (0..4).map(|i| create_entity(&app, format!("SLOW{i}")));
    for reply in join_all(writes).await {
        assert_eq!(
            reply.status, 408,
            "SECURITY 12: stopped at the request timeout: {}",
            reply.body
        );
        let message = &reply.body["errors"][0]["message"];
        assert_eq!(message, "request timed out", "{}", reply.body);
        expect(&reply.body, "INTERNAL");
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(5), "{took:?}");
    blocker.rollback().await.expect("release");
    // The cancelled statements hand their connections back on their own.
    let within = Duration::from_secs(15);
    poll_until(
        "SECURITY 12: the pool recovers",
        within,
        Duration::from_millis(200),
        || async {
            let reply = create_entity(&app, "AFTER".into()).await;
            reply.body.get("errors").is_none().then_some(())
        },
    )
    .await;
    still_up(&app).await;
}

/// After a 408 for creating `code` and the lock released: the same create,
/// retried, succeeds and leaves exactly one such entity. Had the cut write
/// gone on, it would hold or have committed that unique code first, and the
/// retry would wait for it and then be a CONFLICT; no sleep is needed to
/// give it the chance.
async fn retry_creates_the_only(app: &TestApp, code: &str) {
    let retry = create_entity(app, code.into()).await;
    assert_eq!(
        (retry.status, retry.body.get("errors")),
        (200, None),
        "SECURITY 12: the refused write did not land: {}",
        retry.body
    );
    assert_eq!(
        entities_named(app, code).await,
        1,
        "SECURITY 12: only the retry wrote {code}"
    );
}

#[tokio::test]
async fn a_write_told_408_never_lands() {
    let app = spawn_app_with(|a| a.request_timeout_secs = 1).await;
    let blocker = lock_legal_entities(&app).await;
    let reply = create_entity(&app, "SLOW1".into()).await;
    assert_eq!(reply.status, 408, "{}", reply.body);
    blocker.rollback().await.expect("release");
    retry_creates_the_only(&app, "SLOW1").await;
}

#[tokio::test]
async fn the_database_gives_up_on_a_blocked_statement_by_itself() {
    // PostgreSQL: the statement timeout; SQLite: the busy timeout.
    let app = spawn_app_with(|a| {
        a.db.db_statement_timeout_secs = 1;
        a.db.sqlite_busy_timeout_ms = 1000;
    })
    .await;
    let blocker = lock_legal_entities(&app).await;
    let started = Instant::now();
    let reply = create_entity(&app, "SLOWDB".into()).await;
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(8),
        "SECURITY 12: the statement is cancelled: {took:?}"
    );
    expect(&reply.body, "INTERNAL");
    assert_eq!(reply.body["errors"][0]["message"], "internal error");
    blocker.rollback().await.expect("release");
    retry_creates_the_only(&app, "SLOWDB").await;
    still_up(&app).await;
}
