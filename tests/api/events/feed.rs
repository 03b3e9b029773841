//! What a run writes for consumers, read back through the API: the
//! outbox events the configuration asks for, paged by position, and the
//! notification its level asks for.

use std::time::Duration;

use entity::notification;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{json, Value};

use super::outbox_ids;
use crate::helpers::billing::{
    all_invoices, configure, count_type, counts, entity_with, entity_with_contracts, num, outbox,
    run, trigger_run, COLLECTION, DELIVERY,
};
use crate::helpers::ws::{id_of, ids, nexts, Client, DOMAIN};
use crate::helpers::{admin, code, spawn_app, spawn_app_with, token, TestApp};

/// Every page of the domainEvents query, 2 at a time: ids, and an error code.
async fn pages(app: &TestApp, tok: &str, entity: Option<&str>) -> (Vec<i64>, Option<String>) {
    let q = "query($a: ID, $e: ID) { domainEvents(after: $a, first: 2, legalEntityId: $e) { id } }";
    let (mut all, mut after) = (Vec::new(), Value::Null);
    loop {
        let body = app.gql(tok, q, json!({ "a": after, "e": entity })).await;
        let Some(rows) = body["data"]["domainEvents"].as_array().cloned() else {
            return (all, Some(code(&body).to_string()));
        };
        assert!(rows.len() <= 2, "first bounds a page");
        let Some(last) = rows.last() else {
            return (all, None);
        };
        after = last["id"].clone();
        all.extend(rows.iter().map(id_of));
    }
}

#[tokio::test]
async fn the_domain_events_query_pages_in_id_order_and_a_partner_sees_only_its_entity() {
    let app = spawn_app().await;
    let a = entity_with(&app, "PA1", 3).await;
    let b = entity_with(&app, "PB1", 2).await;
    trigger_run(&app, &a, "2026-11-27", true).await;
    trigger_run(&app, &b, "2026-11-27", true).await;
    assert_eq!(
        pages(&app, &admin(), None).await.0,
        outbox_ids(&app, None).await,
        "domainEvents(after, first): paging returns every event once, in id order"
    );
    let partner = token("PARTNER", &["billing:read", "events:read"], &[&a]);
    let own = pages(&app, &partner, None).await.0;
    assert_eq!(
        own,
        outbox_ids(&app, Some(&a)).await,
        "Tenancy: a partner pages through exactly its entity's events"
    );
    let (theirs, error) = pages(&app, &partner, Some(&b)).await;
    assert_eq!(
        (theirs, error),
        (vec![], None),
        "SECURITY 21: another entity's filter pages through nothing, as in `access::tenancy`"
    );

    let mut c = Client::authed(app.port, &partner).await;
    c.subscribe("replay", DOMAIN, json!({ "a": "0" })).await;
    let mut frames = c
        .gather(|f| nexts(f, "replay", "domainEvents").len() == own.len())
        .await;
    frames.extend(c.drain(Duration::from_millis(500)).await);
    assert_eq!(
        ids(&frames, "replay", "domainEvents"),
        own,
        "Tenancy: the subscription replays the partner's events only"
    );
    let code = c.refused("b", DOMAIN, json!({ "e": b })).await;
    assert_eq!(
        code, "NOT_FOUND",
        "Tenancy: another entity's events are NOT_FOUND"
    );
}

#[tokio::test]
async fn emit_flags_off_emit_no_delivery_or_collection_events() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let (e, _) = entity_with_contracts(&app, "EF1", &["2026-11-01"]).await;
    configure(&app, json!({ "emitDeliveryEvents": false })).await;
    run(&app, &e, "2026-11-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [0, 1],
        "Events: Emit Delivery Events off emits no invoice.delivery_requested"
    );
    configure(
        &app,
        json!({ "emitDeliveryEvents": true, "emitPaymentEvents": false }),
    )
    .await;
    run(&app, &e, "2026-12-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [1, 1],
        "Events: Emit Payment Events off emits no payment.collection_requested"
    );
    configure(&app, json!({ "emitDeliveryEvents": false })).await;
    run(&app, &e, "2027-01-27").await;
    let events = outbox(&app).await;
    assert_eq!(
        counts(&events, &[DELIVERY, COLLECTION]),
        [1, 1],
        "Events: both flags off emit neither"
    );
    assert_eq!(
        count_type(&events, "billing_run.completed"),
        3,
        "Events: each run still ends with billing_run.completed"
    );
    assert_eq!(all_invoices(&app).await.len(), 3);
}

#[tokio::test]
async fn the_notification_level_decides_whether_a_completed_run_notifies() {
    let app = spawn_app_with(|a| a.max_billing_lead_days = 3660).await;
    let (e, _) = entity_with_contracts(&app, "NL1", &["2026-11-01"]).await;
    for (level, as_of, expected) in [
        ("ALL", "2026-11-27", 1),
        ("FAILURES_ONLY", "2026-12-27", 0),
        ("NONE", "2027-01-27", 0),
    ] {
        assert_eq!(
            configure(&app, json!({ "notificationLevel": level })).await["notificationLevel"],
            level
        );
        let r = run(&app, &e, as_of).await;
        assert_eq!(r["status"], "COMPLETED");
        let rows = notification::Entity::find()
            .filter(notification::Column::BillingRunId.eq(num(r["id"].as_str().expect("id"))))
            .all(&app.db)
            .await
            .expect("notifications");
        assert_eq!(rows.len(), expected, "Notification Level {level}: ALL notifies on every finished run, FAILURES_ONLY on failed, NONE never");
        if let Some(n) = rows.first() {
            assert!(
                n.message.contains(r["runNumber"].as_str().expect("number")),
                "the notification names the run: {}",
                n.message
            );
        }
    }
}
