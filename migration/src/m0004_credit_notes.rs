//! Credit notes: corrections of posted invoices, their own gapless number
//! series, what each invoice line has been credited, and customer credit.
//!
//! An invoice's amount due becomes total − paid − credit_reduced −
//! credit_applied: `credit_reduced_e4` is the part of its issued credit
//! notes that reduced what it asked for, `credit_applied_e4` the customer
//! credit consumed when it was posted. `amount_credited_e4` sums its issued
//! notes (some of which may have gone to the customer's credit balance).

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0004_credit_notes",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "CREATE TABLE credit_note (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    invoice_id BIGINT NOT NULL REFERENCES invoice(id),
    customer_id BIGINT NOT NULL REFERENCES customer(id),
    number TEXT,
    status TEXT NOT NULL,
    reason TEXT NOT NULL,
    memo TEXT,
    issue_date {DATE},
    voided_on {DATE},
    currency TEXT NOT NULL,
    subtotal_e4 BIGINT NOT NULL,
    tax_total_e4 BIGINT NOT NULL,
    total_e4 BIGINT NOT NULL CHECK (total_e4 > 0),
    applied_to_invoice_e4 BIGINT NOT NULL DEFAULT 0,
    to_credit_balance_e4 BIGINT NOT NULL DEFAULT 0,
    credit_remaining_e4 BIGINT NOT NULL DEFAULT 0 CHECK (credit_remaining_e4 >= 0),
    invoice_issue_date {DATE} NOT NULL,
    invoice_due_date {DATE} NOT NULL,
    invoice_posted_on {DATE},
    created_by TEXT NOT NULL,
    created_at {TS} NOT NULL,
    issued_at {TS},
    voided_at {TS},
    UNIQUE (legal_entity_id, number)
)",
    "CREATE INDEX credit_note_by_invoice ON credit_note (invoice_id)",
    "CREATE INDEX credit_note_by_entity ON credit_note (legal_entity_id, id)",
    // Customer credit is consumed oldest first: the notes with some left.
    "CREATE INDEX credit_note_balance ON credit_note (customer_id, issued_at, id) \
     WHERE credit_remaining_e4 > 0",
    // Back-dated aging adds back (or takes back) the notes issued or voided
    // after its date from this index alone, as it does payments.
    "CREATE INDEX credit_note_for_aging ON credit_note \
       (legal_entity_id, issue_date, voided_on, invoice_issue_date, customer_id, invoice_due_date, \
        applied_to_invoice_e4, invoice_posted_on, status) \
     WHERE status <> 'DRAFT'",
    "CREATE TABLE credit_note_line (
    id {ID},
    credit_note_id BIGINT NOT NULL REFERENCES credit_note(id),
    invoice_line_id BIGINT NOT NULL REFERENCES invoice_line(id),
    line_no INTEGER NOT NULL,
    description TEXT NOT NULL,
    net_e4 BIGINT NOT NULL CHECK (net_e4 > 0),
    tax_rate_e6 BIGINT NOT NULL,
    tax_e4 BIGINT NOT NULL,
    total_e4 BIGINT NOT NULL
)",
    "CREATE INDEX credit_note_line_by_note ON credit_note_line (credit_note_id, line_no)",
    "CREATE TABLE credit_note_number_sequence (
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    year INTEGER NOT NULL,
    last_value BIGINT NOT NULL,
    PRIMARY KEY (legal_entity_id, year)
)",
    // What issued notes have credited of each line (never above its net:
    // the issuing UPDATE is conditional on it).
    "ALTER TABLE invoice_line ADD COLUMN credited_e4 BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE invoice ADD COLUMN amount_credited_e4 BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE invoice ADD COLUMN credit_reduced_e4 BIGINT NOT NULL DEFAULT 0",
    "ALTER TABLE invoice ADD COLUMN credit_applied_e4 BIGINT NOT NULL DEFAULT 0",
    // The open-invoice index carries what the amount due is computed from,
    // so aging as of today stays an index-only read.
    "DROP INDEX invoice_open",
    "CREATE INDEX invoice_open ON invoice \
       (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id, posted_on, \
        credit_reduced_e4, credit_applied_e4) \
     WHERE status = 'POSTED'",
];

const DOWN: &[&str] = &[
    "DROP INDEX invoice_open",
    "CREATE INDEX invoice_open ON invoice \
       (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id, posted_on) \
     WHERE status = 'POSTED'",
    "ALTER TABLE invoice DROP COLUMN credit_applied_e4",
    "ALTER TABLE invoice DROP COLUMN credit_reduced_e4",
    "ALTER TABLE invoice DROP COLUMN amount_credited_e4",
    "ALTER TABLE invoice_line DROP COLUMN credited_e4",
    "DROP TABLE credit_note_number_sequence",
    "DROP TABLE credit_note_line",
    "DROP TABLE credit_note",
];
