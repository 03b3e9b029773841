//! What an attempt leaves behind, in one transaction: the attempt logged,
//! the delivery's new state (only while this worker still holds it), and
//! the endpoint's health: a success ends its failing streak; a 410, or a
//! streak longer than `--webhook-disable-after`, disables it with an audit
//! row and a `webhook_endpoint.disabled` event.

use chrono::{DateTime, Utc};
use entity::webhook_delivery::{Model as Delivery, WebhookDeliveryStatus as Status};
use entity::webhook_endpoint::Model as Endpoint;
use rand::Rng;
use sea_orm::{DatabaseTransaction, Set};

use super::send::Attempt;
use crate::domain::events::WEBHOOK_ENDPOINT_DISABLED;
use crate::domain::webhook::{next_delay, verdict, Verdict};
use crate::service::{Ctx, ServiceResult};
use crate::store::{self, audit, outbox, webhook as endpoints, webhook_delivery as queue};

/// The delivery's state after `attempt` (its `attempts`-th).
fn settle(ctx: &Ctx, attempt: &Attempt, attempts: i32) -> (queue::Outcome, Verdict) {
    let verdict = verdict(attempt.status, attempt.retry_after.as_deref(), Utc::now());
    let retry = match verdict {
        Verdict::Failed { .. } if attempt.refused => None,
        Verdict::Failed { after } => {
            let jitter = rand::thread_rng().gen_range(-1.0..=1.0);
            let n = usize::try_from(attempts).unwrap_or(usize::MAX);
            next_delay(&ctx.webhooks.schedule, n, after, jitter)
        }
        _ => None,
    };
    let status = match (verdict, retry) {
        (Verdict::Succeeded, _) => Status::Succeeded,
        (_, Some(_)) => Status::Retrying,
        _ => Status::Failed,
    };
    let outcome = queue::Outcome {
        status,
        attempts,
        retry_in_ms: retry.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)),
    };
    (outcome, verdict)
}

fn log_row(
    delivery: &Delivery,
    attempt: &Attempt,
    at: DateTime<Utc>,
) -> entity::webhook_attempt::ActiveModel {
    entity::webhook_attempt::ActiveModel {
        delivery_id: Set(delivery.id),
        at: Set(at),
        status_code: Set(attempt.status.map(i32::from)),
        duration_ms: Set(attempt.duration_ms),
        error: Set(attempt.error.clone()),
        response_body: Set(attempt.body.clone()),
        ..Default::default()
    }
}

/// Records `attempt` of `delivery`, claimed with `token`.
pub async fn record(
    ctx: &Ctx,
    endpoint: &Endpoint,
    delivery: &Delivery,
    token: &str,
    attempt: &Attempt,
) -> ServiceResult<()> {
    let now = Utc::now();
    let (outcome, verdict) = settle(ctx, attempt, delivery.attempt_count.saturating_add(1));
    let tx = store::begin_write(&ctx.db).await?;
    queue::log_attempt(&tx, log_row(delivery, attempt, now)).await?;
    // Taken over meanwhile (this worker outlived its lease): the attempt
    // is logged, the state is the new holder's to write.
    if queue::settle(&tx, delivery.id, token, &outcome).await? {
        let disable = match verdict {
            Verdict::Succeeded => {
                endpoints::succeeded(&tx, endpoint.id).await?;
                None
            }
            Verdict::Gone => Some("410 Gone".to_string()),
            Verdict::Failed { .. } => failing_too_long(ctx, &tx, endpoint, now).await?,
        };
        if let Some(reason) = disable {
            disable_endpoint(&tx, endpoint, &reason).await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// The reason to disable an endpoint whose failing streak (now including
/// this failure) is longer than `--webhook-disable-after`.
async fn failing_too_long(
    ctx: &Ctx,
    tx: &DatabaseTransaction,
    endpoint: &Endpoint,
    now: DateTime<Utc>,
) -> ServiceResult<Option<String>> {
    let Some(since) = endpoints::failed(tx, endpoint.id, now).await? else {
        return Ok(None);
    };
    let limit =
        chrono::Duration::from_std(ctx.webhooks.disable_after).unwrap_or(chrono::Duration::MAX);
    Ok((now - since >= limit).then(|| {
        format!(
            "failing since {}",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    }))
}

/// Disables the endpoint once: an audit row and, when the endpoint names
/// a legal entity (outbox events belong to one), the domain event.
pub async fn disable_endpoint(
    tx: &DatabaseTransaction,
    endpoint: &Endpoint,
    reason: &str,
) -> ServiceResult<()> {
    if !endpoints::disable(tx, endpoint.id, reason).await? {
        return Ok(());
    }
    tracing::warn!(endpoint = endpoint.id, reason, "webhook endpoint disabled");
    let details = serde_json::json!({ "endpointId": endpoint.id.to_string(), "reason": reason });
    audit::record(
        tx,
        audit::NewAudit {
            legal_entity_id: endpoint.legal_entity_id,
            subject_type: "WebhookEndpoint",
            subject_id: endpoint.id.to_string(),
            action: "WEBHOOK_ENDPOINT_DISABLED",
            actor: "system:webhooks",
            details: Some(details.clone()),
        },
    )
    .await?;
    if let Some(entity) = endpoint.legal_entity_id {
        let event = outbox::NewEvent {
            event_type: WEBHOOK_ENDPOINT_DISABLED,
            legal_entity_id: entity,
            subject_id: endpoint.id.to_string(),
            payload: details,
        };
        outbox::insert_events(tx, vec![event]).await?;
    }
    Ok(())
}
