//! Where a token may travel, and where it must not (SECURITY.md item 19):
//! only the Authorization header is read, and no token reaches the logs.

use std::io::Write;
use std::sync::{Arc, Mutex};

use billrun::app::Application;
use serde_json::json;

use super::{unauthenticated, QUERY};
use crate::helpers::http::{post, send, still_up_as, written};
use crate::helpers::tokens::now;
use crate::helpers::{admin, serve_args, spawn_app, token_with};

const PARAMS: [&str; 6] = [
    "access_token",
    "token",
    "jwt",
    "bearer",
    "authorization",
    "Authorization",
];

#[tokio::test]
async fn a_token_anywhere_but_the_authorization_header_is_never_read() {
    let app = spawn_app().await;
    let e = app.create_entity("QST", "EUR").await;
    let tok = admin();
    let before = written(&app).await;
    let url = format!("{}/graphql", app.addr);
    let input = format!("legalEntityId: \"{e}\", name: \"Leaked\"");
    let mutation = format!("mutation {{ createCustomer(input: {{ {input} }}) {{ id }} }}");
    let body = json!({ "query": mutation });
    let bearer = format!("Bearer {tok}");
    for param in PARAMS {
        for value in [&tok, &bearer] {
            let get = app
                .client
                .get(&url)
                .query(&[("query", QUERY), (param, value)]);
            unauthenticated(&send(get).await, &format!("GET ?{param}="));
        }
        let posted = app.client.post(format!("{url}?{param}={tok}")).json(&body);
        unauthenticated(&send(posted).await, &format!("POST ?{param}="));
    }
    let in_body = [
        json!({ "query": mutation, "extensions": { "authorization": bearer } }),
        json!({ "query": mutation, "variables": { "access_token": tok } }),
        json!({ "query": mutation, "access_token": tok, "Authorization": bearer }),
    ];
    for body in in_body {
        unauthenticated(&send(post(&app).json(&body)).await, "a token in the body");
    }
    let cookie = format!("token={tok}; access_token={tok}");
    let with_cookie = post(&app).header("cookie", cookie).json(&body);
    unauthenticated(&send(with_cookie).await, "a token in a cookie");
    let other_header = post(&app).header("x-access-token", &tok).json(&body);
    unauthenticated(&send(other_header).await, "a token in another header");
    unauthenticated(&send(post(&app).json(&body)).await, "no token at all");
    assert_eq!(written(&app).await, before, "nothing written");
    still_up_as(&app, &tok).await;
}

/// Log lines written while the guard lives (on this test's thread, where
/// a tokio test also runs the server).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("log buffer").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self, filter: &str) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        Logs::refresh();
        guard
    }
    /// Other tests' threads register callsites while this one installs its
    /// subscriber; one registered in that instant keeps the interest of the
    /// subscribers before (tracing caches it), and its events would be
    /// missed here. Re-evaluating every callsite closes that window.
    fn refresh() {
        tracing::callsite::rebuild_interest_cache();
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("log buffer")).into_owned()
    }
}

/// The server's logs at TRACE (the HTTP client's own logs left out).
const SERVER_TRACE: &str = "trace,reqwest=off,hyper_util::client=off,hyper::client=off";

fn signature(tok: &str) -> &str {
    tok.rsplit('.').next().expect("signature")
}

#[tokio::test]
async fn tokens_in_the_authorization_header_are_never_logged() {
    let logs = Logs::default();
    let _guard = logs.capture(SERVER_TRACE);
    let app = spawn_app().await;
    Logs::refresh();
    let good = admin();
    let forged = format!("{}x", token_with(|c| c.sub = "forger".into()));
    let expired = token_with(|c| c.exp = now() - 3600);
    for tok in [&good, &forged, &expired] {
        send(post(&app).bearer_auth(tok).json(&json!({ "query": QUERY }))).await;
        send(
            post(&app)
                .bearer_auth(tok)
                .json(&json!({ "query": "{ nope }" })),
        )
        .await;
    }
    let text = logs.text();
    assert!(text.contains("/graphql"), "the capture saw the requests");
    for tok in [&good, &forged, &expired] {
        assert!(
            !text.contains(signature(tok)),
            "SECURITY 19: a token reached the logs"
        );
    }
}

#[tokio::test]
async fn a_token_sent_in_a_query_string_is_not_logged_either() {
    let logs = Logs::default();
    let _guard = logs.capture(SERVER_TRACE);
    let app = spawn_app().await;
    Logs::refresh();
    let tok = admin();
    let url = format!("{}/graphql", app.addr);
    let get = app
        .client
        .get(&url)
        .query(&[("query", QUERY), ("access_token", &tok)]);
    unauthenticated(&send(get).await, "GET ?access_token=");
    assert!(
        logs.text().contains("/graphql"),
        "the capture saw the request"
    );
    assert!(
        !logs.text().contains(signature(&tok)),
        "a query-string token was logged"
    );
}

#[tokio::test]
async fn the_development_admin_token_is_printed_but_not_logged() {
    // A development secret exists only with SQLite: this server runs on a
    // SQLite file whatever DATABASE_URL says.
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dev.db").display());
    let mut args = serve_args(&url);
    args.jwt_secret = None;
    let logs = Logs::default();
    let _guard = logs.capture("info");
    let server = Application::build(args)
        .await
        .expect("a server without a secret");
    let stop = server.shutdown_token();
    let port = server.port();
    let running = tokio::spawn(server.run_until_stopped());
    let health = reqwest::get(format!("http://127.0.0.1:{port}/health")).await;
    assert!(health.is_ok_and(|r| r.status() == 200), "the server is up");
    stop.cancel();
    let _ = running.await;
    let text = logs.text();
    assert!(
        !text.contains("eyJ"),
        "SECURITY 19: no JWT in the logs: {text:.2000}"
    );
}
