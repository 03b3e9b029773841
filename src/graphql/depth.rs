//! The depth limit for data. The standard introspection query (graphql-js's
//! `getIntrospectionQuery`, sent by GraphiQL, graphql-inspector and codegen)
//! is 15 levels deep: its `TypeRef` unwraps nine `ofType`s under
//! `__schema.types.fields.args.type`. The schema's own limit is therefore
//! [`super::MAX_INTROSPECTION_DEPTH`], and this extension holds everything
//! outside `__schema` and `__type` to [`super::MAX_DEPTH`], once the
//! document is parsed and before validation or any resolver.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, Selection, SelectionSet};
use async_graphql::{ServerError, ServerResult, Variables};

use super::MAX_DEPTH;

/// Registered on the schema; refuses data nested deeper than [`MAX_DEPTH`].
pub struct DataDepth;

impl ExtensionFactory for DataDepth {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DataDepth)
    }
}

#[async_trait::async_trait]
impl Extension for DataDepth {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if data_depth(&doc) > MAX_DEPTH {
            // async-graphql's own words for its limit, so both read alike.
            return Err(ServerError::new("Query is nested too deep.", None));
        }
        Ok(doc)
    }
}

/// The deepest chain of fields in any operation, fragments inlined, not
/// counting what is under `__schema` or `__type` (valid only at the root).
pub fn data_depth(doc: &ExecutableDocument) -> usize {
    let mut walk = Walk {
        doc,
        memo: HashMap::new(),
    };
    doc.operations
        .iter()
        .map(|(_, op)| walk.set(&op.node.selection_set.node))
        .max()
        .unwrap_or(0)
}

struct Walk<'a> {
    doc: &'a ExecutableDocument,
    /// A fragment's depth does not depend on where it is spread, so each is
    /// walked once (a fragment bomb stays linear); 0 while being walked, so
    /// a cycle (refused by validation later) ends here.
    memo: HashMap<&'a str, usize>,
}

impl<'a> Walk<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> usize {
        set.items
            .iter()
            .map(|item| match &item.node {
                Selection::Field(field) => match field.node.name.node.as_str() {
                    "__schema" | "__type" => 0,
                    _ => 1 + self.set(&field.node.selection_set.node),
                },
                Selection::InlineFragment(inline) => self.set(&inline.node.selection_set.node),
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            })
            .max()
            .unwrap_or(0)
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(depth) = self.memo.get(name) {
            return *depth;
        }
        let Some(fragment) = self.doc.fragments.get(name) else {
            return 0;
        };
        self.memo.insert(name, 0);
        let depth = self.set(&fragment.node.selection_set.node);
        self.memo.insert(name, depth);
        depth
    }
}

#[cfg(test)]
mod tests {
    use super::data_depth;

    fn depth(doc: &str) -> usize {
        match async_graphql::parser::parse_query(doc) {
            Ok(doc) => data_depth(&doc),
            Err(err) => panic!("{doc}: {err}"),
        }
    }

    #[test]
    fn fields_count_through_fragments_and_introspection_does_not() {
        assert_eq!(depth("{ a { b { c } } }"), 3);
        assert_eq!(
            depth("{ a { ...F } } fragment F on T { b { ... on U { c } } }"),
            3
        );
        assert_eq!(depth("{ a __schema { types { fields { name } } } }"), 1);
        assert_eq!(
            depth("{ __type(name: \"X\") { fields { type { name } } } }"),
            0
        );
        assert_eq!(depth("query A { a } query B { a { b { c { d } } } }"), 4);
    }

    #[test]
    fn a_fragment_cycle_or_bomb_ends() {
        assert_eq!(
            depth("{ ...A } fragment A on Q { a { ...B } } fragment B on Q { b { ...A } }"),
            2
        );
        let mut doc = "{ ...F0 } ".to_string();
        for i in 0..40 {
            doc.push_str(&format!(
                "fragment F{i} on Q {{ x: f {{ ...F{} }} y: f {{ ...F{} }} }} ",
                i + 1,
                i + 1
            ));
        }
        doc.push_str("fragment F40 on Q { z }");
        assert_eq!(depth(&doc), 41);
    }
}
