//! Queries written once and run by whichever driver holds the connection: sqlx for PostgreSQL,
//! rusqlite for SQLite (its reader threads, `readers.rs`, and its writer, `writer.rs`)
//! (docs/storage.md, "Two drivers, one SQL text").
//!
//! A storage function builds a query the way it would with sqlx (`query`, `query_as`,
//! `query_scalar`, then `bind`), and runs it on an [`Exec`]: `&Db` for a read outside a
//! transaction (PostgreSQL's pool, SQLite's readers) or `&mut Tx` inside a write transaction. Rows decode through [`FromRow`], implemented for tuples
//! here and for named row structs with [`from_row!`](crate::from_row).

use std::marker::PhantomData;

use sqlx::Row as _;
use sqlx::postgres::PgRow;
use uuid::Uuid;

pub use crate::db::Arg;
use crate::db::Exec;
use crate::{Db, StorageError, Tx};

/// A query's text: a constant or built at run time (catalog filters, placeholders lists).
#[derive(Debug, Clone)]
pub enum Sql {
    Static(&'static str),
    Owned(String),
}

impl Sql {
    pub fn as_str(&self) -> &str {
        match self {
            Sql::Static(s) => s,
            Sql::Owned(s) => s,
        }
    }
}

impl From<&'static str> for Sql {
    fn from(s: &'static str) -> Self {
        Sql::Static(s)
    }
}

impl From<String> for Sql {
    fn from(s: String) -> Self {
        Sql::Owned(s)
    }
}

impl From<&String> for Sql {
    fn from(s: &String) -> Self {
        Sql::Owned(s.clone())
    }
}

/// One column's value, decodable from every driver's row.
pub trait Column: Sized {
    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error>;
    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self>;
    fn named_postgres(row: &PgRow, name: &str) -> Result<Self, sqlx::Error>;
    /// `hint`: where the column usually is (its field's place in the row struct), checked
    /// first — rusqlite finds a name by comparing it with every column's in turn.
    fn named_rusqlite(row: &rusqlite::Row<'_>, name: &str, hint: usize) -> rusqlite::Result<Self>;
}

impl<T> Column for T
where
    T: for<'r> sqlx::Decode<'r, sqlx::Postgres>
        + sqlx::Type<sqlx::Postgres>
        + rusqlite::types::FromSql,
{
    fn from_postgres(row: &PgRow, index: usize) -> Result<Self, sqlx::Error> {
        row.try_get(index)
    }
    fn from_rusqlite(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Self> {
        row.get(index)
    }
    fn named_postgres(row: &PgRow, name: &str) -> Result<Self, sqlx::Error> {
        row.try_get(name)
    }
    fn named_rusqlite(row: &rusqlite::Row<'_>, name: &str, hint: usize) -> rusqlite::Result<Self> {
        let statement = row.as_ref();
        match statement.column_name(hint) {
            Ok(at) if at.eq_ignore_ascii_case(name) => row.get(hint),
            _ => row.get(statement.column_index(name)?),
        }
    }
}

/// A whole row, decodable from every driver's row.
pub trait FromRow: Sized {
    fn from_postgres(row: &PgRow) -> Result<Self, sqlx::Error>;
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self>;

    /// Where each field's column is in `statement`'s rows (`None`: not there), worked out once
    /// per statement run for [`FromRow::from_rusqlite_at`]. Empty for rows read by place.
    fn rusqlite_columns(_statement: &rusqlite::Statement<'_>) -> Vec<Option<usize>> {
        Vec::new()
    }

    /// The row, its fields' columns found by [`FromRow::rusqlite_columns`]: finding them by
    /// name in every row (a call into SQLite and a comparison per field) was a tenth of a list
    /// page's time.
    fn from_rusqlite_at(
        row: &rusqlite::Row<'_>,
        _columns: &[Option<usize>],
    ) -> rusqlite::Result<Self> {
        Self::from_rusqlite(row)
    }
}

/// Where the field `name`, the `at`th of its struct, is among `statement`'s columns: at its own
/// place when the query lists the columns in the struct's order, else the first of its name.
pub fn column_of(statement: &rusqlite::Statement<'_>, name: &str, at: usize) -> Option<usize> {
    match statement.column_name(at) {
        Ok(there) if there.eq_ignore_ascii_case(name) => Some(at),
        _ => statement.column_index(name).ok(),
    }
}

/// The value of the field `name` in `row` at `column`, found by [`column_of`].
pub fn column_at<T: Column>(
    row: &rusqlite::Row<'_>,
    column: Option<usize>,
    name: &str,
) -> rusqlite::Result<T> {
    match column {
        Some(index) => T::from_rusqlite(row, index),
        None => Err(rusqlite::Error::InvalidColumnName(name.to_owned())),
    }
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: Column),+> FromRow for ($($t,)+) {
            fn from_postgres(row: &PgRow) -> Result<Self, sqlx::Error> {
                Ok(($($t::from_postgres(row, $i)?,)+))
            }
            fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                Ok(($($t::from_rusqlite(row, $i)?,)+))
            }
        }
    };
}

tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

/// Implements [`FromRow`] for a struct whose fields are read by column name (as sqlx's
/// `FromRow` derive does). A field listed as `name = default` reads as its type's default
/// when the query has no such column.
#[macro_export]
#[doc(hidden)]
macro_rules! from_row {
    ($ty:ident { $($field:ident),+ $(,)? } $(optional { $($opt:ident),+ $(,)? })?) => {
        impl $crate::sql::FromRow for $ty {
            fn from_postgres(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
                Ok($ty {
                    $($field: $crate::sql::Column::named_postgres(row, stringify!($field))?,)+
                    $($($opt: $crate::sql::optional(
                        $crate::sql::Column::named_postgres(row, stringify!($opt)),
                        |e| matches!(e, sqlx::Error::ColumnNotFound(_)),
                    )?,)+)?
                })
            }
            #[allow(unused_assignments)] // the place after the last field
            fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
                // Fields are read in order: `at` is each one's place in the struct.
                let mut at = 0usize;
                Ok($ty {
                    $($field: {
                        let value = $crate::sql::Column::named_rusqlite(row, stringify!($field), at)?;
                        at += 1;
                        value
                    },)+
                    $($($opt: $crate::sql::optional(
                        $crate::sql::Column::named_rusqlite(row, stringify!($opt), at),
                        |e| matches!(e, rusqlite::Error::InvalidColumnName(_)),
                    )?,)+)?
                })
            }
            #[allow(unused_assignments)] // the place after the last field
            fn rusqlite_columns(statement: &rusqlite::Statement<'_>) -> Vec<Option<usize>> {
                let mut at = 0usize;
                let mut columns = Vec::new();
                $(
                    columns.push($crate::sql::column_of(statement, stringify!($field), at));
                    at += 1;
                )+
                $($(
                    columns.push($crate::sql::column_of(statement, stringify!($opt), at));
                    at += 1;
                )+)?
                columns
            }
            #[allow(unused_assignments)] // the place after the last field
            fn from_rusqlite_at(
                row: &rusqlite::Row<'_>,
                columns: &[Option<usize>],
            ) -> rusqlite::Result<Self> {
                let mut at = 0usize;
                Ok($ty {
                    $($field: {
                        let value = $crate::sql::column_at(row, columns[at], stringify!($field))?;
                        at += 1;
                        value
                    },)+
                    $($($opt: {
                        let value = match columns[at] {
                            Some(index) => $crate::sql::Column::from_rusqlite(row, index)?,
                            None => Default::default(),
                        };
                        at += 1;
                        value
                    },)+)?
                })
            }
        }
    };
}

