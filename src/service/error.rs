//! What a use case can fail with. `graphql::error` is the one place that
//! turns these into `extensions.code`.

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    BadInput(#[from] DomainError),
    /// The object does not exist or lies outside the caller's legal
    /// entities: the two are indistinguishable on purpose.
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{message}")]
    Conflict {
        message: String,
        active_run_id: Option<i64>,
    },
    #[error("missing scope {0}")]
    Forbidden(&'static str),
    #[error("authentication required")]
    Unauthenticated,
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ServiceError {
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        ServiceError::BadInput(DomainError::new(field, message))
    }

    /// The same error, its field named under `prefix` (`inputs.2` makes
    /// `lines.0.unitPrice` into `inputs.2.lines.0.unitPrice`).
    pub fn under(self, prefix: &str) -> Self {
        match self {
            ServiceError::BadInput(e) => {
                ServiceError::BadInput(DomainError::new(format!("{prefix}.{}", e.field), e.message))
            }
            other => other,
        }
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        ServiceError::Conflict {
            message: message.into(),
            active_run_id: None,
        }
    }
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(detail) => {
                // The constraint name stays in the logs.
                tracing::info!(%detail, "write refused by a constraint");
                ServiceError::conflict("the change conflicts with existing data")
            }
            other => ServiceError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(err: sea_orm::DbErr) -> Self {
        StoreError::from(err).into()
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// A database failure that may pass on another try (see
    /// `StoreError::is_transient`).
    pub fn is_transient(&self) -> bool {
        match self {
            ServiceError::Internal(err) => err
                .downcast_ref::<StoreError>()
                .is_some_and(StoreError::is_transient),
            _ => false,
        }
    }
}
