//! `invoice.posted_on` and `invoice.voided_on`: the dates (in the legal
//! entity's timezone) an invoice was posted and voided, so a back-dated AR
//! aging report can tell which invoices were open on its date (posted on or
//! before it and not voided on or before it) by comparing dates in SQL; and
//! `payment.invoice_posted_on`, the posting date its payments carry.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0003_invoice_posted_voided_on",
    up: UP,
    down: DOWN,
};

/// The statements, one per element, after the `{DATE}` type and the
/// `{UTC_DATE:column}` expression (a timestamp's UTC date) are replaced.
const UP: &[&str] = &[
    "ALTER TABLE invoice ADD COLUMN posted_on {DATE}",
    "ALTER TABLE invoice ADD COLUMN voided_on {DATE}",
    // Payments carry their invoice's posting date, as they carry its issue
    // and due dates, so a back-dated report leaves out the payments of
    // invoices posted after its date without a join.
    "ALTER TABLE payment ADD COLUMN invoice_posted_on {DATE}",
    // Existing rows: the UTC date of the timestamp, except that an invoice a
    // billing run posted as it created it (posted_at = created_at) counts as
    // posted on its issue date when that is earlier, as the engine now
    // records it.
    "UPDATE invoice SET posted_on = CASE \
       WHEN billing_run_id IS NOT NULL AND posted_at = created_at AND issue_date < {UTC_DATE:posted_at} \
       THEN issue_date ELSE {UTC_DATE:posted_at} END \
     WHERE posted_at IS NOT NULL",
    "UPDATE invoice SET voided_on = {UTC_DATE:voided_at} WHERE voided_at IS NOT NULL",
    "UPDATE payment SET invoice_posted_on = \
       (SELECT i.posted_on FROM invoice i WHERE i.id = payment.invoice_id)",
    // Back-dated aging takes back the outstanding invoices issued on or
    // before the as-of date but posted after it: the open-invoice index
    // carries the posting date, so that stays an index-only read. (A second
    // index of its own cost every billing run an extra index write per
    // invoice: measured +20 % on a 100,000-contract SQLite run.)
    "DROP INDEX invoice_open",
    "CREATE INDEX invoice_open ON invoice \
       (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id, posted_on) \
     WHERE status = 'POSTED'",
    // Back-dated aging adds back the invoices voided after the as-of date:
    // a range of this index.
    "CREATE INDEX invoice_voided ON invoice \
       (legal_entity_id, voided_on, posted_on, issue_date, customer_id, due_date, total_e4) \
     WHERE status = 'VOID'",
    // The payments a back-dated report adds back stay an index-only read:
    // the index gains the posting date.
    "DROP INDEX payment_by_entity_date",
    "CREATE INDEX payment_by_entity_date ON payment \
       (legal_entity_id, received_on, invoice_issue_date, customer_id, invoice_due_date, amount_e4, invoice_posted_on)",
];

const DOWN: &[&str] = &[
    "DROP INDEX payment_by_entity_date",
    "CREATE INDEX payment_by_entity_date ON payment \
       (legal_entity_id, received_on, invoice_issue_date, customer_id, invoice_due_date, amount_e4)",
    "DROP INDEX invoice_voided",
    "DROP INDEX invoice_open",
    "CREATE INDEX invoice_open ON invoice \
       (legal_entity_id, customer_id, due_date, issue_date, total_e4, amount_paid_e4, id) \
     WHERE status = 'POSTED'",
    "ALTER TABLE payment DROP COLUMN invoice_posted_on",
    "ALTER TABLE invoice DROP COLUMN voided_on",
    "ALTER TABLE invoice DROP COLUMN posted_on",
];
