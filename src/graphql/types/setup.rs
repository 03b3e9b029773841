//! LegalEntity, Customer and TaxCode.

use async_graphql::{Context, Object, ID};
use entity::{customer, legal_entity, tax_code};

use super::id;
use crate::domain::amount::{Amount, Rate};
use crate::domain::currency::minor_units_of;
use crate::graphql::loaders::{loader_error, CreditBalanceOf, LegalEntityId, Loaders};
use crate::graphql::scalars::{money_at, Dec};
use crate::service::ServiceError;

pub struct LegalEntity(pub legal_entity::Model);

#[Object]
impl LegalEntity {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn country(&self) -> &str {
        &self.0.country
    }
    async fn timezone(&self) -> &str {
        &self.0.timezone
    }
}

pub struct Customer(pub customer::Model);

#[Object]
impl Customer {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn legal_entity(&self, ctx: &Context<'_>) -> async_graphql::Result<LegalEntity> {
        let loader = ctx.data::<Loaders>()?;
        loader
            .load_one(LegalEntityId(self.0.legal_entity_id))
            .await
            .map_err(loader_error)?
            .map(LegalEntity)
            .ok_or_else(|| ServiceError::NotFound("legal entity").into())
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    async fn email(&self) -> Option<&str> {
        self.0.email.as_deref()
    }
    async fn payment_terms_days(&self) -> i32 {
        self.0.payment_terms_days
    }
    async fn has_payment_method(&self) -> bool {
        self.0.has_payment_method
    }
    /// Unused credit, applied oldest first to the customer's next posted
    /// invoices (in the legal entity's currency).
    async fn credit_balance(&self, ctx: &Context<'_>) -> async_graphql::Result<Dec> {
        let loaders = ctx.data::<Loaders>()?;
        let e4 = loaders
            .load_one(CreditBalanceOf(self.0.id))
            .await
            .map_err(loader_error)?
            .unwrap_or(0);
        let entity = loaders
            .load_one(LegalEntityId(self.0.legal_entity_id))
            .await
            .map_err(loader_error)?
            .ok_or(ServiceError::NotFound("legal entity"))?;
        Ok(money_at(
            Amount::from_e4(e4),
            minor_units_of(&entity.currency),
        ))
    }
}

pub struct TaxCode(pub tax_code::Model);

#[Object]
impl TaxCode {
    async fn id(&self) -> ID {
        id(self.0.id)
    }
    async fn code(&self) -> &str {
        &self.0.code
    }
    /// Percent, e.g. "19.45".
    async fn rate(&self) -> Dec {
        Rate::from_e6(self.0.rate_e6).into()
    }
}
