//! Reading the caller's webhook endpoints and their deliveries.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::billing::cursor;
use crate::graphql::types::parse_id;
use crate::graphql::types::webhook::{WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint};
use crate::service::{webhooks, Ctx, ServiceError};

#[derive(Default)]
pub struct WebhooksQuery;

#[Object]
impl WebhooksQuery {
    /// The endpoints the caller created (nobody else's), oldest first.
    #[graphql(guard = "Needs(Scope::WebhooksWrite)")]
    async fn webhook_endpoints(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<WebhookEndpoint>> {
        let rows = webhooks::list(ctx.data::<Ctx>()?, principal(ctx)?).await?;
        Ok(rows.into_iter().map(WebhookEndpoint).collect())
    }

    /// One of the caller's endpoints' deliveries, newest first.
    #[graphql(
        guard = "Needs(Scope::EventsRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn webhook_deliveries(
        &self,
        ctx: &Context<'_>,
        endpoint_id: ID,
        status: Option<WebhookDeliveryStatus>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, WebhookDelivery>> {
        let before = cursor(after)?;
        let endpoint = parse_id(&endpoint_id).ok_or(ServiceError::NotFound("webhook endpoint"))?;
        let (rows, more) = webhooks::deliveries(
            ctx.data::<Ctx>()?,
            principal(ctx)?,
            endpoint,
            status.map(Into::into),
            first,
            before,
        )
        .await?;
        let mut connection = Connection::new(before.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|d| Edge::new(d.delivery.id.to_string(), WebhookDelivery(d))),
        );
        Ok(connection)
    }
}
