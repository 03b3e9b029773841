//! Live audit and outbox events. Each subscription first replays what the
//! database holds after its cursor, then follows the bus; a subscriber that
//! lags re-reads from the database. Every event is checked against the
//! principal's legal entities, not only the subscription's arguments.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;

use async_graphql::{Context, Subscription, ID};
use entity::{audit_event, domain_event};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::broadcast::Receiver;

use super::{bounded, entity_arg};
use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::billing::AuditEvent;
use crate::graphql::types::events::{event_cursor, DomainEvent};
use crate::service::{feed, Ctx, ServiceResult};

/// Ids remembered to drop duplicates (replay overlapping live delivery,
/// at-least-once delivery after a reconnect).
const SEEN: usize = 10_000;

pub(super) type Fetch<T> =
    Box<dyn Fn(i64) -> Pin<Box<dyn Future<Output = ServiceResult<Vec<T>>> + Send>> + Send + Sync>;

pub(super) trait Row: Clone + Send + 'static {
    fn id(&self) -> i64;
}

impl Row for audit_event::Model {
    fn id(&self) -> i64 {
        self.id
    }
}

impl Row for domain_event::Model {
    fn id(&self) -> i64 {
        self.id
    }
}

struct Tail<T: Row> {
    rx: Receiver<T>,
    fetch: Fetch<T>,
    wants: Box<dyn Fn(&T) -> bool + Send + Sync>,
    /// `Some(cursor)` while replaying from the database.
    replay_from: Option<i64>,
    buffer: VecDeque<T>,
    seen: HashSet<i64>,
    order: VecDeque<i64>,
    high: i64,
    /// The client's cursor: it has seen everything up to here.
    floor: i64,
}

impl<T: Row> Tail<T> {
    fn remember(&mut self, id: i64) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > SEEN {
            if let Some(old) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
        self.high = self.high.max(id);
        true
    }

    async fn next(&mut self) -> Option<T> {
        loop {
            if let Some(row) = self.buffer.pop_front() {
                return Some(row);
            }
            if let Some(cursor) = self.replay_from {
                let rows = (self.fetch)(cursor).await.ok()?;
                match rows.last().map(Row::id) {
                    None => self.replay_from = None,
                    Some(last) => {
                        self.replay_from = Some(last);
                        for row in rows {
                            if self.remember(row.id()) {
                                self.buffer.push_back(row);
                            }
                        }
                    }
                }
                continue;
            }
            match self.rx.recv().await {
                Ok(row) => {
                    if row.id() > self.floor && (self.wants)(&row) && self.remember(row.id()) {
                        return Some(row);
                    }
                }
                // Fell behind the channel: read what we missed from the database.
                Err(RecvError::Lagged(_)) => self.replay_from = Some(self.high),
                Err(RecvError::Closed) => return None,
            }
        }
    }
}

pub(super) fn tail<T: Row>(
    rx: Receiver<T>,
    fetch: Fetch<T>,
    wants: Box<dyn Fn(&T) -> bool + Send + Sync>,
    after: Option<i64>,
) -> impl Stream<Item = T> {
    let state = Tail {
        rx,
        fetch,
        wants,
        replay_from: after,
        buffer: VecDeque::new(),
        seen: HashSet::new(),
        order: VecDeque::new(),
        high: after.unwrap_or(0),
        floor: after.unwrap_or(0),
    };
    stream::unfold(
        state,
        |mut t| async move { t.next().await.map(|row| (row, t)) },
    )
}

#[derive(Default)]
pub struct EventsSubscription;

#[Subscription]
impl EventsSubscription {
    /// Audit events as they are committed, in commit order. With `after`,
    /// first everything recorded after that event id.
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
        after: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = AuditEvent>> {
        let principal = principal(ctx)?.clone();
        let service = ctx.data::<Ctx>()?.clone();
        let rx = service.bus.audit.subscribe();
        let entity = entity_arg(&principal, legal_entity_id)?;
        let after = event_cursor(after)?;
        let (p, s) = (principal.clone(), service.clone());
        let fetch: Fetch<audit_event::Model> = Box::new(move |cursor| {
            let (p, s) = (p.clone(), s.clone());
            Box::pin(async move { feed::audit_events(&s, &p, entity, cursor, None).await })
        });
        let who = principal.clone();
        let wants = Box::new(move |e: &audit_event::Model| feed::audit_event_for(&who, entity, e));
        let stream = tail(rx, fetch, wants, after);
        Ok(bounded(stream, &principal, service.shutdown.clone(), |e| {
            AuditEvent(e)
        }))
    }

    /// Outbox events (invoice.delivery_requested, payment.collection_requested,
    /// payment.received, billing_run.completed, ...) as they are committed.
    /// With `after`, first everything after that event id, so an agent that
    /// was offline misses nothing. At least once: dedupe by id.
    #[graphql(guard = "Needs(Scope::EventsRead)")]
    async fn domain_events(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
        types: Option<Vec<String>>,
        after: Option<ID>,
    ) -> async_graphql::Result<impl Stream<Item = DomainEvent>> {
        let principal = principal(ctx)?.clone();
        let service = ctx.data::<Ctx>()?.clone();
        let rx = service.bus.domain.subscribe();
        let entity = entity_arg(&principal, legal_entity_id)?;
        let after = event_cursor(after)?;
        let (p, s, t) = (principal.clone(), service.clone(), types.clone());
        let fetch: Fetch<domain_event::Model> = Box::new(move |cursor| {
            let (p, s, t) = (p.clone(), s.clone(), t.clone());
            Box::pin(async move {
                feed::domain_events(&s, &p, entity, t.as_deref(), cursor, None).await
            })
        });
        let who = principal.clone();
        let wants = Box::new(move |e: &domain_event::Model| {
            feed::domain_event_for(&who, entity, types.as_deref(), e)
        });
        let stream = tail(rx, fetch, wants, after);
        Ok(bounded(
            stream,
            &principal,
            service.shutdown.clone(),
            DomainEvent,
        ))
    }
}
