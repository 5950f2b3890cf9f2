//! Bulk INSERTs built straight from entity models.
//!
//! sea-orm's `insert_many` builds a query tree per row and renders it for every
//! statement, which at a million leads costs more than the database's own work. Here the
//! values are read per row through `ModelTrait::get`, so the columns and their encodings
//! are exactly the entity's, and the statement text is rendered once per table and size.
//!
//! - SQLite: multi-row `INSERT … VALUES (?, …), (?, …)` up to its bind-parameter limit.
//! - PostgreSQL: `INSERT … SELECT unnest($1::uuid[]), unnest($2::text[]), …`, one array
//!   per column. A VALUES list with thousands of parameters makes PostgreSQL initialise
//!   an expression per value on every execution, which costs more than inserting the
//!   row. A column that cannot hold NULL travels as a typed array, in binary; one that can
//!   travels as a text literal (`{"a",NULL,"b"}`), because the driver binds arrays only
//!   without NULL elements, and PostgreSQL parses it with each element type's input
//!   function, so timestamps go as RFC 3339 and UUIDs hyphenated. Parsing text arrays was
//!   a fifth of PostgreSQL's work in a seed.

use std::{
    collections::{HashMap, hash_map::Entry},
    fmt::Write as _,
};

use chrono::SecondsFormat;
use sea_orm::{
    ColumnTrait, ColumnType, ConnectionTrait, DbBackend, DbErr, EntityName, EntityTrait, IdenStatic, Iterable,
    ModelTrait, PrimaryKeyToColumn, PrimaryKeyTrait, Statement, Value, sea_query::ArrayType,
};

/// SQLite's default `SQLITE_MAX_VARIABLE_NUMBER` (since 3.32).
const SQLITE_MAX_PARAMS: usize = 32_766;

/// More rows per statement stop paying off well before SQLite's parameter limit.
const SQLITE_MAX_ROWS: usize = 1_000;

/// Rows per PostgreSQL statement: big enough to amortise the round trip and the
/// per-statement work, small enough to keep each parameter a few megabytes.
const POSTGRES_ROWS: usize = 10_000;

/// Builds INSERT statements for one backend, remembering rendered SQL.
pub(crate) struct Inserts {
    backend: DbBackend,
    /// Whether auto-increment keys are written as the rows hold them rather than left to
    /// the database.
    given_keys: bool,
    /// Rendered statements by table and row count (SQLite) or table (PostgreSQL).
    sql: HashMap<(&'static str, usize), String>,
}

impl Inserts {
    pub fn new(backend: DbBackend) -> Self {
        Self { backend, given_keys: false, sql: HashMap::new() }
    }

    /// Writes auto-increment keys (the event log position) as the rows hold them.
    pub fn with_given_keys(backend: DbBackend) -> Self {
        Self { given_keys: true, ..Self::new(backend) }
    }

    /// Appends to `out` the statements inserting `rows`. An auto-increment primary key
    /// (the event log position) is left to the database unless keys are given.
    pub fn build<M: ModelTrait>(&mut self, rows: &[M], out: &mut Vec<Statement>) -> Result<(), DbErr> {
        for chunk in rows.chunks(self.rows_per_statement::<M::Entity>()) {
            out.extend(self.statement(chunk)?);
        }
        Ok(())
    }

    /// Builds and runs the statements inserting `rows`. Each statement is built while the
    /// database runs the one before it (on SQLite, on the connection's own thread).
    pub async fn insert<M: ModelTrait>(&mut self, conn: &impl ConnectionTrait, rows: &[M]) -> Result<(), DbErr> {
        let mut chunks = rows.chunks(self.rows_per_statement::<M::Entity>());
        self.pipelined(conn, |inserts| chunks.next().map_or(Ok(None), |chunk| inserts.statement(chunk))).await
    }

    /// Like [`Self::insert`], for rows made as they are needed: each statement's rows are
    /// made, too, while the database runs the one before it.
    pub async fn insert_all<M: ModelTrait>(
        &mut self,
        conn: &impl ConnectionTrait,
        mut rows: impl Iterator<Item = M>,
    ) -> Result<(), DbErr> {
        let per_statement = self.rows_per_statement::<M::Entity>();
        self.pipelined(conn, |inserts| inserts.statement(&rows.by_ref().take(per_statement).collect::<Vec<M>>())).await
    }

    /// Runs the statements `next` builds until it has none, building each while the one
    /// before it runs.
    async fn pipelined(
        &mut self,
        conn: &impl ConnectionTrait,
        mut next: impl FnMut(&mut Self) -> Result<Option<Statement>, DbErr>,
    ) -> Result<(), DbErr> {
        let mut running = next(self)?;
        while let Some(statement) = running {
            let (ran, built) = tokio::join!(conn.execute_raw(statement), async { next(self) });
            ran?;
            running = built?;
        }
        Ok(())
    }

