//! The live runtime: WebSocket connections run on worker threads of their
//! own, apart from the runtime that executes billing runs and answers HTTP
//! requests.
//!
//! A run commits a chunk and publishes one update; a thousand subscribers
//! then each render and send it. On one shared runtime the run's next step
//! would queue behind those thousand tasks at every database round trip.
//! Here it queues behind nothing, and the live threads also run at a lower
//! operating-system priority (`--live-nice`), so when the cores are busy
//! the run gets them first and subscribers absorb the wait instead.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::runtime::{Builder, Handle, Runtime};
use tokio::task::JoinHandle;
use tokio_util::task::TaskTracker;

/// Owns the live runtime; dropping it stops the runtime without blocking.
pub struct LiveRuntime {
    runtime: Option<Runtime>,
    live: Live,
}

/// Spawns connections onto the live runtime and keeps count of them.
#[derive(Clone)]
pub struct Live {
    handle: Handle,
    connections: TaskTracker,
}

impl Live {
    pub fn spawn<F>(&self, connection: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.connections.spawn_on(connection, &self.handle)
    }

    pub fn handle(&self) -> &Handle {
        &self.handle
    }
}

impl LiveRuntime {
    /// `threads` 0 means one per core. `nice` is added to the server's own
    /// nice value on each live thread (0 leaves them at its priority).
    pub fn start(threads: usize, nice: i32) -> io::Result<Self> {
        let threads = match threads {
            0 => std::thread::available_parallelism().map_or(2, |n| n.get()),
            n => n,
        };
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("billrun-live")
            .enable_all()
            .on_thread_start(move || lower_priority(nice))
            .build()?;
        let live = Live {
            handle: runtime.handle().clone(),
            connections: TaskTracker::new(),
        };
        Ok(LiveRuntime {
            runtime: Some(runtime),
            live,
        })
    }

    pub fn live(&self) -> Live {
        self.live.clone()
    }

    /// After the server stops accepting: lets open connections send their
    /// last messages (they end on shutdown), waiting at most `grace`.
    pub async fn drain(self, grace: Duration) {
        self.live.connections.close();
        if tokio::time::timeout(grace, self.live.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                open = self.live.connections.len(),
                "live connections still open at shutdown"
            );
        }
    }
}

impl Drop for LiveRuntime {
    fn drop(&mut self) {
        // May run inside another runtime, where a blocking shutdown panics.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The calling thread's nice value (Linux keeps one per thread).
#[cfg(target_os = "linux")]
pub fn thread_nice() -> Option<i32> {
    // SAFETY: getpriority reads the calling thread's priority; errno is
    // cleared first because -1 is also a valid answer.
    unsafe {
        *libc::__errno_location() = 0;
        let nice = libc::getpriority(libc::PRIO_PROCESS, 0);
        (*libc::__errno_location() == 0).then_some(nice)
    }
}

#[cfg(not(target_os = "linux"))]
pub fn thread_nice() -> Option<i32> {
    None
}

/// Lowers the calling thread's priority by `by` (never raises it).
fn lower_priority(by: i32) {
    if by <= 0 {
        return;
    }
    #[cfg(target_os = "linux")]
    {
        let Some(current) = thread_nice() else {
            return;
        };
        let target = current.saturating_add(by).min(19);
        // SAFETY: with `who` 0, Linux sets the calling thread's nice value
        // only; raising a nice value needs no privilege.
        let failed = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, target) } != 0;
        if failed {
            tracing::warn!(
                error = %io::Error::last_os_error(),
                "could not lower the live threads' priority"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_threads_run_below_the_servers_priority_and_zero_leaves_it() {
        let Some(ours) = thread_nice() else {
            return; // not Linux: priorities are left alone
        };
        let on_live = |nice: i32| {
            let live = LiveRuntime::start(1, nice).expect("live runtime");
            let (tx, rx) = std::sync::mpsc::channel();
            live.live().spawn(async move {
                let _ = tx.send(thread_nice());
            });
            rx.recv().expect("the live task ran")
        };
        assert_eq!(on_live(5), Some((ours + 5).min(19)));
        assert_eq!(on_live(0), Some(ours));
        assert_eq!(on_live(-5), Some(ours), "a live thread is never raised");
        // The thread that started the runtime keeps its priority.
        assert_eq!(thread_nice(), Some(ours));
    }
}
