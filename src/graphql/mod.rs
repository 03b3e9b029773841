//! The GraphQL API: roots merged from one file per domain, types written
//! against the contract, guards on every field, and the one error mapping.

pub mod error;
pub mod guard;
pub mod loaders;
pub mod mutation;
pub mod query;
pub mod scalars;
pub mod subscription;
pub mod types;

use async_graphql::{SDLExportOptions, Schema};

use crate::service::Ctx;

pub type AppSchema =
    Schema<query::QueryRoot, mutation::MutationRoot, subscription::SubscriptionRoot>;

/// Limits that stop hostile documents at validation, before any resolver.
pub const MAX_DEPTH: usize = 12;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_DIRECTIVES: usize = 10;

pub fn build_schema(ctx: Option<Ctx>) -> AppSchema {
    let mut builder = Schema::build(
        query::QueryRoot::default(),
        mutation::MutationRoot::default(),
        subscription::SubscriptionRoot::default(),
    )
    .limit_depth(MAX_DEPTH)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
    .limit_directives(MAX_DIRECTIVES)
    .disable_suggestions();
    if let Some(ctx) = ctx {
        builder = builder.data(ctx);
    }
    builder.finish()
}

/// The SDL checked in as schema.graphql.
pub fn sdl() -> String {
    build_schema(None).sdl_with_options(
        SDLExportOptions::new()
            .sorted_fields()
            .sorted_arguments()
            .sorted_enum_items(),
    )
}
