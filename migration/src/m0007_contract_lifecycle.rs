//! Contract lifecycle (DESIGN.md, Contract lifecycle): line versions with
//! the days they are in force, pauses, a billing cursor day and an
//! optimistic version on contracts, and the day ranges invoice and credit
//! note lines cover.
//!
//! The period key. An in-advance period already billed and then amended,
//! paused or cancelled is credited for the days that changed and billed
//! again from the first changed day by the next run. That second invoice may
//! start on the same day as the first (an amendment at a period start), so
//! "a contract period is invoiced at most once" becomes: at most once per
//! contract version, `UNIQUE (contract_id, period_start, contract_version)`.
//! Every write to a contract's billing state (a run moving it on, or a
//! lifecycle change) bumps `contract.version` with a compare-and-set, so two
//! writers that read the same state try the same key and one of them fails,
//! and an invoice is only ever re-billed after the change that credited it.
//!
//! SQLite cannot drop a table constraint: the invoice table is rebuilt. The
//! rows are copied aside, deleted (with foreign keys deferred, so the lines,
//! payments and notes pointing at them are counted as pending violations),
//! and inserted into the new table, which settles every pending violation
//! before the commit checks them.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0007_contract_lifecycle",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "ALTER TABLE contract ADD COLUMN version INTEGER NOT NULL DEFAULT 0",
    // The last day the billing cursor has passed (NULL: the day before the
    // period `next_period_index` starts).
    "ALTER TABLE contract ADD COLUMN billed_through {DATE}",
    "ALTER TABLE contract ADD COLUMN cancelled_at {DATE}",
    // Paused and cancelled contracts are still billed (the period a resume
    // day falls in, the final in-arrears period).
    "DROP INDEX contract_due",
    "CREATE INDEX contract_due ON contract (legal_entity_id, next_billing_date, id) WHERE status <> 'ENDED'",
    "ALTER TABLE contract_line ADD COLUMN valid_from {DATE}",
    "ALTER TABLE contract_line ADD COLUMN valid_until {DATE}",
    "UPDATE contract_line SET valid_from = \
       (SELECT start_date FROM contract WHERE contract.id = contract_line.contract_id)",
    "CREATE TABLE contract_pause (
    id {ID},
    contract_id BIGINT NOT NULL REFERENCES contract(id),
    from_date {DATE} NOT NULL,
    -- The resume day, billed again; NULL while open-ended.
    until_date {DATE},
    created_at {TS} NOT NULL
)",
    "CREATE INDEX contract_pause_by_contract ON contract_pause (contract_id, from_date)",
    "ALTER TABLE invoice_line ADD COLUMN contract_line_id BIGINT",
    "ALTER TABLE invoice_line ADD COLUMN service_from {DATE}",
    "ALTER TABLE invoice_line ADD COLUMN service_to {DATE}",
    "UPDATE invoice_line SET \
       service_from = (SELECT period_start FROM invoice WHERE invoice.id = invoice_line.invoice_id), \
       service_to = (SELECT period_end FROM invoice WHERE invoice.id = invoice_line.invoice_id), \
       contract_line_id = (SELECT cl.id FROM contract_line cl JOIN invoice i ON i.contract_id = cl.contract_id \
         WHERE i.id = invoice_line.invoice_id AND cl.line_no = invoice_line.line_no)",
    "ALTER TABLE credit_note_line ADD COLUMN service_from {DATE}",
    "ALTER TABLE credit_note_line ADD COLUMN service_to {DATE}",
    "{POSTGRES}ALTER TABLE invoice ADD COLUMN contract_version INTEGER NOT NULL DEFAULT 0",
    "{POSTGRES}ALTER TABLE invoice DROP CONSTRAINT invoice_contract_id_period_start_key",
    "{SQLITE}PRAGMA defer_foreign_keys = ON",
    "{SQLITE}CREATE TABLE invoice_copy AS SELECT * FROM invoice",
    "{SQLITE}DELETE FROM invoice",
    "{SQLITE}DROP TABLE invoice",
    "{SQLITE}CREATE TABLE invoice (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    customer_id BIGINT NOT NULL REFERENCES customer(id),
    contract_id BIGINT REFERENCES contract(id),
    billing_run_id BIGINT REFERENCES billing_run(id),
    number TEXT,
    status TEXT NOT NULL,
    period_start {DATE} NOT NULL,
    period_end {DATE} NOT NULL,
    issue_date {DATE} NOT NULL,
    due_date {DATE} NOT NULL,
    currency TEXT NOT NULL,
    subtotal_e4 BIGINT NOT NULL,
    tax_total_e4 BIGINT NOT NULL,
    total_e4 BIGINT NOT NULL,
    amount_paid_e4 BIGINT NOT NULL DEFAULT 0,
    posted_at {TS},
    voided_at {TS},
    void_reason TEXT,
    created_at {TS} NOT NULL,
    posted_on {DATE},
    voided_on {DATE},
    amount_credited_e4 BIGINT NOT NULL DEFAULT 0,
    credit_reduced_e4 BIGINT NOT NULL DEFAULT 0,
    credit_applied_e4 BIGINT NOT NULL DEFAULT 0,
    credit_applied_on {DATE},
    contract_version INTEGER NOT NULL DEFAULT 0,
    UNIQUE (legal_entity_id, number)
)",
    "{SQLITE}INSERT INTO invoice (id, legal_entity_id, customer_id, contract_id, billing_run_id, number, status, period_start, period_end, issue_date, due_date, currency, subtotal_e4, tax_total_e4, total_e4, amount_paid_e4, posted_at, voided_at, void_reason, created_at, posted_on, voided_on, amount_credited_e4, credit_reduced_e4, credit_applied_e4, credit_applied_on) \
     SELECT id, legal_entity_id, customer_id, contract_id, billing_run_id, number, status, period_start, period_end, issue_date, due_date, currency, subtotal_e4, tax_total_e4, total_e4, amount_paid_e4, posted_at, voided_at, void_reason, created_at, posted_on, voided_on, amount_credited_e4, credit_reduced_e4, credit_applied_e4, credit_applied_on FROM invoice_copy",
    "{SQLITE}DROP TABLE invoice_copy",
    "{SQLITE}CREATE INDEX invoice_by_run ON invoice (billing_run_id, id)",
    "{SQLITE}CREATE INDEX invoice_by_entity ON invoice (legal_entity_id, id)",
    "{SQLITE}CREATE INDEX invoice_voided ON invoice \
       (legal_entity_id, voided_on, posted_on, issue_date, customer_id, due_date, total_e4) WHERE status = 'VOID'",
    "{SQLITE}CREATE INDEX invoice_open ON invoice \
       (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id, posted_on, credit_reduced_e4, credit_applied_e4) \
     WHERE status = 'POSTED'",
    "{SQLITE}CREATE INDEX invoice_credit_applied ON invoice \
       (legal_entity_id, credit_applied_on, issue_date, posted_on, customer_id, due_date, credit_applied_e4) \
     WHERE credit_applied_e4 > 0",
    // A contract period is invoiced at most once per contract version.
    "CREATE UNIQUE INDEX invoice_contract_period ON invoice (contract_id, period_start, contract_version)",
];

