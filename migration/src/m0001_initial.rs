//! The initial schema: everything DESIGN.md names.
//!
//! Existing databases have run this migration, so what it creates must never
//! change: a change goes into a new migration. SQLite keeps each `CREATE`
//! statement's text (from the table or index name on, comments included) as
//! the schema, so even the layout of a statement below is part of it; the
//! `initial_schema_is_unchanged` test fails on any change.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0001_initial",
    up: UP,
    down: DOWN,
};

/// One statement per element, run as it is (see [`SqlMigration`]).
const UP: &[&str] = &[
    "CREATE TABLE legal_entity (
    id {ID},
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    currency TEXT NOT NULL,
    country TEXT NOT NULL,
    timezone TEXT NOT NULL,
    created_at {TS} NOT NULL
)",
    "CREATE TABLE customer (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    name TEXT NOT NULL,
    email TEXT,
    payment_terms_days INTEGER NOT NULL,
    has_payment_method BOOLEAN NOT NULL,
    created_at {TS} NOT NULL
)",
    "CREATE INDEX customer_by_entity ON customer (legal_entity_id, name)",
    "CREATE TABLE tax_code (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    code TEXT NOT NULL,
    rate_e6 BIGINT NOT NULL,
    created_at {TS} NOT NULL,
    UNIQUE (legal_entity_id, code)
)",
    "CREATE TABLE contract (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    customer_id BIGINT NOT NULL REFERENCES customer(id),
    status TEXT NOT NULL,
    start_date {DATE} NOT NULL,
    end_date {DATE},
    billing_interval TEXT NOT NULL,
    interval_count INTEGER NOT NULL CHECK (interval_count >= 1),
    timing TEXT NOT NULL,
    next_period_index INTEGER NOT NULL DEFAULT 0,
    next_billing_date {DATE},
    created_at {TS} NOT NULL
)",
    // The run's hot query: due ACTIVE contracts of one entity, walked by id.
    "CREATE INDEX contract_due ON contract (legal_entity_id, next_billing_date, id) WHERE status = 'ACTIVE'",
    "CREATE INDEX contract_by_entity ON contract (legal_entity_id, id)",
    "CREATE TABLE contract_line (
    id {ID},
    contract_id BIGINT NOT NULL REFERENCES contract(id),
    line_no INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity_e6 BIGINT NOT NULL,
    unit_price_e6 BIGINT NOT NULL,
    tax_code_id BIGINT REFERENCES tax_code(id)
)",
    "CREATE INDEX contract_line_by_contract ON contract_line (contract_id, line_no)",
    "CREATE TABLE billing_run (
    id {ID},
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    seq INTEGER NOT NULL,
    run_number TEXT NOT NULL,
    status TEXT NOT NULL,
    trigger_source TEXT NOT NULL,
    triggered_by TEXT NOT NULL,
    as_of {DATE} NOT NULL,
    dry_run BOOLEAN NOT NULL,
    period_start {DATE},
    period_end {DATE},
    contract_count INTEGER NOT NULL DEFAULT 0,
    processed_count INTEGER NOT NULL DEFAULT 0,
    invoice_count INTEGER NOT NULL DEFAULT 0,
    invoice_total_e4 BIGINT NOT NULL DEFAULT 0,
    posted_count INTEGER NOT NULL DEFAULT 0,
    event_count INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    last_contract_id BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until {TS},
    started_at {TS},
    completed_at {TS},
    duration_ms BIGINT,
    error TEXT,
    updated_at {TS},
    created_at {TS} NOT NULL,
    UNIQUE (legal_entity_id, run_number),
    UNIQUE (legal_entity_id, seq)
)",
    // At most one active (non-dry) run per legal entity, enforced by the database.
    "CREATE UNIQUE INDEX billing_run_one_active ON billing_run (legal_entity_id)
    WHERE status IN ('QUEUED', 'RUNNING') AND NOT dry_run",
    "CREATE TABLE invoice (
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
    -- A contract period is invoiced at most once, whatever happens.
    UNIQUE (contract_id, period_start),
    UNIQUE (legal_entity_id, number)
)",
    // Open invoices by entity, customer and due date (AR aging).
    "CREATE INDEX invoice_open ON invoice (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id)
    WHERE status = 'POSTED'",
    "CREATE INDEX invoice_by_run ON invoice (billing_run_id, id)",
    "CREATE INDEX invoice_by_entity ON invoice (legal_entity_id, id)",
    "CREATE TABLE invoice_line (
    id {ID},
    invoice_id BIGINT NOT NULL REFERENCES invoice(id),
    line_no INTEGER NOT NULL,
    description TEXT NOT NULL,
    quantity_e6 BIGINT NOT NULL,
    unit_price_e6 BIGINT NOT NULL,
    net_e4 BIGINT NOT NULL,
    tax_rate_e6 BIGINT NOT NULL,
    tax_e4 BIGINT NOT NULL,
    total_e4 BIGINT NOT NULL
)",
    "CREATE INDEX invoice_line_by_invoice ON invoice_line (invoice_id, line_no)",
    "CREATE TABLE payment (
    id {ID},
    invoice_id BIGINT NOT NULL REFERENCES invoice(id),
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    amount_e4 BIGINT NOT NULL CHECK (amount_e4 > 0),
    received_on {DATE} NOT NULL,
    -- Copied from the invoice (fixed once it is posted), so a back-dated
    -- aging report adds payments back from this table's index alone.
    customer_id BIGINT NOT NULL REFERENCES customer(id),
    invoice_issue_date {DATE} NOT NULL,
    invoice_due_date {DATE} NOT NULL,
    reference TEXT,
    created_by TEXT NOT NULL,
    created_at {TS} NOT NULL
)",
    "CREATE INDEX payment_by_entity_date ON payment
    (legal_entity_id, received_on, invoice_issue_date, customer_id, invoice_due_date, amount_e4)",
    "CREATE INDEX payment_by_invoice ON payment (invoice_id)",
    "CREATE TABLE audit_event (
    id {ID},
    at {TS} NOT NULL,
    legal_entity_id BIGINT REFERENCES legal_entity(id),
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    action TEXT NOT NULL,
    actor TEXT NOT NULL,
    details TEXT
)",
    "CREATE INDEX audit_by_subject ON audit_event (subject_type, subject_id, id)",
    "CREATE INDEX audit_by_entity ON audit_event (legal_entity_id, id)",
    "CREATE TABLE domain_event (
    id {ID},
    event_type TEXT NOT NULL,
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    subject_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at {TS} NOT NULL
)",
    "CREATE INDEX domain_event_by_entity ON domain_event (legal_entity_id, id)",
    "CREATE TABLE invoice_number_sequence (
    legal_entity_id BIGINT NOT NULL REFERENCES legal_entity(id),
    year INTEGER NOT NULL,
    last_value BIGINT NOT NULL,
    PRIMARY KEY (legal_entity_id, year)
)",
    "CREATE TABLE billing_agent_config (
    id {ID},
    auto_post_invoices BOOLEAN NOT NULL,
    emit_delivery_events BOOLEAN NOT NULL,
    emit_payment_events BOOLEAN NOT NULL,
    notification_level TEXT NOT NULL,
    default_billing_entity_id BIGINT REFERENCES legal_entity(id),
    updated_at {TS} NOT NULL
)",
    "CREATE TABLE scheduled_job (
    id {ID},
    agent_key TEXT NOT NULL,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    legal_entity_id BIGINT REFERENCES legal_entity(id),
    enabled BOOLEAN NOT NULL,
    next_run_at {TS},
    last_run_at {TS},
    created_at {TS} NOT NULL
)",
    "CREATE INDEX scheduled_job_due ON scheduled_job (next_run_at) WHERE enabled",
    "CREATE TABLE idempotency_key (
    id {ID},
    subject TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status TEXT NOT NULL,
    result TEXT,
    created_at {TS} NOT NULL,
    UNIQUE (subject, idem_key)
)",
    "CREATE TABLE notification (
    id {ID},
    legal_entity_id BIGINT REFERENCES legal_entity(id),
    billing_run_id BIGINT REFERENCES billing_run(id),
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    created_at {TS} NOT NULL
)",
];

