//! Field guards: every root field declares the scope it needs, next to the
//! field. The service checks again; the guard makes the need visible and
//! stops the request before any work.

use async_graphql::{Context, Guard};

use crate::domain::access::{Principal, Scope};
use crate::service::{Ctx, ServiceError};
use crate::store::outbox;

pub struct Needs(pub Scope);

impl Guard for Needs {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let principal = principal(ctx)?;
        if principal.has_scope(self.0) {
            return Ok(());
        }
        // The attempt is audited (nothing else is written).
        if let Ok(service) = ctx.data::<Ctx>() {
            let field = ctx.field().name().to_string();
            let entry = outbox::NewAudit {
                legal_entity_id: None,
                subject_type: "Access",
                subject_id: field.clone(),
                action: "ACCESS_DENIED",
                actor: &principal.subject,
                details: Some(
                    serde_json::json!({ "field": field, "missingScope": self.0.as_str() }),
                ),
            };
            if let Err(err) = outbox::audit(&service.db, entry).await {
                tracing::warn!(error = %err, "could not audit a denied request");
            }
        }
        Err(ServiceError::Forbidden(self.0.as_str()).into())
    }
}

/// The caller, put in the request data by the HTTP or WebSocket layer.
pub fn principal<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a Principal> {
    ctx.data_opt::<Principal>()
        .ok_or_else(|| ServiceError::Unauthenticated.into())
}
