//! `--otlp-endpoint` through the real binary. With `--features otlp`: a
//! tiny OTLP/HTTP receiver gets the request span, in the trace and under
//! the parent that the request's traceparent named. Without the feature:
//! the setting is refused at start, saying how to get it.

#[cfg(feature = "otlp")]
mod with_the_feature {
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use axum::body::Bytes;
    use axum::http::HeaderMap;
    use axum::routing::post;
    use axum::Router;

    use crate::helpers::fresh_database;
    use crate::process::{Opts, Server};

    /// (path, content type, body) of every request the receiver got.
    type Got = Arc<Mutex<Vec<(String, String, Vec<u8>)>>>;

    async fn receiver() -> (String, Got) {
        let got: Got = Arc::default();
        let seen = got.clone();
        let app = Router::new().route(
            "/v1/traces",
            post(move |headers: HeaderMap, body: Bytes| {
                let seen = seen.clone();
                async move {
                    let kind = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_string();
                    if let Ok(mut seen) = seen.lock() {
                        seen.push(("/v1/traces".into(), kind, body.to_vec()));
                    }
                    // An empty ExportTraceServiceResponse.
                    (
                        [("content-type", "application/x-protobuf")],
                        Vec::<u8>::new(),
                    )
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("receiver port");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}"), got)
    }

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn the_request_span_reaches_an_otlp_receiver_in_the_callers_trace() {
        let (endpoint, got) = receiver().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let database_url = fresh_database(&dir).await;
        let opts = Opts {
            args: vec![
                "--otlp-endpoint".into(),
                endpoint,
                "--metrics-bind".into(),
                String::new(),
            ],
            ..Opts::default()
        };
        let mut server = Server::start("otlp", &database_url, &opts).await;
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let parent = "00f067aa0ba902b7";
        let answered = reqwest::Client::new()
            .get(format!(
                "http://127.0.0.1:{}/graphql?query=%7B__typename%7D",
                server.port
            ))
            .header("traceparent", format!("00-{trace}-{parent}-01"))
            .send()
            .await
            .expect("request");
        assert!(answered.status().as_u16() < 500);
        // A clean stop sends what the batch still holds.
        assert!(
            server.terminate(Duration::from_secs(20)),
            "{}",
            server.log()
        );

        let (trace_bytes, parent_bytes) = (
            hex::decode(trace).expect("hex"),
            hex::decode(parent).expect("hex"),
        );
        let mut exported = Vec::new();
        for _ in 0..100 {
            exported = got.lock().map(|g| g.clone()).unwrap_or_default();
            if exported.iter().any(|(_, _, b)| contains(b, &trace_bytes)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let span = exported
            .iter()
            .find(|(_, _, body)| contains(body, &trace_bytes));
        let Some((path, kind, body)) = span else {
            panic!(
                "no exported span carries trace {trace}: {} requests; log: {}",
                exported.len(),
                server.log()
            );
        };
        assert_eq!(path, "/v1/traces");
        assert_eq!(kind, "application/x-protobuf", "OTLP/HTTP protobuf");
        assert!(
            contains(body, &parent_bytes),
            "the span's parent is the caller's span {parent}"
        );
        assert!(contains(body, b"request"), "the request span");
        assert!(contains(body, b"billrun"), "service.name");
    }
}

#[cfg(not(feature = "otlp"))]
#[test]
fn without_the_feature_an_otlp_endpoint_is_refused_at_start() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    let dir = tempfile::tempdir().expect("temp dir");
    let db = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args(["serve", "--bind", "127.0.0.1:0", "--metrics-bind", ""])
        .args([
            "--database-url",
            &db,
            "--jwt-secret",
            crate::helpers::SECRET,
        ])
        .args(["--otlp-endpoint", "http://127.0.0.1:4318"])
        .env_remove("DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("billrun");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let said = String::from_utf8_lossy(&output.stderr).to_string()
        + &String::from_utf8_lossy(&output.stdout);
    assert!(
        status.is_some_and(|s| !s.success()),
        "refused, not served: {said}"
    );
    assert!(said.contains("--features otlp"), "says how: {said}");
}
