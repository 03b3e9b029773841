//! One public async fn per use case. Services check the principal's scope,
//! validate input into domain values, open the transactions and call the
//! store; resolvers call exactly one of them.

pub mod agent;
pub mod ar;
pub mod batch;
pub mod billing;
pub mod contracts;
pub mod credit_notes;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod invoices;
pub mod lifecycle;
pub mod notifications;
pub mod payments;
pub mod posting;
pub mod runs;
pub mod scheduler;
pub mod setup;
pub mod webhooks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::{ServiceError, ServiceResult};

use crate::domain::access::{Principal, Scope};

/// Contracts per chunk: each chunk is one transaction.
pub const DEFAULT_CHUNK_SIZE: u64 = 1000;
/// Invoices per chunk at most (a contract far behind bills many periods).
pub const DEFAULT_CHUNK_INVOICES: usize = 5_000;
/// How long a run's lease holds without renewal (`--lease-secs`).
pub const DEFAULT_LEASE_SECS: u64 = 15;
/// How far after today an as-of date may lie (`--max-billing-lead-days`).
pub const DEFAULT_MAX_LEAD_DAYS: i64 = 31;

/// What every service needs: the database, the event bus that carries
/// committed state to subscribers, and the tracker of background runs.
#[derive(Clone)]
pub struct Ctx {
    pub db: DatabaseConnection,
    pub bus: Arc<crate::events::Bus>,
    /// Cancelled on shutdown: subscriptions complete, pollers stop.
    pub shutdown: CancellationToken,
    pub tasks: TaskTracker,
    pub chunk_size: u64,
    pub chunk_invoices: usize,
    /// A run's lease, in milliseconds (renewed by every chunk).
    pub lease_ms: i64,
    pub max_lead_days: i64,
    /// How long an idempotency key may stay pending before a retry takes
    /// it over (see `service::idempotency`).
    pub pending_key_ttl: chrono::Duration,
    /// This process; lease tokens are `<instance>/<n>`, one per execution.
    pub instance: String,
    /// Webhook configuration and the key that seals their secrets.
    pub webhooks: Arc<webhooks::Settings>,
    executions: Arc<AtomicU64>,
}

impl Ctx {
    pub fn new(db: DatabaseConnection) -> Self {
        let postgres = db.get_database_backend() == DbBackend::Postgres;
        Ctx {
            db,
            bus: crate::events::Bus::new(postgres),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            chunk_invoices: DEFAULT_CHUNK_INVOICES,
            lease_ms: i64::try_from(DEFAULT_LEASE_SECS * 1000).unwrap_or(15_000),
            max_lead_days: DEFAULT_MAX_LEAD_DAYS,
            pending_key_ttl: chrono::Duration::minutes(2),
            instance: instance_id(),
            webhooks: Arc::new(webhooks::Settings::new(webhooks::SecretCipher::random())),
            executions: Arc::new(AtomicU64::new(1)),
        }
    }

    /// A lease token no other execution has, in this process or another.
    pub fn next_lease_token(&self) -> String {
        let n = self.executions.fetch_add(1, Ordering::Relaxed);
        format!("{}/{n}", self.instance)
    }

    /// Publishes a run's committed state (call only after commit).
    pub fn publish(&self, run: &entity::billing_run::Model) {
        self.bus.committed_run(run);
    }
}

fn instance_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut bytes);
    format!("{}-{}", std::process::id(), hex::encode(bytes))
}

/// Today in the legal entity's timezone: "today" is never the server's.
/// Timezones are validated when entities are created, so one that does not
/// parse is corrupt data, refused loudly rather than read as UTC.
pub fn entity_today(entity: &entity::legal_entity::Model) -> ServiceResult<chrono::NaiveDate> {
    let tz: chrono_tz::Tz = entity.timezone.parse().map_err(|_| {
        ServiceError::Internal(anyhow::anyhow!(
            "legal entity {} has an unknown timezone {:?}",
            entity.id,
            entity.timezone
        ))
    })?;
    Ok(chrono::Utc::now().with_timezone(&tz).date_naive())
}

/// Audits a request refused for a missing scope (ACCESS_DENIED). Best
/// effort: the refusal stands even if the audit row cannot be written.
pub async fn audit_denied(ctx: &Ctx, principal: &Principal, field: &str, missing: Scope) {
    let entry = crate::store::audit::NewAudit {
        legal_entity_id: None,
        subject_type: "Access",
        subject_id: field.to_string(),
        action: "ACCESS_DENIED",
        actor: &principal.subject,
        details: Some(serde_json::json!({ "field": field, "missingScope": missing.as_str() })),
    };
    if let Err(err) = crate::store::audit::record(&ctx.db, entry).await {
        tracing::warn!(error = %err, "could not audit a denied request");
    }
}

/// Refuses a principal that lacks `scope` (FORBIDDEN).
pub fn require(principal: &Principal, scope: Scope) -> ServiceResult<()> {
    if principal.has_scope(scope) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(scope.as_str()))
    }
}
