//! Database migrations. Written as SQL so that the constraints that guard
//! billing (partial unique indexes, composite keys) read exactly as the
//! database will enforce them; `{ID}`, `{TS}` and `{DATE}` are the only words
//! that differ between PostgreSQL and SQLite.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_positions_and_leases;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_positions_and_leases::Migration),
        ]
    }
}

/// Runs each `;`-separated statement of `sql` after replacing the
/// backend-specific type words.
pub(crate) async fn run_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
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
    let conn = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Runs each statement as its own call: nothing splits SQL text, so a
/// semicolon inside a statement or a comment is harmless.
pub(crate) async fn run_statements(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}
