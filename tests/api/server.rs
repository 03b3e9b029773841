//! The HTTP and WebSocket edge (DESIGN.md, API), the CLI, and the schema's
//! faithfulness to api-contract.graphql.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    FieldDefinition, InputValueDefinition, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use serde_json::{json, Value};

use crate::helpers::{admin, code, spawn_app, SECRET};

#[tokio::test]
async fn health_and_ready_answer_200() {
    let app = spawn_app().await;
    for path in ["/health", "/ready"] {
        let response = app
            .client
            .get(format!("{}{path}", app.addr))
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200, "API: {path} answers 200 when up");
    }
}

#[tokio::test]
async fn graphql_over_http_takes_get_queries_and_refuses_what_it_does_not_speak() {
    let app = spawn_app().await;
    let url = format!("{}/graphql", app.addr);
    let response = app
        .client
        .get(&url)
        .query(&[("query", "{legalEntities{id}}")])
        .bearer_auth(admin())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status(), 200, "API: GET /graphql runs queries");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body, json!({ "data": { "legalEntities": [] } }));

    let get_mutation = app
        .client
        .get(&url)
        .query(&[("query", "mutation { __typename }")])
        .bearer_auth(admin());
    let text_plain = app
        .client
        .post(&url)
        .bearer_auth(admin())
        .header("content-type", "text/plain")
        .body(r#"{"query":"{ __typename }"}"#);
    let batch = app
        .client
        .post(&url)
        .bearer_auth(admin())
        .json(&json!([{ "query": "{ __typename }" }, { "query": "{ __typename }" }]));
    let unknown = app.client.get(format!("{}/no/such/route", app.addr));
    for (name, request, status, expected) in [
        ("GET mutation", get_mutation, 405, "BAD_USER_INPUT"),
        ("text/plain POST", text_plain, 415, "BAD_USER_INPUT"),
        ("batch", batch, 400, "BAD_USER_INPUT"),
        ("unknown route", unknown, 404, "NOT_FOUND"),
    ] {
        let response = request.send().await.expect("sent");
        assert_eq!(
            response.status(),
            status,
            "API: {name} is refused with {status}"
        );
        let body: Value = response
            .json()
            .await
            .unwrap_or_else(|e| panic!("{name}: JSON body: {e}"));
        assert_eq!(
            code(&body),
            expected,
            "API: {name} answers with extensions.code: {body}"
        );
    }
}

/// POSTs a 2 MiB query (the limit is 1 MiB) and returns status and body.
async fn post_oversized_body() -> (u16, String) {
    let app = spawn_app().await;
    let query = format!("{{ __typename }} # {}", "x".repeat(2 * 1024 * 1024));
    let response = app
        .client
        .post(format!("{}/graphql", app.addr))
        .bearer_auth(admin())
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("sent");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn a_body_over_the_limit_is_refused_with_413() {
    let (status, _) = post_oversized_body().await;
    assert_eq!(status, 413, "API: bodies over the 1 MiB limit are refused");
}

#[tokio::test]

async fn a_body_over_the_limit_gets_a_graphql_shaped_413_body() {
    let (_, text) = post_oversized_body().await;
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("API: a 413 has a GraphQL-shaped JSON body, got {text:?}"));
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
}

#[tokio::test]
async fn syntax_errors_unknown_fields_and_depth_bombs_are_refused_as_bad_input() {
    let app = spawn_app().await;
    let tok = admin();
    for query in ["{ legalEntities { id ", "{ noSuchField }"] {
        let body = app.gql(&tok, query, json!({})).await;
        assert_eq!(
            code(&body),
            "BAD_USER_INPUT",
            "API: {query:?} is the client's fault: {body}"
        );
    }
    let mut bomb = "__schema { types { fields { type { name } } } }".to_string();
    for _ in 0..11 {
        bomb = bomb.replacen("{ name }", "{ ofType { name } }", 1);
    }
    let body = app.gql(&tok, &format!("{{ {bomb} }}"), json!({})).await;
    assert!(
        body["errors"].as_array().is_some_and(|e| !e.is_empty()),
        "API: a query deeper than 12 is refused: {body}"
    );
    assert!(
        body["data"].is_null(),
        "API: a refused query runs nothing: {body}"
    );
    assert_eq!(code(&body), "BAD_USER_INPUT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("too deep"),
        "API: refused by the depth limit: {body}"
    );
}