/// Down keeps the rebuilt invoice table (its old constraint is implied by
/// the data only while no period was billed twice) and drops the rest.
const DOWN: &[&str] = &[
    "DROP INDEX invoice_contract_period",
    "CREATE UNIQUE INDEX invoice_contract_period_once ON invoice (contract_id, period_start)",
    "ALTER TABLE credit_note_line DROP COLUMN service_to",
    "ALTER TABLE credit_note_line DROP COLUMN service_from",
    "ALTER TABLE invoice_line DROP COLUMN service_to",
    "ALTER TABLE invoice_line DROP COLUMN service_from",
    "ALTER TABLE invoice_line DROP COLUMN contract_line_id",
    "DROP TABLE contract_pause",
    "ALTER TABLE contract_line DROP COLUMN valid_until",
    "ALTER TABLE contract_line DROP COLUMN valid_from",
    "DROP INDEX contract_due",
    "CREATE INDEX contract_due ON contract (legal_entity_id, next_billing_date, id) WHERE status = 'ACTIVE'",
    "ALTER TABLE contract DROP COLUMN cancelled_at",
    "ALTER TABLE contract DROP COLUMN billed_through",
    "ALTER TABLE contract DROP COLUMN version",
    "ALTER TABLE invoice DROP COLUMN contract_version",
];
