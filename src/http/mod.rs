//! The axum router: GraphQL over HTTP and WebSocket, GraphiQL, probes, and
//! the tower-http layers around them.

mod graphiql;
mod graphql;
pub mod live;
pub mod media;
pub mod metrics;
mod trace;
pub mod ws;

use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::JwtKeys;
use crate::graphql::error::{error_body, BAD_USER_INPUT, INTERNAL, NOT_FOUND};
use crate::graphql::AppSchema;
use crate::service::Ctx;

/// Requests per token subject; in memory, per replica.
pub type Limiter = governor::DefaultKeyedRateLimiter<String>;

#[derive(Clone)]
pub struct AppState {
    pub schema: AppSchema,
    pub ctx: Ctx,
    pub keys: JwtKeys,
    pub limiter: Option<std::sync::Arc<Limiter>>,
    pub introspection: crate::config::Introspection,
    /// Where WebSocket connections run (see [`live`]).
    pub live: live::Live,
    /// `--cors-origins`: browsers apply no CORS to WebSockets, so the
    /// upgrade checks a browser's `Origin` against the same list.
    pub ws_origins: std::sync::Arc<Vec<String>>,
}

pub fn limiter(per_minute: u32) -> Option<std::sync::Arc<Limiter>> {
    let quota = governor::Quota::per_minute(std::num::NonZeroU32::new(per_minute)?);
    Some(std::sync::Arc::new(governor::RateLimiter::keyed(quota)))
}

pub struct HttpLimits {
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    pub cors_origins: Vec<String>,
}

pub fn router(state: AppState, limits: &HttpLimits) -> Router {
    // The timeout stays off the WebSocket route: a subscription lives long.
    let graphql = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            limits.request_timeout,
        ));
    Router::new()
        .route("/", get(graphiql::page))
        .route("/graphiql/{file}", get(graphiql::asset))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/graphql/ws", get(ws::handler))
        .merge(graphql)
        .route_layer(middleware::from_fn(metrics::track))
        .fallback(not_found)
        .layer(RequestBodyLimitLayer::new(limits.body_limit_bytes))
        .layer(middleware::map_response(graphql_shaped_errors))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(cors(&limits.cors_origins))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        // Spans name the path only: a query string may carry secrets. An
        // incoming W3C traceparent's trace id goes on every line of the request.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<Body>| {
                    let trace_id = trace::trace_id(request.headers());
                    let span = tracing::info_span!(
                        "request",
                        method = %request.method(),
                        path = %request.uri().path(),
                        trace_id = trace_id.as_deref().unwrap_or(""),
                    );
                    // With `--features otlp`: the exported span's parent.
                    crate::otlp::set_parent(&span, request.headers());
                    span
                })
                // One access-log line per request, at INFO, inside the span (with
                // its trace id).
                .on_response(
                    tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO),
                ),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

fn cors(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter(|o| !o.trim().is_empty())
        .filter_map(|o| HeaderValue::from_str(o.trim()).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
}

/// The process is alive.
async fn health() -> &'static str {
    "ok"
}

/// The database answers.
async fn ready(State(state): State<AppState>) -> Response {
    match crate::store::ping(&state.ctx.db).await {
        Ok(()) => "ready".into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

async fn not_found() -> Response {
    json_error(StatusCode::NOT_FOUND, "no such route", NOT_FOUND)
}

pub fn json_error(status: StatusCode, message: &str, code: &str) -> Response {
    (status, Json(error_body(message, code))).into_response()
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    tracing::error!("a request handler panicked");
    json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        INTERNAL,
    )
}

/// Layers answer 413, 408 and the like with plain text; clients expect a
/// GraphQL-shaped body with a code whatever failed.
async fn graphql_shaped_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(media::is_graphql_json);
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (message, code) = match status {
        StatusCode::PAYLOAD_TOO_LARGE => ("request body too large", BAD_USER_INPUT),
        StatusCode::REQUEST_TIMEOUT => ("request timed out", INTERNAL),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported content type", BAD_USER_INPUT),
        StatusCode::METHOD_NOT_ALLOWED => ("method not allowed", BAD_USER_INPUT),
        s if s.is_client_error() => ("bad request", BAD_USER_INPUT),
        _ => ("internal error", INTERNAL),
    };
    let mut shaped = json_error(status, message, code);
    // Keep the request id and CORS headers the layers set.
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    drop::<Body>(response.into_body());
    shaped
}
