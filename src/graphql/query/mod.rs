//! Query roots, one file per domain, merged into `QueryRoot`.

pub mod ar;
pub mod billing;
pub mod events;
pub mod schedule;
pub mod setup;

#[derive(async_graphql::MergedObject, Default)]
pub struct QueryRoot(
    setup::SetupQuery,
    billing::BillingQuery,
    ar::ArQuery,
    schedule::ScheduleQuery,
    events::EventsQuery,
);
