//! The delivery worker, one per server process: every `--webhook-poll` it
//! fans new outbox events out, claims the deliveries that are due (each
//! endpoint's oldest unfinished one, leased in the database so exactly one
//! replica sends each attempt) and sends them, at most
//! `--webhook-concurrency` at a time. A slow endpoint holds one slot at
//! most (its next delivery waits for the one in flight), so it cannot
//! starve the others; the billing run shares nothing with it but the pool.
//!
//! A worker killed mid-attempt leaves its lease to lapse (the attempt
//! timeout plus a margin); the delivery is then claimed again, so delivery
//! is at least once and partners dedupe by `webhook-id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use entity::webhook_delivery::Model as Delivery;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::send::{Attempt, Sender};
use super::{fanout, filter_of, open_secret, outcome, owner_of};
use crate::domain::webhook::{previous_still_signs, receives};
use crate::service::{Ctx, ServiceResult};
use crate::store::{webhook as endpoints, webhook_delivery as queue};

/// How often old attempt logs are purged (more often when the retention
/// itself is shorter).
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// Deliveries one endpoint sends in a row before its slot is given back.
const RUN: usize = 50;
/// A claim outlives the attempt's timeout by this much (writing the
/// outcome included); a killed worker's delivery waits as long.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Runs until `stop`; attempts in flight then finish (or their leases
/// lapse, if the process is gone first).
pub async fn run(ctx: Ctx, stop: CancellationToken) {
    let sender = match Sender::new(ctx.webhooks.clone()) {
        Ok(sender) => Arc::new(sender),
        Err(err) => {
            tracing::error!(error = ?err, "webhook client cannot start; no webhooks are sent");
            return;
        }
    };
    let slots = Arc::new(Semaphore::new(ctx.webhooks.concurrency.max(1)));
    let inflight = TaskTracker::new();
    let mut tick = tokio::time::interval(ctx.webhooks.poll);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purged: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tick.tick() => {}
        }
        if let Err(err) = fanout::catch_up(&ctx).await {
            tracing::warn!(error = %err, "webhook fan-out failed; retrying");
        }
        if let Err(err) = dispatch(&ctx, &sender, &slots, &inflight).await {
            tracing::warn!(error = %err, "webhook claim failed; retrying");
        }
        let every = PURGE_EVERY.min(ctx.webhooks.retention);
        if purged.is_none_or(|at| at.elapsed() >= every) {
            purge(&ctx).await;
            purged = Some(Instant::now());
        }
    }
    inflight.close();
    let _ = tokio::time::timeout(ctx.webhooks.timeout, inflight.wait()).await;
}

fn lease_ms(ctx: &Ctx) -> i64 {
    let lease = ctx.webhooks.timeout + LEASE_MARGIN;
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// Claims due deliveries for the free slots and sends each in a task.
async fn dispatch(
    ctx: &Ctx,
    sender: &Arc<Sender>,
    slots: &Arc<Semaphore>,
    inflight: &TaskTracker,
) -> ServiceResult<()> {
    let free = slots.available_permits();
    if free == 0 {
        return Ok(());
    }
    for id in queue::due_heads(&ctx.db, free).await? {
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            break;
        };
        let token = ctx.next_lease_token();
        let Some(delivery) = queue::claim(&ctx.db, id, &token, lease_ms(ctx)).await? else {
            continue;
        };
        inflight.spawn(drain(ctx.clone(), sender.clone(), delivery, token, slot));
    }
    Ok(())
}

/// Sends a claimed delivery, then the endpoint's next ones while they are
/// due, up to `RUN` in a row: a backlog drains without waiting for the
/// next poll, and the slot is then given back so other endpoints get it.
async fn drain(
    ctx: Ctx,
    sender: Arc<Sender>,
    mut delivery: Delivery,
    mut token: String,
    _slot: OwnedSemaphorePermit,
) {
    for _ in 0..RUN {
        if let Err(err) = deliver(&ctx, &sender, &delivery, &token).await {
            tracing::warn!(error = %err, delivery = delivery.id, "webhook attempt not recorded");
            return;
        }
        if ctx.shutdown.is_cancelled() {
            return;
        }
        let next = match queue::head_of(&ctx.db, delivery.endpoint_id).await {
            Ok(Some(id)) => id,
            _ => return,
        };
        token = ctx.next_lease_token();
        match queue::claim(&ctx.db, next, &token, lease_ms(&ctx)).await {
            Ok(Some(claimed)) => delivery = claimed,
            _ => return,
        }
    }
}

/// One attempt of a claimed delivery, recorded.
async fn deliver(
    ctx: &Ctx,
    sender: &Sender,
    delivery: &Delivery,
    token: &str,
) -> ServiceResult<()> {
    let endpoint = endpoints::by_id(&ctx.db, delivery.endpoint_id).await?;
    let Some(endpoint) = endpoint.filter(|e| e.enabled) else {
        return Ok(queue::release(&ctx.db, delivery.id, token).await?);
    };
    let event = queue::events(&ctx.db, &[delivery.event_id]).await?.pop();
    let owner = owner_of(&endpoint);
    let readable = event.filter(|e| {
        receives(
            &owner,
            &filter_of(&endpoint),
            &e.event_type,
            e.legal_entity_id,
        )
    });
    let attempt = match readable {
        // Access is checked when sending too: an event the owner may not
        // read (any more) is never sent, and retrying would not change it.
        None => Attempt {
            error: Some("not sent: the endpoint's owner may not read this event".into()),
            refused: true,
            ..Default::default()
        },
        Some(event) => {
            let secrets = secrets_of(ctx, &endpoint)?;
            sender.attempt(&endpoint, &event, &secrets).await
        }
    };
    outcome::record(ctx, &endpoint, delivery, token, &attempt).await
}

/// The secrets that sign now: the current one, and the previous one for
/// 24 hours after a rotation.
fn secrets_of(
    ctx: &Ctx,
    endpoint: &entity::webhook_endpoint::Model,
) -> ServiceResult<Vec<Vec<u8>>> {
    let mut secrets = vec![open_secret(ctx, &endpoint.secret)?];
    if let Some(previous) = &endpoint.previous_secret {
        if previous_still_signs(endpoint.rotated_at, Utc::now()) {
            secrets.push(open_secret(ctx, previous)?);
        }
    }
    Ok(secrets)
}

async fn purge(ctx: &Ctx) {
    let keep = chrono::Duration::from_std(ctx.webhooks.retention).unwrap_or(chrono::Duration::MAX);
    let Some(before) = Utc::now().checked_sub_signed(keep) else {
        return;
    };
    match queue::purge_attempts(&ctx.db, before).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(purged = n, "old webhook attempt logs deleted"),
        Err(err) => tracing::warn!(error = %err, "webhook attempt logs not purged"),
    }
}