/// A missing column read as the default (for `from_row!`'s `optional` fields).
pub fn optional<T: Default, E>(read: Result<T, E>, missing: fn(&E) -> bool) -> Result<T, E> {
    match read {
        Err(e) if missing(&e) => Ok(T::default()),
        other => other,
    }
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::I64(v)
    }
}
impl From<i32> for Arg {
    fn from(v: i32) -> Self {
        Arg::I64(v.into())
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Self {
        Arg::I64(v.into())
    }
}
impl From<f64> for Arg {
    fn from(v: f64) -> Self {
        Arg::F64(v)
    }
}
impl From<bool> for Arg {
    fn from(v: bool) -> Self {
        Arg::Bool(v)
    }
}
impl From<Uuid> for Arg {
    fn from(v: Uuid) -> Self {
        Arg::Uuid(v)
    }
}
impl From<&Uuid> for Arg {
    fn from(v: &Uuid) -> Self {
        Arg::Uuid(*v)
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<&String> for Arg {
    fn from(v: &String) -> Self {
        Arg::Text(v.clone())
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<&&str> for Arg {
    fn from(v: &&str) -> Self {
        Arg::Text((*v).to_owned())
    }
}
impl From<Vec<u8>> for Arg {
    fn from(v: Vec<u8>) -> Self {
        Arg::Bytes(v)
    }
}
impl From<&[u8]> for Arg {
    fn from(v: &[u8]) -> Self {
        Arg::Bytes(v.to_vec())
    }
}
impl From<&Vec<u8>> for Arg {
    fn from(v: &Vec<u8>) -> Self {
        Arg::Bytes(v.clone())
    }
}
impl From<&i64> for Arg {
    fn from(v: &i64) -> Self {
        Arg::I64(*v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptI64(v)
    }
}
impl From<&Option<i64>> for Arg {
    fn from(v: &Option<i64>) -> Self {
        Arg::OptI64(*v)
    }
}
impl From<Option<i32>> for Arg {
    fn from(v: Option<i32>) -> Self {
        Arg::OptI64(v.map(i64::from))
    }
}
impl From<Option<Uuid>> for Arg {
    fn from(v: Option<Uuid>) -> Self {
        Arg::OptUuid(v)
    }
}
impl From<&Option<Uuid>> for Arg {
    fn from(v: &Option<Uuid>) -> Self {
        Arg::OptUuid(*v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}
impl From<&Option<String>> for Arg {
    fn from(v: &Option<String>) -> Self {
        Arg::OptText(v.clone())
    }
}
impl From<Option<&str>> for Arg {
    fn from(v: Option<&str>) -> Self {
        Arg::OptText(v.map(str::to_owned))
    }
}
impl From<Option<&String>> for Arg {
    fn from(v: Option<&String>) -> Self {
        Arg::OptText(v.cloned())
    }
}
impl From<Option<bool>> for Arg {
    fn from(v: Option<bool>) -> Self {
        Arg::OptBool(v)
    }
}
impl From<Option<Vec<u8>>> for Arg {
    fn from(v: Option<Vec<u8>>) -> Self {
        Arg::OptBytes(v)
    }
}
impl From<Option<f64>> for Arg {
    fn from(v: Option<f64>) -> Self {
        Arg::OptF64(v)
    }
}

/// What a statement changed.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A statement and its arguments, not yet run.
#[derive(Debug, Clone)]
pub struct Statement {
    sql: Sql,
    args: Vec<Arg>,
}

/// A statement run for its effect (or its rows, decoded by the caller's type).
pub struct Query(Statement);
/// A statement whose rows decode as `T`.
pub struct QueryAs<T>(Statement, PhantomData<fn() -> T>);
/// A statement whose rows' first column decodes as `T`.
pub struct QueryScalar<T>(Statement, PhantomData<fn() -> T>);

pub fn query(sql: impl Into<Sql>) -> Query {
    Query(Statement {
        sql: sql.into(),
        args: Vec::new(),
    })
}

pub fn query_as<T: FromRow>(sql: impl Into<Sql>) -> QueryAs<T> {
    QueryAs(
        Statement {
            sql: sql.into(),
            args: Vec::new(),
        },
        PhantomData,
    )
}

pub fn query_scalar<T: Column>(sql: impl Into<Sql>) -> QueryScalar<T> {
    QueryScalar(
        Statement {
            sql: sql.into(),
            args: Vec::new(),
        },
        PhantomData,
    )
}

/// The first column of a row, for `query_scalar`.
struct First<T>(T);

impl<T: Column> FromRow for First<T> {
    fn from_postgres(row: &PgRow) -> Result<Self, sqlx::Error> {
        T::from_postgres(row, 0).map(First)
    }
    fn from_rusqlite(row: &rusqlite::Row<'_>) -> rusqlite::Result<Self> {
        T::from_rusqlite(row, 0).map(First)
    }
}

/// `bind` (one argument, the next `$N`) and `bind_all` (a dynamically built list, in order)
/// for each query type.
macro_rules! binding {
    () => {
        pub fn bind(mut self, value: impl Into<Arg>) -> Self {
            self.0.args.push(value.into());
            self
        }

        pub fn bind_all(mut self, values: impl IntoIterator<Item = Arg>) -> Self {
            self.0.args.extend(values);
            self
        }
    };
}

impl Query {
    binding!();

    pub async fn execute<'e>(self, on: impl Into<Exec<'e>>) -> Result<Done, StorageError> {
        self.0.execute(on.into()).await
    }
}

impl<T: FromRow + Send + 'static> QueryAs<T> {
    binding!();

    pub async fn fetch_one<'e>(self, on: impl Into<Exec<'e>>) -> Result<T, StorageError> {
        self.0.fetch_one(on.into()).await
    }

    pub async fn fetch_optional<'e>(
        self,
        on: impl Into<Exec<'e>>,
    ) -> Result<Option<T>, StorageError> {
        self.0.fetch_optional(on.into()).await
    }

    pub async fn fetch_all<'e>(self, on: impl Into<Exec<'e>>) -> Result<Vec<T>, StorageError> {
        self.0.fetch_all(on.into()).await
    }
}

impl<T: Column + Send + 'static> QueryScalar<T> {
    binding!();

    pub async fn fetch_one<'e>(self, on: impl Into<Exec<'e>>) -> Result<T, StorageError> {
        Ok(self.0.fetch_one::<First<T>>(on.into()).await?.0)
    }

