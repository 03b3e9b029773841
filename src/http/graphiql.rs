//! GraphiQL at `/`, served whole from the binary: the page, GraphiQL's and
//! React's browser builds (`assets/graphiql/dist`, refreshed from npm by
//! `assets/graphiql/rebuild.sh`; `cargo build` needs no Node) and billrun's
//! own script and styles. Nothing comes from a CDN, so the page works
//! air-gapped and under a Content-Security-Policy that allows only 'self'.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// Everything from 'self'. `data:` fonts and images are GraphiQL's own,
/// inlined in its CSS (not fetched from anywhere); 'self' covers the
/// same-origin WebSocket in current browsers. GraphiQL's dialogs inject one
/// scroll-lock `<style>` that this refuses; they work without it.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
    font-src 'self' data:; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("../../assets/graphiql/index.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// (file name under /graphiql/, content type, bytes)
const ASSETS: [(&str, &str, &[u8]); 6] = [
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../../assets/graphiql/dist/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        CSS,
        include_bytes!("../../assets/graphiql/dist/graphiql.min.css"),
    ),
    (
        "react.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/dist/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/dist/react-dom.production.min.js"),
    ),
    (
        "billrun-graphiql.js",
        JS,
        include_bytes!("../../assets/graphiql/billrun-graphiql.js"),
    ),
    (
        "billrun-graphiql.css",
        CSS,
        include_bytes!("../../assets/graphiql/billrun-graphiql.css"),
    ),
];

pub async fn page() -> Response {
    let mut response = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    nosniff(response)
}

pub async fn asset(Path(name): Path<String>) -> Response {
    let Some((_, content_type, bytes)) = ASSETS.iter().find(|(file, _, _)| *file == name) else {
        return super::json_error(
            StatusCode::NOT_FOUND,
            "no such file",
            crate::graphql::error::NOT_FOUND,
        );
    };
    let response = (
        [
            (header::CONTENT_TYPE, *content_type),
            // Assets change only with the binary; an hour keeps reloads cheap.
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *bytes,
    )
        .into_response();
    nosniff(response)
}

fn nosniff(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}
