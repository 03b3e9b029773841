//! The GraphQL API: roots merged from one file per domain, types written
//! against the contract, guards on every field, and the one error mapping.

pub mod depth;
pub mod error;
pub mod executed;
pub mod guard;
pub mod idempotent;
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
/// Data may nest 12 fields deep ([`depth::DataDepth`]); introspection 15,
/// what graphql-js's introspection query needs (GraphiQL, graphql-inspector
/// and codegen send it).
pub const MAX_DEPTH: usize = 12;
pub const MAX_INTROSPECTION_DEPTH: usize = 15;
pub const MAX_COMPLEXITY: usize = 5_000;
pub const MAX_RECURSIVE_DEPTH: usize = 32;
pub const MAX_DIRECTIVES: usize = 10;

pub fn build_schema(ctx: Option<Ctx>) -> AppSchema {
    let mut builder = Schema::build(
        query::QueryRoot::default(),
        mutation::MutationRoot::default(),
        subscription::SubscriptionRoot::default(),
    )
    .limit_depth(MAX_INTROSPECTION_DEPTH)
    .extension(depth::DataDepth)
    .limit_complexity(MAX_COMPLEXITY)
    .limit_recursive_depth(MAX_RECURSIVE_DEPTH)
    .limit_directives(MAX_DIRECTIVES)
    .extension(crate::http::metrics::OperationMetrics)
    .disable_suggestions()
    .extension(executed::MarkExecution);
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

#[cfg(test)]
mod tests {
    /// Every root field declares what it needs with a guard next to it: a
    /// query, mutation or subscription field without one fails here.
    #[test]
    fn every_root_field_declares_its_guard() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/graphql");
        let mut checked = 0;
        for dir in ["query", "mutation", "subscription"] {
            for entry in std::fs::read_dir(root.join(dir))
                .expect("roots folder")
                .flatten()
            {
                let path = entry.path();
                let text = std::fs::read_to_string(&path).expect("source");
                let lines: Vec<&str> = text.lines().collect();
                let mut in_root = false;
                for (i, line) in lines.iter().enumerate() {
                    let t = line.trim();
                    if t == "#[Object]" || t == "#[Subscription]" {
                        in_root = true;
                    } else if line.starts_with('}') {
                        in_root = false;
                    } else if in_root && t.starts_with("async fn ") {
                        // The attributes and doc comments right above the fn.
                        let above: Vec<&str> = lines[..i]
                            .iter()
                            .rev()
                            .take_while(|l| {
                                let l = l.trim();
                                !(l.is_empty()
                                    || l.ends_with('}')
                                    || l.ends_with(';')
                                    || l.ends_with('{'))
                            })
                            .copied()
                            .collect();
                        assert!(
                            above.iter().any(|l| l.contains("guard = ")),
                            "{}: `{t}` has no #[graphql(guard = ...)]",
                            path.display()
                        );
                        checked += 1;
                    }
                }
            }
        }
        // The scan saw every root field of the schema.
        let sdl = super::sdl();
        let doc = async_graphql::parser::parse_schema(&sdl).expect("SDL parses");
        let roots = ["Query", "Mutation", "Subscription"];
        let fields: usize = doc
            .definitions
            .iter()
            .filter_map(|d| match d {
                async_graphql::parser::types::TypeSystemDefinition::Type(t) => Some(&t.node),
                _ => None,
            })
            .filter(|t| roots.contains(&t.name.node.as_str()))
            .map(|t| match &t.kind {
                async_graphql::parser::types::TypeKind::Object(o) => o.fields.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(
            checked, fields,
            "every root field of the schema was checked"
        );
    }
}
