//! Outbound webhooks (DESIGN.md, Webhooks): endpoints, the durable queue of
//! deliveries fed from the outbox, and the log of every attempt.
//!
//! - `webhook_endpoint` keeps its owner's access as it was at the owner's
//!   last change (role, scopes, legal entities), because deliveries are
//!   checked against it when they are sent, long after the token expired.
//!   Secrets are stored encrypted (`v1:` + base64 of nonce and ciphertext);
//!   `failing_since` is the first failure after the last success.
//! - `webhook_cursor` is one row: the outbox position up to which events
//!   have been fanned out into deliveries. The fan-out moves it with a
//!   compare-and-set in the transaction that inserts the deliveries.
//! - `webhook_delivery` is unique per (endpoint, event), so a fan-out
//!   repeated after a crash adds nothing. The partial index finds each
//!   endpoint's oldest unfinished delivery (the only one that may be sent:
//!   position order per endpoint). Times the worker compares are ms on the
//!   database's clock, as billing-run leases are.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0008_webhooks",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "CREATE TABLE webhook_endpoint (
    id {ID},
    owner_subject TEXT NOT NULL,
    owner_role TEXT NOT NULL,
    owner_scopes TEXT NOT NULL,
    owner_entities TEXT,
    url TEXT NOT NULL,
    description TEXT,
    legal_entity_id BIGINT REFERENCES legal_entity(id),
    event_types TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    disabled_reason TEXT,
    secret TEXT NOT NULL,
    previous_secret TEXT,
    rotated_at {TS},
    failing_since {TS},
    created_at {TS} NOT NULL
)",
    "CREATE INDEX webhook_endpoint_by_owner ON webhook_endpoint (owner_subject, id)",
    "CREATE TABLE webhook_cursor (id INTEGER PRIMARY KEY, position BIGINT NOT NULL)",
    // Events already in the outbox are history: endpoints get what follows.
    "INSERT INTO webhook_cursor (id, position) SELECT 1, COALESCE(MAX(id), 0) FROM domain_event",
    "CREATE TABLE webhook_delivery (
    id {ID},
    endpoint_id BIGINT NOT NULL REFERENCES webhook_endpoint(id),
    event_id BIGINT NOT NULL REFERENCES domain_event(id),
    legal_entity_id BIGINT NOT NULL,
    status TEXT NOT NULL,
    attempt_count INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT,
    lease_owner TEXT,
    lease_expires_ms BIGINT,
    created_at {TS} NOT NULL,
    UNIQUE (endpoint_id, event_id)
)",
    "CREATE INDEX webhook_delivery_open ON webhook_delivery (endpoint_id, event_id) \
     WHERE status IN ('PENDING', 'RETRYING')",
    "CREATE TABLE webhook_attempt (
    id {ID},
    delivery_id BIGINT NOT NULL REFERENCES webhook_delivery(id),
    at {TS} NOT NULL,
    status_code INTEGER,
    duration_ms BIGINT NOT NULL,
    error TEXT,
    response_body TEXT
)",
    "CREATE INDEX webhook_attempt_by_delivery ON webhook_attempt (delivery_id, id)",
    "CREATE INDEX webhook_attempt_by_time ON webhook_attempt (at)",
];

const DOWN: &[&str] = &[
    "DROP TABLE webhook_attempt",
    "DROP TABLE webhook_delivery",
    "DROP TABLE webhook_cursor",
    "DROP TABLE webhook_endpoint",
];
