//! `invoice.credit_applied_on`: the date (in the legal entity's timezone)
//! customer credit was applied to an invoice. A back-dated run posts an
//! invoice as of its past date, but the credit it takes exists only from
//! today: a report as of a date before this one adds that credit back.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0006_credit_applied_on",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "ALTER TABLE invoice ADD COLUMN credit_applied_on {DATE}",
    "UPDATE invoice SET credit_applied_on = posted_on WHERE credit_applied_e4 > 0",
    // The few invoices that took customer credit, for back-dated aging.
    "CREATE INDEX invoice_credit_applied ON invoice \
       (legal_entity_id, credit_applied_on, issue_date, posted_on, customer_id, due_date, credit_applied_e4) \
     WHERE credit_applied_e4 > 0",
];

const DOWN: &[&str] = &[
    "DROP INDEX invoice_credit_applied",
    "ALTER TABLE invoice DROP COLUMN credit_applied_on",
];
