//! GraphQL over HTTP (POST and GET) and over WebSocket. Authentication
//! happens here, once, and the principal travels in the request data.

use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;

use super::media::Media;
use super::{json_error, AppState};
use crate::auth::AuthError;
use crate::config::Introspection;
use crate::domain::access::{Principal, Role};
use crate::graphql::error::{with_codes, BAD_USER_INPUT, UNAUTHENTICATED};
use crate::graphql::executed::Executed;
use crate::graphql::loaders::loaders;

pub async fn post(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let media = Media::of(&headers);
    media.label(answer_post(&state, &headers, body, media).await)
}

async fn answer_post(state: &AppState, headers: &HeaderMap, body: Bytes, media: Media) -> Response {
    // Only JSON: a form or text/plain POST is how cross-site requests
    // sneak past CORS preflight.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        });
    if !json {
        return json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "POST /graphql takes Content-Type: application/json",
            BAD_USER_INPUT,
        );
    }
    let principal = match authenticate(state, headers) {
        Ok(p) => p,
        Err(err) => return unauthenticated(err),
    };
    // One request per body: a JSON array (a batch, even an empty one) is
    // refused before parsing.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return json_error(
            StatusCode::BAD_REQUEST,
            "the body is not a single GraphQL request",
            BAD_USER_INPUT,
        );
    }
    let request: async_graphql::Request = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "the body is not a single GraphQL request",
                BAD_USER_INPUT,
            )
        }
    };
    let request = match headers.get("idempotency-key").and_then(|v| v.to_str().ok()) {
        Some(key) => request.data(crate::graphql::idempotent::HeaderKey(key.to_string())),
        None => request,
    };
    execute(state, principal, request, media).await
}

pub async fn get(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let media = Media::of(&headers);
    media.label(answer_get(&state, &headers, query, media).await)
}

async fn answer_get(
    state: &AppState,
    headers: &HeaderMap,
    query: Option<String>,
    media: Media,
) -> Response {
    let principal = match authenticate(state, headers) {
        Ok(p) => p,
        Err(err) => return unauthenticated(err),
    };
    let query = spec_operation_name(query.as_deref().unwrap_or_default());
    let request = match async_graphql::http::parse_query_string(&query) {
        Ok(request) => request,
        Err(_) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                "bad GraphQL query string",
                BAD_USER_INPUT,
            )
        }
    };
    if is_mutation(&request) {
        return json_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "mutations are POST only",
            BAD_USER_INPUT,
        );
    }
    execute(state, principal, request, media).await
}

/// GraphQL over HTTP names the operation `operationName`; async-graphql's
/// query-string parser reads `operation_name` only, so the spec's spelling
/// is renamed before parsing (otherwise a GET naming the query of a mixed
/// document is refused, and the name is silently ignored).
fn spec_operation_name(raw: &str) -> String {
    raw.split('&')
        .map(|pair| match pair.strip_prefix("operationName=") {
            Some(value) => format!("operation_name={value}"),
            None => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_mutation(request: &async_graphql::Request) -> bool {
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return false; // execution reports the syntax error
    };
    match &doc.operations {
        DocumentOperations::Single(op) => op.node.ty == OperationType::Mutation,
        DocumentOperations::Multiple(ops) => match &request.operation_name {
            Some(name) => ops
                .get(name.as_str())
                .is_some_and(|op| op.node.ty == OperationType::Mutation),
            None => ops.values().any(|op| op.node.ty == OperationType::Mutation),
        },
    }
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, AuthError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    state.keys.from_header(value)
}

fn unauthenticated(err: AuthError) -> Response {
    let message = match err {
        AuthError::Missing => "authentication required: send Authorization: Bearer <JWT>",
        AuthError::Invalid => "invalid or expired token",
    };
    json_error(StatusCode::UNAUTHORIZED, message, UNAUTHENTICATED)
}

async fn execute(
    state: &AppState,
    principal: Principal,
    request: async_graphql::Request,
    media: Media,
) -> Response {
    if let Some(limiter) = &state.limiter {
        if limiter.check_key(&principal.subject).is_err() {
            let mut response = json_error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate limit exceeded; retry later",
                "RATE_LIMITED",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
            return response;
        }
    }
    // Partners integrate against the published contract; the live schema
    // is for staff unless configured otherwise. `__typename` always works.
    let introspect = match state.introspection {
        Introspection::All => true,
        Introspection::Staff => principal.role != Role::Partner,
        Introspection::Off => false,
    };
    let request = if introspect {
        request
    } else {
        request.disable_introspection()
    };
    let executed = Executed::default();
    let request = request
        .data(loaders(state.ctx.clone(), principal.clone()))
        .data(principal)
        .data(executed.clone());
    let response = with_codes(state.schema.execute(request).await);
    media.reply(&response, executed.happened())
}
