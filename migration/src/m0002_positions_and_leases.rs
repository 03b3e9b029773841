//! Commit-ordered event positions and run leases on the database clock.
//!
//! - `event_position` is one counter row. A transaction that writes outbox
//!   or audit rows takes their ids from it (`UPDATE … RETURNING`), as the
//!   last thing before it commits; the row lock is held until commit, so
//!   ids are taken in commit order and "every id after P" is complete
//!   whatever the commit order of concurrent writers (a BIGSERIAL id is
//!   taken at insert and commits out of order). It starts after the
//!   highest id already in either table, so old ids stay valid cursors.
//! - `billing_run.lease_expires_ms`: when the executing lease lapses, in
//!   milliseconds since the epoch of the database's clock (never a
//!   replica's), so clock skew between replicas cannot shorten a lease. It
//!   replaces `lease_until`, which a replica's clock wrote.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0002_positions_and_leases",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "CREATE TABLE event_position (id INTEGER PRIMARY KEY, last_value BIGINT NOT NULL)",
    "INSERT INTO event_position (id, last_value) SELECT 1, COALESCE(MAX(m), 0) FROM \
     (SELECT MAX(id) AS m FROM audit_event UNION ALL SELECT MAX(id) AS m FROM domain_event) AS t",
    "ALTER TABLE billing_run ADD COLUMN lease_expires_ms BIGINT",
    // The replica-clock expiry it replaces.
    "ALTER TABLE billing_run DROP COLUMN lease_until",
];

const DOWN: &[&str] = &[
    "ALTER TABLE billing_run ADD COLUMN lease_until {TS}",
    "ALTER TABLE billing_run DROP COLUMN lease_expires_ms",
    "DROP TABLE event_position",
];
