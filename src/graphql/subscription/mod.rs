//! Subscription roots, merged into `SubscriptionRoot`.

pub mod billing;

#[derive(async_graphql::MergedSubscription, Default)]
pub struct SubscriptionRoot(billing::BillingSubscription);
