//! The one integration test binary: every test starts the real server on a
//! free port with its own database and talks GraphQL over HTTP and
//! WebSocket. Modules follow DESIGN.md's sections, so each rule is tested
//! once, where a newcomer changing it will look; SECURITY.md's items are
//! in `transport` (hostile documents and requests) and `access` (tokens,
//! tenancy, scopes).

mod access;
mod aging;
mod events;
mod faults;
mod helpers;
mod invoices;
mod lifecycle;
mod money;
mod process;
mod runs;
mod schedule;
mod scheduler;
mod server;
mod setup;
mod transport;
mod webhooks;
