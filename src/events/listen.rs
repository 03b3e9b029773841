//! The PostgreSQL listener: forwards every notification to the feed loop,
//! and says when its connection was (re)established, so the loop re-reads
//! what was committed while nobody listened.
//!
//! sqlx's `PgListener::recv()` reconnects by itself and hides the gap;
//! `try_recv()` returns `Ok(None)` after such a reconnect, and a terminated
//! backend can also surface as an error: both are reported as `Connected`.
//! The listener runs in its own task, so the feed loop never cancels a
//! half-read notification.

use std::time::Duration;

use sea_orm::sqlx::postgres::PgListener;
use sea_orm::DatabaseConnection;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::store::outbox::{Wire, CHANNEL};

pub(super) enum Signal {
    /// Listening (again): anything committed before may have been missed.
    Connected,
    Note(Wire),
}

pub(super) async fn listen(
    db: DatabaseConnection,
    signals: UnboundedSender<Signal>,
    stop: CancellationToken,
) {
    let pool = db.get_postgres_connection_pool().clone();
    loop {
        let connected = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sea_orm::sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            _ = stop.cancelled() => return,
            l = connected => match l {
                Ok(l) => l,
                Err(err) => {
                    tracing::warn!(error = %err, "event listener cannot connect; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            },
        };
        if signals.send(Signal::Connected).is_err() {
            return;
        }
        loop {
            let next = tokio::select! {
                _ = stop.cancelled() => return,
                n = listener.try_recv() => n,
            };
            let signal = match next {
                Ok(Some(n)) => match Wire::decode(n.payload()) {
                    Some(wire) => Signal::Note(wire),
                    None => {
                        tracing::debug!(payload = n.payload(), "unknown notification");
                        continue;
                    }
                },
                Ok(None) => {
                    tracing::warn!(
                        "event listener lost its connection and reconnected; re-reading"
                    );
                    Signal::Connected
                }
                Err(err) => {
                    tracing::warn!(error = %err, "event listener failed; reconnecting");
                    break;
                }
            };
            if signals.send(signal).is_err() {
                return;
            }
        }
    }
}
