//! The feed loop: reads committed audit and outbox rows after its cursors
//! and publishes them; publishes run states the listener carries.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use tokio::sync::broadcast;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use super::listen::Signal;
use super::Bus;
use crate::store::outbox::{self, Wire};
use crate::store::{audit, runs, StoreResult};

/// How often the SQLite feed looks for new audit and outbox rows.
pub(super) const TAIL_EVERY: Duration = Duration::from_millis(50);
/// PostgreSQL: a read after the cursors even without a notification, so a
/// notification lost with a connection costs at most this much delay.
pub(super) const SAFETY_POLL: Duration = Duration::from_secs(1);
/// Rows read per query while catching up.
const PAGE: u64 = 1000;
/// After a reconnect, runs finished this recently are re-sent too (their
/// final state may have been announced while nobody listened).
const RECENT_RUNS: chrono::Duration = chrono::Duration::minutes(2);

#[derive(Default)]
struct Cursors {
    audit: i64,
    domain: i64,
}

impl Cursors {
    async fn at_end(db: &DatabaseConnection) -> StoreResult<Self> {
        let (audit, domain) = outbox::last_event_ids(db).await?;
        Ok(Cursors { audit, domain })
    }

    /// Publishes audit and outbox rows after the cursors (ids ascending);
    /// a cursor moves only past rows published, so an error here is
    /// retried from the same place.
    async fn catch_up(&mut self, db: &DatabaseConnection, bus: &Bus) -> StoreResult<()> {
        drain(
            &mut self.audit,
            &bus.audit,
            |after| audit::audit_after(db, after, PAGE),
            |r| r.id,
        )
        .await?;
        drain(
            &mut self.domain,
            &bus.domain,
            |after| outbox::domain_after(db, after, PAGE),
            |r| r.id,
        )
        .await
    }
}

/// Reads pages after `cursor` until one is empty, publishing each row.
async fn drain<M, F, Fut>(
    cursor: &mut i64,
    to: &broadcast::Sender<M>,
    read: F,
    id: fn(&M) -> i64,
) -> StoreResult<()>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = StoreResult<Vec<M>>>,
{
    loop {
        let rows = read(*cursor).await?;
        let Some(last) = rows.last().map(id) else {
            return Ok(());
        };
        *cursor = last;
        for row in rows {
            let _ = to.send(row);
        }
    }
}

/// Where the feed starts; retried until the database answers, because
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

/// What the loop still owes subscribers after a failed read.
#[derive(Default)]
struct Owed {
    rows: bool,
    runs_since: Option<chrono::DateTime<chrono::Utc>>,
    run_ids: std::collections::VecDeque<i64>,
}

pub(super) async fn run(
    db: DatabaseConnection,
    bus: Arc<Bus>,
    mut signals: UnboundedReceiver<Signal>,
    every: Duration,
    stop: CancellationToken,
) {
    let Some(mut cursors) = start_cursors(&db, &stop).await else {
        return;
    };
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut listening = true;
    let mut owed = Owed::default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => owed.rows = true,
            signal = signals.recv(), if listening => match signal {
                None => listening = false,
                Some(Signal::Connected) => {
                    owed.rows = true;
                    owed.runs_since = Some(chrono::Utc::now() - RECENT_RUNS);
                }
                Some(Signal::Note(Wire::Run(run))) => { let _ = bus.runs.send(*run); }
                Some(Signal::Note(Wire::RunId(id))) => owed.run_ids.push_back(id),
                Some(Signal::Note(Wire::Audit | Wire::Domain)) => owed.rows = true,
            },
        }
        // Nobody listening: nothing to read, but keep the cursors current.
        if owed.rows && bus.audit.receiver_count() == 0 && bus.domain.receiver_count() == 0 {
            if let Ok(now) = Cursors::at_end(&db).await {
                cursors = now;
                owed.rows = false;
            }
        }
        if let Err(err) = pay(&db, &bus, &mut cursors, &mut owed).await {
            tracing::warn!(error = %err, "event feed could not read; retrying");
        }
    }
}

/// Delivers what is owed; whatever fails stays owed.
async fn pay(
    db: &DatabaseConnection,
    bus: &Bus,
    cursors: &mut Cursors,
    owed: &mut Owed,
) -> StoreResult<()> {
    if let Some(since) = owed.runs_since {
        for run in runs::active_or_updated_since(db, since).await? {
            let _ = bus.runs.send(run);
        }
        owed.runs_since = None;
    }
    while let Some(&id) = owed.run_ids.front() {
        if let Some(run) = runs::run_by_id(db, id).await? {
            let _ = bus.runs.send(run);
        }
        owed.run_ids.pop_front();
    }
    if owed.rows {
        cursors.catch_up(db, bus).await?;
        owed.rows = false;
    }
    Ok(())
}
