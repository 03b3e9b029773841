//! DESIGN.md, Operations: Prometheus metrics on their own listener, and an
//! incoming W3C traceparent carried into the request's log lines, through
//! the real binary.

use serde_json::json;

use crate::helpers::billing::run;
use crate::helpers::{admin, fresh_database, TestApp};
use crate::process::{Opts, Server};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

#[tokio::test]
async fn metrics_count_requests_operations_and_runs_and_a_traceparent_reaches_the_logs() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(&dir).await;
    let metrics_port = free_port();
    let opts = Opts {
        args: vec![
            "--metrics-bind".into(),
            format!("127.0.0.1:{metrics_port}"),
            "--log-format".into(),
            "json".into(),
        ],
        ..Opts::default()
    };
    let server = Server::start("metrics", &database_url, &opts).await;
    let app = TestApp::external(dir, database_url, server.port).await;
    let e = app.create_entity("MX1", "EUR").await;
    let c = app.create_customer(&e, "Metered").await;
    app.create_contract(&c, "2026-11-01", "10.00", None).await;
    run(&app, &e, "2026-11-01").await;
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let named = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
        .json(&json!({ "query": "query Entities { legalEntities { id } }", "operationName": "Entities" }))
        .send()
        .await
        .expect("query");
    assert!(named.status().is_success());
    app.gql(&admin(), "{ nope }", json!({})).await;

    let public = app
        .client
        .get(format!("{}/metrics", app.addr))
        .send()
        .await
        .expect("get");
    assert_eq!(
        public.status(),
        404,
        "metrics are not served on the public listener"
    );
    let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("body");
    for line in [
        r#"billrun_http_requests_total{route="/graphql",status="200"}"#,
        r#"billrun_graphql_operations_total{operation="Entities",outcome="ok"} 1"#,
        r#"billrun_graphql_operations_total{operation="invalid",outcome="invalid"} 1"#,
        r#"billrun_billing_runs_total{status="COMPLETED"} 1"#,
        "billrun_invoices_created_total 1",
        "billrun_billing_run_duration_seconds_count 1",
        "billrun_http_request_duration_seconds_bucket",
        r#"billrun_db_pool_connections{state="idle"}"#,
    ] {
        assert!(text.contains(line), "metrics lack {line}:\n{text}");
    }
    assert!(!text.contains("/health"), "probes are not counted");
    let logged = server.grep(&[trace]);
    assert!(
        logged.contains(&format!("\"trace_id\":\"{trace}\"")),
        "the request's log lines carry the trace id: {logged}"
    );
}
