//! SECURITY.md, GraphQL and HTTP (items 1-12), the rate limit and the
//! WebSocket limits (item 26): hostile documents, bodies and connections
//! get the right status and `extensions.code`, run nothing, write nothing,
//! show nothing internal, and leave the server up. Tokens and tenancy are
//! in `access`.

mod documents;
mod failures;
mod http;
mod limits;
mod media;
mod websocket;

use serde_json::{json, Value};

use crate::helpers::{admin, token_with, TestApp};

/// A GraphQL document without variables, as `tok`.
async fn ask(app: &TestApp, tok: &str, doc: &str) -> Value {
    app.gql(tok, doc, json!({})).await
}

/// A document without variables, as ADMIN.
async fn adm(app: &TestApp, doc: &str) -> Value {
    app.gql(&admin(), doc, json!({})).await
}

/// A GraphQL request as ADMIN.
async fn gql(app: &TestApp, doc: &str, vars: Value) -> Value {
    app.gql(&admin(), doc, vars).await
}

/// A token with no scope: each resolver it reaches audits a denial, which
/// shows whether a refused document ran anything at all.
fn scopeless(sub: &str) -> String {
    let sub = sub.to_string();
    token_with(move |c| {
        c.sub = sub;
        c.role = "ACCOUNTANT".into();
    })
}

/// `doc` with `%E` replaced by `e`.
fn with(doc: &str, e: &str) -> String {
    doc.replace("%E", e)
}

fn customer_field(entity: &str, name: &str) -> String {
    let input = format!("legalEntityId: \"{entity}\", name: \"{name}\"");
    format!("createCustomer(input: {{ {input} }}) {{ id }}")
}

fn new_customer(entity: &str, name: &str) -> String {
    format!("mutation {{ {} }}", customer_field(entity, name))
}
