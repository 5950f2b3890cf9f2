//! Log positions a seed gives its events itself, in the order it generates them, rather
//! than leaving them to the database (see `factory`).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement};

/// The first position no event holds or the database has handed out.
pub(super) async fn first_free(db: &DatabaseConnection) -> Result<i64, DbErr> {
    let sql = match db.get_database_backend() {
        // AUTOINCREMENT never hands out a position again, even one whose row is gone.
        DbBackend::Sqlite => {
            "SELECT max(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'lead_event'), 0), \
             COALESCE((SELECT max(position) FROM lead_event), 0)) + 1 AS first"
        }
        _ => {
            "SELECT GREATEST(nextval(pg_get_serial_sequence('lead_event', 'position')), \
             (SELECT COALESCE(max(position), 0) + 1 FROM lead_event)) AS first"
        }
    };
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    row.ok_or_else(|| DbErr::RecordNotFound("the log's next position".to_owned()))?.try_get("", "first")
}

/// Makes the database's numbering go on after the positions the seed gave. (SQLite's
/// AUTOINCREMENT follows the largest position written by itself.)
pub(super) async fn continue_numbering(db: &DatabaseConnection) -> Result<(), DbErr> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_unprepared(
            "SELECT setval(pg_get_serial_sequence('lead_event', 'position'), max(position)) FROM lead_event \
             HAVING max(position) IS NOT NULL",
        )
        .await?;
    }
    Ok(())
}
