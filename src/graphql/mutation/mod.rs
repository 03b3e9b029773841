//! Mutation roots, one file per domain, merged into `MutationRoot`.

pub mod billing;
pub mod credit_notes;
pub mod lifecycle;
pub mod notifications;
pub mod schedule;
pub mod setup;
pub mod webhooks;

/// Named as api-contract.graphql names it.
#[derive(async_graphql::MergedObject, Default)]
#[graphql(name = "Mutation")]
pub struct MutationRoot(
    setup::SetupMutation,
    billing::BillingMutation,
    credit_notes::CreditNotesMutation,
    lifecycle::LifecycleMutation,
    schedule::ScheduleMutation,
    notifications::NotificationsMutation,
    webhooks::WebhooksMutation,
);
