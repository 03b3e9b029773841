//! What the services count for the metrics (`http::metrics` exports them):
//! recorded through the `metrics` facade, so a service never depends on the
//! HTTP layer, and without a recorder installed they cost nothing.

use std::time::Duration;

/// One webhook attempt: `success` (2xx), `http_error` (another status) or
/// `error` (no answer: refused, timeout, connection).
pub fn webhook_attempt(status: Option<u16>) {
    let outcome = match status {
        Some(s) if (200..300).contains(&s) => "success",
        Some(_) => "http_error",
        None => "error",
    };
    metrics::counter!("billrun_webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// A finished billing run.
pub fn run_finished(status: &str, invoices: i32, took: Duration) {
    metrics::counter!("billrun_billing_runs_total", "status" => status.to_string()).increment(1);
    metrics::counter!("billrun_invoices_created_total")
        .increment(u64::try_from(invoices).unwrap_or(0));
    metrics::histogram!("billrun_billing_run_duration_seconds").record(took.as_secs_f64());
}
