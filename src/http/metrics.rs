//! Prometheus metrics (DESIGN.md, Operations): recorded through the
//! `metrics` facade, rendered by `metrics-exporter-prometheus` at GET
//! /metrics on a listener of its own (`--metrics-bind`, loopback by
//! default), never on the public one.
//!
//! | metric | labels |
//! |---|---|
//! | `billrun_http_requests_total` | `route`, `status` |
//! | `billrun_http_request_duration_seconds` (histogram) | `route` |
//! | `billrun_graphql_operations_total` | `operation`, `outcome` |
//! | `billrun_billing_runs_total` | `status` |
//! | `billrun_invoices_created_total` | |
//! | `billrun_billing_run_duration_seconds` (histogram) | |
//! | `billrun_db_pool_connections` | `state` (`idle`, `in_use`) |
//! | `billrun_outbox_backlog` | events not yet fanned out to webhooks |
//! | `billrun_webhook_backlog` | open (pending or retrying) deliveries |
//! | `billrun_webhook_oldest_pending_seconds` | age of the oldest open delivery |
//! | `billrun_webhook_attempts_total` | `outcome` (`success`, `http_error`, `error`) |
//!
//! /health, /ready and /metrics are not counted.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{ServerError, ServerResult, ValidationResult, Variables};
use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use sea_orm::DatabaseConnection;

const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// The process-wide recorder, installed once (tests start many servers in
/// one process; they share it).
pub fn handle() -> anyhow::Result<PrometheusHandle> {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    if let Some(handle) = HANDLE.get() {
        return Ok(handle.clone());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets(DURATION_BUCKETS)?
        .build_recorder();
    let handle = recorder.handle();
    // A second caller racing here loses the install and uses the winner's.
    if metrics::set_global_recorder(recorder).is_ok() {
        let _ = HANDLE.set(handle);
    }
    HANDLE
        .get()
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("another metrics recorder is installed"))
}

/// The router serving GET /metrics.
pub fn router(handle: PrometheusHandle) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let handle = handle.clone();
            async move {
                handle.run_upkeep();
                handle.render()
            }
        }),
    )
}

/// Middleware counting requests by matched route and status.
pub async fn track(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    if matches!(route.as_str(), "/health" | "/ready" | "/metrics") {
        return next.run(request).await;
    }
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("billrun_http_requests_total", "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("billrun_http_request_duration_seconds", "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// An operation name as a label: a GraphQL name of at most 64 characters,
/// else `other` (a label must not carry arbitrary client text).
fn operation_label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".into(),
        Some(n)
            if n.len() <= 64
                && n.chars().enumerate().all(|(i, c)| {
                    c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
                }) =>
        {
            n.into()
        }
        Some(_) => "other".into(),
    }
}

fn operation(name: String, outcome: &'static str) {
    metrics::counter!("billrun_graphql_operations_total", "operation" => name, "outcome" => outcome)
        .increment(1);
}

/// Counts GraphQL operations by name and outcome (`ok`, `error`, and the
/// documents that never ran: `parse_error`, `invalid`).
pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetrics)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationMetrics {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let parsed = next.run(ctx, query, variables).await;
        if parsed.is_err() {
            operation("unparsed".into(), "parse_error");
        }
        parsed
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let validated = next.run(ctx).await;
        if validated.is_err() {
            operation("invalid".into(), "invalid");
        }
        validated
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let response = next.run(ctx, operation_name).await;
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        operation(operation_label(operation_name), outcome);
        response
    }
}

/// Gauges read every `every` until `stop`: pool connections by state, and
/// the webhook queue.
pub async fn upkeep(
    db: DatabaseConnection,
    every: Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    loop {
        let (size, idle) = pool_use(&db);
        metrics::gauge!("billrun_db_pool_connections", "state" => "idle").set(f64::from(idle));
        metrics::gauge!("billrun_db_pool_connections", "state" => "in_use")
            .set(f64::from(size.saturating_sub(idle)));
        match crate::store::webhook_delivery::backlog(&db).await {
            Ok((outbox, open, oldest)) => {
                metrics::gauge!("billrun_outbox_backlog").set(outbox as f64);
                metrics::gauge!("billrun_webhook_backlog").set(open as f64);
                let age = oldest.map_or(0.0, |t| {
                    (chrono::Utc::now() - t).num_milliseconds().max(0) as f64 / 1000.0
                });
                metrics::gauge!("billrun_webhook_oldest_pending_seconds").set(age);
            }
            Err(err) => tracing::debug!(error = %err, "webhook backlog not read"),
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}

fn pool_use(db: &DatabaseConnection) -> (u32, u32) {
    match db.get_database_backend() {
        sea_orm::DbBackend::Postgres => {
            let pool = db.get_postgres_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        }
        _ => {
            let pool = db.get_sqlite_connection_pool();
            (
                pool.size(),
                u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::operation_label;

    #[test]
    fn only_graphql_names_become_labels() {
        assert_eq!(operation_label(Some("Invoices_2")), "Invoices_2");
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("2fast")), "other");
        assert_eq!(operation_label(Some("a b\"}")), "other");
        assert_eq!(operation_label(Some(&"x".repeat(65))), "other");
    }
}
