//! DomainEvent: an outbox event as downstream agents see it.

use async_graphql::{Json, Object, ID};
use chrono::{DateTime, Utc};
use entity::domain_event;

use super::id;

pub struct DomainEvent(pub domain_event::Model);

#[Object]
impl DomainEvent {
    /// Monotonic: use the last one seen as the `after` cursor.
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    /// "invoice.delivery_requested", "payment.collection_requested",
    /// "payment.received", "billing_run.completed", "billing_run.failed".
    #[graphql(name = "type")]
    async fn event_type(&self) -> &str {
        &self.0.event_type
    }
    async fn legal_entity_id(&self) -> ID {
        id(self.0.legal_entity_id)
    }
    async fn subject_id(&self) -> ID {
        ID(self.0.subject_id.clone())
    }
    async fn payload(&self) -> Json<serde_json::Value> {
        Json(serde_json::from_str(&self.0.payload).unwrap_or(serde_json::Value::Null))
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Parses an event-id cursor (`after`).
pub fn event_cursor(after: Option<ID>) -> Result<Option<i64>, crate::service::ServiceError> {
    after
        .map(|a| {
            a.0.parse::<i64>()
                .map_err(|_| crate::service::ServiceError::bad_input("after", "is not an event id"))
        })
        .transpose()
}
