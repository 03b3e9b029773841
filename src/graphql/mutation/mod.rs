//! Mutation roots, one file per domain, merged into `MutationRoot`.

pub mod billing;
pub mod schedule;
pub mod setup;

#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(
    setup::SetupMutation,
    billing::BillingMutation,
    schedule::ScheduleMutation,
);
