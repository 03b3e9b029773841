//! The real `billrun` binary as a child process, for faults an in-process
//! server cannot suffer: SIGKILL mid-run, two processes on one database.
//! A `Server` is killed when dropped, so a failing test leaves no child
//! behind; its stdout and stderr go to a log file the test can quote.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::SECRET;

/// How a server process is started.
#[derive(Clone, Debug)]
pub struct Opts {
    /// `--run-chunk-size`.
    pub chunk_size: u64,
    /// `BILLRUN_LEASE_SECS`; `None`: the server's default.
    pub lease_secs: Option<u64>,
    /// More command-line arguments.
    pub args: Vec<String>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            chunk_size: 500,
            lease_secs: None,
            args: Vec::new(),
        }
    }
}

/// Settings of the test's own environment that would change the server's
/// behaviour behind the test's back.
const SCRUBBED_ENV: &[&str] = &[
    "DATABASE_URL",
    "BILLRUN_BIND",
    "BILLRUN_METRICS_BIND",
    "BILLRUN_OTLP_ENDPOINT",
    "BILLRUN_JWT_SECRET",
    "BILLRUN_LEASE_SECS",
    "BILLRUN_MAX_BILLING_LEAD_DAYS",
    "BILLRUN_RUN_CHUNK_INVOICES",
    "BILLRUN_RUN_CHUNK_SIZE",
    "BILLRUN_RATE_LIMIT_PER_MINUTE",
    "BILLRUN_SCHEDULER_POLL_SECS",
    "BILLRUN_DEMO",
    "BILLRUN_WEBHOOK_ALLOW_HOSTS",
    "BILLRUN_WEBHOOK_ATTEMPT_RETENTION",
    "BILLRUN_WEBHOOK_CONCURRENCY",
    "BILLRUN_WEBHOOK_DISABLE_AFTER",
    "BILLRUN_WEBHOOK_POLL",
    "BILLRUN_WEBHOOK_RETRY_SCHEDULE",
    "BILLRUN_WEBHOOK_SECRET_KEY",
    "BILLRUN_WEBHOOK_TIMEOUT",
    "BILLRUN_WEBHOOK_WORKER",
    "RUST_LOG",
];

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub name: String,
    log: PathBuf,
    _log_dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

impl Server {
    /// Starts `billrun serve` on `database_url` and returns once GET /health
    /// answers (panics with the server's log if it exits or takes over 60 s).
    pub async fn start(name: &str, database_url: &str, opts: &Opts) -> Server {
        let log_dir = tempfile::tempdir().expect("log dir");
        let log = log_dir.path().join(format!("{name}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_billrun"));
        for var in SCRUBBED_ENV {
            command.env_remove(var);
        }
        command
            .arg("serve")
            .args(["--bind", &format!("127.0.0.1:{port}")])
            .args(["--database-url", database_url])
            .args(["--jwt-secret", SECRET])
            .args(["--run-chunk-size", &opts.chunk_size.to_string()])
            .args(["--rate-limit-per-minute", "0"])
            .args(["--scheduler-poll-secs", "0"])
            .args(["--request-timeout-secs", "120"])
            .args(&opts.args)
            .env("RUST_LOG", "info,sqlx=warn,sea_orm=warn")
            .env("NO_COLOR", "1")
            .current_dir(log_dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log file"))
            .stderr(file);
        if !opts.args.iter().any(|a| a == "--metrics-bind") {
            // Servers of parallel tests would all want the default port.
            command.args(["--metrics-bind", ""]);
        }
        if let Some(secs) = opts.lease_secs {
            command.env("BILLRUN_LEASE_SECS", secs.to_string());
        }
        let child = command.spawn().expect("billrun serve starts");
        let mut server = Server {
            child: Some(child),
            port,
            name: name.to_string(),
            log,
            _log_dir: log_dir,
        };
        server.wait_healthy().await;
        server
    }

    async fn wait_healthy(&mut self) {
        let client = reqwest::Client::new();
        let url = format!("http://127.0.0.1:{}/health", self.port);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "server {} exited before answering /health ({status}):\n{}",
                        self.name,
                        self.log()
                    );
                }
            }
            let ok = client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success());
            if ok {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "server {} did not answer /health within 60 s:\n{}",
                    self.name,
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server runs").id()
    }

    /// SIGKILL (what `Child::kill` sends on Unix), then reap the process.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a clean shutdown), then wait up to `within` for it to exit;
    /// false when it did not (it is then killed).
    pub fn terminate(&mut self, within: std::time::Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return true;
        };
        let pid = libc::pid_t::try_from(child.id()).expect("pid");
        // SAFETY: signals a child process this struct owns and has not reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Everything the server logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `n` lines of the log, headed with the server's name.
    pub fn tail(&self, n: usize) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(n);
        format!(
            "--- last {} log lines of server {} ---\n{}",
            lines.len() - from,
            self.name,
            lines[from..].join("\n")
        )
    }

    /// Log lines containing any of `needles` (at most 40), for reports.
    pub fn grep(&self, needles: &[&str]) -> String {
        let log = self.log();
        let hits: Vec<&str> = log
            .lines()
            .filter(|l| needles.iter().any(|n| l.contains(n)))
            .take(40)
            .collect();
        format!(
            "--- server {} log lines matching {needles:?} ---\n{}",
            self.name,
            hits.join("\n")
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
