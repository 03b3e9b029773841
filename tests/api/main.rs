//! The one integration test binary: every test starts the real server on a
//! free port with its own database and talks GraphQL over HTTP and WebSocket.

mod ar;
mod billing;
mod billing_runs;
mod faults;
mod hardening;
mod helpers;
mod process;
mod reliability;
mod schedule;
mod security;
mod security_tokens;
mod server;
mod setup;
mod storage;
mod subscriptions;
mod ws_client;