    pub async fn fetch_optional<'e>(
        self,
        on: impl Into<Exec<'e>>,
    ) -> Result<Option<T>, StorageError> {
        Ok(self
            .0
            .fetch_optional::<First<T>>(on.into())
            .await?
            .map(|f| f.0))
    }

    pub async fn fetch_all<'e>(self, on: impl Into<Exec<'e>>) -> Result<Vec<T>, StorageError> {
        Ok(self
            .0
            .fetch_all::<First<T>>(on.into())
            .await?
            .into_iter()
            .map(|f| f.0)
            .collect())
    }
}

/// An sqlx query of this statement for the backend `$db`, its arguments bound.
macro_rules! sqlx_query {
    ($statement:expr) => {{
        let Statement { sql, args } = $statement;
        let query = match sql {
            Sql::Static(s) => sqlx::query(s),
            Sql::Owned(s) => sqlx::query(sqlx::AssertSqlSafe(s)),
        };
        bind_args!(query, args)
    }};
}

impl rusqlite::ToSql for Arg {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput::Borrowed, ValueRef};
        Ok(Borrowed(match self {
            Arg::I64(v) | Arg::OptI64(Some(v)) => ValueRef::Integer(*v),
            Arg::F64(v) | Arg::OptF64(Some(v)) => ValueRef::Real(*v),
            Arg::Text(v) | Arg::OptText(Some(v)) => ValueRef::Text(v.as_bytes()),
            // As sqlx stores them: the 16 bytes.
            Arg::Uuid(v) | Arg::OptUuid(Some(v)) => ValueRef::Blob(v.as_bytes()),
            Arg::Bool(v) | Arg::OptBool(Some(v)) => ValueRef::Integer(i64::from(*v)),
            Arg::Bytes(v) | Arg::OptBytes(Some(v)) => ValueRef::Blob(v),
            Arg::OptI64(None)
            | Arg::OptF64(None)
            | Arg::OptText(None)
            | Arg::OptUuid(None)
            | Arg::OptBool(None)
            | Arg::OptBytes(None) => ValueRef::Null,
        }))
    }
}

