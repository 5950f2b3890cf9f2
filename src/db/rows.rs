//! Reading the models that lists and the point read return by position instead of by name.
//!
//! sea-orm's derived decoding finds each column by its name and, for every NULL it reads
//! as `None`, formats an error message that it then throws away: decoding 20 leads and
//! their accounts took a fifth of the server's time for a rep's SAL inbox. Here a model's
//! columns are read one after another, in the order its entity selects them, each with the
//! driver's own decoding of the same Rust type, so a value reads exactly as sea-orm would
//! read it (a test compares the two on both databases).

use entity::{account, campaign, lead, user};
use sea_orm::{
    ActiveEnum, ConnectionTrait, DbErr, EntityTrait, FromQueryResult, IdenStatic, Iterable, ModelTrait, QueryResult,
    Select,
    sqlx::{self, Column, Postgres, Row, Sqlite, postgres::PgRow, sqlite::SqliteRow},
};

/// Runs `select`, a select of its entity's own columns in their order (as `find()` makes
/// it), and decodes its rows by position.
pub async fn all<E>(select: Select<E>, db: &impl ConnectionTrait) -> Result<Vec<E::Model>, DbErr>
where
    E: EntityTrait,
    E::Model: DecodeByPosition,
{
    let rows = select.into_model::<ByPosition<E::Model>>().all(db).await?;
    Ok(rows.into_iter().map(|row| row.0).collect())
}

/// A model decoded by position, for `into_model`. A joined model (its columns named with a
/// prefix) starts at its first column, found by name once.
pub struct ByPosition<M>(pub M);

/// A model that can be read from consecutive columns.
pub trait DecodeByPosition: Sized {
    fn decode(cells: &mut Cells<'_>) -> Result<Self, DbErr>;
}

impl<M: DecodeByPosition + FromQueryResult + ModelTrait> FromQueryResult for ByPosition<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        let Some(mut cells) = Cells::of(res) else { return M::from_query_result(res, pre).map(Self) };
        if !pre.is_empty() {
            let first = <M::Entity as EntityTrait>::Column::iter().next().map_or("", |column| column.as_str());
            cells.next = cells.ordinal(&format!("{pre}{first}"))?;
        }
        M::decode(&mut cells).map(Self)
    }
}

enum RowRef<'a> {
    Postgres(&'a PgRow),
    Sqlite(&'a SqliteRow),
}

/// The columns of one row, read in order.
pub struct Cells<'a> {
    row: RowRef<'a>,
    next: usize,
}

impl<'a> Cells<'a> {
    fn of(res: &'a QueryResult) -> Option<Self> {
        let row = match (res.try_as_pg_row(), res.try_as_sqlite_row()) {
            (Some(row), _) => RowRef::Postgres(row),
            (_, Some(row)) => RowRef::Sqlite(row),
            _ => return None,
        };
        Some(Self { row, next: 0 })
    }

    fn ordinal(&self, name: &str) -> Result<usize, DbErr> {
        let column = match self.row {
            RowRef::Postgres(row) => row.try_column(name).map(Column::ordinal),
            RowRef::Sqlite(row) => row.try_column(name).map(Column::ordinal),
        };
        column.map_err(|error| DbErr::Type(format!("column {name}: {error}")))
    }

    /// The next column's value; `Option<T>` reads NULL as `None`.
    pub fn get<T>(&mut self) -> Result<T, DbErr>
    where
        T: for<'r> sqlx::Decode<'r, Postgres>
            + sqlx::Type<Postgres>
            + for<'r> sqlx::Decode<'r, Sqlite>
            + sqlx::Type<Sqlite>,
    {
        let index = self.next;
        self.next += 1;
        let value = match self.row {
            RowRef::Postgres(row) => row.try_get(index),
            RowRef::Sqlite(row) => row.try_get(index),
        };
        value.map_err(|error| DbErr::Type(format!("column {index}: {error}")))
    }

    /// The next column, an enumeration stored as its name.
    pub fn name_of<E: ActiveEnum<Value = String>>(&mut self) -> Result<E, DbErr> {
        E::try_from_value(&self.get::<String>()?)
    }
}

impl DecodeByPosition for lead::Model {
    fn decode(cells: &mut Cells<'_>) -> Result<Self, DbErr> {
        Ok(Self {
            id: cells.get()?,
            email: cells.get()?,
            first_name: cells.get()?,
            last_name: cells.get()?,
            title: cells.get()?,
            search_text: cells.get()?,
            account_id: cells.get()?,
            channel: cells.name_of()?,
            campaign_id: cells.get()?,
            score: cells.get()?,
            stage: cells.name_of()?,
            owner_id: cells.get()?,
            version: cells.get()?,
            stage_entered_at: cells.get()?,
            first_contact_at: cells.get()?,
            sla_breached_at: cells.get()?,
            deal_value_amount: cells.get()?,
            currency_code: cells.get()?,
            budget: cells.get()?,
            authority: cells.get()?,
            need: cells.get()?,
            timeline: cells.get()?,
            reason_code: cells.get()?,
            reason_note: cells.get()?,
            recycle_count: cells.get()?,
            created_at: cells.get()?,
            updated_at: cells.get()?,
        })
    }
}

impl DecodeByPosition for account::Model {
    fn decode(cells: &mut Cells<'_>) -> Result<Self, DbErr> {
        Ok(Self {
            id: cells.get()?,
            name: cells.get()?,
            search_name: cells.get()?,
            domain: cells.get()?,
            industry: cells.get()?,
            employees: cells.get()?,
            owner_id: cells.get()?,
            created_at: cells.get()?,
            updated_at: cells.get()?,
        })
    }
}

impl DecodeByPosition for campaign::Model {
    fn decode(cells: &mut Cells<'_>) -> Result<Self, DbErr> {
        Ok(Self {
            id: cells.get()?,
            name: cells.get()?,
            channel: cells.name_of()?,
            spend_amount: cells.get()?,
            currency_code: cells.get()?,
            created_at: cells.get()?,
        })
    }
}

impl DecodeByPosition for user::Model {
    fn decode(cells: &mut Cells<'_>) -> Result<Self, DbErr> {
        Ok(Self {
            id: cells.get()?,
            email: cells.get()?,
            name: cells.get()?,
            role: cells.name_of()?,
            team: cells.name_of()?,
            active: cells.get()?,
            created_at: cells.get()?,
        })
    }
}