    /// Rows per statement: as many as fit, up to where more stop paying off.
    fn rows_per_statement<E: EntityTrait>(&self) -> usize {
        match self.backend {
            DbBackend::Postgres => POSTGRES_ROWS,
            _ => (SQLITE_MAX_PARAMS / insert_columns::<E>(self.given_keys).len().max(1)).min(SQLITE_MAX_ROWS),
        }
    }

    /// The statement inserting `rows`, at most [`Self::rows_per_statement`] of them.
    fn statement<M: ModelTrait>(&mut self, rows: &[M]) -> Result<Option<Statement>, DbErr> {
        let columns = insert_columns::<M::Entity>(self.given_keys);
        if rows.is_empty() || columns.is_empty() {
            return Ok(None);
        }
        let table = M::Entity::default().table_name();
        if self.backend == DbBackend::Postgres {
            let sql = match self.sql.entry((table, 0)) {
                Entry::Occupied(entry) => entry.get().clone(),
                Entry::Vacant(entry) => entry.insert(render_unnest_insert(table, &columns)?).clone(),
            };
            let arrays = columns_as_arrays(rows, &columns)?;
            Ok(Some(Statement::from_sql_and_values(self.backend, sql, arrays)))
        } else {
            let sql = self
                .sql
                .entry((table, rows.len()))
                .or_insert_with(|| render_values_insert(table, &columns, rows.len()))
                .clone();
            let mut values = Vec::with_capacity(rows.len() * columns.len());
            for row in rows {
                values.extend(columns.iter().map(|&column| pre_encode_for_sqlite(row.get(column))));
            }
            Ok(Some(Statement::from_sql_and_values(self.backend, sql, values)))
        }
    }
}

/// Runs `statements` in order.
pub(crate) async fn execute(conn: &impl ConnectionTrait, statements: Vec<Statement>) -> Result<(), DbErr> {
    for statement in statements {
        conn.execute_raw(statement).await?;
    }
    Ok(())
}

/// Encodes timestamps and JSON here, on the generator thread, to the very text the
/// driver would write (sqlx: `to_rfc3339_opts(AutoSi, false)`; JSON compact), instead of
/// on the connection's critical path while SQLite waits. SQLite compares timestamps as
/// text, so the format must not drift; a test compares both ways of writing.
fn pre_encode_for_sqlite(value: Value) -> Value {
    match value {
        Value::ChronoDateTimeUtc(Some(time)) => Value::from(time.to_rfc3339_opts(SecondsFormat::AutoSi, false)),
        Value::Json(Some(json)) => Value::from(json.to_string()),
        other => other,
    }
}

/// The columns written: all of them, but for an auto-increment key unless it is given.
fn insert_columns<E: EntityTrait>(given_keys: bool) -> Vec<E::Column> {
    let generated: Vec<E::Column> = if <E::PrimaryKey as PrimaryKeyTrait>::auto_increment() && !given_keys {
        E::PrimaryKey::iter().map(|key| key.into_column()).collect()
    } else {
        Vec::new()
    };
    E::Column::iter().filter(|column| !generated.iter().any(|g| g.as_str() == column.as_str())).collect()
}

fn column_list<C: IdenStatic>(columns: &[C]) -> String {
    columns.iter().map(|c| format!("\"{}\"", c.as_str())).collect::<Vec<_>>().join(", ")
}

/// `INSERT INTO "t" ("a", "b") VALUES (?, ?), (?, ?)`.
fn render_values_insert<C: IdenStatic>(table: &str, columns: &[C], rows: usize) -> String {
    let mut sql = format!("INSERT INTO \"{table}\" ({}) VALUES ", column_list(columns));
    let row = format!("({})", vec!["?"; columns.len()].join(", "));
    sql.reserve(rows * (row.len() + 2));
    for i in 0..rows {
        if i > 0 {
            sql.push_str(", ");
        }
        sql.push_str(&row);
    }
    sql
}

/// `INSERT INTO "t" ("a", "b") SELECT unnest($1::uuid[]), unnest($2::text[])`. In the
/// select list the arrays are walked in lockstep and streamed; `FROM unnest(…)` would
/// first copy them into a tuplestore, which spills to disk beyond `work_mem`.
fn render_unnest_insert<C: ColumnTrait>(table: &str, columns: &[C]) -> Result<String, DbErr> {
    let mut arrays = Vec::with_capacity(columns.len());
    for (i, column) in columns.iter().enumerate() {
        arrays.push(format!("unnest(${}::{})", i + 1, postgres_array_type(column.def().get_column_type())?));
    }
    Ok(format!("INSERT INTO \"{table}\" ({}) SELECT {}", column_list(columns), arrays.join(", ")))
}

/// The PostgreSQL array type a column's values are sent as; a text array is assigned to
/// `varchar` columns without a cast.
fn postgres_array_type(column_type: &ColumnType) -> Result<&'static str, DbErr> {
    Ok(match column_type {
        ColumnType::Uuid => "uuid[]",
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => "text[]",
        ColumnType::SmallInteger => "int2[]",
        ColumnType::Integer => "int4[]",
        ColumnType::BigInteger => "int8[]",
        ColumnType::Boolean => "bool[]",
        ColumnType::Float => "float4[]",
        ColumnType::Double => "float8[]",
        ColumnType::Date => "date[]",
        ColumnType::TimestampWithTimeZone => "timestamptz[]",
        ColumnType::Json => "json[]",
        ColumnType::JsonBinary => "jsonb[]",
        other => return Err(DbErr::Custom(format!("seed: no PostgreSQL array type for {other:?}"))),
    })
}

