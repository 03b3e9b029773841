//! The event bus: committed run progress, audit events and outbox events,
//! fanned out to subscribers through bounded broadcasts.
//!
//! Two backends behind one `Bus`:
//! - SQLite (one process): runs are published right after their commit;
//!   audit and outbox rows are tailed by id (SQLite serialises writers, so
//!   ids commit in order and a cursor misses nothing).
//! - PostgreSQL (many replicas): writers call `pg_notify` inside their
//!   transaction (delivered only on commit, in commit order) and every
//!   replica's listener re-reads the rows named and broadcasts them. After
//!   a listener reconnect it re-reads what it may have missed.
//!
//! Delivery is at least once; subscribers dedupe by id.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use entity::{audit_event, billing_run, domain_event};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::runtime::Handle;
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::store::journal::{self, IdRange};
use crate::store::{billing as runs, StoreResult};

/// Messages kept per channel for a slow subscriber; one that falls further
/// behind re-reads from the database instead of silently missing events.
const CAPACITY: usize = 4096;
/// The PostgreSQL NOTIFY channel.
pub const CHANNEL: &str = "billrun_events";
/// How often the SQLite tail looks for new audit and outbox rows.
const TAIL_EVERY: Duration = Duration::from_millis(50);

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

/// A run's committed state, whole: re-reading the row on delivery could
/// skip states a later commit already replaced. Falls back to the id when
/// the state would not fit NOTIFY's 8000-byte payload.
pub fn run_payload(run: &billing_run::Model) -> String {
    match serde_json::to_string(run) {
        Ok(json) if json.len() < 7900 => format!("R:{json}"),
        _ => format!("r:{}", run.id),
    }
}

/// Starts the backend that feeds `bus` until `stop`, on `on`: the runtime
/// whose tasks hold the subscriptions, so waking them stays local to it.
pub fn start(db: DatabaseConnection, bus: Arc<Bus>, stop: CancellationToken, on: &Handle) {
    if db.get_database_backend() == DbBackend::Postgres {
        on.spawn(listen(db, bus, stop));
        return;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    if bus.relay.set(tx).is_ok() {
        on.spawn(relay(bus.clone(), rx, stop.clone()));
    }
    on.spawn(tail(db, bus, stop));
}

#[derive(Default)]
struct Cursors {
    audit: i64,
    domain: i64,
}

impl Cursors {
    async fn at_end(db: &DatabaseConnection) -> StoreResult<Self> {
        let (audit, domain) = journal::last_event_ids(db).await?;
        Ok(Cursors { audit, domain })
    }
}

/// Rows read per query while catching up.
const PAGE: u64 = 1000;

/// Publishes audit and outbox rows after the cursors (ids ascending).
async fn catch_up(db: &DatabaseConnection, bus: &Bus, cursors: &mut Cursors) -> StoreResult<()> {
    loop {
        let ids = IdRange::After {
            after: cursors.audit,
            limit: PAGE,
        };
        let rows = journal::audit_rows(db, ids).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        cursors.audit = last;
        for row in rows {
            let _ = bus.audit.send(row);
        }
    }
    loop {
        let ids = IdRange::After {
            after: cursors.domain,
            limit: PAGE,
        };
        let rows = journal::domain_rows(db, ids).await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        cursors.domain = last;
        for row in rows {
            let _ = bus.domain.send(row);
        }
    }
    Ok(())
}

/// Where the feed ends now; retried until the database answers, because
/// starting from 0 would replay the whole history to live subscribers.
async fn start_cursors(db: &DatabaseConnection, stop: &CancellationToken) -> Option<Cursors> {
    loop {
        match Cursors::at_end(db).await {
            Ok(cursors) => return Some(cursors),
            Err(err) => tracing::warn!(error = %err, "event feed cannot read its start; retrying"),
        }
        tokio::select! {
            _ = stop.cancelled() => return None,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
    }
}

async fn tail(db: DatabaseConnection, bus: Arc<Bus>, stop: CancellationToken) {
    let Some(mut cursors) = start_cursors(&db, &stop).await else {
        return;
    };
    let mut every = tokio::time::interval(TAIL_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        // Nobody listening: nothing to read, but keep the cursors current.
        if bus.audit.receiver_count() == 0 && bus.domain.receiver_count() == 0 {
            if let Ok(now) = Cursors::at_end(&db).await {
                cursors = now;
            }
            continue;
        }
        if let Err(err) = catch_up(&db, &bus, &mut cursors).await {
            tracing::warn!(error = %err, "event tail failed; retrying");
        }
    }
}

async fn listen(db: DatabaseConnection, bus: Arc<Bus>, stop: CancellationToken) {
    let Some(mut cursors) = start_cursors(&db, &stop).await else {
        return;
    };
    loop {
        let pool = db.get_postgres_connection_pool().clone();
        let mut listener = match sea_orm::sqlx::postgres::PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(err) => {
                tracing::warn!(error = %err, "event listener cannot connect; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        if let Err(err) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %err, "LISTEN failed; retrying");
            continue;
        }
        // Whatever was committed while nobody listened: re-read it.
        if let Err(err) = resync(&db, &bus, &mut cursors).await {
            tracing::warn!(error = %err, "event resync failed");
        }
        loop {
            let notification = tokio::select! {
                _ = stop.cancelled() => return,
                n = listener.recv() => n,
            };
            match notification {
                Ok(n) => {
                    if let Err(err) = deliver(&db, &bus, &mut cursors, n.payload()).await {
                        tracing::warn!(error = %err, "could not read notified rows");
                    }
                }
                Err(err) => {
                    tracing::warn!(error = %err, "event listener lost its connection; reconnecting");
                    break;
                }
            }
        }
    }
}

/// After a (re)connect: active runs' current state, and audit and outbox
/// rows past the cursors.
async fn resync(db: &DatabaseConnection, bus: &Bus, cursors: &mut Cursors) -> StoreResult<()> {
    for run in runs::active_runs(db).await? {
        let _ = bus.runs.send(run);
    }
    catch_up(db, bus, cursors).await
}

/// Payloads: `R:<run as JSON>` (or `r:<run id>`), `a:<first id>:<last id>`,
/// `d:<first id>:<last id>`.
async fn deliver(
    db: &DatabaseConnection,
    bus: &Bus,
    cursors: &mut Cursors,
    payload: &str,
) -> StoreResult<()> {
    if let Some(json) = payload.strip_prefix("R:") {
        match serde_json::from_str::<billing_run::Model>(json) {
            Ok(run) => {
                let _ = bus.runs.send(run);
            }
            Err(err) => tracing::warn!(error = %err, "unreadable run notification"),
        }
        return Ok(());
    }
    let mut parts = payload.split(':');
    let kind = parts.next().unwrap_or_default();
    let first: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let last: i64 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(first);
    match kind {
        "r" => {
            if let Some(run) = runs::run_by_id(db, first).await? {
                let _ = bus.runs.send(run);
            }
        }
        "a" => {
            for row in journal::audit_rows(db, IdRange::Between(first, last)).await? {
                cursors.audit = cursors.audit.max(row.id);
                let _ = bus.audit.send(row);
            }
        }
        "d" => {
            for row in journal::domain_rows(db, IdRange::Between(first, last)).await? {
                cursors.domain = cursors.domain.max(row.id);
                let _ = bus.domain.send(row);
            }
        }
        other => tracing::debug!(kind = other, "unknown notification"),
    }
    Ok(())
}
