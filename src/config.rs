//! Command line and environment configuration. Every knob has a flag and an
//! environment variable; README.md lists them all.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "billrun",
    version,
    about = "Recurring billing GraphQL API server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the API server (the default).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(DbArgs),
    /// Load the seed page's demo data into an empty database.
    SeedDemo(DbArgs),
    /// Run billing for a legal entity from the shell and print the summary.
    RunBilling(RunBillingArgs),
    /// Import contracts from a CSV file (columns: README, "Importing contracts").
    ImportContracts(ImportArgs),
    /// Issue a JWT for development.
    Token(TokenArgs),
    /// Print the GraphQL schema (SDL) that is checked in as schema.graphql.
    Schema,
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Database URL: sqlite://FILE?mode=rwc or postgres://USER@HOST/DB.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://billrun.db?mode=rwc"
    )]
    pub database_url: String,
    /// Maximum connections in the pool (PostgreSQL; SQLite uses it too).
    #[arg(long, env = "BILLRUN_DB_POOL_SIZE", default_value_t = 10)]
    pub db_pool_size: u32,
    /// PostgreSQL cancels any statement running longer than this, in
    /// seconds (0: no limit), so a slow query cannot hold a connection.
    #[arg(long, env = "BILLRUN_DB_STATEMENT_TIMEOUT_SECS", default_value_t = 30)]
    pub db_statement_timeout_secs: u64,
    /// How long a SQLite writer waits for the lock before failing, in ms.
    #[arg(long, env = "BILLRUN_SQLITE_BUSY_TIMEOUT_MS", default_value_t = 10_000)]
    pub sqlite_busy_timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Introspection {
    All,
    Staff,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "BILLRUN_BIND", default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// Where Prometheus scrapes GET /metrics: a listener of its own, never
    /// the public one (empty: no metrics).
    #[arg(long, env = "BILLRUN_METRICS_BIND", default_value = "127.0.0.1:9464")]
    pub metrics_bind: String,
    /// OTLP/HTTP collector to export spans to, e.g. http://127.0.0.1:4318
    /// (spans go to <endpoint>/v1/traces); an incoming traceparent is their
    /// parent. Needs a billrun built with `--features otlp`; empty: off.
    #[arg(long, env = "BILLRUN_OTLP_ENDPOINT", default_value = "")]
    pub otlp_endpoint: String,
    #[command(flatten)]
    pub db: DbArgs,
    /// HS256 secret for JWTs (at least 32 bytes). Unset with SQLite: a random
    /// secret is created beside the database file.
    #[arg(long, env = "BILLRUN_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// Public keys for RS256/ES256/EdDSA tokens, comma-separated
    /// `kid=ALG:path.pem` (tokens name their key by `kid`).
    #[arg(long, env = "BILLRUN_JWT_PUBLIC_KEYS", value_delimiter = ',')]
    pub jwt_public_keys: Vec<String>,
    /// A JWKS file of public keys (each with a `kid`).
    #[arg(long, env = "BILLRUN_JWT_JWKS_FILE")]
    pub jwt_jwks_file: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub claims: ClaimArgs,
    /// Origins allowed by CORS and to open the WebSocket from a browser,
    /// comma-separated (none: same-origin only).
    #[arg(long, env = "BILLRUN_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "BILLRUN_BODY_LIMIT_BYTES", default_value_t = 1024 * 1024)]
    pub body_limit_bytes: usize,
    /// Requests running longer than this are cancelled (408), in seconds.
    #[arg(long, env = "BILLRUN_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Requests per minute per token subject (0: no limit); excess gets 429.
    #[arg(long, env = "BILLRUN_RATE_LIMIT_PER_MINUTE", default_value_t = 1200)]
    pub rate_limit_per_minute: u32,
    /// Who may introspect the schema: all, staff (ADMIN and ACCOUNTANT) or off.
    #[arg(long, env = "BILLRUN_INTROSPECTION", value_enum, default_value_t = Introspection::Staff)]
    pub introspection: Introspection,
    /// Log format.
    #[arg(long, env = "BILLRUN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Contracts per billing-run chunk (one transaction each).
    #[arg(long, env = "BILLRUN_RUN_CHUNK_SIZE", default_value_t = 1000)]
    pub run_chunk_size: u64,
    /// At most this many invoices per billing-run chunk, so a contract far
    /// behind (years of weekly periods) never makes one huge transaction.
    #[arg(long, env = "BILLRUN_RUN_CHUNK_INVOICES", default_value_t = 5_000)]
    pub run_chunk_invoices: usize,
    /// How long a run's lease holds without renewal, in seconds. A run left
    /// by a crash is taken over within about 1⅓ of this, by the restarted
    /// server or another replica; each chunk must finish within it.
    #[arg(long, env = "BILLRUN_LEASE_SECS", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub lease_secs: u64,
    /// An as-of date more than this many days after today (in the legal
    /// entity's timezone) is refused: a run cannot be undone.
    #[arg(long, env = "BILLRUN_MAX_BILLING_LEAD_DAYS", default_value_t = 31, value_parser = clap::value_parser!(i64).range(0..=3660))]
    pub max_billing_lead_days: i64,
    /// An idempotency key whose request never finished (a crash, or a
    /// request cut at its timeout) is taken over by a retry after this
    /// many seconds; keep it above the request timeout.
    #[arg(long, env = "BILLRUN_IDEMPOTENCY_PENDING_SECS", default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub idempotency_pending_secs: u64,
    /// How often the scheduler looks for due jobs, in seconds (0: off).
    #[arg(long, env = "BILLRUN_SCHEDULER_POLL_SECS", default_value_t = 15)]
    pub scheduler_poll_secs: u64,
    /// Worker threads serving WebSocket connections, apart from the ones
    /// that run billing and answer HTTP (0: one per core).
    #[arg(long, env = "BILLRUN_LIVE_THREADS", default_value_t = 0)]
    pub live_threads: usize,
    /// How far below the server's own priority (Unix nice steps, 0-19) the
    /// WebSocket threads run, so fanning updates out to many subscribers
    /// never slows a billing run down (0: same priority).
    #[arg(long, env = "BILLRUN_LIVE_NICE", default_value_t = 10, value_parser = clap::value_parser!(i32).range(0..=19))]
    pub live_nice: i32,
    /// CPUs reserved for WebSocket threads, e.g. `3` or `2-3` (Linux). The
    /// rest of the server is pinned to the other CPUs, so fanning updates
    /// out never shares a core with a billing run. Unset: no pinning.
    #[arg(long, env = "BILLRUN_LIVE_CPUS", value_parser = parse_cpus)]
    pub live_cpus: Option<CpuList>,
    /// Seed the demo data when the database is empty.
    #[arg(long, env = "BILLRUN_DEMO", default_value_t = false)]
    pub demo: bool,
    /// Boxed: the knobs would otherwise make `Command::Serve` outweigh the
    /// other commands many times over.
    #[command(flatten)]
    pub webhooks: Box<WebhookArgs>,
}

