//! The states stored in status-like columns. Each is read through SeaORM's
//! `ActiveEnum`, so a value billrun does not know (written by hand, or by a
//! newer version) is a type error when the row is read, never a silent
//! fallback to some other state.
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// One stored state: read and written through SeaORM's `ActiveEnum` as
/// the string in `rename_all` case, serialized the same way, and displayed
/// as stored (for logs and messages).
macro_rules! stored_state {
    ($(#[$doc:meta])* $name:ident as $case:literal { $($(#[$vdoc:meta])* $variant:ident),* $(,)? }) => {
        $(#[$doc])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
        )]
        #[sea_orm(rs_type = "String", db_type = "String(StringLen::None)", rename_all = $case)]
        #[serde(rename_all = $case)]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.to_value())
            }
        }
    };
}

stored_state!(
    /// `billing_run.status`.
    RunStatus as "SCREAMING_SNAKE_CASE" { Queued, Running, Completed, Failed }
);

impl RunStatus {
    /// COMPLETED and FAILED are final: a run leaves them only by an
    /// explicit retry.
    pub fn is_finished(self) -> bool {
        matches!(self, RunStatus::Completed | RunStatus::Failed)
    }
}

stored_state!(
    /// `billing_run.trigger_source`.
    TriggerSource as "SCREAMING_SNAKE_CASE" {
        Manual,
        Scheduled,
        /// A partner's system, over the API.
        Api,
    }
);

stored_state!(
    /// `invoice.status`.
    InvoiceStatus as "SCREAMING_SNAKE_CASE" { Draft, Posted, Paid, Void }
);

stored_state!(
    /// `contract.status`.
    ContractStatus as "SCREAMING_SNAKE_CASE" { Active, Paused, Cancelled, Ended }
);

stored_state!(
    /// `billing_agent_config.notification_level`: which finished runs notify.
    NotificationLevel as "SCREAMING_SNAKE_CASE" { All, FailuresOnly, None }
);

stored_state!(
    /// `credit_note.status`.
    CreditNoteStatus as "SCREAMING_SNAKE_CASE" { Draft, Issued, Void }
);

stored_state!(
    /// `credit_note.reason`.
    CreditNoteReason as "SCREAMING_SNAKE_CASE" {
        DuplicateCharge,
        ProductUnsatisfactory,
        OrderChange,
        OrderCancellation,
        FraudulentCharge,
        Other,
    }
);

stored_state!(
    /// `idempotency_key.status`: pending while the first request runs.
    KeyStatus as "lowercase" { Pending, Done }
);

stored_state!(
    /// `webhook_delivery.status`: PENDING until the first failure,
    /// RETRYING while retries remain, then SUCCEEDED or FAILED.
    WebhookDeliveryStatus as "SCREAMING_SNAKE_CASE" { Pending, Retrying, Succeeded, Failed }
);

impl WebhookDeliveryStatus {
    /// PENDING and RETRYING: still to be sent.
    pub const OPEN: [WebhookDeliveryStatus; 2] = [
        WebhookDeliveryStatus::Pending,
        WebhookDeliveryStatus::Retrying,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn states_are_stored_as_the_api_spells_them_and_unknown_ones_are_refused() {
        assert_eq!(RunStatus::Completed.to_value(), "COMPLETED");
        assert_eq!(NotificationLevel::FailuresOnly.to_value(), "FAILURES_ONLY");
        assert_eq!(KeyStatus::Pending.to_value(), "pending");
        for state in InvoiceStatus::iter() {
            assert_eq!(InvoiceStatus::try_from_value(&state.to_value()), Ok(state));
            assert_eq!(state.to_string(), state.to_value());
        }
        assert!(RunStatus::try_from_value(&"PAUSED".to_string()).is_err());
        assert!(InvoiceStatus::try_from_value(&"posted".to_string()).is_err());
    }
}
