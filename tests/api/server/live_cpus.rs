//! `--live-cpus` (Operations): WebSocket threads pinned apart from the
//! rest of the server.

use std::path::Path;
use std::process::Command;

use crate::helpers::SECRET;
use crate::process::{Opts, Server};

/// The CPUs a thread may run on, from /proc.
fn cpus_of(task: &Path) -> Vec<usize> {
    let status = std::fs::read_to_string(task.join("status")).unwrap_or_default();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap_or_default();
    billrun::http::live::parse_cpu_list(list).unwrap_or_default()
}

fn serve_with_live_cpus(database_url: &str, port: u16, cpus: &str) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .args(["--metrics-bind", ""])
        .args(["--database-url", database_url, "--live-cpus", cpus])
        .args(["--scheduler-poll-secs", "0", "--db-pool-size", "3"])
        .env("BILLRUN_JWT_SECRET", SECRET)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("billrun serve starts")
}

/// `--live-cpus`: WebSocket threads on the CPUs named, everything else of
/// the server (runtime workers, database threads) on the others; a set that
/// leaves nothing for the rest, or names a CPU the process cannot use, is
/// refused at start-up.
#[tokio::test]
async fn live_cpus_keep_websocket_threads_apart_from_the_rest_of_the_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = crate::helpers::fresh_database(&dir).await;
    let ours = cpus_of(Path::new("/proc/thread-self"));
    assert!(!ours.is_empty(), "this test reads Linux's /proc");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();

    let refused = |cpus: String| {
        let mut child = serve_with_live_cpus(&database_url, port, &cpus);
        let status = child.wait().expect("exits");
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            use std::io::Read;
            let _ = stderr.read_to_string(&mut err);
        }
        assert!(
            !status.success() && err.contains("--live-cpus"),
            "--live-cpus {cpus} must be refused by name: {status:?} {err}"
        );
    };
    refused("4095".into());
    let all = ours
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    refused(all);
    if ours.len() < 2 {
        eprintln!("note: one CPU available; only the refusals were checked");
        return;
    }

    let live = *ours.last().expect("a CPU");
    let opts = Opts {
        args: ["--live-cpus", &live.to_string(), "--db-pool-size", "3"]
            .map(String::from)
            .to_vec(),
        ..Opts::default()
    };
    let server = Server::start("pinned", &database_url, &opts).await;
    let tasks: Vec<(String, Vec<usize>)> =
        std::fs::read_dir(format!("/proc/{}/task", server.pid()))
            .expect("the server's threads")
            .filter_map(|t| t.ok())
            .map(|t| {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                (comm.trim().to_string(), cpus_of(&t.path()))
            })
            .collect();
    drop(server);
    let (live_threads, rest): (Vec<_>, Vec<_>) =
        tasks.iter().partition(|(name, _)| name == "billrun-live");
    assert_eq!(
        live_threads.len(),
        1,
        "one live worker per live CPU: {tasks:?}"
    );
    assert!(
        live_threads.iter().all(|(_, cpus)| cpus == &vec![live]),
        "live threads run only on CPU {live}: {tasks:?}"
    );
    assert!(
        rest.iter()
            .any(|(name, _)| name.starts_with("sqlx-sqlite") || name == "tokio-rt-worker"),
        "the runtime and database threads were listed: {tasks:?}"
    );
    assert!(
        rest.iter()
            .all(|(_, cpus)| !cpus.is_empty() && !cpus.contains(&live)),
        "every other thread stays off CPU {live}: {tasks:?}"
    );
}
