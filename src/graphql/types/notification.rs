//! Notification: what a person reads in a list (a bell with a count).

use async_graphql::{Object, SimpleObject, ID};
use chrono::{DateTime, Utc};

use super::id;

pub struct Notification {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub legal_entity_id: Option<i64>,
    pub severity: String,
    pub title: String,
    pub subject_type: String,
    pub subject_id: String,
    pub read: bool,
}

impl Notification {
    pub fn stored(n: entity::notification::Model, read: bool) -> Self {
        Notification {
            id: n.id,
            at: n.created_at,
            legal_entity_id: n.legal_entity_id,
            severity: n.severity,
            title: n.message,
            subject_type: n.subject_type,
            subject_id: n.subject_id,
            read,
        }
    }
}

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        id(self.id)
    }
    async fn at(&self) -> DateTime<Utc> {
        self.at
    }
    async fn legal_entity_id(&self) -> Option<ID> {
        self.legal_entity_id.map(id)
    }
    /// "INFO" | "FAILURE"
    async fn severity(&self) -> &str {
        &self.severity
    }
    /// e.g. "Billing run BR-000042 completed: 2 invoices, 116.96 EUR"
    async fn title(&self) -> &str {
        &self.title
    }
    /// "BillingRun", ...
    async fn subject_type(&self) -> &str {
        &self.subject_type
    }
    async fn subject_id(&self) -> ID {
        ID(self.subject_id.clone())
    }
    /// For the caller.
    async fn read(&self) -> bool {
        self.read
    }
}

/// The unread count a bell shows, beside the page.
#[derive(SimpleObject)]
pub struct NotificationCount {
    pub unread_count: i32,
}
