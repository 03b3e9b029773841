//! Whether a request got as far as execution. The GraphQL-over-HTTP spec
//! answers a document that fails to parse or validate (a "request error")
//! differently from one that ran and failed: no `data` key, and 400 for
//! `application/graphql-response+json` clients. async-graphql returns both
//! as a response with null data, so this extension marks the requests whose
//! execution began; the HTTP layer reads the mark.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;

/// Put into a request's data; set once execution starts.
#[derive(Clone, Default)]
pub struct Executed(Arc<AtomicBool>);

impl Executed {
    pub fn happened(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// Registered on the schema; sets the request's [`Executed`] mark.
pub struct MarkExecution;

impl ExtensionFactory for MarkExecution {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(MarkExecution)
    }
}

#[async_trait::async_trait]
impl Extension for MarkExecution {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        if let Some(mark) = ctx.data_opt::<Executed>() {
            mark.0.store(true, Ordering::Release);
        }
        next.run(ctx, operation_name).await
    }
}
