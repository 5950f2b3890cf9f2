use async_graphql::{Context, ErrorExtensions, ID, InputObject, Object, Result, SimpleObject};

use crate::{
    error::AppError,
    graphql::{
        context::{ContextExt, parse_optional_id},
        types::{enums::Channel, lead::Lead},
    },
    service::{self, lead::LeadDraft},
};

/// A new lead. It starts in stage LEAD, owned by marketing.
#[derive(InputObject, Clone)]
pub struct CreateLeadInput {
    /// Email address; unique across leads.
    pub email: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Job title.
    pub title: Option<String>,
    /// The company the lead works for.
    pub account_id: Option<ID>,
    /// The channel the lead came through.
    pub channel: Channel,
    /// The campaign that brought the lead in.
    pub campaign_id: Option<ID>,
}

impl CreateLeadInput {
    fn to_draft(&self) -> crate::error::AppResult<LeadDraft> {
        Ok(LeadDraft {
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            title: self.title.clone(),
            account_id: parse_optional_id("accountId", self.account_id.as_ref())?,
            channel: Some(self.channel.into()),
            campaign_id: parse_optional_id("campaignId", self.campaign_id.as_ref())?,
        })
    }
}

/// Many new leads at once.
#[derive(InputObject)]
pub struct ImportLeadsInput {
    /// The leads, at most 1000.
    pub leads: Vec<CreateLeadInput>,
}

/// What an import did.
#[derive(SimpleObject)]
pub struct ImportLeadsResult {
    /// The leads created, in input order.
    pub created: Vec<Lead>,
    /// The rows that were not created, and why.
    pub errors: Vec<ImportLeadError>,
    /// Number of leads created.
    pub created_count: i32,
    /// Number of rows refused.
    pub failed_count: i32,
}

/// Why one import row was refused.
#[derive(SimpleObject)]
pub struct ImportLeadError {
    /// Position of the row in the input, from 0.
    pub index: i32,
    /// The error code, as in `extensions.code` (BAD_USER_INPUT, DUPLICATE).
    pub code: String,
    /// The input field at fault, when there is one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

#[derive(Default)]
pub struct LeadMutation;

#[Object]
impl LeadMutation {
    /// Creates a lead in stage LEAD (MARKETING, ADMIN). An email already in use is DUPLICATE.
    async fn create_lead(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The lead to create.")] input: CreateLeadInput,
    ) -> Result<Lead> {
        let state = ctx.state()?;
        let lead = service::lead::create(&state.writer, &state.events, ctx.viewer()?, &input.to_draft()?).await?;
        Ok(Lead(lead))
    }

    /// Creates many leads (MARKETING, ADMIN). Valid rows are kept; each refused row is reported with its index.
    async fn import_leads(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The leads to create.")] input: ImportLeadsInput,
    ) -> Result<ImportLeadsResult> {
        let state = ctx.state()?;
        if input.leads.len() > service::lead::MAX_IMPORT_ROWS {
            let limit = service::lead::MAX_IMPORT_ROWS;
            return Err(AppError::bad_input("leads", format!("at most {limit} rows per import")).into());
        }
        let mut errors = Vec::new();
        let mut drafts = Vec::with_capacity(input.leads.len());
        let mut positions = Vec::with_capacity(input.leads.len());
        for (index, row) in input.leads.iter().enumerate() {
            match row.to_draft() {
                Ok(draft) => {
                    drafts.push(draft);
                    positions.push(index);
                }
                Err(error) => errors.push((index, error)),
            }
        }
        let report = service::lead::import(&state.writer, &state.events, ctx.viewer()?, &drafts).await?;
        errors.extend(report.errors.into_iter().map(|e| (positions[e.index], e.error)));
        errors.sort_by_key(|(index, _)| *index);
        let created: Vec<Lead> = report.created.into_iter().map(Lead).collect();
        Ok(ImportLeadsResult {
            created_count: created.len() as i32,
            failed_count: errors.len() as i32,
            created,
            errors: errors
                .into_iter()
                .map(|(index, error)| ImportLeadError {
                    index: index as i32,
                    code: error.code().to_owned(),
                    field: match &error {
                        AppError::BadUserInput { field, .. } => Some(field.clone()),
                        AppError::Duplicate(_) => Some("email".to_owned()),
                        _ => None,
                    },
                    message: error.extend().message,
                })
                .collect(),
        })
    }
}
