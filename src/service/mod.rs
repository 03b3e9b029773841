//! One public async fn per use case. Services check the principal's scope,
//! validate input into domain values, open the transactions and call the
//! store; resolvers call exactly one of them.

pub mod agent;
pub mod ar;
pub mod billing;
pub mod contracts;
pub mod error;
pub mod feed;
pub mod idempotency;
pub mod invoices;
pub mod runs;
pub mod scheduler;
pub mod setup;

use std::sync::Arc;

use sea_orm::{DatabaseConnection, DbBackend};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use error::{ServiceError, ServiceResult};

use crate::domain::access::{Principal, Scope};

/// Contracts per chunk: each chunk is one transaction.
pub const DEFAULT_CHUNK_SIZE: u64 = 500;

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
    /// This process, as the owner of the run leases it takes.
    pub instance: String,
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
            instance: instance_id(),
        }
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

/// Refuses a principal that lacks `scope` (FORBIDDEN).
pub fn require(principal: &Principal, scope: Scope) -> ServiceResult<()> {
    if principal.has_scope(scope) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(scope.as_str()))
    }
}
