//! GraphQL over HTTP's two response media types. A client that accepts
//! `application/graphql-response+json` gets it, with the spec's status
//! codes: 400 for a request that never reached execution (malformed body,
//! parse or validation error), 200 for one that ran, whatever its errors.
//! A client asking for plain `application/json` (or nothing) keeps the
//! legacy behaviour, 200 for every GraphQL answer. Either way a request
//! error carries no `data` key: it never had any.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

pub const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Media {
    Json,
    GraphQLResponse,
}

impl Media {
    /// The type the request's `Accept` prefers: the GraphQL one when it is
    /// listed at least as high as `application/json`.
    pub fn of(headers: &HeaderMap) -> Media {
        let accept = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        let (mut graphql, mut json) = (None::<f32>, None::<f32>);
        for range in accept {
            let mut parts = range.split(';');
            let kind = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match kind.as_str() {
                GRAPHQL_RESPONSE => graphql = Some(q),
                "application/json" => json = Some(q),
                _ => {}
            }
        }
        match graphql {
            Some(g) if g > 0.0 && g >= json.unwrap_or(0.0) => Media::GraphQLResponse,
            _ => Media::Json,
        }
    }

    /// Labels one of our JSON answers (error bodies included) with the
    /// negotiated type.
    pub fn label(self, mut response: Response) -> Response {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if self == Media::GraphQLResponse && is_json {
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/graphql-response+json; charset=utf-8"),
            );
        }
        response
    }

    /// The HTTP answer for an executor's response; `executed` says whether
    /// the request got past parsing and validation.
    pub fn reply(self, response: &async_graphql::Response, executed: bool) -> Response {
        let mut body = match serde_json::to_value(response) {
            Ok(body) => body,
            Err(err) => {
                tracing::error!(error = %err, "a GraphQL response did not serialise");
                return self.label(super::json_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error",
                    crate::graphql::error::INTERNAL,
                ));
            }
        };
        let status = match (executed, self) {
            (true, _) | (false, Media::Json) => StatusCode::OK,
            (false, Media::GraphQLResponse) => StatusCode::BAD_REQUEST,
        };
        if !executed {
            if let Some(fields) = body.as_object_mut() {
                fields.remove("data");
            }
        }
        self.label((status, Json(body)).into_response())
    }
}

/// Whether a response body is one of the GraphQL JSON types.
pub fn is_graphql_json(content_type: &str) -> bool {
    content_type.starts_with("application/json") || content_type.starts_with(GRAPHQL_RESPONSE)
}
