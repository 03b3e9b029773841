//! Raw HTTP to /graphql, for tests that look at statuses, headers and
//! bodies, and the checks SECURITY.md expects of every refusal: the right
//! `extensions.code`, nothing internal in the body, nothing written, the
//! server still up.

use entity::{
    audit_event, billing_run, contract, contract_line, customer, domain_event, idempotency_key,
    invoice, legal_entity, payment, scheduled_job, tax_code,
};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

use super::{admin, code, TestApp};

const NEEDLES: &str = "select |insert |constraint|sqlx|sqlite|postgres|sea_orm|dberr|\
    panicked|backtrace|locked|canceling|/src/|.rs:|/tmp/|secret_";

/// The first internal detail (SQL, a constraint, a path, a panic) found in
/// a response body, if any.
pub fn leak(body: &Value) -> Option<&'static str> {
    let text = body.to_string().to_lowercase();
    NEEDLES.split('|').find(|needle| text.contains(needle))
}

/// SECURITY.md: "nothing internal (SQL, constraint names, paths, stack
/// traces) in the response".
pub fn clean(body: &Value) {
    assert_eq!(
        leak(body),
        None,
        "SECURITY.md: nothing internal in a response: {body}"
    );
}

/// `extensions.code` is `want`, and nothing internal shows.
pub fn expect(body: &Value, want: &str) {
    assert_eq!(code(body), want, "{body:.600}");
    clean(body);
}

/// Refused as the client's fault (BAD_USER_INPUT), with no data.
pub fn refused(body: &Value) {
    expect(body, "BAD_USER_INPUT");
    assert!(
        body["data"].is_null(),
        "a refused document ran: {body:.600}"
    );
}

pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

/// Sends and insists on a JSON body, whatever the status.
pub async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request sent");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("API: every answer is GraphQL-shaped JSON, got {text:.300}"));
    Reply {
        status,
        headers,
        body,
    }
}

pub fn post(app: &TestApp) -> reqwest::RequestBuilder {
    app.client.post(format!("{}/graphql", app.addr))
}

/// An admin POST with any content type (or none) and any body.
pub async fn raw(app: &TestApp, content_type: Option<&str>, body: String) -> Reply {
    let request = post(app).bearer_auth(admin()).body(body);
    send(match content_type {
        Some(ct) => request.header("content-type", ct),
        None => request,
    })
    .await
}

pub async fn raw_json(app: &TestApp, body: String) -> Reply {
    raw(app, Some("application/json"), body).await
}

/// An admin GET /graphql with these query parameters.
pub async fn get(app: &TestApp, params: &[(&str, String)]) -> Reply {
    let url = format!("{}/graphql", app.addr);
    send(app.client.get(url).query(params).bearer_auth(admin())).await
}

pub async fn still_up_as(app: &TestApp, tok: &str) {
    let body = app.gql(tok, "{ legalEntities { id } }", json!({})).await;
    let up = body.get("errors").is_none() && body["data"]["legalEntities"].is_array();
    assert!(up, "SECURITY.md: the server still answers: {body}");
}

pub async fn still_up(app: &TestApp) {
    still_up_as(app, &admin()).await;
}

pub async fn rows<E: EntityTrait>(app: &TestApp, _: E) -> u64
where
    E::Model: Sync,
{
    E::find().count(&app.db).await.expect("count")
}

/// Row counts of every table a request could write (the audit trail aside),
/// to show that a refused request wrote nothing.
pub async fn written(app: &TestApp) -> [u64; 11] {
    [
        rows(app, legal_entity::Entity).await,
        rows(app, customer::Entity).await,
        rows(app, tax_code::Entity).await,
        rows(app, contract::Entity).await,
        rows(app, contract_line::Entity).await,
        rows(app, billing_run::Entity).await,
        rows(app, invoice::Entity).await,
        rows(app, payment::Entity).await,
        rows(app, domain_event::Entity).await,
        rows(app, scheduled_job::Entity).await,
        rows(app, idempotency_key::Entity).await,
    ]
}

/// The ACCESS_DENIED audit rows of `actor`, oldest first.
pub async fn denied(app: &TestApp, actor: &str) -> Vec<audit_event::Model> {
    audit_event::Entity::find()
        .filter(audit_event::Column::Action.eq("ACCESS_DENIED"))
        .filter(audit_event::Column::Actor.eq(actor))
        .order_by_asc(audit_event::Column::Id)
        .all(&app.db)
        .await
        .expect("audit rows")
}