#[tokio::test]
async fn responses_carry_a_request_id_and_keep_a_supplied_one() {
    let app = spawn_app().await;
    let url = format!("{}/health", app.addr);
    let response = app.client.get(&url).send().await.expect("sent");
    let generated = response
        .headers()
        .get("x-request-id")
        .expect("API: every response has x-request-id");
    assert!(!generated.is_empty());
    let response = app
        .client
        .get(&url)
        .header("x-request-id", "trace-42")
        .send()
        .await
        .expect("sent");
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .map(|v| v.to_str().expect("ascii")),
        Some("trace-42"),
        "API: a supplied request id is propagated back"
    );
}

#[tokio::test]
async fn cors_preflight_allows_only_configured_origins() {
    let app = spawn_app().await;
    for (origin, allowed) in [
        ("http://allowed.example", true),
        ("http://evil.example", false),
    ] {
        let response = app
            .client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.addr))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
            .await
            .expect("sent");
        let allow = response
            .headers()
            .get("access-control-allow-origin")
            .map(|v| v.to_str().expect("ascii").to_string());
        if allowed {
            assert_eq!(
                allow.as_deref(),
                Some(origin),
                "API: a configured origin passes preflight"
            );
        } else {
            assert_eq!(allow, None, "API: an unknown origin gets no CORS grant");
        }
    }
}

#[tokio::test]
async fn websocket_acks_a_valid_token_and_runs_a_query_to_completion() {
    let app = spawn_app().await;
    app.create_entity("WS", "EUR").await;
    let mut ws = app
        .ws(json!({ "Authorization": format!("Bearer {}", admin()) }))
        .await;
    assert_eq!(
        ws.next().await,
        Some(json!({ "type": "connection_ack" })),
        "Access: a valid token is acked"
    );
    ws.subscribe("1", "{ legalEntities { code } }", json!({}))
        .await;
    assert_eq!(
        ws.next().await,
        Some(
            json!({ "id": "1", "type": "next", "payload": { "data": { "legalEntities": [{ "code": "WS" }] } } })
        )
    );
    assert_eq!(
        ws.next().await,
        Some(json!({ "id": "1", "type": "complete" }))
    );
}

#[tokio::test]
async fn websocket_without_a_valid_token_is_never_acked() {
    let app = spawn_app().await;
    for payload in [json!({}), json!({ "Authorization": "Bearer garbage" })] {
        let mut ws = app.ws(payload.clone()).await;
        for _ in 0..3 {
            let Some(message) = ws.next().await else {
                break;
            };
            assert_ne!(
                message["type"], "connection_ack",
                "Access: {payload} must not be acked: {message}"
            );
        }
    }
}

fn billrun(args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("BILLRUN_JWT_SECRET")
        .output()
        .expect("billrun runs")
}

#[tokio::test]
async fn cli_prints_the_checked_in_schema_and_issues_tokens_the_server_accepts() {
    let schema = billrun(&["schema"]);
    assert!(schema.status.success(), "billrun schema: {schema:?}");
    let checked_in =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("schema.graphql"))
            .expect("schema.graphql");
    assert!(
        String::from_utf8_lossy(&schema.stdout) == checked_in,
        "CLI: schema.graphql has drifted from the code; regenerate it with `billrun schema > schema.graphql`"
    );

    let app = spawn_app().await;
    let entity = app.create_entity("CLI", "EUR").await;
    app.create_entity("OTHER", "EUR").await;
    let out = billrun(&[
        "token",
        "--role",
        "PARTNER",
        "--scopes",
        "billing:read",
        "--legal-entities",
        &entity,
        "--jwt-secret",
        SECRET,
    ]);
    assert!(out.status.success(), "billrun token: {out:?}");
    let tok = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    let data = app.data(&tok, "{ legalEntities { id } }", json!({})).await;
    assert_eq!(
        data["legalEntities"],
        json!([{ "id": entity }]),
        "CLI: the token is the partner's"
    );

    let bad = billrun(&["token", "--role", "NOPE", "--jwt-secret", SECRET]);
    assert!(!bad.status.success(), "CLI: an unknown role is refused");
    assert!(bad.stdout.is_empty(), "CLI: no token for an unknown role");
}