fn duration(value: &str) -> Result<std::time::Duration, String> {
    crate::domain::webhook::parse_duration(value)
}

fn schedule(value: &str) -> Result<Schedule, String> {
    let steps = crate::domain::webhook::parse_schedule(value)?;
    Ok(Schedule(steps))
}

/// The delays between webhook attempts (`--webhook-retry-schedule`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule(pub Vec<std::time::Duration>);

/// Outbound webhooks (README, "Webhooks for partners").
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// Key that encrypts webhook secrets at rest (any string; 32+ random
    /// bytes recommended). Unset: derived from the JWT secret.
    #[arg(long, env = "BILLRUN_WEBHOOK_SECRET_KEY", hide_env_values = true)]
    pub webhook_secret_key: Option<String>,
    /// Hosts, addresses or CIDRs webhooks may reach although internal
    /// (loopback, private, ...) and over plain http, comma-separated.
    #[arg(long, env = "BILLRUN_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',')]
    pub webhook_allow_hosts: Vec<String>,
    /// Delays before each retry (±20 % jitter); after the last, FAILED.
    #[arg(long, env = "BILLRUN_WEBHOOK_RETRY_SCHEDULE", default_value = "5s,5m,30m,2h,5h,10h,10h", value_parser = schedule)]
    pub webhook_retry_schedule: Schedule,
    /// An endpoint failing without a success for this long is disabled.
    #[arg(long, env = "BILLRUN_WEBHOOK_DISABLE_AFTER", default_value = "5d", value_parser = duration)]
    pub webhook_disable_after: std::time::Duration,
    /// Attempt logs older than this are deleted.
    #[arg(long, env = "BILLRUN_WEBHOOK_ATTEMPT_RETENTION", default_value = "30d", value_parser = duration)]
    pub webhook_attempt_retention: std::time::Duration,
    /// One attempt (connect, send, read the answer) is cut off after this.
    #[arg(long, env = "BILLRUN_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = duration)]
    pub webhook_timeout: std::time::Duration,
    /// Attempts in flight at once per server process (each endpoint has
    /// at most one: deliveries go in position order).
    #[arg(long, env = "BILLRUN_WEBHOOK_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub webhook_concurrency: u32,
    /// How often the worker looks for new events and due retries.
    #[arg(long, env = "BILLRUN_WEBHOOK_POLL", default_value = "250ms", value_parser = duration)]
    pub webhook_poll: std::time::Duration,
    /// Deliver webhooks from this process (off: only the API serves).
    #[arg(long, env = "BILLRUN_WEBHOOK_WORKER", default_value_t = true, action = clap::ArgAction::Set)]
    pub webhook_worker: bool,
}

