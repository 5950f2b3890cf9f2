//! Companies that leads work for.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "account")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The name folded to lower case by the application, for case-insensitive search.
    pub search_name: String,
    /// Lower-cased web domain; unique when present.
    #[sea_orm(unique)]
    pub domain: Option<String>,
    pub industry: Option<String>,
    pub employees: Option<i32>,
    /// The account executive responsible for the company.
    pub owner_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
