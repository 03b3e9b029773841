//! GraphQL object types, written against api-contract.graphql (never
//! derived from entities, so a new column cannot become API by accident).

pub mod agent;
pub mod ar;
pub mod billing;
pub mod contract;
pub mod credit_note;
pub mod events;
pub mod notification;
pub mod schedule;
pub mod setup;
pub mod webhook;

use async_graphql::ID;

/// Parses an ID argument. An ID that is not ours behaves exactly like one
/// that does not exist.
pub fn parse_id(id: &ID) -> Option<i64> {
    id.0.parse().ok().filter(|n: &i64| *n > 0)
}

pub fn id(n: i64) -> ID {
    ID(n.to_string())
}
