//! Building and running the server. `main` and the tests go through the
//! same [`Application::build`]; only the configuration differs.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{self, JwtKeys};
use crate::config::ServeArgs;
use crate::http::live::LiveRuntime;
use crate::http::{self, AppState, HttpLimits};
use crate::service::Ctx;
use crate::{db, demo, graphql};

pub struct Application {
    listener: TcpListener,
    router: axum::Router,
    /// The metrics listener and its router, unless `--metrics-bind` is empty.
    metrics: Option<(TcpListener, axum::Router)>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    live: LiveRuntime,
    /// Background billing runs, waited for at shutdown so they release
    /// their leases.
    runs: tokio_util::task::TaskTracker,
    lease: Duration,
}

/// The signing keys and whether they are the development secret.
pub fn resolve_keys(
    jwt_secret: Option<&str>,
    database_url: &str,
    public_keys: &[String],
    jwks: Option<&std::path::Path>,
    claims: &crate::config::ClaimArgs,
) -> anyhow::Result<(JwtKeys, bool)> {
    let configured_public = !public_keys.iter().all(|k| k.trim().is_empty()) || jwks.is_some();
    let (mut keys, dev) = match jwt_secret.filter(|s| !s.is_empty()) {
        Some(secret) => (JwtKeys::hs256(secret.as_bytes())?, false),
        None if configured_public => (JwtKeys::public_only(), false),
        None if !db::is_sqlite(database_url) => {
            anyhow::bail!(
                "PostgreSQL needs a configured key: BILLRUN_JWT_SECRET (32+ bytes) or public keys"
            )
        }
        None => {
            let secret = match db::sqlite_file(database_url) {
                Some(file) => auth::load_or_create_secret(&auth::secret_file(&file))?,
                None => {
                    // An in-memory database: the secret lives as long as the process.
                    use rand::RngCore;
                    let mut bytes = [0u8; 32];
                    rand::thread_rng().fill_bytes(&mut bytes);
                    hex::encode(bytes)
                }
            };
            (JwtKeys::hs256(secret.as_bytes())?, true)
        }
    };
    for spec in public_keys.iter().filter(|k| !k.trim().is_empty()) {
        let (kid, alg, key) = auth::parse_public_key(spec.trim())?;
        keys = keys.with_public_key(kid, alg, key);
    }
    if let Some(path) = jwks {
        for (kid, alg, key) in auth::parse_jwks(path)? {
            keys = keys.with_public_key(kid, alg, key);
        }
    }
    Ok((
        keys.with_issuer_audience(claims.jwt_issuer.clone(), claims.jwt_audience.clone()),
        dev,
    ))
}

pub fn admin_token(
    keys: &JwtKeys,
    ttl_secs: i64,
    claims: &crate::config::ClaimArgs,
) -> anyhow::Result<String> {
    keys.mint(&auth::Claims {
        sub: "dev-admin".into(),
        exp: chrono::Utc::now().timestamp() + ttl_secs,
        nbf: None,
        role: "ADMIN".into(),
        scopes: crate::domain::access::Scope::ALL
            .iter()
            .map(|s| s.as_str().to_string())
            .collect(),
        legal_entities: vec!["*".into()],
        iss: claims.jwt_issuer.clone(),
        aud: claims.jwt_audience.clone(),
    })
}

