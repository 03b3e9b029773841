//! An aggregate that sums bigints into a bigint, for PostgreSQL. Its `SUM`
//! of a bigint accumulates in a 128-bit state and returns `numeric`, which
//! the aging report then casts back: per row a call on a heap-allocated
//! state, per group a numeric built and converted. `billrun_sum_i8` adds
//! with `int8pl` into a plain bigint state instead (by value, no
//! allocation) and, like the cast it replaces, fails with "bigint out of
//! range" rather than wrap: the same results and the same errors. SQLite's
//! `SUM` of integers is an integer already (and fails on overflow the same
//! way), so there is nothing to create there.
//!
//! Parallel-safe, partial states combined with `int8pl` too: without that
//! every plan using it is serial, and the report as loaded (before VACUUM
//! sets the visibility map, so its index-only scan reads the heap) went
//! from 150 to 176 ms through the API.
//!
//! Measured with `cargo bench --bench ar_aging` on PostgreSQL (a million
//! invoices, 166,670 outstanding), through the API, before → after: as of
//! today 150 → 119 ms as loaded and 55 → 44 ms after VACUUM; back-dated 60
//! days 250 → 203 ms and 93 → 72 ms.

use crate::SqlMigration;

pub(crate) const MIGRATION: SqlMigration = SqlMigration {
    name: "m0011_sum_bigint",
    up: UP,
    down: DOWN,
};

const UP: &[&str] = &[
    "{POSTGRES}CREATE AGGREGATE billrun_sum_i8(BIGINT) (SFUNC = int8pl, STYPE = BIGINT, INITCOND = '0', COMBINEFUNC = int8pl, PARALLEL = SAFE)",
];

const DOWN: &[&str] = &["{POSTGRES}DROP AGGREGATE billrun_sum_i8(BIGINT)"];
