//! Pure business rules: money, currencies, the billing schedule, access and
//! input validation. No database, no GraphQL, no I/O.

pub mod access;
pub mod aging;
pub mod amount;
pub mod billing;
pub mod credit;
pub mod cron;
pub mod currency;
pub mod error;
pub mod events;
pub mod lifecycle;
pub mod money;
pub mod schedule;
pub mod terms;
pub mod validate;
pub mod webhook;

pub use error::DomainError;
