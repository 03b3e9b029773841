//! Notifications as they are written: the `notification.created` events of
//! the outbox, with the same delivery as `domainEvents` (replay after a
//! lag, each event checked against the caller's legal entities).

use async_graphql::{Context, Subscription, ID};
use entity::domain_event;
use futures_util::stream::{Stream, StreamExt};

use super::events::{tail, Fetch};
use super::{bounded, entity_arg};
use crate::domain::access::Scope;
use crate::domain::events::NOTIFICATION_CREATED;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::notification::Notification;
use crate::service::{feed, Ctx};

#[derive(Default)]
pub struct NotificationsSubscription;

/// A notification from its `notification.created` event: new, so unread
/// for everyone.
fn from_event(e: &domain_event::Model) -> Option<Notification> {
    let payload: serde_json::Value = match serde_json::from_str(&e.payload) {
        Ok(p) => p,
        Err(err) => {
            tracing::error!(event_id = e.id, error = %err, "unreadable notification event");
            return None;
        }
    };
    let text = |key: &str| payload[key].as_str().unwrap_or_default().to_string();
    Some(Notification {
        id: text("notificationId").parse().ok()?,
        at: e.created_at,
        legal_entity_id: Some(e.legal_entity_id),
        severity: text("severity"),
        title: text("title"),
        subject_type: text("subjectType"),
        subject_id: text("subjectId"),
        read: false,
    })
}

#[Subscription]
impl NotificationsSubscription {
    /// Each notification as it is written (one per finished run the
    /// agent's notification level lets through).
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = Notification>> {
        let principal = principal(ctx)?.clone();
        let service = ctx.data::<Ctx>()?.clone();
        let rx = service.bus.domain.subscribe();
        let entity = entity_arg(&principal, legal_entity_id)?;
        let (p, s) = (principal.clone(), service.clone());
        let fetch: Fetch<domain_event::Model> = Box::new(move |cursor| {
            let (p, s) = (p.clone(), s.clone());
            Box::pin(async move { feed::notification_events(&s, &p, entity, cursor).await })
        });
        let types = vec![NOTIFICATION_CREATED.to_string()];
        let who = principal.clone();
        let wants = Box::new(move |e: &domain_event::Model| {
            feed::domain_event_for(&who, entity, Some(&types), e)
        });
        let after = feed::latest_domain_position(&service).await?;
        let stream =
            tail(rx, fetch, wants, Some(after)).filter_map(|e| async move { from_event(&e) });
        Ok(bounded(stream, &principal, service.shutdown.clone(), |n| n))
    }
}
