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
//!
//! Priority alone does not stop the interference: the scheduler still moves
//! the run's threads onto the cores busy with delivery, where they lose
//! their caches. With `--live-cpus` the live threads are pinned to those
//! CPUs and every other thread of the server to the rest (Linux).

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
    /// `threads` 0 means one per core (per live CPU when pinned). `nice` is
    /// added to the server's own nice value on each live thread (0 leaves
    /// them at its priority). `cpus`, when given, partitions the process:
    /// call it before anything else starts threads (the database pool).
    pub fn start(threads: usize, nice: i32, cpus: Option<&[usize]>) -> io::Result<Self> {
        let pinned = match cpus {
            Some(cpus) => Some(partition(cpus)?),
            None => None,
        };
        let threads = match (threads, &pinned) {
            (0, Some(live)) => live.len(),
            (0, None) => std::thread::available_parallelism().map_or(2, |n| n.get()),
            (n, _) => n,
        };
        let runtime = Builder::new_multi_thread()
            .worker_threads(threads)
            .thread_name("billrun-live")
            .enable_all()
            .on_thread_start(move || {
                if let Some(live) = &pinned {
                    if let Err(err) = pin_thread(0, live) {
                        tracing::warn!(error = %err, "could not pin a live thread");
                    }
                }
                lower_priority(nice);
            })
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

/// Parses a CPU list such as `3`, `2-3` or `0,2-3`.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let mut cpus = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |n: &str| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{part}` is not a CPU number or range"))
        };
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (number(from)?, number(to)?);
                if from > to {
                    return Err(format!("`{part}` is a reversed range"));
                }
                cpus.extend(from..=to);
            }
            None => cpus.push(number(part)?),
        }
    }
    cpus.sort_unstable();
    cpus.dedup();
    if cpus.is_empty() {
        return Err("name at least one CPU".into());
    }
    Ok(cpus)
}

/// Pins every thread the process has now to the CPUs it may use outside
/// `live`; returns the live set.
#[cfg(target_os = "linux")]
fn partition(live: &[usize]) -> io::Result<Vec<usize>> {
    let available = allowed_cpus(0)?;
    let bad = |why: String| io::Error::new(io::ErrorKind::InvalidInput, why);
    if let Some(cpu) = live.iter().find(|c| !available.contains(c)) {
        return Err(bad(format!(
            "--live-cpus: CPU {cpu} is not available to this process (available: {available:?})"
        )));
    }
    let rest: Vec<usize> = available
        .iter()
        .copied()
        .filter(|c| !live.contains(c))
        .collect();
    if rest.is_empty() {
        return Err(bad(format!(
            "--live-cpus: {live:?} leaves no CPU for billing runs and HTTP (available: {available:?})"
        )));
    }
    pin_process(&rest)?;
    Ok(live.to_vec())
}

/// Pins every thread the process has now to `cpus`; threads they start
/// later inherit it.
#[cfg(target_os = "linux")]
pub fn pin_process(cpus: &[usize]) -> io::Result<()> {
    for task in std::fs::read_dir("/proc/self/task")? {
        let tid = task?.file_name().to_string_lossy().parse::<libc::pid_t>();
        if let Ok(tid) = tid {
            // A thread may have ended since the listing: nothing to pin.
            let _ = pin_thread(tid, cpus);
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
pub fn pin_process(_cpus: &[usize]) -> io::Result<()> {
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn partition(_live: &[usize]) -> io::Result<Vec<usize>> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "--live-cpus needs Linux",
    ))
}

/// The CPUs thread `tid` (0: the calling thread) may run on.
#[cfg(target_os = "linux")]
fn allowed_cpus(tid: libc::pid_t) -> io::Result<Vec<usize>> {
    // SAFETY: cpu_set_t is plain data; sched_getaffinity fills it in.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((0..libc::CPU_SETSIZE as usize)
            .filter(|&c| libc::CPU_ISSET(c, &set))
            .collect())
    }
}

#[cfg(target_os = "linux")]
fn pin_thread(tid: libc::pid_t, cpus: &[usize]) -> io::Result<()> {
    // SAFETY: as above; sched_setaffinity reads the set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &cpu in cpus {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(tid, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn pin_thread(_tid: i32, _cpus: &[usize]) -> io::Result<()> {
    Ok(())
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
            let live = LiveRuntime::start(1, nice, None).expect("live runtime");
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

    #[test]
    fn cpu_lists_are_numbers_and_ranges_and_nothing_else() {
        assert_eq!(parse_cpu_list("3"), Ok(vec![3]));
        assert_eq!(parse_cpu_list("2-4, 0,3"), Ok(vec![0, 2, 3, 4]));
        for bad in ["", " , ", "a", "1-", "3-1", "-1", "1.5"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?} was accepted");
        }
    }
}
