//! One public async fn per use case. Services check the principal's scope,
//! validate input into domain values, open the transactions and call the
//! store; resolvers call exactly one of them.

pub mod contracts;
pub mod error;
pub mod setup;

use sea_orm::DatabaseConnection;

pub use error::{ServiceError, ServiceResult};

use crate::domain::access::{Principal, Scope};

/// What every service needs: the database (and, as billrun grows, the
/// event bus and the run engine's handles).
#[derive(Clone)]
pub struct Ctx {
    pub db: DatabaseConnection,
}

impl Ctx {
    pub fn new(db: DatabaseConnection) -> Self {
        Ctx { db }
    }
}

/// Refuses a principal that lacks `scope` (FORBIDDEN).
pub fn require(principal: &Principal, scope: Scope) -> ServiceResult<()> {
    if principal.has_scope(scope) {
        Ok(())
    } else {
        Err(ServiceError::Forbidden(scope.as_str()))
    }
}
