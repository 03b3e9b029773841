//! Database migrations: each is a `SqlMigration`, a name and lists of SQL
//! statements run one by one. Written as SQL so that the constraints that guard
//! billing (partial unique indexes, composite keys) read exactly as the
//! database will enforce them; `{ID}`, `{TS}`, `{DATE}` and
//! `{UTC_DATE:column}` are the only words that differ between PostgreSQL and
//! SQLite, and a statement marked `{SQLITE}` or `{POSTGRES}` runs on that one
//! only.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_positions_and_leases;
mod m0003_invoice_posted_voided_on;
mod m0004_credit_notes;
mod m0005_notifications;
mod m0006_credit_applied_on;
mod m0007_contract_lifecycle;
mod m0008_webhooks;
mod m0009_aging_as_of_indexes;
mod m0010_payment_lag_class;
mod m0011_sum_bigint;
mod m0012_sqlite_due_epoch;

pub use m0010_payment_lag_class::PAYMENT_LAG_BOUNDS;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::MIGRATION),
            Box::new(m0002_positions_and_leases::MIGRATION),
            Box::new(m0003_invoice_posted_voided_on::MIGRATION),
            Box::new(m0004_credit_notes::MIGRATION),
            Box::new(m0005_notifications::MIGRATION),
            Box::new(m0006_credit_applied_on::MIGRATION),
            Box::new(m0007_contract_lifecycle::MIGRATION),
            Box::new(m0008_webhooks::MIGRATION),
            Box::new(m0009_aging_as_of_indexes::MIGRATION),
            Box::new(m0010_payment_lag_class::MIGRATION),
            Box::new(m0011_sum_bigint::MIGRATION),
            Box::new(m0012_sqlite_due_epoch::MIGRATION),
        ]
    }
}

/// A migration written as SQL: `up` applies it, `down` takes it back, one
/// statement per element (see [`run_statements`]). `name` is recorded in
/// `seaql_migrations` and must never change once released.
pub(crate) struct SqlMigration {
    pub name: &'static str,
    pub up: &'static [&'static str],
    pub down: &'static [&'static str],
}

impl MigrationName for SqlMigration {
    fn name(&self) -> &str {
        self.name
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SqlMigration {
    /// One transaction on SQLite too (PostgreSQL has one by default): all or
    /// nothing, and every statement on one connection (another pooled SQLite
    /// connection can miss the schema change the previous statement made).
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, self.up).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        run_statements(manager, self.down).await
    }
}

/// Runs each statement as it is, one per call, after replacing the
/// backend-specific words. Statements are never split out of a longer text,
/// so a `;` inside a comment or a string literal is harmless.
async fn run_statements(manager: &SchemaManager<'_>, statements: &[&str]) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        if let Some(sql) = only_for_backend(manager, statement) {
            conn.execute_unprepared(&for_backend(manager, sql)).await?;
        }
    }
    Ok(())
}

/// A statement that starts with `{SQLITE}` or `{POSTGRES}` runs on that
/// database only (for the few changes one of them cannot express the way the
/// other does); `None` when it is for the other one.
fn only_for_backend<'a>(manager: &SchemaManager<'_>, sql: &'a str) -> Option<&'a str> {
    let postgres = matches!(
        manager.get_database_backend(),
        sea_orm::DatabaseBackend::Postgres
    );
    match (sql.strip_prefix("{SQLITE}"), sql.strip_prefix("{POSTGRES}")) {
        (Some(sqlite_only), _) => (!postgres).then_some(sqlite_only),
        (_, Some(postgres_only)) => postgres.then_some(postgres_only),
        _ => Some(sql),
    }
}

/// `sql` with the type words and `{UTC_DATE:column}` (the UTC date of a
/// timestamp column) written for the connection's database.
fn for_backend(manager: &SchemaManager<'_>, sql: &str) -> String {
    let postgres = matches!(
        manager.get_database_backend(),
        sea_orm::DatabaseBackend::Postgres
    );
    let sql = if postgres {
        sql.replace("{ID}", "BIGSERIAL PRIMARY KEY")
            .replace("{TS}", "TIMESTAMPTZ")
            .replace("{DATE}", "DATE")
    } else {
        sql.replace("{ID}", "INTEGER PRIMARY KEY AUTOINCREMENT")
            .replace("{TS}", "TEXT")
            .replace("{DATE}", "TEXT")
    };
    let mut out = String::with_capacity(sql.len());
    let mut rest = sql.as_str();
    while let Some(start) = rest.find("{UTC_DATE:") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let column = &rest[start + "{UTC_DATE:".len()..start + len];
        out.push_str(&rest[..start]);
        if postgres {
            out.push_str(&format!("CAST({column} AT TIME ZONE 'UTC' AS DATE)"));
        } else {
            // Timestamps are stored as RFC 3339 text; date() reads the offset.
            out.push_str(&format!("date({column})"));
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use sea_orm_migration::sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};

    use super::*;

    async fn memory() -> DatabaseConnection {
        Database::connect("sqlite::memory:")
            .await
            .expect("an in-memory SQLite database")
    }

    #[tokio::test]
    async fn a_semicolon_in_a_comment_or_a_string_is_harmless() {
        let db = memory().await;
        let manager = SchemaManager::new(&db);
        run_statements(
            &manager,
            &[
                "-- a comment; with a semicolon\n\
                 CREATE TABLE note (id {ID}, /* inline; too */ body TEXT NOT NULL DEFAULT 'a;b')",
                "INSERT INTO note (body) VALUES ('one; two')",
                "INSERT INTO note DEFAULT VALUES -- trailing; comment",
            ],
        )
        .await
        .expect("every statement runs whole");
        let rows = db
            .query_all_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT body FROM note ORDER BY id",
            ))
            .await
            .expect("the rows");
        let bodies: Vec<String> = rows
            .iter()
            .map(|row| row.try_get("", "body").expect("body"))
            .collect();
        assert_eq!(bodies, ["one; two", "a;b"]);
    }

    #[tokio::test]
    async fn every_migration_goes_up_down_and_up_again() {
        let db = memory().await;
        Migrator::up(&db, None).await.expect("up");
        Migrator::down(&db, None).await.expect("down");
        Migrator::up(&db, None).await.expect("up again");
        assert!(Migrator::get_pending_migrations(&db)
            .await
            .expect("status")
            .is_empty());
    }
}
