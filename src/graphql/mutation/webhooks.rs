//! Managing the caller's webhook endpoints (scope `webhooks:write`).

use async_graphql::{Context, InputObject, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::parse_id;
use crate::graphql::types::webhook::{WebhookDelivery, WebhookEndpoint, WebhookEndpointWithSecret};
use crate::service::webhooks::{self, EndpointPatch, NewEndpoint};
use crate::service::{Ctx, ServiceError};

#[derive(InputObject)]
pub struct CreateWebhookEndpointInput {
    /// https://, or http:// to an allowed host.
    pub url: String,
    pub description: Option<String>,
    pub legal_entity_id: Option<ID>,
    pub event_types: Option<Vec<String>>,
}

#[derive(InputObject)]
pub struct UpdateWebhookEndpointInput {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

fn endpoint_id(id: &ID) -> Result<i64, ServiceError> {
    parse_id(id).ok_or(ServiceError::NotFound("webhook endpoint"))
}

#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// The secret is shown here and by `rotateWebhookSecret` only.
    #[graphql(guard = "Needs(Scope::WebhooksWrite)", complexity = 10)]
    async fn create_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        input: CreateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let legal_entity_id = match &input.legal_entity_id {
            None => None,
            Some(id) => Some(parse_id(id).ok_or(ServiceError::NotFound("legal entity"))?),
        };
        let new = NewEndpoint {
            url: input.url,
            description: input.description,
            legal_entity_id,
            event_types: input.event_types,
        };
        let created = webhooks::create(ctx.data::<Ctx>()?, principal(ctx)?, new).await?;
        Ok(WebhookEndpointWithSecret::new(created))
    }

    #[graphql(guard = "Needs(Scope::WebhooksWrite)", complexity = 10)]
    async fn update_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateWebhookEndpointInput,
    ) -> async_graphql::Result<WebhookEndpoint> {
        let patch = EndpointPatch {
            url: input.url,
            description: input.description,
            event_types: input.event_types,
            enabled: input.enabled,
        };
        let id = endpoint_id(&id)?;
        let row = webhooks::update(ctx.data::<Ctx>()?, principal(ctx)?, id, patch).await?;
        Ok(WebhookEndpoint(row))
    }

    /// Deletes the endpoint with its deliveries and their logs.
    #[graphql(guard = "Needs(Scope::WebhooksWrite)", complexity = 10)]
    async fn delete_webhook_endpoint(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<bool> {
        let id = endpoint_id(&id)?;
        Ok(webhooks::delete(ctx.data::<Ctx>()?, principal(ctx)?, id).await?)
    }

    /// A new secret; the previous one keeps signing beside it for 24 h.
    #[graphql(guard = "Needs(Scope::WebhooksWrite)", complexity = 10)]
    async fn rotate_webhook_secret(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookEndpointWithSecret> {
        let id = endpoint_id(&id)?;
        let rotated = webhooks::rotate(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(WebhookEndpointWithSecret::new(rotated))
    }

    /// Sends a FAILED delivery once more (a SUCCEEDED one is refused).
    #[graphql(guard = "Needs(Scope::WebhooksWrite)", complexity = 10)]
    async fn retry_webhook_delivery(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<WebhookDelivery> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("webhook delivery"))?;
        let view = webhooks::retry(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(WebhookDelivery(view))
    }
}