const DOWN: &[&str] = &[
    "DROP TABLE notification",
    "DROP TABLE idempotency_key",
    "DROP TABLE scheduled_job",
    "DROP TABLE billing_agent_config",
    "DROP TABLE invoice_number_sequence",
    "DROP TABLE domain_event",
    "DROP TABLE audit_event",
    "DROP TABLE payment",
    "DROP TABLE invoice_line",
    "DROP TABLE invoice",
    "DROP TABLE billing_run",
    "DROP TABLE contract_line",
    "DROP TABLE contract",
    "DROP TABLE tax_code",
    "DROP TABLE customer",
    "DROP TABLE legal_entity",
];

#[cfg(test)]
mod tests {
    /// FNV-1a of every statement, so that any edit shows up as a failure.
    fn fingerprint(statements: &[&str]) -> u64 {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in statements.iter().flat_map(|s| s.bytes().chain([0])) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        hash
    }

    #[test]
    fn initial_schema_is_unchanged() {
        // Existing databases ran these statements. Change the schema in a
        // new migration; never update these numbers to make this pass.
        assert_eq!(
            fingerprint(super::UP),
            5_727_280_711_306_323_233,
            "m0001 UP changed"
        );
        assert_eq!(
            fingerprint(super::DOWN),
            14_940_249_253_420_433_087,
            "m0001 DOWN changed"
        );
    }
}
