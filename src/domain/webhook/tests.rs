use super::*;
use crate::domain::access::{EntityAccess, Role};

fn partner(scopes: Vec<Scope>, entities: Vec<i64>) -> Principal {
    Principal {
        subject: "p".into(),
        role: Role::Partner,
        scopes,
        entities: EntityAccess::Only(entities),
        expires_at: None,
    }
}

#[test]
fn the_signature_is_standard_webhooks_over_id_timestamp_body() {
    // The Standard Webhooks specification's own example.
    let secret = secret_bytes("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").expect("secret");
    let body = br#"{"test": 2432232314}"#;
    assert_eq!(
        sign(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
    let both = signature_header(&[secret.clone(), vec![1, 2, 3]], "id", 1, b"{}");
    assert_eq!(both.split(' ').count(), 2);
    assert!(both.starts_with(&sign(&secret, "id", 1, b"{}")));
}

#[test]
fn secrets_are_whsec_and_32_bytes_of_base64() {
    let s = format_secret(&[7u8; 32]);
    assert!(s.starts_with("whsec_"));
    assert_eq!(secret_bytes(&s), Some(vec![7u8; 32]));
    assert_eq!(secret_bytes("nope"), None);
}

#[test]
fn an_endpoint_receives_only_what_its_owner_could_read_and_asked_for() {
    let owner = partner(vec![Scope::EventsRead], vec![1]);
    let all = EventFilter::default();
    assert!(receives(&owner, &all, "a.b", 1));
    assert!(!receives(&owner, &all, "a.b", 2), "another legal entity");
    let no_scope = partner(vec![Scope::BillingRead], vec![1]);
    assert!(!receives(&no_scope, &all, "a.b", 1), "events:read needed");
    let typed = EventFilter {
        legal_entity_id: Some(1),
        event_types: vec!["x.y".into()],
    };
    assert!(receives(&owner, &typed, "x.y", 1));
    assert!(!receives(&owner, &typed, "a.b", 1));
}

#[test]
fn only_2xx_succeeds_410_is_gone_and_429_503_carry_retry_after() {
    let now = Utc::now();
    assert_eq!(verdict(Some(204), None, now), Verdict::Succeeded);
    assert_eq!(verdict(Some(410), None, now), Verdict::Gone);
    assert_eq!(
        verdict(Some(301), None, now),
        Verdict::Failed { after: None }
    );
    assert_eq!(verdict(None, None, now), Verdict::Failed { after: None });
    assert_eq!(
        verdict(Some(429), Some("7"), now),
        Verdict::Failed {
            after: Some(Duration::from_secs(7))
        }
    );
    assert_eq!(
        verdict(Some(500), Some("7"), now),
        Verdict::Failed { after: None },
        "Retry-After counts only on 429 and 503"
    );
    let date = (now + chrono::Duration::seconds(120)).to_rfc2822();
    let after = parse_retry_after(&date, now).expect("an HTTP date");
    assert!(after <= Duration::from_secs(120) && after >= Duration::from_secs(118));
    assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
}

#[test]
fn retries_follow_the_schedule_with_twenty_percent_jitter_then_stop() {
    let schedule = parse_schedule("5s,5m,30m,2h,5h,10h,10h").expect("schedule");
    assert_eq!(schedule.len(), 7);
    assert_eq!(
        next_delay(&schedule, 1, None, 0.0),
        Some(Duration::from_secs(5))
    );
    assert_eq!(
        next_delay(&schedule, 2, None, 1.0),
        Some(Duration::from_secs(360))
    );
    assert_eq!(
        next_delay(&schedule, 2, None, -1.0),
        Some(Duration::from_secs(240))
    );
    assert_eq!(
        next_delay(&schedule, 1, Some(Duration::from_secs(60)), 1.0),
        Some(Duration::from_secs(60))
    );
    assert_eq!(next_delay(&schedule, 8, None, 0.0), None, "used up: FAILED");
    assert_eq!(parse_duration("100ms"), Ok(Duration::from_millis(100)));
    assert_eq!(parse_duration("5d"), Ok(Duration::from_secs(5 * 86_400)));
    assert!(parse_duration("5y").is_err() && parse_duration("").is_err());
}

#[test]
fn event_types_are_outbox_names_and_bodies_are_cut_at_2_kib() {
    assert_eq!(
        event_types(vec![" a.b ".into(), "a.b".into()]),
        Ok(vec!["a.b".to_string()])
    );
    assert_eq!(
        event_types(vec!["A B".into()]).map_err(|e| e.field),
        Err("eventTypes".into())
    );
    let long = "é".repeat(2000);
    let cut = logged_body(long.as_bytes());
    assert!(cut.len() <= MAX_LOGGED_BODY && cut.chars().all(|c| c == 'é' || c == '\u{FFFD}'));
    assert!(previous_still_signs(Some(Utc::now()), Utc::now()));
    assert!(!previous_still_signs(None, Utc::now()));
}
