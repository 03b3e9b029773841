//! The event bus: committed run progress, audit events and outbox events,
//! fanned out to subscribers through bounded broadcasts.
//!
//! Dependencies run one way: `store::outbox` writes rows and the wire
//! format inside the caller's transaction; this module reads them and
//! feeds the broadcasts; the GraphQL subscriptions read the broadcasts.
//!
//! One feed loop (`feed`) for both backends, woken differently:
//! - SQLite (one process, `tail`): runs are published right after their
//!   commit; the loop polls the tables every 50 ms.
//! - PostgreSQL (many replicas, `listen`): writers call `pg_notify` in
//!   their transaction (delivered only on commit) and each replica's
//!   listener wakes the loop, which also polls every second as a safety
//!   net. After the listener's connection drops and comes back, the loop
//!   re-reads everything after its cursors and the runs' current states.
//!
//! Reads always go "everything after the cursor" (ids commit in order, see
//! `store::outbox`), and a cursor moves only past rows it delivered, so a
//! failed read is retried on the next wake-up and never skipped.
//! Delivery is at least once; subscribers dedupe by id.

mod feed;
mod listen;

use std::sync::{Arc, OnceLock};

use entity::{audit_event, billing_run, domain_event};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::runtime::Handle;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

/// Messages kept per channel for a slow subscriber; one that falls further
/// behind re-reads from the database instead of silently missing events.
const CAPACITY: usize = 4096;

pub struct Bus {
    pub runs: broadcast::Sender<billing_run::Model>,
    /// SQLite: committed runs pass through a relay on the live runtime, so
    /// waking a thousand subscribers costs the engine one channel send.
    relay: OnceLock<mpsc::UnboundedSender<billing_run::Model>>,
    pub audit: broadcast::Sender<audit_event::Model>,
    pub domain: broadcast::Sender<domain_event::Model>,
    /// PostgreSQL: the listener publishes; direct publishing would double.
    pub via_notify: bool,
}

impl Bus {
    pub fn new(via_notify: bool) -> Arc<Self> {
        Arc::new(Bus {
            runs: broadcast::channel(CAPACITY).0,
            relay: OnceLock::new(),
            audit: broadcast::channel(CAPACITY).0,
            domain: broadcast::channel(CAPACITY).0,
            via_notify,
        })
    }

    /// A run's state right after its transaction committed.
    pub fn committed_run(&self, run: &billing_run::Model) {
        if self.via_notify {
            return;
        }
        let relayed = self
            .relay
            .get()
            .is_some_and(|relay| relay.send(run.clone()).is_ok());
        if !relayed {
            let _ = self.runs.send(run.clone());
        }
    }
}

/// Forwards committed runs to their subscribers until `stop`.
async fn relay(
    bus: Arc<Bus>,
    mut committed: mpsc::UnboundedReceiver<billing_run::Model>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            run = committed.recv() => match run {
                Some(run) => { let _ = bus.runs.send(run); }
                None => return,
            },
        }
    }
}

/// Starts the backend that feeds `bus` until `stop`, on `on`: the runtime
/// whose tasks hold the subscriptions, so waking them stays local to it.
pub fn start(db: DatabaseConnection, bus: Arc<Bus>, stop: CancellationToken, on: &Handle) {
    let (signals, woken) = mpsc::unbounded_channel();
    let every = if db.get_database_backend() == DbBackend::Postgres {
        on.spawn(listen::listen(db.clone(), signals, stop.clone()));
        feed::SAFETY_POLL
    } else {
        let (tx, rx) = mpsc::unbounded_channel();
        if bus.relay.set(tx).is_ok() {
            on.spawn(relay(bus.clone(), rx, stop.clone()));
        }
        drop(signals);
        feed::TAIL_EVERY
    };
    on.spawn(feed::run(db, bus, woken, every, stop));
}