/// Type definitions by name, exactly as written: root types are compared
/// by their names too (the contract's are Query, Mutation, Subscription),
/// and a `schema { … }` block naming other roots is refused.
fn types_of(path: &Path) -> HashMap<String, TypeDefinition> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc = parse_schema(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut types = HashMap::new();
    for def in doc.definitions {
        match def {
            TypeSystemDefinition::Schema(s) => {
                let s = s.node;
                for (root, contract) in [
                    (s.query, "Query"),
                    (s.mutation, "Mutation"),
                    (s.subscription, "Subscription"),
                ] {
                    if let Some(root) = root {
                        assert_eq!(
                            root.node.as_str(),
                            contract,
                            "{}: root type names",
                            path.display()
                        );
                    }
                }
            }
            TypeSystemDefinition::Type(t) => {
                types.insert(t.node.name.node.to_string(), t.node);
            }
            TypeSystemDefinition::Directive(_) => {}
        }
    }
    types
}

fn optional(v: &InputValueDefinition) -> bool {
    v.ty.node.nullable || v.default_value.is_some()
}

/// Contract inputs (arguments or input fields) must all be in ours with the
/// same type; extra ones of ours must be optional ("Add freely: more
/// arguments with defaults").
fn compare_inputs(
    at: &str,
    ours: &[Positioned<InputValueDefinition>],
    theirs: &[Positioned<InputValueDefinition>],
    problems: &mut Vec<String>,
) {
    for t in theirs {
        match ours.iter().find(|o| o.node.name.node == t.node.name.node) {
            None => problems.push(format!("{at}.{}: missing", t.node.name.node)),
            Some(o) if o.node.ty.node != t.node.ty.node => problems.push(format!(
                "{at}.{}: {} but the contract says {}",
                t.node.name.node, o.node.ty.node, t.node.ty.node
            )),
            Some(_) => {}
        }
    }
    for o in ours {
        if !theirs.iter().any(|t| t.node.name.node == o.node.name.node) && !optional(&o.node) {
            problems.push(format!(
                "{at}.{}: a required input the contract does not have",
                o.node.name.node
            ));
        }
    }
}

fn compare_fields(
    ty: &str,
    ours: &[Positioned<FieldDefinition>],
    theirs: &[Positioned<FieldDefinition>],
    problems: &mut Vec<String>,
) {
    for o in ours {
        let Some(t) = theirs.iter().find(|t| t.node.name.node == o.node.name.node) else {
            continue;
        };
        let at = format!("{ty}.{}", o.node.name.node);
        if o.node.ty.node != t.node.ty.node {
            problems.push(format!(
                "{at}: {} but the contract says {}",
                o.node.ty.node, t.node.ty.node
            ));
        }
        compare_inputs(&at, &o.node.arguments, &t.node.arguments, problems);
    }
}

