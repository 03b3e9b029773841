//! Reading notifications and marking them read (DESIGN.md, Events, audit,
//! notifications): visible to whoever may read the legal entity's billing
//! runs, read state per token subject.

use entity::notification;

use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::store::notification::{self as notes, NotificationFilter};

pub struct NotificationPage {
    /// Newest first, each with whether the caller has read it.
    pub rows: Vec<(notification::Model, bool)>,
    pub more: bool,
    /// The caller's unread notifications (in `legal_entity_id` if given).
    pub unread: i32,
}

pub async fn notifications(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: Option<i64>,
    unread_only: bool,
    first: Option<i32>,
    before: Option<i64>,
) -> ServiceResult<NotificationPage> {
    require(principal, Scope::BillingRead)?;
    // Another entity answers exactly like a missing one.
    if legal_entity_id.is_some_and(|id| !principal.can_see(id)) {
        return Err(ServiceError::NotFound("legal entity"));
    }
    let limit = super::contracts::page_size(first)?;
    let filter = NotificationFilter {
        subject: &principal.subject,
        legal_entity_id,
        unread_only,
    };
    let mut rows = notes::page(&ctx.db, principal, &filter, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let unread =
        notes::unread_count(&ctx.db, principal, &principal.subject, legal_entity_id).await?;
    let unread = count(unread)?;
    Ok(NotificationPage { rows, more, unread })
}

/// Marks notifications read for the caller; how many changed.
pub async fn mark_read(ctx: &Ctx, principal: &Principal, ids: &[i64]) -> ServiceResult<i32> {
    require(principal, Scope::BillingRead)?;
    count(notes::mark_read(&ctx.db, principal, &principal.subject, ids).await?)
}

fn count(n: u64) -> ServiceResult<i32> {
    i32::try_from(n).map_err(|_| ServiceError::Internal(anyhow::anyhow!("count {n} out of range")))
}