impl Default for WebhookArgs {
    fn default() -> Self {
        use std::time::Duration;
        let minutes = |m: u64| Duration::from_secs(60 * m);
        WebhookArgs {
            webhook_secret_key: None,
            webhook_allow_hosts: Vec::new(),
            webhook_retry_schedule: Schedule(vec![
                Duration::from_secs(5),
                minutes(5),
                minutes(30),
                minutes(120),
                minutes(300),
                minutes(600),
                minutes(600),
            ]),
            webhook_disable_after: minutes(5 * 24 * 60),
            webhook_attempt_retention: minutes(30 * 24 * 60),
            webhook_timeout: Duration::from_secs(10),
            webhook_concurrency: 16,
            webhook_poll: Duration::from_millis(250),
            webhook_worker: true,
        }
    }
}

/// A set of CPU numbers (`--live-cpus`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuList(pub Vec<usize>);

fn parse_cpus(list: &str) -> Result<CpuList, String> {
    crate::http::live::parse_cpu_list(list).map(CpuList)
}

/// `iss` and `aud`: when set, tokens must carry exactly these.
#[derive(Debug, Clone, Default, Args)]
pub struct ClaimArgs {
    #[arg(long, env = "BILLRUN_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,
    #[arg(long, env = "BILLRUN_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// The CSV file (a header row, one row per contract line).
    pub file: std::path::PathBuf,
    /// Legal entity code the contracts belong to (e.g. ARF).
    #[arg(long)]
    pub legal_entity: String,
}

#[derive(Debug, Clone, Args)]
pub struct RunBillingArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// Legal entity code (e.g. ARF).
    #[arg(long)]
    pub legal_entity: String,
    /// Bill everything due on or before this date (default: today in the
    /// entity's timezone).
    #[arg(long)]
    pub as_of: Option<chrono::NaiveDate>,
    /// Compute and print what would be invoiced; write nothing.
    #[arg(long, default_value_t = false)]
    pub dry_run: bool,
}

#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub db: DbArgs,
    /// HS256 secret (defaults to the one `serve` created beside a SQLite file).
    #[arg(long, env = "BILLRUN_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    #[command(flatten)]
    pub claims: ClaimArgs,
    /// ADMIN, ACCOUNTANT or PARTNER.
    #[arg(long, default_value = "ADMIN")]
    pub role: String,
    /// Token subject (user id or partner client id).
    #[arg(long, default_value = "dev-admin")]
    pub sub: String,
    /// Scopes, comma-separated (e.g. billing:read,ar:read).
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Legal entity ids, comma-separated, or * for all.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub legal_entities: Vec<String>,
    /// Lifetime: seconds, or a number with s, m, h or d.
    #[arg(long, default_value = "24h")]
    pub ttl: String,
}
