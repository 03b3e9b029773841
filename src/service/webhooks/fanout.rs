//! The fan-out: outbox events, read by position after the durable cursor,
//! become one delivery per enabled endpoint that receives them. Positions
//! commit in order (`store::outbox`), so "every event after the cursor" is
//! complete; the cursor moves with a compare-and-set in the transaction
//! that inserts the deliveries, so a crash repeats a page (the unique key
//! skips what exists) and two replicas never both fan out one page.
//! Access is checked here against the owner's stored access, and again
//! when each delivery is sent.

use chrono::Utc;
use entity::domain_event;
use entity::webhook_endpoint::Model as Endpoint;

use super::{filter_of, owner_of};
use crate::domain::webhook::receives;
use crate::service::{Ctx, ServiceResult};
use crate::store::{self, outbox, webhook as endpoints, webhook_delivery as queue};

/// Events read per transaction.
const PAGE: u64 = 500;

/// Fans out pages until the cursor is at the end of the outbox; how many
/// deliveries were queued.
pub async fn catch_up(ctx: &Ctx) -> ServiceResult<usize> {
    let mut queued = 0;
    loop {
        match page(ctx).await? {
            Some(n) => queued += n,
            None => return Ok(queued),
        }
    }
}

/// One page; `None` when there was nothing after the cursor.
async fn page(ctx: &Ctx) -> ServiceResult<Option<usize>> {
    let from = queue::cursor(&ctx.db).await?;
    // The end of the outbox is read before the endpoints, as a page is:
    // with no endpoint enabled, nobody can receive an event up to there.
    let (_, end) = outbox::last_event_ids(&ctx.db).await?;
    if end <= from {
        return Ok(None);
    }
    let targets = endpoints::enabled(&ctx.db).await?;
    if targets.is_empty() {
        // Skips the whole backlog in one short statement instead of
        // reading it page by page (a billing run writes one event per
        // invoice, and on SQLite each cursor write waits for its chunk).
        queue::advance_cursor(&ctx.db, from, end).await?;
        return Ok(Some(0));
    }
    let events = outbox::domain_after(&ctx.db, from, PAGE).await?;
    let Some(to) = events.last().map(|e| e.id) else {
        return Ok(None);
    };
    let rows = deliveries(&targets, &events);
    let n = rows.len();
    if rows.is_empty() {
        // Nothing to queue: one short statement, no write transaction
        // (on SQLite it would wait for, and delay, a billing run's chunk).
        queue::advance_cursor(&ctx.db, from, to).await?;
        return Ok(Some(0));
    }
    let tx = store::begin_write(&ctx.db).await?;
    if !queue::advance_cursor(&tx, from, to).await? {
        // Another replica fanned this page out; read on from where it got.
        tx.rollback().await?;
        return Ok(Some(0));
    }
    queue::insert(&tx, rows).await?;
    tx.commit().await?;
    Ok(Some(n))
}

/// Deliveries of `events` to the endpoints that receive them, in position
/// order. An endpoint gets the events written after it was created.
fn deliveries(
    targets: &[Endpoint],
    events: &[domain_event::Model],
) -> Vec<entity::webhook_delivery::ActiveModel> {
    let now = Utc::now();
    let owners: Vec<_> = targets
        .iter()
        .map(|e| (e, owner_of(e), filter_of(e)))
        .collect();
    let mut rows = Vec::new();
    for event in events {
        for (endpoint, owner, filter) in &owners {
            let wanted = event.created_at >= endpoint.created_at
                && receives(owner, filter, &event.event_type, event.legal_entity_id);
            if wanted {
                rows.push(queue::queued(endpoint.id, event, now));
            }
        }
    }
    rows
}
