//! The AR aging report and the invoice list.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::scalars::Date;
use crate::graphql::types::ar::ArAgingReport;
use crate::graphql::types::billing::{cursor, Invoice, InvoiceStatus};
use crate::graphql::types::parse_id;
use crate::service::{ar, Ctx, ServiceError};

#[derive(Default)]
pub struct ArQuery;

#[Object]
impl ArQuery {
    /// What each customer owes as of a date (default: today in the legal
    /// entity's timezone), by days past due.
    #[graphql(guard = "Needs(Scope::ArRead)")]
    async fn ar_aging(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
        as_of: Option<Date>,
    ) -> async_graphql::Result<ArAgingReport> {
        let entity = parse_id(&legal_entity_id).ok_or(ServiceError::NotFound("legal entity"))?;
        let (service, principal) = (ctx.data::<Ctx>()?, principal(ctx)?);
        let head = ar::aging_head(service, principal, entity, as_of.map(|d| d.0)).await?;
        ArAgingReport::load(ctx, head).await
    }

    /// Invoices of a legal entity, newest first.
    #[graphql(
        guard = "Needs(Scope::BillingRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    #[allow(clippy::too_many_arguments)]
    async fn invoices(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
        status: Option<InvoiceStatus>,
        customer_id: Option<ID>,
        due_from: Option<Date>,
        due_to: Option<Date>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Invoice>> {
        let before = cursor(after)?;
        let Some(entity) = parse_id(&legal_entity_id) else {
            return Ok(Connection::new(false, false));
        };
        let customer_id = match customer_id {
            None => None,
            Some(id) => match parse_id(&id) {
                Some(id) => Some(id),
                None => return Ok(Connection::new(false, false)),
            },
        };
        let q = ar::InvoiceQuery {
            legal_entity_id: entity,
            status: status.map(Into::into),
            customer_id,
            due_from: due_from.map(|d| d.0),
            due_to: due_to.map(|d| d.0),
            first,
            before,
        };
        let (rows, more) = ar::invoice_list(ctx.data::<Ctx>()?, principal(ctx)?, q).await?;
        let mut connection = Connection::new(before.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|i| Edge::new(i.id.to_string(), Invoice(i))),
        );
        Ok(connection)
    }
}
