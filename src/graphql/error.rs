//! The one place that knows `extensions.code`. Service errors map here; so
//! do the errors async-graphql produces itself (parse, validation, limits),
//! which otherwise carry no code. (The `custom-error-conversion` feature
//! removes async-graphql's blanket conversion, so `?` on a `DbErr` cannot
//! send SQL text to a client.)

use async_graphql::{Error, ErrorExtensions, Response, ServerError, Value};

use crate::service::ServiceError;

pub const UNAUTHENTICATED: &str = "UNAUTHENTICATED";
pub const FORBIDDEN: &str = "FORBIDDEN";
pub const NOT_FOUND: &str = "NOT_FOUND";
pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
pub const CONFLICT: &str = "CONFLICT";
pub const INTERNAL: &str = "INTERNAL";

impl From<ServiceError> for Error {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::BadInput(e) => Error::new(e.to_string()).extend_with(|_, ext| {
                ext.set("code", BAD_USER_INPUT);
                ext.set("field", e.field.clone());
            }),
            ServiceError::NotFound(what) => Error::new(format!("{what} not found"))
                .extend_with(|_, ext| ext.set("code", NOT_FOUND)),
            ServiceError::Conflict {
                message,
                active_run_id,
            } => Error::new(message).extend_with(|_, ext| {
                ext.set("code", CONFLICT);
                if let Some(id) = active_run_id {
                    ext.set("activeRunId", id.to_string());
                }
            }),
            ServiceError::Forbidden(scope) => Error::new(format!("missing permission: {scope}"))
                .extend_with(|_, ext| ext.set("code", FORBIDDEN)),
            ServiceError::Unauthenticated => Error::new("authentication required")
                .extend_with(|_, ext| ext.set("code", UNAUTHENTICATED)),
            ServiceError::Internal(cause) => {
                // Logged once, with its chain; the client gets a fixed text.
                tracing::error!(error = ?cause, "internal error");
                Error::new("internal error").extend_with(|_, ext| ext.set("code", INTERNAL))
            }
        }
    }
}

/// Gives every error of a response an `extensions.code`: errors async-graphql
/// raised itself (syntax, unknown fields, bad variables, limits) are the
/// client's fault.
pub fn with_codes(mut response: Response) -> Response {
    for error in &mut response.errors {
        add_code(error);
    }
    response
}

fn add_code(error: &mut ServerError) {
    let has_code = error
        .extensions
        .as_ref()
        .is_some_and(|ext| ext.get("code").is_some());
    if !has_code {
        error
            .extensions
            .get_or_insert_with(Default::default)
            .set("code", Value::from(BAD_USER_INPUT));
    }
}

/// A GraphQL-shaped error body for failures outside the executor (auth,
/// HTTP layers).
pub fn error_body(message: &str, code: &str) -> serde_json::Value {
    serde_json::json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}
