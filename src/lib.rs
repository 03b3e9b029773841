//! billrun: recurring contracts in, correct AR invoices out, over GraphQL.
//!
//! Layers: `graphql` and `http` → `service` → `domain` (pure) and `store`
//! (SeaORM) → the `entity` crate.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod domain;
pub mod events;
pub mod graphql;
pub mod http;
pub mod import;
pub mod otlp;
pub mod service;
pub mod store;
pub mod telemetry;
