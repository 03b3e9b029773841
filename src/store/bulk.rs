//! Many rows as one statement's row source, for a billing run's batches.
//! On PostgreSQL every column travels as one array parameter and UNNEST
//! turns the arrays back into rows: a statement has as many parameters as
//! columns whatever its rows, so the server neither parses nor plans
//! thousands of them. On SQLite it is a VALUES list of bare `?`
//! (`store::next_placeholder` says why not `?N`). Either way the rows'
//! columns are `column1`, `column2`… in the order given.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DbBackend, QueryResult, Statement, Value};

use super::{StoreError, StoreResult};

/// A column's SQL type, as PostgreSQL's arrays need it spelled.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Kind {
    BigInt,
    Int,
    Text,
    Date,
    Timestamp,
}

impl Kind {
    fn pg_array(self) -> &'static str {
        match self {
            Kind::BigInt => "BIGINT[]",
            Kind::Int => "INTEGER[]",
            Kind::Text => "TEXT[]",
            Kind::Date => "DATE[]",
            Kind::Timestamp => "TIMESTAMPTZ[]",
        }
    }
}

/// One value of a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Int(Option<i64>),
    Text(Option<String>),
    Date(Option<NaiveDate>),
    Timestamp(Option<DateTime<Utc>>),
}

macro_rules! cell_from {
    ($($t:ty => $variant:ident $(, $conv:expr)?);* $(;)?) => {$(
        impl From<$t> for Cell {
            fn from(v: $t) -> Cell {
                Cell::$variant(Some(v).map($($conv)?))
            }
        }
        impl From<Option<$t>> for Cell {
            fn from(v: Option<$t>) -> Cell {
                Cell::$variant(v.map($($conv)?))
            }
        }
    )*};
}

fn same<T>(v: T) -> T {
    v
}

cell_from! {
    i64 => Int, same;
    i32 => Int, i64::from;
    String => Text, same;
    &str => Text, str::to_string;
    NaiveDate => Date, same;
    DateTime<Utc> => Timestamp, same;
}

/// Rows being gathered for one statement.
pub struct Rows {
    /// Each column's name and type, in row order.
    columns: &'static [(&'static str, Kind)],
    postgres: bool,
    /// PostgreSQL: one array literal per column, without its braces.
    arrays: Vec<String>,
    /// SQLite: every value, row after row.
    values: Vec<Value>,
    len: usize,
}