impl Application {
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let (keys, dev_secret) = resolve_keys(
            args.jwt_secret.as_deref(),
            &args.db.database_url,
            &args.jwt_public_keys,
            args.jwt_jwks_file.as_deref(),
            &args.claims,
        )?;
        // Before the pool opens: pinning applies to threads started later.
        let live = LiveRuntime::start(
            args.live_threads,
            args.live_nice,
            args.live_cpus.as_ref().map(|c| c.0.as_slice()),
        )
        .context("Failed to start the live runtime")?;
        let mut ctx = service_context(open_database(&args).await?, &args);
        ctx.webhooks = std::sync::Arc::new(webhook_settings(&args)?);
        prepare_data(&ctx, args.demo).await?;
        if dev_secret {
            print_dev_token(&keys, &args.claims)?;
        }
        let listener = TcpListener::bind(&args.bind)
            .await
            .with_context(|| format!("Failed to bind {}", args.bind))?;
        let addr = listener
            .local_addr()
            .context("Failed to read the bound address")?;
        let router = router(&args, ctx.clone(), keys, &live);
        let metrics = metrics_listener(&args.metrics_bind).await?;
        start_background_tasks(&ctx, &args, &live);
        if metrics.is_some() {
            tokio::spawn(http::metrics::upkeep(
                ctx.db.clone(),
                Duration::from_secs(15),
                ctx.shutdown.clone(),
            ));
        }
        Ok(Application {
            listener,
            router,
            metrics,
            addr,
            shutdown: ctx.shutdown.clone(),
            live,
            runs: ctx.tasks.clone(),
            lease: Duration::from_secs(args.lease_secs),
        })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The metrics listener's port, when metrics are on.
    pub fn metrics_port(&self) -> Option<u16> {
        let (listener, _) = self.metrics.as_ref()?;
        listener.local_addr().ok().map(|a| a.port())
    }

    /// Cancelling this token stops the server as SIGTERM would.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        tracing::info!(addr = %self.addr, "billrun listening");
        let token = self.shutdown.clone();
        if let Some((listener, router)) = self.metrics {
            let stop = token.clone();
            tokio::spawn(async move {
                let served = axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await;
                if let Err(err) = served {
                    tracing::error!(error = %err, "the metrics listener stopped");
                }
            });
        }
        let live = self.live;
        let served = axum::serve(self.listener, self.router)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = token.cancelled() => {}
                    _ = shutdown_signal() => {}
                }
                // Stops the scheduler poller too.
                token.cancel();
                tracing::info!("shutting down");
            })
            .await
            .context("Server error");
        // Runs stop after their current chunk and release their leases, so
        // another replica (or the next start) takes over at once.
        self.runs.close();
        if tokio::time::timeout(self.lease, self.runs.wait())
            .await
            .is_err()
        {
            tracing::warn!("billing runs still busy at shutdown; their leases lapse by themselves");
        }
        // Subscriptions end on shutdown and send `complete`; let them.
        live.drain(Duration::from_secs(2)).await;
        served
    }
}

/// Connects and migrates; with `--live-cpus`, opens the SQLite pool from
/// this (the billing) side first.
async fn open_database(args: &ServeArgs) -> anyhow::Result<DatabaseConnection> {
    let conn = db::connect(&args.db).await?;
    if args.live_cpus.is_some() {
        db::tuning::open_sqlite_pool(&conn, args.db.db_pool_size).await?;
    }
    db::migrate(&conn).await?;
    Ok(conn)
}

/// The services' context with the configured run sizes and lifetimes.
fn service_context(conn: DatabaseConnection, args: &ServeArgs) -> Ctx {
    let mut ctx = Ctx::new(conn);
    ctx.chunk_size = args.run_chunk_size.clamp(1, 10_000);
    ctx.chunk_invoices = args.run_chunk_invoices.clamp(1, 1_000_000);
    ctx.lease_ms = i64::try_from(args.lease_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
    ctx.max_lead_days = args.max_billing_lead_days;
    let pending = i64::try_from(args.idempotency_pending_secs).unwrap_or(86_400);
    ctx.pending_key_ttl = chrono::Duration::seconds(pending);
    ctx
}

/// Webhook settings; the key that seals secrets at rest is
/// `--webhook-secret-key`, else the JWT secret (each through its own
/// derivation), else on SQLite a random key kept beside the database file
/// (none on PostgreSQL: webhooks are then refused, see `SecretCipher`).
fn webhook_settings(args: &ServeArgs) -> anyhow::Result<crate::service::webhooks::Settings> {
    use crate::service::webhooks::{SecretCipher, Settings};
    let hooks = &args.webhooks;
    let configured = hooks
        .webhook_secret_key
        .as_deref()
        .or(args.jwt_secret.as_deref())
        .filter(|k| !k.is_empty());
    let cipher = match configured {
        Some(key) => SecretCipher::from_passphrase(key),
        None => match db::sqlite_file(&args.db.database_url) {
            Some(file) => {
                let path = file.with_extension("webhook-key");
                SecretCipher::from_passphrase(&auth::load_or_create_secret(&path)?)
            }
            None if db::is_sqlite(&args.db.database_url) => SecretCipher::random(),
            None => {
                tracing::warn!(
                    "no BILLRUN_WEBHOOK_SECRET_KEY or BILLRUN_JWT_SECRET: webhooks cannot be created or sent"
                );
                SecretCipher::unconfigured()
            }
        },
    };
    let allow = crate::domain::webhook::address::AllowList::parse(&hooks.webhook_allow_hosts)
        .map_err(anyhow::Error::msg)?;
    Ok(Settings::from_args(hooks, cipher, allow))
}

/// Before serving: the demo data if asked for, and the billing runs a
/// previous process left unfinished taken up again.
async fn prepare_data(ctx: &Ctx, demo: bool) -> anyhow::Result<()> {
    if demo {
        demo::seed_if_empty(ctx).await?;
    }
    let resumed = crate::service::billing::resume_orphans(ctx)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to resume unfinished runs: {e:?}"))?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed unfinished billing runs");
    }
    Ok(())
}

