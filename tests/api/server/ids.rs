//! Cacheable objects carry a stable `id` (issue 16): client caches (Apollo's
//! InMemoryCache, urql's graphcache) normalise by `__typename` and `id`, so
//! without one a mutation's answer never replaces what the cache holds.

use serde_json::json;

use crate::helpers::admin;
use crate::helpers::ar::{aging, one_invoice};
use crate::helpers::spawn_app;

const AGENTS: &str = "{ agentDefinitions { id key config { id autoPostInvoices } } }";
const UPDATE: &str = "mutation($i: UpdateBillingAgentConfigInput!) {
  updateBillingAgentConfig(input: $i) { id autoPostInvoices } }";

#[tokio::test]
async fn the_agent_and_its_config_keep_their_ids_across_an_update() {
    let app = spawn_app().await;
    let before = app.data(&admin(), AGENTS, json!({})).await;
    let agent = &before["agentDefinitions"][0];
    assert_eq!(
        agent["id"], "billing-run",
        "the agent's id is its key: {before}"
    );
    assert_eq!(agent["id"], agent["key"], "{before}");
    let config_id = agent["config"]["id"].clone();
    assert!(
        config_id.as_str().is_some_and(|s| !s.is_empty()),
        "{before}"
    );

    let flipped = !agent["config"]["autoPostInvoices"]
        .as_bool()
        .unwrap_or(true);
    let vars = json!({ "i": { "autoPostInvoices": flipped } });
    let updated = app.data(&admin(), UPDATE, vars).await;
    assert_eq!(
        updated["updateBillingAgentConfig"],
        json!({ "id": config_id, "autoPostInvoices": flipped }),
        "the mutation answers with the id the query gave, so a cache updates in place"
    );
    let after = app.data(&admin(), AGENTS, json!({})).await;
    assert_eq!(after["agentDefinitions"][0]["id"], "billing-run");
    assert_eq!(after["agentDefinitions"][0]["config"]["id"], config_id);
}

#[tokio::test]
async fn an_aging_row_is_identified_by_its_report_and_customer() {
    let app = spawn_app().await;
    let (e, _) = one_invoice(&app, "IDS", "10.00", "2026-01-01").await;
    let q = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
      rows { id customer { id } }
      rowPage(limit: 10) { rows { id } } } }";
    let mut ids = Vec::new();
    for d in ["2026-01-15", "2026-04-15"] {
        let report = app.data(&admin(), q, json!({ "e": e, "d": d })).await;
        let row = &report["arAging"]["rows"][0];
        let customer = row["customer"]["id"].as_str().unwrap_or_default();
        assert_eq!(
            row["id"],
            format!("aging:{e}:{d}:{customer}"),
            "the id names the entity, the date and the customer: {report}"
        );
        assert_eq!(
            report["arAging"]["rowPage"]["rows"][0]["id"], row["id"],
            "a page's row has the id of the same row in `rows`: {report}"
        );
        let again = app.data(&admin(), q, json!({ "e": e, "d": d })).await;
        assert_eq!(
            again["arAging"]["rows"][0]["id"], row["id"],
            "stable: asked again"
        );
        ids.push(row["id"].clone());
    }
    assert_ne!(
        ids[0], ids[1],
        "the same customer as of two dates is two rows, which a cache keeps apart"
    );
    // The report itself is unchanged by the addition.
    assert_eq!(
        aging(&app, &e, Some("2026-01-15")).await["rows"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
