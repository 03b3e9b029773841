//! DESIGN.md, Events, audit, notifications; Events precisely; Scale: what
//! a run leaves in the outbox, the audit trail and the notifications, and
//! how consumers receive it: live on a subscription (on this server or
//! another one), or by paging from a cursor, each event once, in order.

mod feed;
mod live;
mod notifications;

use entity::domain_event;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::Value;

use crate::helpers::TestApp;

fn ascending(ids: &[i64]) -> bool {
    ids.windows(2).all(|w| w[0] < w[1])
}

/// QUEUED, RUNNING, then COMPLETED or FAILED.
fn rank(status: &Value) -> usize {
    ["QUEUED", "RUNNING"]
        .iter()
        .take_while(|s| status != **s)
        .count()
}

/// Outbox ids in the database, ascending, of `entity` or all.
async fn outbox_ids(app: &TestApp, entity: Option<&str>) -> Vec<i64> {
    let rows = domain_event::Entity::find()
        .order_by_asc(domain_event::Column::Id)
        .all(&app.db)
        .await
        .expect("domain events");
    rows.iter()
        .filter(|r| entity.is_none_or(|e| r.legal_entity_id.to_string() == e))
        .map(|r| r.id)
        .collect()
}