/// With the development secret: an admin token for GraphiQL.
fn print_dev_token(keys: &JwtKeys, claims: &crate::config::ClaimArgs) -> anyhow::Result<()> {
    let token = admin_token(keys, 7 * 86_400, claims)?;
    // Printed for the developer, never logged: logs are shipped and kept.
    println!("\nPaste into GraphiQL's headers: {{\"Authorization\": \"Bearer {token}\"}}\n");
    Ok(())
}

/// The HTTP and WebSocket routes with the configured limits.
/// Binds `--metrics-bind` (none when empty) and installs the recorder.
async fn metrics_listener(bind: &str) -> anyhow::Result<Option<(TcpListener, axum::Router)>> {
    if bind.trim().is_empty() {
        return Ok(None);
    }
    let handle = http::metrics::handle()?;
    let listener = TcpListener::bind(bind).await.with_context(|| {
        format!("Failed to bind the metrics listener {bind} (set --metrics-bind to another address, or to \"\" to turn metrics off)")
    })?;
    Ok(Some((listener, http::metrics::router(handle))))
}

fn router(args: &ServeArgs, ctx: Ctx, keys: JwtKeys, live: &LiveRuntime) -> axum::Router {
    let state = AppState {
        live: live.live(),
        schema: graphql::build_schema(Some(ctx.clone())),
        ctx,
        keys,
        limiter: http::limiter(args.rate_limit_per_minute),
        introspection: args.introspection,
        ws_origins: std::sync::Arc::new(args.cors_origins.clone()),
    };
    let limits = HttpLimits {
        body_limit_bytes: args.body_limit_bytes,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        cors_origins: args.cors_origins.clone(),
    };
    http::router(state, &limits)
}

/// What runs beside the server until shutdown: the event feed, the resumer
/// of runs whose lease lapsed, and the scheduler's poller.
fn start_background_tasks(ctx: &Ctx, args: &ServeArgs, live: &LiveRuntime) {
    let shutdown = ctx.shutdown.clone();
    crate::events::start(
        ctx.db.clone(),
        ctx.bus.clone(),
        shutdown.clone(),
        live.live().handle(),
    );
    tokio::spawn(crate::service::billing::run_resumer(
        ctx.clone(),
        crate::service::billing::resume_every(ctx.lease_ms),
        shutdown.clone(),
    ));
    if args.webhooks.webhook_worker {
        tokio::spawn(crate::service::webhooks::worker::run(
            ctx.clone(),
            shutdown.clone(),
        ));
    }
    if args.scheduler_poll_secs > 0 {
        tokio::spawn(crate::service::scheduler::run_poller(
            ctx.clone(),
            Duration::from_secs(args.scheduler_poll_secs),
            shutdown,
        ));
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}
