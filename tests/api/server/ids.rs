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
async fn an_aging_row_is_identified_by_its_customer() {
    let app = spawn_app().await;
    let (e, _) = one_invoice(&app, "IDS", "10.00", "2026-01-01").await;
    let q = "query($e: ID!, $d: Date) { arAging(legalEntityId: $e, asOf: $d) {
      rows { id customer { id } } } }";
    for d in ["2026-01-15", "2026-04-15"] {
        let report = app.data(&admin(), q, json!({ "e": e, "d": d })).await;
        let row = &report["arAging"]["rows"][0];
        assert!(row["id"].is_string(), "{report}");
        assert_eq!(row["id"], row["customer"]["id"], "as of {d}: {report}");
    }
    // The report itself is unchanged by the addition.
    assert_eq!(
        aging(&app, &e, Some("2026-01-15")).await["rows"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
}