#[test]
fn every_name_the_schema_shares_with_the_contract_has_the_contract_shape() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let ours = types_of(&root.join("schema.graphql"));
    let contract = types_of(&root.join("tests/api-contract.graphql"));
    let mut problems = Vec::new();
    let mut compared = Vec::new();
    for (name, o) in &ours {
        let Some(t) = contract.get(name) else {
            continue;
        };
        compared.push(name.as_str());
        match (&o.kind, &t.kind) {
            (TypeKind::Object(o), TypeKind::Object(t)) => {
                compare_fields(name, &o.fields, &t.fields, &mut problems)
            }
            // Inputs and enums are checked whole: a client sends every
            // contract field and may receive every contract value.
            (TypeKind::InputObject(o), TypeKind::InputObject(t)) => {
                compare_inputs(name, &o.fields, &t.fields, &mut problems)
            }
            (TypeKind::Enum(o), TypeKind::Enum(t)) => {
                for value in &t.values {
                    if !o
                        .values
                        .iter()
                        .any(|v| v.node.value.node == value.node.value.node)
                    {
                        problems.push(format!(
                            "{name}.{}: enum value missing",
                            value.node.value.node
                        ));
                    }
                }
            }
            (TypeKind::Scalar, TypeKind::Scalar) => {}
            _ => problems.push(format!(
                "{name}: a different kind of type than in the contract"
            )),
        }
    }
    problems.sort();
    for expected in [
        "Query",
        "Mutation",
        "LegalEntity",
        "Contract",
        "CreateContractInput",
        "BillingInterval",
    ] {
        assert!(
            compared.contains(&expected),
            "{expected} is compared with the contract"
        );
    }
    assert!(
        problems.is_empty(),
        "api-contract.graphql: rename or remove nothing:\n{}",
        problems.join("\n")
    );
}

/// The CPUs a thread may run on, from /proc.
fn cpus_of(task: &Path) -> Vec<usize> {
    let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_default();
    billrun::http::live::parse_cpu_list(list).unwrap_or_default()
}

fn serve_with_live_cpus(database_url: &str, port: u16, cpus: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--database-url", database_url, "--live-cpus", cpus])
        .args(["--scheduler-poll-secs", "0", "--db-pool-size", "3"])
        .env("BILLRUN_JWT_SECRET", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("billrun serve starts")
}

/// `--live-cpus`: WebSocket threads on the CPUs named, everything else of
/// the server (runtime workers, database threads) on the others; a set that
/// leaves nothing for the rest, or names a CPU the process cannot use, is
/// refused at start-up.
#[tokio::test]
async fn live_cpus_keep_websocket_threads_apart_from_the_rest_of_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = crate::helpers::fresh_database(&dir).await;
    let ours = cpus_of(Path::new("/proc/thread-self"));
    assert!(!ours.is_empty(), "this test reads Linux's /proc");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();

    let refused = |cpus: String| {
        let mut child = serve_with_live_cpus(&database_url, port, &cpus);
        let status = child.wait().expect("exits");
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut err);
        }
        assert!(
            !status.success() && err.contains("--live-cpus"),
            "--live-cpus {cpus} must be refused by name: {status:?} {err}"
        );
    };
    refused("4095".into());
    let all = ours
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    refused(all);
    if ours.len() < 2 {
        eprintln!("note: one CPU available; only the refusals were checked");
        return;
    }

    let live = *ours.last().expect("a CPU");
    let mut child = serve_with_live_cpus(&database_url, port, &live.to_string());
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..100 {
        if client
            .get(format!("http://127.0.0.1:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let tasks: Vec<(String, Vec<usize>)> = std::fs::read_dir(format!("/proc/{}/task", child.id()))
        .expect("the server's threads")
        .filter_map(|t| t.ok())
        .map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
            (comm.trim().to_string(), cpus_of(&t.path()))
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    assert!(up, "the pinned server answers /health");
    let (live_threads, rest): (Vec<_>, Vec<_>) =
        tasks.iter().partition(|(name, _)| name == "billrun-live");
    assert_eq!(
        live_threads.len(),
        1,
        "one live worker per live CPU: {tasks:?}"
    );
    assert!(
        live_threads.iter().all(|(_, cpus)| cpus == &vec![live]),
        "live threads run only on CPU {live}: {tasks:?}"
    );
    assert!(
        rest.iter()
            .any(|(name, _)| name.starts_with("sqlx-sqlite") || name == "tokio-rt-worker"),
        "the runtime and database threads were listed: {tasks:?}"
    );
    assert!(
        rest.iter()
            .all(|(_, cpus)| !cpus.is_empty() && !cpus.contains(&live)),
        "every other thread stays off CPU {live}: {tasks:?}"
    );
}
