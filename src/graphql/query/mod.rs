//! Query roots, one file per domain, merged into `QueryRoot`.

pub mod setup;

#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(setup::SetupQuery);
