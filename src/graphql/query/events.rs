//! Catching up on the outbox: events after a cursor.

use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::events::{event_cursor, DomainEvent};
use crate::graphql::types::parse_id;
use crate::service::{feed, Ctx};

#[derive(Default)]
pub struct EventsQuery;

#[Object]
impl EventsQuery {
    /// Outbox events after `after` (an event id; ids are monotonic), oldest
    /// first, at most `first` (500 by default and at most). Page by passing
    /// the last id seen; the `domainEvents` subscription takes the same
    /// cursor to replay and then go live.
    #[graphql(guard = "Needs(Scope::EventsRead)")]
    async fn domain_events(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
        types: Option<Vec<String>>,
        after: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<DomainEvent>> {
        let entity = match legal_entity_id {
            None => None,
            Some(id) => match parse_id(&id) {
                Some(id) => Some(id),
                None => return Ok(vec![]),
            },
        };
        let after = event_cursor(after)?.unwrap_or(0);
        let rows = feed::domain_events(
            ctx.data::<Ctx>()?,
            principal(ctx)?,
            entity,
            types.as_deref(),
            after,
            first,
        )
        .await?;
        Ok(rows.into_iter().map(DomainEvent).collect())
    }
}
