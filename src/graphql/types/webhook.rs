//! Webhook endpoints, deliveries and attempts, as api-contract.graphql
//! names them. An endpoint's secret is never a field of the endpoint: it
//! appears only in `WebhookEndpointWithSecret`, which create and rotate
//! return.

use async_graphql::{Enum, Object, SimpleObject, ID};
use chrono::{DateTime, Utc};
use entity::{webhook_attempt, webhook_endpoint};

use super::events::DomainEvent;
use super::id;
use crate::service::webhooks::DeliveryView;

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "entity::status::WebhookDeliveryStatus")]
pub enum WebhookDeliveryStatus {
    Pending,
    Retrying,
    Succeeded,
    Failed,
}

#[derive(Clone)]
pub struct WebhookEndpoint(pub webhook_endpoint::Model);

#[Object]
impl WebhookEndpoint {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn url(&self) -> &str {
        &self.0.url
    }
    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }
    /// Null: every legal entity its creator may see.
    async fn legal_entity_id(&self) -> Option<ID> {
        self.0.legal_entity_id.map(id)
    }
    /// Empty: every event type.
    async fn event_types(&self) -> Vec<String> {
        crate::service::webhooks::filter_of(&self.0).event_types
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// E.g. "410 Gone", "failing since 2026-12-01T06:00:00Z".
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(SimpleObject)]
pub struct WebhookEndpointWithSecret {
    pub endpoint: WebhookEndpoint,
    /// "whsec_" + base64; shown only here.
    pub secret: String,
}

impl WebhookEndpointWithSecret {
    pub fn new((endpoint, secret): (webhook_endpoint::Model, String)) -> Self {
        WebhookEndpointWithSecret {
            endpoint: WebhookEndpoint(endpoint),
            secret,
        }
    }
}

pub struct WebhookAttempt(pub webhook_attempt::Model);

#[Object]
impl WebhookAttempt {
    async fn at(&self) -> DateTime<Utc> {
        self.0.at
    }
    async fn status_code(&self) -> Option<i32> {
        self.0.status_code
    }
    async fn duration_ms(&self) -> i32 {
        i32::try_from(self.0.duration_ms).unwrap_or(i32::MAX)
    }
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
    /// Truncated to 2 KiB.
    async fn response_body(&self) -> Option<&str> {
        self.0.response_body.as_deref()
    }
}

pub struct WebhookDelivery(pub DeliveryView);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        id(self.0.delivery.id)
    }
    async fn endpoint(&self) -> WebhookEndpoint {
        WebhookEndpoint(self.0.endpoint.clone())
    }
    async fn event(&self) -> DomainEvent {
        DomainEvent(self.0.event.clone())
    }
    async fn status(&self) -> WebhookDeliveryStatus {
        self.0.delivery.status.into()
    }
    async fn attempt_count(&self) -> i32 {
        self.0.delivery.attempt_count
    }
    /// When the next attempt is due; null once finished.
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        use entity::webhook_delivery::WebhookDeliveryStatus as S;
        if !S::OPEN.contains(&self.0.delivery.status) {
            return None;
        }
        // A fresh delivery is due at once (0): it was due when queued.
        let ms = self.0.delivery.next_attempt_ms.filter(|ms| *ms > 0);
        ms.and_then(DateTime::from_timestamp_millis)
            .or(Some(self.0.delivery.created_at))
    }
    async fn attempts(&self) -> Vec<WebhookAttempt> {
        self.0
            .attempts
            .iter()
            .cloned()
            .map(WebhookAttempt)
            .collect()
    }
}
