//! Legal entities, customers and contracts.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::contract::Contract;
use crate::graphql::types::parse_id;
use crate::graphql::types::setup::{Customer, LegalEntity, TaxCode};
use crate::service::{contracts, setup, Ctx, ServiceError};

#[derive(Default)]
pub struct SetupQuery;

#[Object]
impl SetupQuery {
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn legal_entities(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<LegalEntity>> {
        let rows = setup::legal_entities(ctx.data::<Ctx>()?, principal(ctx)?).await?;
        Ok(rows.into_iter().map(LegalEntity).collect())
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn legal_entity(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<LegalEntity>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(setup::legal_entity(ctx.data::<Ctx>()?, principal(ctx)?, id)
            .await?
            .map(LegalEntity))
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn customer(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Customer>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(setup::customer(ctx.data::<Ctx>()?, principal(ctx)?, id)
            .await?
            .map(Customer))
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn tax_codes(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
    ) -> async_graphql::Result<Vec<TaxCode>> {
        let Some(id) = parse_id(&legal_entity_id) else {
            return Ok(vec![]);
        };
        let rows = setup::tax_codes(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(rows.into_iter().map(TaxCode).collect())
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn contract(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Contract>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(contracts::contract(ctx.data::<Ctx>()?, principal(ctx)?, id)
            .await?
            .map(Contract))
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
    ) -> async_graphql::Result<Vec<Customer>> {
        let Some(id) = parse_id(&legal_entity_id) else {
            return Ok(vec![]);
        };
        let rows = setup::customers(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(rows.into_iter().map(Customer).collect())
    }

    /// Contracts of a legal entity in creation order (a Relay connection).
    #[graphql(
        guard = "Needs(Scope::BillingRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn contracts(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Contract>> {
        let after =
            match after {
                None => None,
                Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
                    ServiceError::bad_input("after", "is not a cursor of this list")
                })?),
            };
        let Some(entity_id) = parse_id(&legal_entity_id) else {
            return Ok(Connection::new(false, false));
        };
        let (rows, more) =
            contracts::contracts(ctx.data::<Ctx>()?, principal(ctx)?, entity_id, first, after)
                .await?;
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|c| Edge::new(c.id.to_string(), Contract(c))),
        );
        Ok(connection)
    }
}
