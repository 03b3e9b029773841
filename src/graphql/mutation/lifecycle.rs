//! Changing a contract once it runs: amend, pause, resume, cancel
//! (DESIGN.md, Contract lifecycle).

use async_graphql::{Context, Enum, InputObject, Object, ID};

use super::setup::{lines_to_service, ContractLineInput};
use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::scalars::Date;
use crate::graphql::types::contract::Contract;
use crate::graphql::types::parse_id;
use crate::service::lifecycle::{change_contract, ChangeRequest};
use crate::service::{Ctx, ServiceError};

#[derive(InputObject)]
pub struct AmendContractInput {
    /// Not before today in the legal entity's timezone.
    effective_date: Date,
    /// Replace the lines from that date on.
    lines: Vec<ContractLineInput>,
}

#[derive(InputObject)]
pub struct PauseContractInput {
    from: Date,
    until: Option<Date>,
}

#[derive(InputObject)]
pub struct ResumeContractInput {
    on: Date,
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(remote = "crate::service::lifecycle::CancelPolicy")]
pub enum CancelPolicy {
    Immediate,
    EndOfTerm,
}

#[derive(InputObject)]
pub struct CancelContractInput {
    policy: CancelPolicy,
    /// IMMEDIATE only; default today in the legal entity's timezone.
    effective_date: Option<Date>,
    reason: Option<String>,
}

#[derive(Default)]
pub struct LifecycleMutation;

async fn change(
    ctx: &Context<'_>,
    id: &ID,
    request: ChangeRequest,
) -> async_graphql::Result<Contract> {
    let id = parse_id(id).ok_or(ServiceError::NotFound("contract"))?;
    let changed = change_contract(ctx.data::<Ctx>()?, principal(ctx)?, id, request).await?;
    Ok(Contract(changed))
}

#[Object]
impl LifecycleMutation {
    /// New lines from `effectiveDate` on: a period already billed in
    /// advance is credited for the old lines' days from then and billed for
    /// the new ones by the next run.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn amend_contract(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: AmendContractInput,
    ) -> async_graphql::Result<Contract> {
        let lines = lines_to_service(input.lines)?;
        let request = ChangeRequest::Amend {
            effective: input.effective_date.0,
            lines,
        };
        change(ctx, &id, request).await
    }

    /// Days from `from` up to the day before `until` (or open-ended) are not
    /// billed; days already billed in advance are credited.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn pause_contract(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: PauseContractInput,
    ) -> async_graphql::Result<Contract> {
        let request = ChangeRequest::Pause {
            from: input.from.0,
            until: input.until.map(|d| d.0),
        };
        change(ctx, &id, request).await
    }

    /// Ends the pause that holds `on`; `on` is billed again.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn resume_contract(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: ResumeContractInput,
    ) -> async_graphql::Result<Contract> {
        change(ctx, &id, ChangeRequest::Resume { on: input.on.0 }).await
    }

    /// IMMEDIATE: the contract ends on `effectiveDate` (billed days after it
    /// are credited); END_OF_TERM: on the current period's last day.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn cancel_contract(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: CancelContractInput,
    ) -> async_graphql::Result<Contract> {
        let request = ChangeRequest::Cancel {
            policy: input.policy.into(),
            effective: input.effective_date.map(|d| d.0),
            reason: input.reason,
        };
        change(ctx, &id, request).await
    }
}