impl Rows {
    pub fn new(backend: DbBackend, columns: &'static [(&'static str, Kind)]) -> Rows {
        let postgres = backend == DbBackend::Postgres;
        Rows {
            columns,
            postgres,
            arrays: if postgres {
                vec![String::new(); columns.len()]
            } else {
                Vec::new()
            },
            values: Vec::new(),
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a row; its cells must match the columns given, in order.
    pub fn push<const N: usize>(&mut self, row: [Cell; N]) -> StoreResult<()> {
        if N != self.columns.len() {
            return Err(StoreError::Corrupt(format!(
                "a row of {N} values for {} columns",
                self.columns.len()
            )));
        }
        for (i, cell) in row.into_iter().enumerate() {
            if self.postgres {
                let array = &mut self.arrays[i];
                if self.len > 0 {
                    array.push(',');
                }
                pg_element(array, &cell);
            } else {
                self.values.push(match cell {
                    Cell::Int(v) => Value::BigInt(v),
                    Cell::Text(v) => Value::String(v),
                    // The text sqlx would write ("%F"), without parsing
                    // a format string per value.
                    Cell::Date(v) => Value::String(v.map(|d| d.to_string())),
                    Cell::Timestamp(v) => Value::ChronoDateTimeUtc(v),
                });
            }
        }
        self.len += 1;
        Ok(())
    }

    /// The rows as a subquery-ready source whose columns are `column1`…,
    /// its parameters numbered from `first` (PostgreSQL), and the values
    /// to bind after the statement's own `first - 1`.
    pub fn source(self, first: usize) -> (String, Vec<Value>) {
        let n = self.columns.len();
        if self.postgres {
            let arrays: Vec<String> = self
                .columns
                .iter()
                .enumerate()
                .map(|(i, (_, k))| format!("CAST(${} AS {})", first + i, k.pg_array()))
                .collect();
            let names: Vec<String> = (1..=n).map(|i| format!("column{i}")).collect();
            let sql = format!(
                "SELECT * FROM UNNEST({}) AS u({})",
                arrays.join(", "),
                names.join(", ")
            );
            let values = self
                .arrays
                .into_iter()
                .map(|a| Value::String(Some(format!("{{{a}}}"))))
                .collect();
            (sql, values)
        } else {
            let tuple = format!("({})", vec!["?"; n].join(", "));
            let sql = format!("VALUES {}", vec![tuple.as_str(); self.len].join(", "));
            (sql, self.values)
        }
    }

    /// `INSERT INTO table (column names) <rows> <suffix>` (a suffix such as
    /// `RETURNING id`).
    fn insert(self, table: &str, suffix: &str) -> Statement {
        let postgres = self.postgres;
        let names: Vec<&str> = self.columns.iter().map(|(name, _)| *name).collect();
        let (source, values) = self.source(1);
        let sql = format!(
            "INSERT INTO {table} ({}) {source} {suffix}",
            names.join(", ")
        );
        let backend = if postgres {
            DbBackend::Postgres
        } else {
            DbBackend::Sqlite
        };
        Statement::from_sql_and_values(backend, sql, values)
    }

    /// Inserts the rows; fails unless every one was.
    pub async fn insert_into(self, conn: &impl ConnectionTrait, table: &str) -> StoreResult<()> {
        let n = self.len as u64;
        let done = conn.execute_raw(self.insert(table, "")).await?;
        if done.rows_affected() != n {
            return Err(StoreError::Corrupt(format!(
                "{table}: rows not all inserted"
            )));
        }
        Ok(())
    }

    /// Inserts the rows and returns `returning` of each (in no set order).
    pub async fn insert_returning(
        self,
        conn: &impl ConnectionTrait,
        table: &str,
        returning: &str,
    ) -> StoreResult<Vec<QueryResult>> {
        let statement = self.insert(table, &format!("RETURNING {returning}"));
        Ok(conn.query_all_raw(statement).await?)
    }
}

/// One element of a PostgreSQL array literal: NULL, a number, or a
/// double-quoted string with `"` and `\` escaped.
fn pg_element(out: &mut String, cell: &Cell) {
    // Writing to a String cannot fail.
    let _ = match cell {
        Cell::Int(None) | Cell::Text(None) | Cell::Date(None) | Cell::Timestamp(None) => {
            out.write_str("NULL")
        }
        Cell::Int(Some(v)) => write!(out, "{v}"),
        Cell::Date(Some(d)) => write!(out, "{d}"),
        Cell::Timestamp(Some(t)) => write!(out, "\"{}\"", t.format("%Y-%m-%d %H:%M:%S%.6f+00")),
        Cell::Text(Some(s)) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
            Ok(())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_arrays_quote_text_and_spell_nulls() {
        let mut rows = Rows::new(
            DbBackend::Postgres,
            &[("a", Kind::BigInt), ("b", Kind::Text), ("c", Kind::Date)],
        );
        let d = NaiveDate::from_ymd_opt(2026, 1, 31);
        rows.push([
            Cell::from(7i64),
            Cell::from("a \"b\" \\c,{d}"),
            Cell::from(d),
        ])
        .unwrap();
        rows.push([Cell::Int(None), Cell::Text(None), Cell::Date(None)])
            .unwrap();
        let (sql, values) = rows.source(3);
        assert_eq!(
            sql,
            "SELECT * FROM UNNEST(CAST($3 AS BIGINT[]), CAST($4 AS TEXT[]), CAST($5 AS DATE[])) \
             AS u(column1, column2, column3)"
        );
        assert_eq!(
            values,
            vec![
                Value::String(Some("{7,NULL}".into())),
                Value::String(Some(r#"{"a \"b\" \\c,{d}",NULL}"#.into())),
                Value::String(Some("{2026-01-31,NULL}".into())),
            ]
        );
    }

    #[test]
    fn sqlite_rows_are_a_values_list_of_bare_placeholders() {
        let mut rows = Rows::new(DbBackend::Sqlite, &[("a", Kind::BigInt), ("b", Kind::Text)]);
        rows.push([Cell::from(1i64), Cell::from("x")]).unwrap();
        rows.push([Cell::from(2i64), Cell::Text(None)]).unwrap();
        assert!(
            rows.push([Cell::from(3i64)]).is_err(),
            "a short row is refused"
        );
        let (sql, values) = rows.source(1);
        assert_eq!(sql, "VALUES (?, ?), (?, ?)");
        assert_eq!(values.len(), 4);
        assert_eq!(values[3], Value::String(None));
    }
}