/// One array per column: typed for a column that cannot hold NULL, else a text literal.
fn columns_as_arrays<M: ModelTrait>(
    rows: &[M],
    columns: &[<M::Entity as EntityTrait>::Column],
) -> Result<Vec<Value>, DbErr> {
    columns
        .iter()
        .map(|column| {
            let def = column.def();
            if def.is_null() {
                return array_literal(rows, *column).map(Value::from);
            }
            let values: Vec<Value> = rows.iter().map(|row| row.get(*column)).collect();
            if values.iter().any(|value| !value.is_some()) {
                return Err(DbErr::Custom(format!("seed: NULL in the NOT NULL column {}", column.as_str())));
            }
            Ok(Value::Array(array_type(def.get_column_type())?, Some(Box::new(values))))
        })
        .collect()
}

/// The element type of a typed array for a column.
fn array_type(column_type: &ColumnType) -> Result<ArrayType, DbErr> {
    Ok(match column_type {
        ColumnType::Uuid => ArrayType::Uuid,
        ColumnType::Char(_) | ColumnType::String(_) | ColumnType::Text => ArrayType::String,
        ColumnType::SmallInteger => ArrayType::SmallInt,
        ColumnType::Integer => ArrayType::Int,
        ColumnType::BigInteger => ArrayType::BigInt,
        ColumnType::Boolean => ArrayType::Bool,
        ColumnType::Float => ArrayType::Float,
        ColumnType::Double => ArrayType::Double,
        ColumnType::Date => ArrayType::ChronoDate,
        ColumnType::TimestampWithTimeZone => ArrayType::ChronoDateTimeUtc,
        ColumnType::Json | ColumnType::JsonBinary => ArrayType::Json,
        other => return Err(DbErr::Custom(format!("seed: no PostgreSQL array type for {other:?}"))),
    })
}

/// A column's values as an array literal: `{"a",NULL,"b"}`.
fn array_literal<M: ModelTrait>(rows: &[M], column: <M::Entity as EntityTrait>::Column) -> Result<String, DbErr> {
    let mut array = String::with_capacity(rows.len() * 24 + 2);
    for (i, row) in rows.iter().enumerate() {
        array.push(if i == 0 { '{' } else { ',' });
        write_element(&mut array, &row.get(column))?;
    }
    array.push('}');
    Ok(array)
}

/// One array element as PostgreSQL's input function for the column type reads it.
fn write_element(out: &mut String, value: &Value) -> Result<(), DbErr> {
    // Writing to a String cannot fail.
    let _ = match value {
        Value::Bool(Some(v)) => write!(out, "{v}"),
        Value::SmallInt(Some(v)) => write!(out, "{v}"),
        Value::Int(Some(v)) => write!(out, "{v}"),
        Value::BigInt(Some(v)) => write!(out, "{v}"),
        Value::Float(Some(v)) => write!(out, "{v}"),
        Value::Double(Some(v)) => write!(out, "{v}"),
        Value::Uuid(Some(v)) => write!(out, "{v}"),
        Value::ChronoDateTimeUtc(Some(v)) => write!(out, "{}", v.to_rfc3339_opts(SecondsFormat::Micros, true)),
        Value::ChronoDate(Some(v)) => write!(out, "{v}"),
        Value::String(Some(v)) => {
            quote_element(out, v);
            Ok(())
        }
        Value::Json(Some(v)) => {
            quote_element(out, &v.to_string());
            Ok(())
        }
        Value::Bool(None)
        | Value::SmallInt(None)
        | Value::Int(None)
        | Value::BigInt(None)
        | Value::Float(None)
        | Value::Double(None)
        | Value::Uuid(None)
        | Value::ChronoDateTimeUtc(None)
        | Value::ChronoDate(None)
        | Value::String(None)
        | Value::Json(None) => write!(out, "NULL"),
        other => return Err(DbErr::Custom(format!("seed: no PostgreSQL array encoding for {other:?}"))),
    };
    Ok(())
}

/// A double-quoted array element: only `"` and `\` need a backslash.
fn quote_element(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}
