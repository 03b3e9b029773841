//! The caller's notifications, newest first, with an unread count.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::billing::cursor;
use crate::graphql::types::notification::{Notification, NotificationCount};
use crate::graphql::types::parse_id;
use crate::service::{notifications, Ctx, ServiceError};

#[derive(Default)]
pub struct NotificationsQuery;

#[Object]
impl NotificationsQuery {
    /// Notifications of the legal entities the caller may read runs of (or
    /// of one), newest first; `unreadCount` counts the caller's unread ones.
    #[graphql(
        guard = "Needs(Scope::BillingRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
        unread_only: Option<bool>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Notification, NotificationCount>> {
        let before = cursor(after)?;
        let principal = principal(ctx)?;
        let entity = match legal_entity_id {
            None => None,
            Some(id) => Some(parse_id(&id).ok_or(ServiceError::NotFound("legal entity"))?),
        };
        let page = notifications::notifications(
            ctx.data::<Ctx>()?,
            principal,
            entity,
            unread_only.unwrap_or(false),
            first,
            before,
        )
        .await?;
        let count = NotificationCount {
            unread_count: page.unread,
        };
        let mut connection = Connection::with_additional_fields(before.is_some(), page.more, count);
        connection.edges.extend(
            page.rows
                .into_iter()
                .map(|(n, read)| Edge::new(n.id.to_string(), Notification::stored(n, read))),
        );
        Ok(connection)
    }
}
