//! Many rows as one statement's row source, for a billing run's batches.
//! On PostgreSQL every column travels as one array parameter and UNNEST
//! turns the arrays back into rows: a statement has as many parameters as
//! columns whatever its rows, so the server neither parses nor plans
//! thousands of them. On SQLite it is a VALUES list of bare `?`
//! (`store::next_placeholder` says why not `?N`). Either way the rows'
//! columns are `column1`, `column2`… in the order given. A column whose
//! value is the same in every row (a run's entity, issue date, timestamps,
//! the zeros and NULLs of a new invoice) travels once, as one scalar
//! parameter: about half an invoice row's values. PostgreSQL parses each
//! array's text (about 0.2–0.5 ms per 500 elements, measured), and sqlx
//! binds each SQLite value, so what is sent once is not paid per row.

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
    fn pg_scalar(self) -> &'static str {
        match self {
            Kind::BigInt => "BIGINT",
            Kind::Int => "INTEGER",
            Kind::Text => "TEXT",
            Kind::Date => "DATE",
            Kind::Timestamp => "TIMESTAMPTZ",
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

/// A value as it is bound: SQLite gets dates as the text sqlx would write
/// ("%F", without parsing a format string per value); PostgreSQL, for a
/// scalar `CAST($n AS type)`, gets them as dates.
fn bound(cell: Cell, postgres: bool) -> Value {
    match cell {
        Cell::Int(v) => Value::BigInt(v),
        Cell::Text(v) => Value::String(v),
        Cell::Date(v) if postgres => Value::ChronoDate(v),
        Cell::Date(v) => Value::String(v.map(|d| d.to_string())),
        Cell::Timestamp(v) => Value::ChronoDateTimeUtc(v),
    }
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
    /// The first row's cells, and whether each column has differed since.
    first: Vec<Cell>,
    varies: Vec<bool>,
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
            first: Vec::new(),
            varies: vec![false; columns.len()],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// On PostgreSQL, column `index`'s values as one array parameter (for a
    /// `= ANY(CAST($n AS type[]))` beside the row source); `None` on SQLite
    /// or for a column that does not exist.
    pub fn pg_array(&self, index: usize) -> Option<Value> {
        self.arrays.get(index).map(|array| array_value(array))
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
            if self.len == 0 {
                self.first.push(cell.clone());
            } else if !self.varies[i] && self.first[i] != cell {
                self.varies[i] = true;
            }
            if self.postgres {
                let array = &mut self.arrays[i];
                if self.len > 0 {
                    array.push(',');
                }
                pg_element(array, &cell);
            } else {
                self.values.push(bound(cell, false));
            }
        }
        self.len += 1;
        Ok(())
    }

    /// Which columns travel per row: those that vary, and always at least
    /// one, so the row source still has as many rows as were pushed.
    fn per_row(&self) -> Vec<bool> {
        if self.len == 0 {
            return vec![true; self.columns.len()];
        }
        let mut per_row = self.varies.clone();
        if !per_row.iter().any(|&v| v) {
            if let Some(first) = per_row.first_mut() {
                *first = true;
            }
        }
        per_row
    }

    /// The rows as a subquery-ready source whose columns are `column1`…,
    /// its parameters numbered from `first` (PostgreSQL), and the values
    /// to bind after the statement's own `first - 1`. The same-in-every-row
    /// columns are scalars in the source's SELECT list (bound before the
    /// rows, as they come first in the text); the others come from UNNEST
    /// (PostgreSQL) or a VALUES list (SQLite) as `r.columnK`.
    pub fn source(self, first: usize) -> (String, Vec<Value>) {
        let per_row = self.per_row();
        let mut values = Vec::new();
        let mut select = Vec::with_capacity(self.columns.len());
        let mut inner = 0;
        for (i, (_, kind)) in self.columns.iter().enumerate() {
            let name = format!("column{}", i + 1);
            if per_row[i] {
                inner += 1;
                select.push(format!("r.column{inner} AS {name}"));
            } else {
                let placeholder = if self.postgres {
                    format!("CAST(${} AS {})", first + values.len(), kind.pg_scalar())
                } else {
                    "?".to_string()
                };
                values.push(bound(self.first[i].clone(), self.postgres));
                select.push(format!("{placeholder} AS {name}"));
            }
        }
        let rows = if self.postgres {
            let mut arrays = Vec::with_capacity(inner);
            let mut names = Vec::with_capacity(inner);
            let kinds = self.columns.iter().map(|(_, k)| *k);
            for ((array, kind), _) in self
                .arrays
                .into_iter()
                .zip(kinds)
                .zip(&per_row)
                .filter(|(_, per_row)| **per_row)
            {
                let n = first + values.len();
                arrays.push(format!("CAST(${n} AS {}[])", kind.pg_scalar()));
                names.push(format!("column{}", names.len() + 1));
                values.push(array_value(&array));
            }
            format!("UNNEST({}) AS r({})", arrays.join(", "), names.join(", "))
        } else {
            let width = self.columns.len();
            values.extend(
                self.values
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| per_row[i % width])
                    .map(|(_, v)| v),
            );
            let tuple = format!("({})", vec!["?"; inner].join(", "));
            format!(
                "(VALUES {}) AS r",
                vec![tuple.as_str(); self.len].join(", ")
            )
        };
        (format!("SELECT {} FROM {rows}", select.join(", ")), values)
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

/// A PostgreSQL array literal from its elements (as [`pg_element`] writes
/// them), bound as text and cast by the statement.
fn array_value(elements: &str) -> Value {
    Value::String(Some(format!("{{{elements}}}")))
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
            "SELECT r.column1 AS column1, r.column2 AS column2, r.column3 AS column3 \
             FROM UNNEST(CAST($3 AS BIGINT[]), CAST($4 AS TEXT[]), CAST($5 AS DATE[])) \
             AS r(column1, column2, column3)"
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
    fn a_postgres_column_is_also_one_array_parameter() {
        let mut rows = Rows::new(DbBackend::Postgres, &[("id", Kind::BigInt)]);
        rows.push([Cell::from(3i64)]).unwrap();
        rows.push([Cell::from(5i64)]).unwrap();
        assert_eq!(rows.pg_array(0), Some(Value::String(Some("{3,5}".into()))));
        assert_eq!(rows.pg_array(1), None);
        let sqlite = Rows::new(DbBackend::Sqlite, &[("id", Kind::BigInt)]);
        assert_eq!(sqlite.pg_array(0), None);
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
        assert_eq!(
            sql,
            "SELECT r.column1 AS column1, r.column2 AS column2 FROM (VALUES (?, ?), (?, ?)) AS r"
        );
        assert_eq!(values.len(), 4);
        assert_eq!(values[3], Value::String(None));
    }

    const THREE: [(&str, Kind); 3] = [("a", Kind::BigInt), ("b", Kind::Text), ("c", Kind::Date)];

    fn same_b_and_c(backend: DbBackend, n: i64) -> Rows {
        let mut rows = Rows::new(backend, &THREE);
        let d = NaiveDate::from_ymd_opt(2026, 12, 3);
        for a in 0..n {
            rows.push([Cell::from(a), Cell::from("same"), Cell::from(d)])
                .unwrap();
        }
        rows
    }

    #[test]
    fn a_column_the_same_in_every_row_is_sent_once_in_its_place() {
        let (sql, values) = same_b_and_c(DbBackend::Postgres, 3).source(2);
        assert_eq!(
            sql,
            "SELECT r.column1 AS column1, CAST($2 AS TEXT) AS column2, CAST($3 AS DATE) AS column3 \
             FROM UNNEST(CAST($4 AS BIGINT[])) AS r(column1)"
        );
        let d = NaiveDate::from_ymd_opt(2026, 12, 3);
        assert_eq!(
            values,
            vec![
                Value::String(Some("same".into())),
                Value::ChronoDate(d),
                Value::String(Some("{0,1,2}".into())),
            ]
        );
        let (sql, values) = same_b_and_c(DbBackend::Sqlite, 2).source(1);
        assert_eq!(
            sql,
            "SELECT r.column1 AS column1, ? AS column2, ? AS column3 FROM (VALUES (?), (?)) AS r"
        );
        // Bound in the order the text names them: the scalars, then the rows.
        assert_eq!(
            values,
            vec![
                Value::String(Some("same".into())),
                Value::String(Some("2026-12-03".into())),
                Value::BigInt(Some(0)),
                Value::BigInt(Some(1)),
            ]
        );
    }

    #[test]
    fn a_single_row_still_has_one_column_per_row_so_the_source_has_its_row() {
        let (sql, values) = same_b_and_c(DbBackend::Sqlite, 1).source(1);
        assert_eq!(
            sql,
            "SELECT r.column1 AS column1, ? AS column2, ? AS column3 FROM (VALUES (?)) AS r"
        );
        assert_eq!(values.len(), 3);
        let (sql, _) = same_b_and_c(DbBackend::Postgres, 1).source(1);
        assert!(
            sql.ends_with("FROM UNNEST(CAST($3 AS BIGINT[])) AS r(column1)"),
            "{sql}"
        );
    }
}