/// Runs `sql` on a rusqlite connection (SQLite's writer or a reader) with `args` bound to its `$N` placeholders (by
/// number, as sqlx binds them: SQLite itself numbers named parameters by first appearance),
/// handing each row to `each` until it returns `false`. Returns the rows changed.
fn run_on(
    conn: &rusqlite::Connection,
    sql: &str,
    args: &[Arg],
    mut each: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<bool>,
) -> rusqlite::Result<u64> {
    // What sqlx's statement log shows for its statements (`sqlx::query` at debug).
    tracing::debug!(target: "souk_storage::sql", summary = sql, "statement");
    let mut statement = conn.prepare_cached(sql)?;
    for index in 1..=statement.parameter_count() {
        let number = match statement.parameter_name(index) {
            Some(name) => name[1..].parse::<usize>().ok(),
            None => Some(index),
        };
        let arg = number
            .and_then(|n| args.get(n.wrapping_sub(1)))
            .ok_or(rusqlite::Error::InvalidParameterCount(index, args.len()))?;
        statement.raw_bind_parameter(index, arg)?;
    }
    let mut rows = statement.raw_query();
    while let Some(row) = rows.next()? {
        if !each(row)? {
            break;
        }
    }
    drop(rows);
    Ok(conn.changes())
}

/// One row of a statement's run, its fields' columns found on the first row and kept in
/// `columns` for the others.
fn decode_rusqlite<T: FromRow>(
    row: &rusqlite::Row<'_>,
    columns: &mut Option<Vec<Option<usize>>>,
) -> rusqlite::Result<T> {
    let columns = columns.get_or_insert_with(|| T::rusqlite_columns(row.as_ref()));
    T::from_rusqlite_at(row, columns)
}

impl Statement {
    async fn execute(self, on: Exec<'_>) -> Result<Done, StorageError> {
        let rows = match on {
            Exec::Db(Db::Sqlite { readers, .. }) => {
                let Statement { sql, args } = self;
                readers
                    .run(move |conn| Ok(run_on(conn, sql.as_str(), &args, |_| Ok(true))?))
                    .await?
            }
            Exec::Db(Db::Postgres(pool)) => sqlx_query!(self).execute(pool).await?.rows_affected(),
            Exec::Tx(Tx::Sqlite(tx)) => {
                run_on(tx.conn(), self.sql.as_str(), &self.args, |_| Ok(true))?
            }
            Exec::Tx(Tx::Postgres(tx)) => {
                sqlx_query!(self).execute(&mut **tx).await?.rows_affected()
            }
        };
        Ok(Done { rows })
    }

