//! DESIGN.md, Access, and SECURITY.md, Tokens and Tenancy and scopes
//! (items 13-25): every forged, confused, stale or misplaced token is a 401
//! UNAUTHENTICATED; another legal entity looks like nothing at all; a
//! missing scope is FORBIDDEN and audited; the same holds on WebSocket.
//! Always: no data, nothing written, nothing internal in the body. The
//! key ring's own unit tests are in src/auth_tests.rs.

mod forged;
mod leaks;
mod live;
mod scopes;
mod tenancy;
mod tokens;

use serde_json::{json, Value};

use crate::helpers::billing::{run, run_invoices};
use crate::helpers::http::{clean, post, send, Reply};
use crate::helpers::{code, token_with, TestApp};

const QUERY: &str = "{ legalEntities { id } }";
/// An id no row has.
const MISSING: &str = "999999";

async fn ask(app: &TestApp, tok: &str) -> Reply {
    send(post(app).bearer_auth(tok).json(&json!({ "query": QUERY }))).await
}

/// SECURITY.md, Tokens: 401, UNAUTHENTICATED, no data, nothing internal.
fn unauthenticated(reply: &Reply, what: &str) {
    let status = (reply.status, code(&reply.body));
    assert_eq!(
        status,
        (401, "UNAUTHENTICATED"),
        "SECURITY.md, Tokens: {what} is refused: {}",
        reply.body
    );
    assert!(reply.body.get("data").is_none(), "{what}: no data");
    clean(&reply.body);
}

async fn accepted(app: &TestApp, tok: &str, what: &str) {
    let reply = ask(app, tok).await;
    let ok = reply.status == 200 && reply.body.get("errors").is_none();
    assert!(ok, "{what} is accepted: {}", reply.body);
}

async fn refuses(app: &TestApp, tok: &str, what: &str) {
    unauthenticated(&ask(app, tok).await, what);
}

/// (entity, customer, contract, run, invoice) of two legal entities, each
/// billed once with a posted invoice.
async fn world(app: &TestApp) -> [[String; 5]; 2] {
    let mut made = Vec::new();
    for code in ["TNA", "TNB"] {
        let e = app.create_entity(code, "EUR").await;
        let c = app.create_customer(&e, &format!("{code} customer")).await;
        let k = app.create_contract(&c, "2026-01-01", "10.00", None).await;
        let r = run(app, &e, "2026-01-15").await;
        let invoice = run_invoices(app, &r["id"]).await[0]["id"].clone();
        let id = |v: &Value| v.as_str().expect("id").to_string();
        made.push([e, c, k, id(&r["id"]), id(&invoice)]);
    }
    [made[0].clone(), made[1].clone()]
}

/// A token of `role` for `entity` with every scope a partner can hold.
fn of_entity(role: &str, entity: &str) -> String {
    let (role, entity) = (role.to_string(), entity.to_string());
    let scopes = [
        "billing:read",
        "billing:run",
        "ar:read",
        "contracts:write",
        "events:read",
    ];
    token_with(move |c| {
        c.sub = format!("{}-a", role.to_lowercase());
        c.role = role;
        c.scopes = scopes.map(String::from).to_vec();
        c.legal_entities = vec![entity];
    })
}
