//! Reading the audit trail and the outbox after a cursor: what catch-up
//! queries and subscriptions replay before going live.

use entity::{audit_event, domain_event};

use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::store::{audit, outbox};

pub const MAX_PAGE: u64 = 500;

/// Whether a committed audit event goes to a subscriber: checked per event
/// against the principal's entities, then the subscription's filter.
pub fn audit_event_for(
    principal: &Principal,
    legal_entity_id: Option<i64>,
    event: &audit_event::Model,
) -> bool {
    principal.can_see_row(event.legal_entity_id)
        && legal_entity_id.is_none_or(|id| event.legal_entity_id == Some(id))
}

/// The same for an outbox event, with the subscription's event types.
pub fn domain_event_for(
    principal: &Principal,
    legal_entity_id: Option<i64>,
    types: Option<&[String]>,
    event: &domain_event::Model,
) -> bool {
    principal.can_see(event.legal_entity_id)
        && legal_entity_id.is_none_or(|id| event.legal_entity_id == id)
        && types.is_none_or(|t| t.contains(&event.event_type))
}

fn limit(first: Option<i32>) -> ServiceResult<u64> {
    match first {
        None => Ok(MAX_PAGE),
        Some(n) if n < 0 => Err(ServiceError::bad_input("first", "must not be negative")),
        Some(n) => Ok(u64::try_from(n).unwrap_or(0).clamp(1, MAX_PAGE)),
    }
}

/// Outbox events after `after` (ids are monotonic), oldest first.
/// The `notification.created` events after a position, for a caller who
/// may read billing runs (the `notifications` subscription catching up).
pub async fn notification_events(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    after: i64,
) -> ServiceResult<Vec<domain_event::Model>> {
    require(principal, Scope::BillingRead)?;
    let types = [crate::domain::events::NOTIFICATION_CREATED.to_string()];
    let limit = limit(None)?;
    Ok(outbox::events_after(
        &ctx.db,
        principal,
        legal_entity_id,
        Some(&types),
        after,
        limit,
    )
    .await?)
}

/// The newest outbox position: a live-only subscription starts after it,
/// so a lag re-reads from there, never the whole history.
pub async fn latest_domain_position(ctx: &Ctx) -> ServiceResult<i64> {
    Ok(outbox::last_event_ids(&ctx.db).await?.1)
}

pub async fn domain_events(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    types: Option<&[String]>,
    after: i64,
    first: Option<i32>,
) -> ServiceResult<Vec<domain_event::Model>> {
    require(principal, Scope::EventsRead)?;
    let limit = limit(first)?;
    Ok(outbox::events_after(&ctx.db, principal, legal_entity_id, types, after, limit).await?)
}

pub async fn audit_events(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    after: i64,
    first: Option<i32>,
) -> ServiceResult<Vec<audit_event::Model>> {
    require(principal, Scope::BillingRead)?;
    let limit = limit(first)?;
    let filter = audit::AuditFilter {
        legal_entity_id,
        after,
        ..Default::default()
    };
    Ok(audit::audit_events(&ctx.db, principal, filter, limit).await?)
}
