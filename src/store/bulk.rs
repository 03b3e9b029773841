//! Many rows as one statement's row source, for a billing run's batches.
//! On PostgreSQL every column travels as one array parameter and UNNEST
//! turns the arrays back into rows: a statement has as many parameters as
//! columns whatever its rows, so the server neither parses nor plans
//! thousands of them. On SQLite the rows travel as one JSON text, an array
//! of row arrays, that `jsonb_each` turns back into rows: one parameter and
//! one statement text whatever the rows, where a VALUES list of bound
//! values made sqlx convert, copy and hand each value to its SQLite thread
//! and bind it there. Either way the rows' columns are `column1`,
//! `column2`… in the order given. A column whose value is the same in
//! every row (a run's entity, issue date, timestamps, the zeros and NULLs
//! of a new invoice) travels once, as one scalar parameter: about half an
//! invoice row's values. PostgreSQL parses each array's text (about
//! 0.2–0.5 ms per 500 elements, measured) and SQLite each row's JSON, so
//! what is sent once is not paid per row.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use sea_orm::{
    ConnectionTrait, DbBackend, EntityTrait, IdenStatic, Iterable, QueryOrder, QueryResult,
    QueryTrait, Select, Statement, Value,
};
use serde::de::DeserializeOwned;

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
    /// SQLite: every cell, row after row (written as JSON once it is known
    /// which columns vary).
    cells: Vec<Cell>,
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
            cells: Vec::new(),
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
                self.cells.push(cell);
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
    /// (PostgreSQL, `r.columnK`) or `jsonb_each` (SQLite, `r.value ->> K`:
    /// its values are SQLite's binary JSON, which `->>` reads without
    /// parsing each row's text again as `json_each`'s would be: 200,000
    /// invoice lines in 1.3–1.4 s instead of 2.0–2.4 s in SQLite alone, and
    /// a 100,000-contract run's line inserts 1.39–1.60 s instead of
    /// 1.98–2.11 s, measured).
    pub fn source(self, first: usize) -> (String, Vec<Value>) {
        let per_row = self.per_row();
        let mut values = Vec::new();
        let mut select = Vec::with_capacity(self.columns.len());
        let mut inner = 0;
        for (i, (_, kind)) in self.columns.iter().enumerate() {
            let name = format!("column{}", i + 1);
            if per_row[i] {
                if self.postgres {
                    select.push(format!("r.column{} AS {name}", inner + 1));
                } else {
                    select.push(format!("r.value ->> {inner} AS {name}"));
                }
                inner += 1;
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
            values.push(Value::String(Some(json_rows(
                &self.cells,
                &per_row,
                self.len,
            ))));
            "jsonb_each(?) AS r".to_string()
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

/// Every row of `select`, ordered by `order` (which this applies: on
/// SQLite it orders the aggregate too, as a subquery's order is not
/// kept). On SQLite as one JSON text (`json_group_array` of each row's
/// `json_object`) that serde turns into models: sqlx hands each row of a
/// query from its SQLite thread to the async side as a channel message,
/// copying every value, and a billing run's chunk reads thousands of rows,
/// so the two threads woke each other per row. The models must deserialize
/// from their column names, as SQLite stores them (dates and timestamps as
/// the text sqlx writes).
pub async fn all<E>(
    conn: &impl ConnectionTrait,
    select: Select<E>,
    order: &[E::Column],
) -> StoreResult<Vec<E::Model>>
where
    E: EntityTrait,
    E::Model: DeserializeOwned,
{
    let select = order.iter().fold(select, |s, c| s.order_by_asc(*c));
    if conn.get_database_backend() != DbBackend::Sqlite {
        return Ok(select.all(conn).await?);
    }
    let inner = select.build(DbBackend::Sqlite);
    let fields: Vec<String> = E::Column::iter()
        .map(|c| format!("'{0}', q.\"{0}\"", c.as_str()))
        .collect();
    let order: Vec<String> = order
        .iter()
        .map(|c| format!("q.\"{}\"", c.as_str()))
        .collect();
    let sql = format!(
        "SELECT json_group_array(json_object({}) ORDER BY {}) AS json FROM ({}) AS q",
        fields.join(", "),
        order.join(", "),
        inner.sql
    );
    let values = inner.values.map(|v| v.0).unwrap_or_default();
    let statement = Statement::from_sql_and_values(DbBackend::Sqlite, sql, values);
    one_json(conn, statement, E::default().table_name()).await
}

/// The one JSON text a SQLite query returns as its column `json`, decoded
/// (`what` names it in the error when it does not read).
pub(super) async fn one_json<T: DeserializeOwned>(
    conn: &impl ConnectionTrait,
    statement: Statement,
    what: &str,
) -> StoreResult<T> {
    let row = conn
        .query_one_raw(statement)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("{what}: an aggregate returned no row")))?;
    let text: String = row.try_get("", "json")?;
    serde_json::from_str(&text)
        .map_err(|e| StoreError::Corrupt(format!("{what}: a stored row does not read: {e}")))
}

/// A PostgreSQL array literal from its elements (as [`pg_element`] writes
/// them), bound as text and cast by the statement.
fn array_value(elements: &str) -> Value {
    Value::String(Some(format!("{{{elements}}}")))
}

/// SQLite's row source: `[[…],[…]]`, each row holding the cells of the
/// columns that vary, in order.
fn json_rows(cells: &[Cell], per_row: &[bool], rows: usize) -> String {
    let width = per_row.len();
    let mut out = String::with_capacity(rows * (2 + 12 * width) + 2);
    out.push('[');
    for (r, row) in cells.chunks(width).enumerate() {
        if r > 0 {
            out.push(',');
        }
        out.push('[');
        let varying = row.iter().zip(per_row).filter(|(_, v)| **v);
        for (k, (cell, _)) in varying.enumerate() {
            if k > 0 {
                out.push(',');
            }
            json_element(&mut out, cell);
        }
        out.push(']');
    }
    out.push(']');
    out
}

/// One cell as JSON, stored by SQLite as the text or integer sqlx would
/// have bound: dates "%F", timestamps RFC 3339 as sqlx writes them.
fn json_element(out: &mut String, cell: &Cell) {
    let text = |out: &mut String, s: &str| {
        // Escaping a &str into a String cannot fail.
        if let Ok(quoted) = serde_json::to_string(s) {
            out.push_str(&quoted);
        }
    };
    // Writing to a String cannot fail.
    let _ = match cell {
        Cell::Int(None) | Cell::Text(None) | Cell::Date(None) | Cell::Timestamp(None) => {
            out.write_str("null")
        }
        Cell::Int(Some(v)) => write!(out, "{v}"),
        Cell::Date(Some(d)) => write!(out, "\"{d}\""),
        Cell::Timestamp(Some(t)) => {
            text(out, &t.to_rfc3339_opts(SecondsFormat::AutoSi, false));
            Ok(())
        }
        Cell::Text(Some(s)) => {
            text(out, s);
            Ok(())
        }
    };
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
    use chrono::Timelike;
    use entity::status::ContractStatus;

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
    fn sqlite_rows_are_one_json_parameter_read_by_jsonb_each() {
        let mut rows = Rows::new(DbBackend::Sqlite, &[("a", Kind::BigInt), ("b", Kind::Text)]);
        rows.push([Cell::from(1i64), Cell::from("x \"y\" \\ é\n")])
            .unwrap();
        rows.push([Cell::from(2i64), Cell::Text(None)]).unwrap();
        assert!(
            rows.push([Cell::from(3i64)]).is_err(),
            "a short row is refused"
        );
        let (sql, values) = rows.source(1);
        assert_eq!(
            sql,
            "SELECT r.value ->> 0 AS column1, r.value ->> 1 AS column2 FROM jsonb_each(?) AS r"
        );
        assert_eq!(
            values,
            vec![Value::String(Some(
                r#"[[1,"x \"y\" \\ é\n"],[2,null]]"#.into()
            ))]
        );
    }

    /// What the JSON source writes is what sqlx would have bound: the same
    /// stored values and types, read back through the same decoding.
    #[tokio::test]
    async fn sqlite_stores_json_rows_as_bound_values_would_be() {
        use sea_orm::{Database, TryGetable};
        let db = Database::connect("sqlite::memory:").await.unwrap();
        db.execute_unprepared("CREATE TABLE t (n INTEGER, s TEXT, d TEXT, ts TEXT)")
            .await
            .unwrap();
        const COLUMNS: [(&str, Kind); 4] = [
            ("n", Kind::BigInt),
            ("s", Kind::Text),
            ("d", Kind::Date),
            ("ts", Kind::Timestamp),
        ];
        let d = NaiveDate::from_ymd_opt(2026, 2, 28).unwrap();
        let ts = d.and_hms_micro_opt(23, 59, 58, 123_456).unwrap().and_utc();
        let cells = |n: i64| {
            [
                Cell::from(n),
                Cell::from(format!("\"{n}\" \\ ü\u{1F4B6}\t")),
                Cell::from(d),
                Cell::from(ts),
            ]
        };
        let mut rows = Rows::new(DbBackend::Sqlite, &COLUMNS);
        for n in [i64::MIN, -1, 0, i64::MAX] {
            rows.push(cells(n)).unwrap();
        }
        rows.push([
            Cell::Int(None),
            Cell::Text(None),
            Cell::Date(None),
            Cell::Timestamp(None),
        ])
        .unwrap();
        rows.insert_into(&db, "t").await.unwrap();
        let bound = [
            cells(7).map(|c| bound(c, false)),
            [
                None::<i64>.into(),
                None::<String>.into(),
                None::<String>.into(),
                None::<DateTime<Utc>>.into(),
            ],
        ];
        for values in bound {
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Sqlite,
                "INSERT INTO t VALUES (?, ?, ?, ?)",
                values,
            ))
            .await
            .unwrap();
        }
        let got = db
            .query_all_raw(Statement::from_string(
                DbBackend::Sqlite,
                "SELECT n, s, d, ts, typeof(n) || typeof(s) || typeof(d) || typeof(ts) AS types FROM t ORDER BY rowid",
            ))
            .await
            .unwrap();
        type Stored = (
            Option<i64>,
            Option<String>,
            Option<NaiveDate>,
            Option<DateTime<Utc>>,
            String,
        );
        let row = |i: usize| -> Stored {
            let r = &got[i];
            (
                Option::<i64>::try_get(r, "", "n").unwrap(),
                Option::<String>::try_get(r, "", "s").unwrap(),
                Option::<NaiveDate>::try_get(r, "", "d").unwrap(),
                Option::<DateTime<Utc>>::try_get(r, "", "ts").unwrap(),
                String::try_get(r, "", "types").unwrap(),
            )
        };
        for (i, n) in [i64::MIN, -1, 0, i64::MAX].into_iter().enumerate() {
            let (gn, gs, gd, gts, types) = row(i);
            assert_eq!(gn, Some(n), "integers are exact to the last bit");
            assert_eq!(
                gs.as_deref(),
                Some(format!("\"{n}\" \\ ü\u{1F4B6}\t").as_str())
            );
            assert_eq!((gd, gts), (Some(d), Some(ts)));
            assert_eq!(types, "integertexttexttext");
        }
        let (_, s7, ..) = row(5);
        let text_of = |i: usize, col: &str| String::try_get(&got[i], "", col).unwrap();
        assert_eq!(s7.as_deref(), Some("\"7\" \\ ü\u{1F4B6}\t"));
        assert_eq!(text_of(0, "d"), text_of(5, "d"), "dates are the same text");
        assert_eq!(
            text_of(0, "ts"),
            text_of(5, "ts"),
            "timestamps are the same text"
        );
        assert_eq!(row(4), row(6), "NULLs are NULLs");
        assert_eq!(row(4).4, "nullnullnullnull");
    }

    /// A model read as one JSON text on SQLite is the model SeaORM reads
    /// row by row: every column (enum, dates, a NULL, a timestamp with and
    /// without a fraction, text that needs escaping), in the order asked.
    #[tokio::test]
    async fn sqlite_models_read_as_one_json_text_are_the_rows_seaorm_reads() {
        use entity::contract;
        use migration::MigratorTrait;
        use sea_orm::{ActiveModelTrait, ConnectOptions, Database, IntoActiveModel, QueryOrder};
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1);
        let db = Database::connect(options).await.unwrap();
        migration::Migrator::up(&db, None).await.unwrap();
        db.execute_unprepared("PRAGMA foreign_keys = OFF")
            .await
            .unwrap();
        let day = |d| NaiveDate::from_ymd_opt(2026, 2, d).unwrap();
        let at = day(28)
            .and_hms_micro_opt(23, 59, 58, 120_000)
            .unwrap()
            .and_utc();
        for (i, id) in [3i64, 1, 2].into_iter().enumerate() {
            contract::Model {
                id,
                legal_entity_id: 1,
                customer_id: 10 + id,
                status: [
                    ContractStatus::Paused,
                    ContractStatus::Active,
                    ContractStatus::Cancelled,
                ][i],
                start_date: day(1),
                end_date: (id == 2).then(|| day(27)),
                billing_interval: "MONTH \"quoted\" ü".into(),
                interval_count: 3,
                timing: "IN_ARREARS".into(),
                next_period_index: i32::MAX,
                next_billing_date: (id != 3).then(|| day(2)),
                created_at: if id == 1 {
                    at.with_nanosecond(0).unwrap()
                } else {
                    at
                },
                version: 7,
                billed_through: None,
                cancelled_at: (id == 2).then(|| day(3)),
            }
            .into_active_model()
            .reset_all()
            .insert(&db)
            .await
            .unwrap();
        }
        let select = || contract::Entity::find().order_by_asc(contract::Column::Id);
        let by_rows = select().all(&db).await.unwrap();
        let by_json = all(&db, select(), &[contract::Column::Id]).await.unwrap();
        assert_eq!(by_rows.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(by_json, by_rows);
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
            "SELECT r.value ->> 0 AS column1, ? AS column2, ? AS column3 FROM jsonb_each(?) AS r"
        );
        // Bound in the order the text names them: the scalars, then the rows.
        assert_eq!(
            values,
            vec![
                Value::String(Some("same".into())),
                Value::String(Some("2026-12-03".into())),
                Value::String(Some("[[0],[1]]".into())),
            ]
        );
    }

    #[test]
    fn a_single_row_still_has_one_column_per_row_so_the_source_has_its_row() {
        let (sql, values) = same_b_and_c(DbBackend::Sqlite, 1).source(1);
        assert_eq!(
            sql,
            "SELECT r.value ->> 0 AS column1, ? AS column2, ? AS column3 FROM jsonb_each(?) AS r"
        );
        assert_eq!(values.len(), 3);
        let (sql, _) = same_b_and_c(DbBackend::Postgres, 1).source(1);
        assert!(
            sql.ends_with("FROM UNNEST(CAST($3 AS BIGINT[])) AS r(column1)"),
            "{sql}"
        );
    }
}
