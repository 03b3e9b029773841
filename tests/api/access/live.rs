//! Access over WebSocket (SECURITY.md items 23-25): the token comes in
//! connection_init and nothing flows before a valid one; every event is
//! checked against the token's legal entities; a stream ends at the
//! token's `exp`.

use std::time::Duration;

use serde_json::json;

use crate::helpers::billing::{entity_with, trigger_run, COMPLETED_EVENT};
use crate::helpers::tokens::alg_none;
use crate::helpers::ws::{completed, nexts, seen, Client, Frame, AUDIT, BY_ENTITY, BY_RUN, DOMAIN};
use crate::helpers::{admin, spawn_app, token, token_with};

#[tokio::test]
async fn a_partner_subscribed_without_an_entity_receives_only_its_entitys_events() {
    let app = spawn_app().await;
    let a = entity_with(&app, "TA1", 2).await;
    let b = entity_with(&app, "TB1", 2).await;
    let partner = token("PARTNER", &["billing:read", "events:read"], &[&a]);
    let mut c = Client::authed(app.port, &partner).await;
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("domain", DOMAIN, json!({})).await;
    c.subscribe("runs", BY_ENTITY, json!({})).await;
    c.barrier().await;
    let run_b = trigger_run(&app, &b, "2026-11-27", true).await;
    let run_a = trigger_run(&app, &a, "2026-11-27", true).await;
    let mut frames = c
        .gather(|f| {
            seen(f, "audit", "auditEvents", "action", "RUN_COMPLETED")
                && seen(f, "domain", "domainEvents", "type", COMPLETED_EVENT)
                && seen(f, "runs", "billingRunUpdated", "status", "COMPLETED")
        })
        .await;
    frames.extend(c.drain(Duration::from_millis(500)).await);
    let audit = nexts(&frames, "audit", "auditEvents");
    let domain = nexts(&frames, "domain", "domainEvents");
    assert!(
        audit
            .iter()
            .chain(&domain)
            .all(|x| x["legalEntityId"] == a.as_str()),
        "SECURITY 23: every event is checked against the token's entities: {audit:?} {domain:?}"
    );
    assert!(domain.len() >= 5, "its own events arrived: {domain:?}");
    let runs = nexts(&frames, "runs", "billingRunUpdated");
    assert!(
        runs.iter().all(|r| r["id"] == run_a.as_str()),
        "SECURITY 23: run updates of another entity never reach the partner: {runs:?}"
    );
    let refusals = [
        ("x1", AUDIT, json!({ "e": b })),
        ("x2", DOMAIN, json!({ "e": b })),
        ("x3", BY_RUN, json!({ "id": run_b })),
        ("x4", BY_ENTITY, json!({ "e": b })),
    ];
    for (id, query, vars) in refusals {
        let code = c.refused(id, query, vars.clone()).await;
        assert_eq!(
            code, "NOT_FOUND",
            "SECURITY 23: another entity is NOT_FOUND, no data ({vars})"
        );
    }
}

#[tokio::test]
async fn no_data_before_connection_init_or_with_a_bad_token_at_init() {
    let app = spawn_app().await;
    let query = "subscription { auditEvents(after: \"0\") { id } }";
    let mut early = Client::open(app.port).await;
    early.subscribe("early", query, json!({})).await;
    let (frames, code) = early.closing(Duration::from_secs(5)).await;
    assert_eq!(
        (frames.len(), code),
        (0, Some(4401)),
        "SECURITY 24, graphql-transport-ws: subscribe before connection_ack closes with \
         4401 Unauthorized, no data: {frames:?}"
    );

    let good = admin();
    let (payload, signature) = good.rsplit_once('.').expect("a JWT");
    let forged = format!("{payload}.{}", signature.chars().rev().collect::<String>());
    let expired = token_with(|c| c.exp = chrono::Utc::now().timestamp() - 3600);
    let bearer = |t: &str| json!({ "Authorization": format!("Bearer {t}") });
    let cases = [
        ("an expired token", bearer(&expired)),
        ("a token with a wrong signature", bearer(&forged)),
        ("a malformed token", bearer("not.a.jwt")),
        ("garbage", bearer("garbage")),
        ("an alg-none token", bearer(&alg_none())),
        ("no token", json!({})),
        ("a token without Bearer", json!({ "Authorization": good })),
    ];
    for (what, payload) in cases {
        let mut c = Client::open(app.port).await;
        c.init(payload).await;
        c.subscribe("s", query, json!({})).await;
        let (frames, code) = c.closing(Duration::from_secs(5)).await;
        assert_eq!(
            (frames.len(), code),
            (0, Some(4403)),
            "SECURITY 24, graphql-transport-ws: {what} at connection_init closes with 4403 \
             Forbidden: no connection_ack, no data: {frames:?}"
        );
    }
    Client::authed(app.port, &admin()).await.barrier().await;
}

#[tokio::test]
async fn a_stream_ends_when_its_token_expires_and_no_later_stream_gets_data() {
    let app = spawn_app().await;
    let e = entity_with(&app, "EX1", 1).await;
    let exp = chrono::Utc::now().timestamp() + 3;
    let short = token_with(|c| c.exp = exp);
    let mut c = Client::authed(app.port, &short).await;
    c.subscribe("audit", AUDIT, json!({})).await;
    c.subscribe("runs", BY_ENTITY, json!({ "e": e })).await;
    c.gather(|f| completed(f, "audit") && completed(f, "runs"))
        .await;
    // Measured against exp itself, not from the subscribe: on a loaded
    // machine connecting alone can take seconds. exp is in whole seconds,
    // so "not before exp" allows one second.
    let late_ms = chrono::Utc::now().timestamp_millis() - exp * 1000;
    assert!(
        (-1000..=5000).contains(&late_ms),
        "SECURITY 25: the streams end at exp, not at once nor long after: {late_ms} ms after exp"
    );
    // The socket may stay open, but what it subscribes now gets nothing.
    c.subscribe("late", AUDIT, json!({ "e": e })).await;
    trigger_run(&app, &e, "2026-11-27", true).await;
    match c.recv(Duration::from_secs(5)).await {
        Frame::Msg(v) => assert_eq!(
            (v["id"].as_str(), v["type"].as_str()),
            (Some("late"), Some("complete")),
            "SECURITY 25: a subscription after exp ends at once, without data: {v}"
        ),
        Frame::Closed(_) => {}
        Frame::Silent => panic!("SECURITY 25: a subscription after exp stays open"),
    }
}
