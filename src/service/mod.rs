//! One public async fn per use case. Services check the principal's scope,
//! validate input into domain values, open the transactions and call the
//! store; resolvers call exactly one of them.

pub mod agent;
pub mod ar;
pub mod billing;
pub mod contracts;
pub mod error;
pub mod invoices;
pub mod runs;
pub mod scheduler;
pub mod setup;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio_util::task::TaskTracker;

pub use error::{ServiceError, ServiceResult};

use crate::domain::access::{Principal, Scope};

/// Contracts per chunk: each chunk is one transaction.
pub const DEFAULT_CHUNK_SIZE: u64 = 500;
/// Run updates kept for slow subscribers; a lagging one re-reads the run.
const RUN_UPDATES_CAPACITY: usize = 1024;

/// What every service needs: the database, the channel that carries
/// committed run progress, and the tracker of background runs.
#[derive(Clone)]
pub struct Ctx {
    pub db: DatabaseConnection,
    pub run_updates: broadcast::Sender<entity::billing_run::Model>,
    pub tasks: TaskTracker,
    pub chunk_size: u64,
    /// This process, as the owner of the run leases it takes.
    pub instance: String,
}

impl Ctx {
    pub fn new(db: DatabaseConnection) -> Self {
        let (run_updates, _) = broadcast::channel(RUN_UPDATES_CAPACITY);
        Ctx {
            db,
            run_updates,
            tasks: TaskTracker::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            instance: instance_id(),
        }
    }

    /// Publishes a run's committed state (call only after commit).
    pub fn publish(&self, run: &entity::billing_run::Model) {
        // No receiver is fine: nobody is watching.
        let _ = self.run_updates.send(run.clone());
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
