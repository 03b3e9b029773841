//! Back-dated aging reads each of its corrections from a small index range.
//! Credit notes voided after the as-of date were a range of nothing: the
//! aging index of notes leads with the issue date, so a report had to scan
//! every note for the few voided since. A partial index of voided notes,
//! written only when a note is voided (never by a billing run), makes that
//! branch a range read like the others.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0009_aging_as_of_indexes",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &["CREATE INDEX credit_note_voided ON credit_note \
       (legal_entity_id, voided_on, issue_date, invoice_issue_date, invoice_posted_on, customer_id, \
        invoice_due_date, applied_to_invoice_e4) \
     WHERE status = 'VOID'"];

const DOWN: &[&str] = &["DROP INDEX credit_note_voided"];
