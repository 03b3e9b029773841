//! Database migrations. Written as SQL so that the constraints that guard
//! billing (partial unique indexes, composite keys) read exactly as the
//! database will enforce them; `{ID}`, `{TS}`, `{DATE}` and
//! `{UTC_DATE:column}` are the only words that differ between PostgreSQL and
//! SQLite.

pub use sea_orm_migration::prelude::*;

mod m0001_initial;
mod m0002_positions_and_leases;
mod m0003_invoice_posted_voided_on;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_initial::Migration),
            Box::new(m0002_positions_and_leases::Migration),
            Box::new(m0003_invoice_posted_voided_on::Migration),
        ]
    }
}

/// Runs each `;`-separated statement of `sql` after replacing the
/// backend-specific type words.
pub(crate) async fn run_sql(manager: &SchemaManager<'_>, sql: &str) -> Result<(), DbErr> {
    let sql = for_backend(manager, sql);
    let conn = manager.get_connection();
    for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        conn.execute_unprepared(statement).await?;
    }
    Ok(())
}

/// Runs each statement as it is (no splitting, so a `;` inside one is
/// harmless) after replacing the backend-specific words.
pub(crate) async fn run_statements(
    manager: &SchemaManager<'_>,
    statements: &[&str],
) -> Result<(), DbErr> {
    let conn = manager.get_connection();
    for statement in statements {
        conn.execute_unprepared(&for_backend(manager, statement))
            .await?;
    }
    Ok(())
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
