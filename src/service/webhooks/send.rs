//! One HTTP attempt: the signed request, and the guard that keeps it off
//! internal addresses. The guard sits inside the client (a DNS resolver
//! that drops refused addresses), so it judges the addresses actually
//! connected to, at delivery time, not the ones seen when the URL was
//! saved; literal addresses never reach a resolver and are checked with
//! the URL before each attempt. Redirects are not followed (a 3xx is a
//! failure) and the whole attempt has one timeout.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use entity::domain_event;
use entity::webhook_endpoint::Model as Endpoint;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde_json::json;
use url::Url;

use super::Settings;
use crate::domain::webhook::address::{address_allowed, check_url, AllowList, Target};
use crate::domain::webhook::{logged_body, signature_header, MAX_LOGGED_BODY};
use crate::domain::DomainError;

/// How long saving a URL waits for its name to resolve.
const SAVE_LOOKUP: Duration = Duration::from_secs(3);

/// A name's addresses that the allow-list lets through (all of them when
/// it names the host itself).
async fn allowed_addrs(
    host: &str,
    port: u16,
    allow: &AllowList,
) -> std::io::Result<Vec<SocketAddr>> {
    let named = allow.names_host(host);
    let addrs = tokio::net::lookup_host((host, port)).await?;
    Ok(addrs
        .filter(|a| named || address_allowed(a.ip(), allow))
        .collect())
}

struct Guard(AllowList);

impl Resolve for Guard {
    fn resolve(&self, name: Name) -> Resolving {
        let allow = self.0.clone();
        Box::pin(async move {
            let addrs = allowed_addrs(name.as_str(), 0, &allow).await?;
            if addrs.is_empty() {
                return Err(
                    format!("{} resolves only to internal addresses", name.as_str()).into(),
                );
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// When a URL is saved: a name that resolves to internal addresses only is
/// refused. One that does not resolve now is accepted; every delivery
/// checks again.
pub async fn check_resolved(
    url: &Url,
    target: &Target,
    allow: &AllowList,
) -> Result<(), DomainError> {
    let Target::Name(host) = target else {
        return Ok(());
    };
    let port = url.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout(SAVE_LOOKUP, tokio::net::lookup_host((host.as_str(), port))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<SocketAddr> = addrs.collect();
            if !allow.names_host(host) && addrs.iter().any(|a| !address_allowed(a.ip(), allow)) {
                return Err(DomainError::new("url", "resolves to an internal address"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// What one attempt saw.
#[derive(Debug, Default)]
pub struct Attempt {
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    pub body: Option<String>,
    pub error: Option<String>,
    pub duration_ms: i64,
    /// Refused before any request, for a reason a retry cannot change.
    pub refused: bool,
}

/// The shared client (connections are reused per host).
pub struct Sender {
    client: reqwest::Client,
    settings: Arc<Settings>,
}

/// The JSON body partners receive.
pub fn body(event: &domain_event::Model) -> Vec<u8> {
    let payload: serde_json::Value =
        serde_json::from_str(&event.payload).unwrap_or(serde_json::Value::Null);
    json!({
        "type": event.event_type,
        "timestamp": event.created_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": {
            "id": event.id.to_string(),
            "position": event.id,
            "legalEntityId": event.legal_entity_id.to_string(),
            "payload": payload,
        }
    })
    .to_string()
    .into_bytes()
}

impl Sender {
    pub fn new(settings: Arc<Settings>) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            .dns_resolver(Arc::new(Guard(settings.allow.clone())))
            .pool_max_idle_per_host(2)
            .user_agent(concat!("billrun-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { client, settings })
    }

    /// Sends `event` to `endpoint`, signed with `secrets` (the current one
    /// first); never fails, every failure is in the result.
    pub async fn attempt(
        &self,
        endpoint: &Endpoint,
        event: &domain_event::Model,
        secrets: &[Vec<u8>],
    ) -> Attempt {
        let started = Instant::now();
        let mut attempt = match check_url(&endpoint.url, &self.settings.allow) {
            Err(refused) => Attempt {
                error: Some(format!("refused: the URL {}", refused.message)),
                ..Default::default()
            },
            Ok((url, _)) => self.post(url, event, secrets).await,
        };
        attempt.duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        crate::telemetry::webhook_attempt(attempt.status);
        attempt
    }

    async fn post(&self, url: Url, event: &domain_event::Model, secrets: &[Vec<u8>]) -> Attempt {
        let id = event.id.to_string();
        let timestamp = chrono::Utc::now().timestamp();
        let body = body(event);
        let signature = signature_header(secrets, &id, timestamp, &body);
        let sent = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("webhook-id", &id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body)
            .send()
            .await;
        match sent {
            Ok(response) => answered(response, self.settings.timeout).await,
            Err(err) => Attempt {
                error: Some(describe(err, self.settings.timeout)),
                ..Default::default()
            },
        }
    }
}

/// Status, Retry-After and the first 2 KiB of the body.
async fn answered(mut response: reqwest::Response, timeout: Duration) -> Attempt {
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut body = Vec::new();
    let mut error = None;
    while body.len() < MAX_LOGGED_BODY {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(err) => {
                error = Some(describe(err, timeout));
                break;
            }
        }
    }
    Attempt {
        status: Some(status),
        retry_after,
        body: Some(logged_body(&body)),
        error,
        ..Default::default()
    }
}

/// The error with its causes (the URL is the endpoint's own, left out).
fn describe(err: reqwest::Error, timeout: Duration) -> String {
    use std::error::Error;
    if err.is_timeout() {
        return format!("timed out after {} ms", timeout.as_millis());
    }
    let err = err.without_url();
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn allow(entries: &[&str]) -> AllowList {
        AllowList::parse(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
            .expect("allow-list")
    }

    /// The resolver is the delivery-time guard: a name that resolves to
    /// loopback (here `localhost`, from /etc/hosts) yields no address to
    /// connect to unless the allow-list names the address or the host.
    #[tokio::test]
    async fn the_client_s_resolver_drops_internal_addresses_unless_allowed() {
        let name = || Name::from_str("localhost").expect("a name");
        let refused = Guard(AllowList::default()).resolve(name()).await;
        assert!(refused.is_err(), "localhost resolves to loopback only");
        let by_address = Guard(allow(&["127.0.0.1", "::1"])).resolve(name()).await;
        assert!(by_address.is_ok_and(|mut a| a.next().is_some()));
        let by_name = Guard(allow(&["localhost"])).resolve(name()).await;
        assert!(by_name.is_ok_and(|mut a| a.next().is_some()));
    }
}
