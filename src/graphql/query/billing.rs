//! Billing runs, invoices, the agent and the audit trail.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::agent::{AgentDefinition, BillingAgentConfig, ExecutionMode};
use crate::graphql::types::billing::{cursor, AuditEvent, BillingRun, Invoice};
use crate::graphql::types::parse_id;
use crate::service::{agent, invoices, runs, Ctx};

#[derive(Default)]
pub struct BillingQuery;

#[Object]
impl BillingQuery {
    /// Runs of a legal entity, newest first.
    #[graphql(
        guard = "Needs(Scope::BillingRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn billing_runs(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, BillingRun>> {
        let before = cursor(after)?;
        let Some(entity_id) = parse_id(&legal_entity_id) else {
            return Ok(Connection::new(false, false));
        };
        let (rows, more) = runs::billing_runs(
            ctx.data::<Ctx>()?,
            principal(ctx)?,
            entity_id,
            first,
            before,
        )
        .await?;
        let mut connection = Connection::new(before.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|r| Edge::new(r.id.to_string(), BillingRun(r))),
        );
        Ok(connection)
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn billing_run(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<BillingRun>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(runs::billing_run(ctx.data::<Ctx>()?, principal(ctx)?, id)
            .await?
            .map(BillingRun))
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn invoice(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Invoice>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        Ok(invoices::invoice(ctx.data::<Ctx>()?, principal(ctx)?, id)
            .await?
            .map(Invoice))
    }

    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn agent_definitions(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<AgentDefinition>> {
        let config = agent::read_config(ctx.data::<Ctx>()?, principal(ctx)?).await?;
        Ok(vec![AgentDefinition {
            id: ID(agent::AGENT_KEY.into()),
            key: agent::AGENT_KEY.into(),
            name: agent::AGENT_NAME.into(),
            execution_mode: ExecutionMode::Code,
            trigger_events: agent::TRIGGER_EVENTS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            config: Some(BillingAgentConfig(config)),
        }])
    }

    /// Audit events, oldest first (at most 500).
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: Option<ID>,
        subject_id: Option<ID>,
        first: Option<i32>,
    ) -> async_graphql::Result<Vec<AuditEvent>> {
        let entity = match legal_entity_id {
            None => None,
            Some(id) => match parse_id(&id) {
                Some(id) => Some(id),
                None => return Ok(vec![]),
            },
        };
        let rows = runs::audit_events(
            ctx.data::<Ctx>()?,
            principal(ctx)?,
            entity,
            subject_id.map(|s| s.0),
            first,
        )
        .await?;
        Ok(rows.into_iter().map(AuditEvent).collect())
    }
}
