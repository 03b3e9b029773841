//! The `billrun` command line.

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::app::{self, Application};
use crate::auth::{self, Claims};
use crate::config::{Cli, Command, LogFormat};
use crate::domain::access::{Role, Scope};
use crate::service::Ctx;
use crate::{db, demo, graphql, otlp};

pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.serve).await,
        Some(Command::Serve(args)) => serve(args).await,
        Some(Command::Migrate(args)) => {
            init_logs(LogFormat::Text);
            let conn = db::connect(&args).await?;
            db::migrate(&conn).await?;
            println!("migrations applied");
            Ok(())
        }
        Some(Command::SeedDemo(args)) => {
            init_logs(LogFormat::Text);
            let conn = db::connect(&args).await?;
            db::migrate(&conn).await?;
            let seeded = demo::seed_if_empty(&Ctx::new(conn)).await?;
            println!(
                "{}",
                if seeded {
                    "demo data loaded"
                } else {
                    "database not empty: nothing loaded"
                }
            );
            Ok(())
        }
        Some(Command::RunBilling(args)) => {
            init_logs(LogFormat::Text);
            run_billing(args).await
        }
        Some(Command::ImportContracts(args)) => {
            init_logs(LogFormat::Text);
            let conn = db::connect(&args.db).await?;
            db::migrate(&conn).await?;
            let ctx = Ctx::new(conn);
            let mut progress = std::io::stderr();
            let path = args.file.as_path();
            let done =
                crate::import::import_contracts(&ctx, &args.legal_entity, path, &mut progress)
                    .await?;
            println!(
                "imported {} contracts with {} lines",
                done.contracts, done.lines
            );
            Ok(())
        }
        Some(Command::Token(args)) => mint_token(args),
        Some(Command::Schema) => {
            print!("{}", graphql::sdl());
            Ok(())
        }
    }
}

/// `billrun token`: a signed token for local use and scripts.
fn mint_token(args: crate::config::TokenArgs) -> anyhow::Result<()> {
    let role: Role = args.role.parse().map_err(anyhow::Error::msg)?;
    for scope in &args.scopes {
        scope.parse::<Scope>().map_err(anyhow::Error::msg)?;
    }
    let (keys, _) = app::resolve_keys(
        args.jwt_secret.as_deref(),
        &args.db.database_url,
        &[],
        None,
        &args.claims,
    )?;
    let scopes = if args.scopes.is_empty() && role == Role::Admin {
        Scope::ALL.iter().map(|s| s.as_str().to_string()).collect()
    } else {
        args.scopes.clone()
    };
    let ttl = auth::parse_ttl(&args.ttl)?;
    let token = keys.mint(&Claims {
        sub: args.sub.clone(),
        exp: chrono::Utc::now().timestamp() + ttl,
        nbf: None,
        role: role.to_string(),
        scopes,
        legal_entities: args.legal_entities.clone(),
        iss: args.claims.jwt_issuer.clone(),
        aud: args.claims.jwt_audience.clone(),
    })?;
    println!("{token}");
    Ok(())
}

/// The same service path as `triggerBillingRun(wait: true)`.
async fn run_billing(args: crate::config::RunBillingArgs) -> anyhow::Result<()> {
    use crate::service::billing::{self, TriggerInput, TriggerSource};
    let conn = db::connect(&args.db).await?;
    db::migrate(&conn).await?;
    let ctx = Ctx::new(conn);
    let actor = format!(
        "cli:{}",
        std::env::var("USER").unwrap_or_else(|_| "shell".into())
    );
    let system = crate::domain::access::Principal::system(actor);
    let entity = crate::store::legal_entity::list(&ctx.db, &system)
        .await?
        .into_iter()
        .find(|e| e.code == args.legal_entity)
        .with_context(|| format!("no legal entity with code {:?}", args.legal_entity))?;
    let input = TriggerInput {
        legal_entity_id: Some(entity.id),
        as_of: args.as_of,
        dry_run: args.dry_run,
        wait: true,
    };
    let outcome = billing::trigger(&ctx, &system, input, TriggerSource::Manual)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let minor = crate::domain::currency::minor_units_of(&entity.currency);
    for run in outcome.runs {
        let total =
            crate::domain::amount::Amount::from_e4(run.invoice_total_e4).at_minor_units(minor);
        let period = |d: Option<chrono::NaiveDate>| {
            d.map_or_else(|| run.as_of.to_string(), |d| d.to_string())
        };
        println!(
            "{} {}{}: {} (as of {})\n  period    {} .. {}\n  contracts {} due, {} processed, {} skipped\n  invoices  {}, total {} {}\n  duration  {} ms{}",
            run.run_number,
            entity.code,
            if run.dry_run { " (dry run)" } else { "" },
            run.status,
            run.as_of,
            period(run.period_start),
            period(run.period_end),
            run.contract_count,
            run.processed_count,
            run.skipped_count,
            run.invoice_count,
            total,
            entity.currency,
            run.duration_ms.unwrap_or(0),
            run.error.map(|e| format!("\n  error     {e}")).unwrap_or_default(),
        );
    }
    Ok(())
}

async fn serve(args: crate::config::ServeArgs) -> anyhow::Result<()> {
    let exporter = otlp::start(&args.otlp_endpoint)?;
    init_logs_with(args.log_format, exporter.as_ref());
    let app = Application::build(args)
        .await
        .context("Failed to start billrun")?;
    let stopped = app.run_until_stopped().await;
    if let Some(exporter) = exporter {
        // Sends what is still batched; the SDK blocks while it does.
        let _ = tokio::task::spawn_blocking(move || exporter.shutdown()).await;
    }
    stopped
}

fn init_logs(format: LogFormat) {
    init_logs_with(format, None);
}

/// Log lines to stdout, and spans to OTLP when an exporter runs.
fn init_logs_with(format: LogFormat, exporter: Option<&otlp::Exporter>) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(otlp::layer(exporter));
    let _ = match format {
        LogFormat::Text => registry.with(tracing_subscriber::fmt::layer()).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json())
            .try_init(),
    };
}