    async fn fetch_optional<T: FromRow + Send + 'static>(
        self,
        on: Exec<'_>,
    ) -> Result<Option<T>, StorageError> {
        Ok(match on {
            Exec::Db(Db::Sqlite { readers, .. }) => {
                let Statement { sql, args } = self;
                readers
                    .run(move |conn| {
                        let mut first = None;
                        run_on(conn, sql.as_str(), &args, |row| {
                            first = Some(decode_rusqlite(row, &mut None)?);
                            Ok(false)
                        })?;
                        Ok(first)
                    })
                    .await?
            }
            Exec::Db(Db::Postgres(pool)) => sqlx_query!(self)
                .fetch_optional(pool)
                .await?
                .map(|r| T::from_postgres(&r))
                .transpose()?,
            Exec::Tx(Tx::Sqlite(tx)) => {
                let mut first = None;
                run_on(tx.conn(), self.sql.as_str(), &self.args, |row| {
                    first = Some(decode_rusqlite(row, &mut None)?);
                    Ok(false)
                })?;
                first
            }
            Exec::Tx(Tx::Postgres(tx)) => sqlx_query!(self)
                .fetch_optional(&mut **tx)
                .await?
                .map(|r| T::from_postgres(&r))
                .transpose()?,
        })
    }

    async fn fetch_one<T: FromRow + Send + 'static>(self, on: Exec<'_>) -> Result<T, StorageError> {
        self.fetch_optional(on)
            .await?
            .ok_or(StorageError::Database(sqlx::Error::RowNotFound))
    }

    async fn fetch_all<T: FromRow + Send + 'static>(
        self,
        on: Exec<'_>,
    ) -> Result<Vec<T>, StorageError> {
        fn decode<R, T>(
            rows: Vec<R>,
            f: fn(&R) -> Result<T, sqlx::Error>,
        ) -> Result<Vec<T>, StorageError> {
            Ok(rows.iter().map(f).collect::<Result<Vec<_>, _>>()?)
        }
        match on {
            Exec::Db(Db::Sqlite { readers, .. }) => {
                let Statement { sql, args } = self;
                readers
                    .run(move |conn| {
                        let (mut all, mut columns) = (Vec::new(), None);
                        run_on(conn, sql.as_str(), &args, |row| {
                            all.push(decode_rusqlite(row, &mut columns)?);
                            Ok(true)
                        })?;
                        Ok(all)
                    })
                    .await
            }
            Exec::Db(Db::Postgres(pool)) => {
                decode(sqlx_query!(self).fetch_all(pool).await?, T::from_postgres)
            }
            Exec::Tx(Tx::Sqlite(tx)) => {
                let (mut all, mut columns) = (Vec::new(), None);
                run_on(tx.conn(), self.sql.as_str(), &self.args, |row| {
                    all.push(decode_rusqlite(row, &mut columns)?);
                    Ok(true)
                })?;
                Ok(all)
            }
            Exec::Tx(Tx::Postgres(tx)) => decode(
                sqlx_query!(self).fetch_all(&mut **tx).await?,
                T::from_postgres,
            ),
        }
    }
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        Exec::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Exec::Tx(tx)
    }
}

impl<'a, 'b> From<&'b mut Exec<'a>> for Exec<'b> {
    fn from(exec: &'b mut Exec<'a>) -> Self {
        match exec {
            Exec::Db(db) => Exec::Db(db),
            Exec::Tx(tx) => Exec::Tx(tx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Listed {
        id: i64,
        title: String,
        price: i64,
        note: String,
    }
    crate::from_row!(Listed { id, title, price } optional { note });

    fn read_all(conn: &rusqlite::Connection, sql: &str) -> rusqlite::Result<Vec<Listed>> {
        let (mut all, mut columns) = (Vec::new(), None);
        run_on(conn, sql, &[], |row| {
            all.push(decode_rusqlite(row, &mut columns)?);
            Ok(true)
        })?;
        Ok(all)
    }

    #[test]
    fn fields_are_read_by_name_in_every_row_whatever_the_columns_order() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let rows = "(VALUES (1, 'kettle', 4500), (2, 'teapot', 2500))";
        // In the struct's order, in another order with a column between, and with a missing
        // optional field read as its default.
        let in_order = read_all(
            &conn,
            &format!(
                "SELECT column1 AS id, column2 AS title, column3 AS price, 'n' AS note FROM {rows}"
            ),
        )
        .unwrap();
        let shuffled = read_all(
            &conn,
            &format!(
                "SELECT column3 AS PRICE, 0 AS other, column2 AS title, column1 AS id FROM {rows}"
            ),
        )
        .unwrap();
        for (all, note) in [(in_order, "n"), (shuffled, "")] {
            let got: Vec<_> = all
                .iter()
                .map(|l| (l.id, l.title.as_str(), l.price, l.note.as_str()))
                .collect();
            assert_eq!(got, [(1, "kettle", 4500, note), (2, "teapot", 2500, note)]);
        }
        // A required field missing is an error naming it.
        let missing = read_all(
            &conn,
            &format!("SELECT column1 AS id, column2 AS title FROM {rows}"),
        );
        assert!(
            matches!(&missing, Err(rusqlite::Error::InvalidColumnName(n)) if n == "price"),
            "{:?}",
            missing.err()
        );
    }
}
