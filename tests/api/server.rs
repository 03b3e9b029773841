//! The server as a whole (DESIGN.md, Parts: API and CLI; Operations):
//! health, request ids, CORS, GraphQL over GET and WebSocket, the CLI, the
//! schema's faithfulness to api-contract.graphql, and `--live-cpus`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use async_graphql::parser::parse_schema;
use async_graphql::parser::types::{
    FieldDefinition, InputValueDefinition, TypeDefinition, TypeKind, TypeSystemDefinition,
};
use async_graphql::parser::Positioned;
use serde_json::json;

use crate::helpers::http::{get, send};
use crate::helpers::ws::{completed, Client};
use crate::helpers::{admin, code, spawn_app, SECRET};
use crate::process::{Opts, Server};

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

/// GET runs queries; a route the server does not have is a GraphQL-shaped
/// 404. What /graphql refuses (mutations over GET, other content types,
/// batches, oversized bodies) is in `transport::http`.
#[tokio::test]
async fn get_runs_queries_and_an_unknown_route_is_a_graphql_shaped_404() {
    let app = spawn_app().await;
    let reply = get(&app, &[("query", "{legalEntities{id}}".into())]).await;
    assert_eq!(
        (reply.status, &reply.body),
        (200, &json!({ "data": { "legalEntities": [] } })),
        "API: GET /graphql runs queries"
    );
    let unknown = app.client.get(format!("{}/no/such/route", app.addr));
    let reply = send(unknown).await;
    assert_eq!(
        (reply.status, code(&reply.body)),
        (404, "NOT_FOUND"),
        "API: an unknown route is 404 with extensions.code: {}",
        reply.body
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
    let mut ws = Client::authed(app.port, &admin()).await;
    ws.subscribe("1", "{ legalEntities { code } }", json!({}))
        .await;
    let frames = ws.gather(|f| completed(f, "1")).await;
    assert_eq!(
        frames,
        [
            json!({ "id": "1", "type": "next", "payload": { "data": { "legalEntities": [{ "code": "WS" }] } } }),
            json!({ "id": "1", "type": "complete" })
        ],
        "API: a query over WebSocket answers once, then completes"
    );
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
    let opts = Opts {
        args: ["--live-cpus", &live.to_string(), "--db-pool-size", "3"]
            .map(String::from)
            .to_vec(),
        ..Opts::default()
    };
    let server = Server::start("pinned", &database_url, &opts).await;
    let tasks: Vec<(String, Vec<usize>)> =
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .expect("the server's threads")
            .filter_map(|t| t.ok())
            .map(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                (comm.trim().to_string(), cpus_of(&t.path()))
            })
            .collect();
    drop(server);
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
