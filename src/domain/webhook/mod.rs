//! Webhook rules that need no I/O (DESIGN.md, Webhooks): the `whsec_`
//! secret and its Standard Webhooks signature, which events an endpoint
//! receives, what an HTTP answer means, and when to try again. Where a
//! webhook may be sent lives in [`address`].

pub mod address;

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::access::{Principal, Scope};
use super::DomainError;

const SECRET_PREFIX: &str = "whsec_";
/// Response bodies are logged up to this many bytes.
pub const MAX_LOGGED_BODY: usize = 2048;
/// During this long after a rotation both secrets sign.
pub const ROTATION_OVERLAP: chrono::Duration = chrono::Duration::hours(24);
/// A Retry-After further out than this is capped to it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);
const MAX_EVENT_TYPES: usize = 50;

/// `whsec_` + base64 of the secret's bytes, as partners configure it.
pub fn format_secret(bytes: &[u8; 32]) -> String {
    format!("{SECRET_PREFIX}{}", B64.encode(bytes))
}

/// The bytes a `whsec_` secret stands for (what the HMAC is keyed with).
pub fn secret_bytes(secret: &str) -> Option<Vec<u8>> {
    B64.decode(secret.strip_prefix(SECRET_PREFIX)?).ok()
}

/// `v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks).
pub fn sign(secret: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length; the error cannot happen.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return String::new();
    };
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!("v1,{}", B64.encode(mac.finalize().into_bytes()))
}

/// The `webhook-signature` header: one signature per secret in use,
/// space-separated (the new one first during a rotation).
pub fn signature_header(secrets: &[Vec<u8>], id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| sign(s, id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the previous secret still signs `at`.
pub fn previous_still_signs(rotated_at: Option<DateTime<Utc>>, at: DateTime<Utc>) -> bool {
    rotated_at.is_some_and(|r| at < r + ROTATION_OVERLAP)
}

/// What an endpoint asked for: one legal entity or all, some types or all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub legal_entity_id: Option<i64>,
    /// Empty: every event type.
    pub event_types: Vec<String>,
}

/// Whether an event goes to an endpoint: its owner could read it (the
/// `events:read` scope and its legal entity) and the endpoint asked for it.
pub fn receives(owner: &Principal, filter: &EventFilter, event_type: &str, entity: i64) -> bool {
    owner.has_scope(Scope::EventsRead)
        && owner.can_see(entity)
        && filter.legal_entity_id.is_none_or(|id| id == entity)
        && (filter.event_types.is_empty() || filter.event_types.iter().any(|t| t == event_type))
}

/// Event type names as the outbox spells them (`invoice.delivery_requested`).
pub fn event_types(types: Vec<String>) -> Result<Vec<String>, DomainError> {
    if types.len() > MAX_EVENT_TYPES {
        return Err(DomainError::new(
            "eventTypes",
            format!("at most {MAX_EVENT_TYPES} types"),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(types.len());
    for t in types {
        let t = t.trim().to_string();
        let ok = (1..=100).contains(&t.len())
            && t.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c));
        if !ok {
            return Err(DomainError::new(
                "eventTypes",
                format!("{t:?} is not an event type name"),
            ));
        }
        if !clean.contains(&t) {
            clean.push(t);
        }
    }
    Ok(clean)
}

/// What one attempt's answer means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Succeeded,
    /// 410 Gone: the endpoint asks never to be called again.
    Gone,
    /// Any other answer, a timeout or a connection error; `after` when the
    /// endpoint said when (429 or 503 with Retry-After).
    Failed {
        after: Option<Duration>,
    },
}

/// Only a 2xx succeeds; redirects are failures (they are not followed).
pub fn verdict(status: Option<u16>, retry_after: Option<&str>, now: DateTime<Utc>) -> Verdict {
    match status {
        Some(s) if (200..300).contains(&s) => Verdict::Succeeded,
        Some(410) => Verdict::Gone,
        Some(429 | 503) => Verdict::Failed {
            after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => Verdict::Failed { after: None },
    }
}

/// Retry-After as delay seconds or an HTTP date, capped at a day.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    let delay = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&Utc) - now).to_std().unwrap_or_default()
        }
    };
    Some(delay.min(MAX_RETRY_AFTER))
}

/// After `attempts` failed attempts: the delay before the next one, or
/// `None` when the schedule is used up (the delivery is FAILED). `jitter`
/// in [-1, 1] spreads the delay by ±20 % so endpoints that failed
/// together are not retried together; a Retry-After is taken as given.
pub fn next_delay(
    schedule: &[Duration],
    attempts: usize,
    retry_after: Option<Duration>,
    jitter: f64,
) -> Option<Duration> {
    let planned = *schedule.get(attempts.checked_sub(1)?)?;
    Some(retry_after.unwrap_or_else(|| planned.mul_f64(1.0 + 0.2 * jitter.clamp(-1.0, 1.0))))
}

/// `100ms`, `5s`, `5m`, `2h`, `5d`.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("bad duration {value:?}"))?;
    let ms = match unit {
        "ms" => 1,
        "s" | "" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(format!("bad unit in {value:?}: use ms, s, m, h or d")),
    };
    n.checked_mul(ms)
        .map(Duration::from_millis)
        .ok_or_else(|| format!("duration {value:?} is too long"))
}

/// A comma-separated retry schedule (`5s,5m,30m,2h,5h,10h,10h`).
pub fn parse_schedule(value: &str) -> Result<Vec<Duration>, String> {
    value
        .split(',')
        .filter(|p| !p.trim().is_empty())
        .map(parse_duration)
        .collect()
}

/// A response body as logged: at most 2 KiB, cut on a character boundary.
pub fn logged_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(MAX_LOGGED_BODY)]).into_owned();
    let mut end = text.len().min(MAX_LOGGED_BODY);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_string()
}

#[cfg(test)]
mod tests;
