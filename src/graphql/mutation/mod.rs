//! Mutation roots, one file per domain, merged into `MutationRoot`.

pub mod setup;

#[derive(async_graphql::MergedObject, Default)]
pub struct MutationRoot(setup::SetupMutation);
