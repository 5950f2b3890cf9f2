use sea_orm_migration::prelude::*;

use crate::m20261126_000005_create_reason::Reason;
use crate::seed_error;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// code, label, description. The first five are required by DESIGN.md section 1.
const REASONS: [(&str, &str, &str); 13] = [
    ("BAD_TIMING", "Bad timing", "The lead is interested but not ready to buy now."),
    ("NOT_A_FIT", "Not a fit", "The company or use case falls outside the ideal customer profile."),
    ("NO_BUDGET", "No budget", "The lead has no budget for a purchase."),
    ("NO_RESPONSE", "No response", "The lead did not respond to repeated contact attempts."),
    ("LOST_TO_COMPETITOR", "Lost to competitor", "The lead chose a competing product."),
    ("NO_AUTHORITY", "No authority", "The contact cannot make or influence the buying decision."),
    ("NO_NEED", "No need", "The lead has no problem our product solves."),
    ("WRONG_CONTACT", "Wrong contact", "The person is not the right contact at the company."),
    ("INVALID_DATA", "Invalid data", "The contact details are fake, incomplete or unreachable."),
    ("DUPLICATE_LEAD", "Duplicate lead", "The person already exists as another lead."),
    ("PRICE", "Price", "The lead found the price too high."),
    ("CHOSE_STATUS_QUO", "Chose status quo", "The lead decided to keep its current way of working."),
    ("OTHER", "Other", "A reason not covered by the other codes; see the note."),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut insert = Query::insert();
        insert.into_table(Reason::Table).columns([Reason::Code, Reason::Label, Reason::Description, Reason::Active]);
        for (code, label, description) in REASONS {
            insert.values([code.into(), label.into(), description.into(), true.into()]).map_err(seed_error)?;
        }
        manager.execute(insert).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let codes = REASONS.map(|reason| reason.0);
        manager
            .execute(Query::delete().from_table(Reason::Table).and_where(Expr::col(Reason::Code).is_in(codes)).take())
            .await
    }
}
