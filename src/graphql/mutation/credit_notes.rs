//! Correcting invoices with credit notes.

use async_graphql::{Context, InputObject, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::scalars::Dec;
use crate::graphql::types::credit_note::{CreditNote, CreditNoteReason};
use crate::graphql::types::parse_id;
use crate::service::credit_notes::{self, CreateCreditNote};
use crate::service::{Ctx, ServiceError};

#[derive(InputObject)]
pub struct CreditNoteLineInput {
    invoice_line_id: ID,
    /// > 0, at most what is still creditable on that line.
    net_amount: Dec,
}

#[derive(InputObject)]
pub struct CreateCreditNoteInput {
    /// A POSTED or PAID invoice.
    invoice_id: ID,
    reason: CreditNoteReason,
    memo: Option<String>,
    lines: Vec<CreditNoteLineInput>,
    /// Default true; false keeps a DRAFT.
    issue: Option<bool>,
}

#[derive(Default)]
pub struct CreditNotesMutation;

#[Object]
impl CreditNotesMutation {
    /// Corrects a POSTED or PAID invoice; issued at once unless `issue` is
    /// false.
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn create_credit_note(
        &self,
        ctx: &Context<'_>,
        input: CreateCreditNoteInput,
    ) -> async_graphql::Result<CreditNote> {
        let invoice_id = parse_id(&input.invoice_id).ok_or(ServiceError::NotFound("invoice"))?;
        let lines = input
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let field = format!("lines.{i}.invoiceLineId");
                let line = parse_id(&l.invoice_line_id).ok_or_else(|| {
                    ServiceError::bad_input(&field, "is not a line of this invoice")
                })?;
                Ok((line, l.net_amount.0))
            })
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let create = CreateCreditNote {
            invoice_id,
            reason: input.reason.into(),
            memo: input.memo,
            lines,
            issue: input.issue.unwrap_or(true),
        };
        let note =
            credit_notes::create_credit_note(ctx.data::<Ctx>()?, principal(ctx)?, create).await?;
        Ok(CreditNote(note))
    }

    /// Numbers a DRAFT and applies it to its invoice.
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn issue_credit_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CreditNote> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("credit note"))?;
        let note = credit_notes::issue_credit_note(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(CreditNote(note))
    }

    /// Voids a note while none of its customer credit was consumed,
    /// restoring what it had reduced.
    #[graphql(guard = "Needs(Scope::BillingRun)", complexity = 100)]
    async fn void_credit_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<CreditNote> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("credit note"))?;
        let note = credit_notes::void_credit_note(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(CreditNote(note))
    }
}
