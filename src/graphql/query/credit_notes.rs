//! Reading credit notes.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::types::billing::cursor;
use crate::graphql::types::credit_note::CreditNote;
use crate::graphql::types::parse_id;
use crate::service::{credit_notes, Ctx};

#[derive(Default)]
pub struct CreditNotesQuery;

#[Object]
impl CreditNotesQuery {
    #[graphql(guard = "Needs(Scope::BillingRead)")]
    async fn credit_note(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<Option<CreditNote>> {
        let Some(id) = parse_id(&id) else {
            return Ok(None);
        };
        let note = credit_notes::credit_note(ctx.data::<Ctx>()?, principal(ctx)?, id).await?;
        Ok(note.map(CreditNote))
    }

    /// A legal entity's credit notes, oldest first.
    #[graphql(
        guard = "Needs(Scope::BillingRead)",
        complexity = "first.unwrap_or(20).clamp(0, 100) as usize * child_complexity"
    )]
    async fn credit_notes(
        &self,
        ctx: &Context<'_>,
        legal_entity_id: ID,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, CreditNote>> {
        let after = cursor(after)?;
        let Some(entity) = parse_id(&legal_entity_id) else {
            return Ok(Connection::new(false, false));
        };
        let (rows, more) =
            credit_notes::credit_notes(ctx.data::<Ctx>()?, principal(ctx)?, entity, first, after)
                .await?;
        let mut connection = Connection::new(after.is_some(), more);
        connection.edges.extend(
            rows.into_iter()
                .map(|n| Edge::new(n.id.to_string(), CreditNote(n))),
        );
        Ok(connection)
    }
}
