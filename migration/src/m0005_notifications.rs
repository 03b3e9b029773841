//! Notifications a user can read: a severity and a subject on each, and
//! read state per token subject.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0005_notifications",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "ALTER TABLE notification ADD COLUMN severity TEXT NOT NULL DEFAULT 'INFO'",
    "ALTER TABLE notification ADD COLUMN subject_type TEXT NOT NULL DEFAULT 'BillingRun'",
    "ALTER TABLE notification ADD COLUMN subject_id TEXT NOT NULL DEFAULT ''",
    // Existing rows were all about runs; a failed run's message says so.
    "UPDATE notification SET subject_id = CAST(billing_run_id AS TEXT) WHERE billing_run_id IS NOT NULL",
    "UPDATE notification SET severity = 'FAILURE' WHERE message LIKE '% failed: %'",
    "CREATE INDEX notification_by_entity ON notification (legal_entity_id, id)",
    "CREATE TABLE notification_read (
    notification_id BIGINT NOT NULL REFERENCES notification(id),
    subject TEXT NOT NULL,
    read_at {TS} NOT NULL,
    PRIMARY KEY (notification_id, subject)
)",
];

const DOWN: &[&str] = &[
    "DROP TABLE notification_read",
    "DROP INDEX notification_by_entity",
    "ALTER TABLE notification DROP COLUMN subject_id",
    "ALTER TABLE notification DROP COLUMN subject_type",
    "ALTER TABLE notification DROP COLUMN severity",
];
