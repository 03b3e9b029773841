//! Bodies and methods the GraphQL-over-HTTP endpoint does not speak
//! (SECURITY.md items 3, 6, 8, 9): refused with the exact status and a
//! GraphQL-shaped BAD_USER_INPUT body, before anything runs.

use std::time::Duration;

use serde_json::{json, Value};

use super::new_customer;
use crate::helpers::http::{expect, get, raw, raw_json, refused, still_up, written};
use crate::helpers::{admin, spawn_app};

#[tokio::test]
async fn a_batched_or_non_object_body_is_400_before_anything_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("BAT", "EUR").await;
    let one = json!({ "query": new_customer(&e, "Batched") });
    let bodies = [
        json!([one, one]),
        json!([one]),
        json!([one, one["query"]]),
        json!(one["query"]),
        json!(null),
        json!(42),
        json!({ "query": [one["query"], one["query"]] }),
        json!({ "query": one["query"], "variables": [one] }),
        // Found by this suite and fixed in f90a2a9: serde read a struct from an array.
        json!([one["query"]]),
        json!([one["query"], null, {}]),
        json!([]),
    ];
    let mut bodies: Vec<String> = bodies.iter().map(Value::to_string).collect();
    bodies.push(format!(" \n\t[{one}]"));
    let before = written(&app).await;
    for body in bodies {
        let reply = raw_json(&app, body.clone()).await;
        assert_eq!(
            reply.status, 400,
            "SECURITY 3: a batch is refused: {body:.100}: {}",
            reply.body
        );
        refused(&reply.body);
    }
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 3: no batched mutation ran"
    );
    still_up(&app).await;
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_before_it_is_read_and_multipart_is_415() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = spawn_app().await;
    let e = app.create_entity("BIG", "EUR").await;
    let before = written(&app).await;
    // Announce 20 MiB and send none of it: the answer comes from the headers alone.
    let address = ("127.0.0.1", app.port);
    let mut socket = tokio::net::TcpStream::connect(address).await.expect("tcp");
    let (auth, length) = (admin(), 20 * 1024 * 1024);
    let head = format!(
        "POST /graphql HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {auth}\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n"
    );
    socket.write_all(head.as_bytes()).await.expect("write head");
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut answer));
    let n = read.await.expect("answered before any body").expect("read");
    let answer = String::from_utf8_lossy(&answer[..n]).to_string();
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "SECURITY 6: 413 before the body is read: {answer}"
    );
    let shaped = answer.contains("\"code\":\"BAD_USER_INPUT\"");
    assert!(shaped, "GraphQL-shaped: {answer}");

    // Real bodies holding a mutation: just over the configured 1 MiB, and 20 MiB.
    let query = json!(new_customer(&e, "Big"));
    for size in [2 * 1024 * 1024, length] {
        let padding = " ".repeat(size);
        let reply = raw_json(&app, format!("{{\"query\": {query}{padding}}}")).await;
        assert_eq!(reply.status, 413, "SECURITY 6: {size} bytes over the limit");
        expect(&reply.body, "BAD_USER_INPUT");
    }

    let part = |name: &str, value: &str| {
        format!("--x\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n")
    };
    let operations = json!({ "query": query }).to_string();
    let multipart = part("operations", &operations) + &part("map", "{}") + "--x--\r\n";
    let reply = raw(&app, Some("multipart/form-data; boundary=x"), multipart).await;
    assert_eq!(reply.status, 415, "SECURITY 6: no multipart uploads");
    expect(&reply.body, "BAD_USER_INPUT");
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}

#[tokio::test]
async fn a_get_carrying_a_mutation_is_405_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("GET", "EUR").await;
    let create = new_customer(&e, "ViaGet");
    let body = create.trim_start_matches("mutation ");
    let two = format!("query Q {{ __typename }} mutation M {body}");
    let var = new_customer(&e, "N").replace("mutation {", "mutation($n: String!) {");
    let var = var.replace("\"N\"", "$n");
    let before = written(&app).await;
    let q = |s: &str| ("query", s.to_string());
    let cases = [
        vec![q(&create)],
        vec![q(&format!("# a comment first\n  mutation M {body}"))],
        vec![q(&two), ("operationName", "M".into())],
        vec![q(&two), ("operation_name", "M".into())],
        vec![q(&two)],
        vec![q(&var), ("variables", "{\"n\":\"V\"}".into())],
    ];
    for params in &cases {
        let reply = get(&app, params).await;
        assert_eq!(
            reply.status, 405,
            "SECURITY 8: GET carrying a mutation: {params:?}: {}",
            reply.body
        );
        expect(&reply.body, "BAD_USER_INPUT");
    }
    // The spec's `operationName` (and async-graphql's own spelling) selects
    // the query of a mixed document, which runs, and only it.
    for name in ["operationName", "operation_name"] {
        let reply = get(&app, &[q(&two), (name, "Q".into())]).await;
        assert_eq!(
            (reply.status, &reply.body),
            (200, &json!({ "data": { "__typename": "Query" } })),
            "the query a mixed document names by {name} runs, and only it"
        );
    }
    // A document that does not parse runs nothing either.
    let reply = get(&app, &[q(&format!("{create} }}"))]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    refused(&reply.body);
    assert_eq!(
        written(&app).await,
        before,
        "SECURITY 8: nothing written over GET"
    );
    still_up(&app).await;
}

/// Content types a cross-site form or fetch can send without a preflight, and others.
const NOT_JSON: &str = "text/plain|text/plain;charset=UTF-8|TEXT/PLAIN|\
    text/plain; application/json|application/x-www-form-urlencoded|\
    application/x-www-form-urlencoded; charset=utf-8|multipart/form-data; boundary=x|\
    application/graphql|text/html||none";

#[tokio::test]
async fn text_form_and_unlabelled_posts_are_415_and_nothing_runs() {
    let app = spawn_app().await;
    let e = app.create_entity("CTY", "EUR").await;
    let mutation = new_customer(&e, "Csrf");
    let json_body = json!({ "query": mutation }).to_string();
    let form = format!("query={}", mutation.replace(' ', "+").replace('"', "%22"));
    let before = written(&app).await;
    for content_type in NOT_JSON.split('|') {
        let body = match content_type {
            "application/x-www-form-urlencoded" => form.clone(),
            "application/graphql" => mutation.clone(),
            _ => json_body.clone(),
        };
        let header = Some(content_type).filter(|ct| *ct != "none");
        let reply = raw(&app, header, body).await;
        assert_eq!(
            reply.status, 415,
            "SECURITY 9: not JSON, not run: {content_type:?}: {}",
            reply.body
        );
        expect(&reply.body, "BAD_USER_INPUT");
    }
    assert_eq!(written(&app).await, before, "nothing written");
    still_up(&app).await;
}
