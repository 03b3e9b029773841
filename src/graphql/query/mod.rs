//! Query roots, one file per domain, merged into `QueryRoot`.

pub mod ar;
pub mod billing;
pub mod credit_notes;
pub mod events;
pub mod notifications;
pub mod schedule;
pub mod setup;
pub mod webhooks;

/// Named as api-contract.graphql names it.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Query")]
pub struct QueryRoot(
    setup::SetupQuery,
    billing::BillingQuery,
    ar::ArQuery,
    credit_notes::CreditNotesQuery,
    schedule::ScheduleQuery,
    events::EventsQuery,
    notifications::NotificationsQuery,
    webhooks::WebhooksQuery,
);
