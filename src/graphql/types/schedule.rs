//! ScheduledJob.

use async_graphql::{Object, ID};
use chrono::{DateTime, Utc};
use entity::scheduled_job;

use super::id;

pub struct ScheduledJob(pub scheduled_job::Model);

#[Object]
impl ScheduledJob {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn agent_key(&self) -> &str {
        &self.0.agent_key
    }
    /// 5 fields, e.g. "0 6 * * MON" (weekly on Mondays at 06:00).
    async fn cron(&self) -> &str {
        &self.0.cron
    }
    /// IANA timezone the cron expression is read in.
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
    /// null: every legal entity the configuration allows.
    async fn legal_entity_id(&self) -> Option<ID> {
        self.0.legal_entity_id.map(id)
    }
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_run_at
    }
    async fn last_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_run_at
    }
}
