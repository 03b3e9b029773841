//! Field guards: every root field declares the scope it needs, next to the
//! field. The service checks again; the guard makes the need visible and
//! stops the request before any work.

use async_graphql::{Context, Guard};

use crate::domain::access::{Principal, Scope};
use crate::service::{Ctx, ServiceError};

pub struct Needs(pub Scope);

impl Guard for Needs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let principal = principal(ctx)?;
        if principal.has_scope(self.0) {
            return Ok(());
        }
        // The attempt is audited (nothing else is written).
        if let Ok(service) = ctx.data::<Ctx>() {
            crate::service::audit_denied(service, principal, ctx.field().name(), self.0).await;
        }
        Err(ServiceError::Forbidden(self.0.as_str()).into())
    }
}

/// The caller, put in the request data by the HTTP or WebSocket layer.
pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| ServiceError::Unauthenticated.into())
}
