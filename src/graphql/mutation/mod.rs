//! Mutation roots, one file per domain, merged into `MutationRoot`.

pub mod billing;
pub mod setup;

#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(setup::SetupMutation, billing::BillingMutation);
