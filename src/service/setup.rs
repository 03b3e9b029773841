//! Setting up what billing needs: legal entities, customers and tax codes.

use rust_decimal::Decimal;

use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::Rate;
use crate::domain::currency::Currency;
use crate::domain::validate;
use crate::store::{self, legal_entity, party};

pub struct CreateLegalEntity {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub country: String,
    pub timezone: String,
}

/// Creating a legal entity widens everyone's world, so it takes
/// `config:write` on every entity (an ADMIN or a `["*"]` token).
#[tracing::instrument(skip_all)]
pub async fn create_legal_entity(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateLegalEntity,
) -> ServiceResult<entity::legal_entity::Model> {
    require(principal, Scope::ConfigWrite)?;
    if principal.entity_filter().is_some() {
        return Err(ServiceError::Forbidden(
            "config:write on every legal entity",
        ));
    }
    let code = validate::entity_code(&input.code)?;
    let name = validate::name("name", &input.name)?;
    let currency = Currency::parse(input.currency.trim()).ok_or_else(|| {
        ServiceError::bad_input(
            "currency",
            format!("unknown ISO 4217 currency {:?}", input.currency),
        )
    })?;
    let country = validate::country(input.country.trim())?;
    let timezone = validate::timezone(input.timezone.trim())?;
    if legal_entity::code_taken(&ctx.db, &code).await? {
        return Err(ServiceError::bad_input(
            "code",
            format!("legal entity code {code:?} already exists"),
        ));
    }
    let new = legal_entity::NewLegalEntity {
        code: code.clone(),
        name,
        currency: currency.code().to_string(),
        country,
        timezone: timezone.name().to_string(),
    };
    // In a write transaction: a request dropped at its timeout while the
    // transaction waits for the lock rolls back instead of committing later.
    let txn = store::begin_write(&ctx.db).await?;
    match legal_entity::insert(&txn, new).await {
        // Lost a race with a concurrent create of the same code.
        Err(store::StoreError::Conflict(_)) => Err(ServiceError::bad_input(
            "code",
            format!("legal entity code {code:?} already exists"),
        )),
        Err(other) => Err(other.into()),
        Ok(created) => {
            txn.commit().await?;
            Ok(created)
        }
    }
}

pub async fn legal_entities(
    ctx: &Ctx,
    principal: &Principal,
) -> ServiceResult<Vec<entity::legal_entity::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(legal_entity::list(&ctx.db, principal).await?)
}

pub async fn legal_entity(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<entity::legal_entity::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(legal_entity::find(&ctx.db, principal, id).await?)
}

/// The legal entity `id` as the caller sees it, or NOT_FOUND.
pub async fn visible_entity(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<entity::legal_entity::Model> {
    legal_entity::find(&ctx.db, principal, id)
        .await?
        .ok_or(ServiceError::NotFound("legal entity"))
}

pub struct CreateCustomer {
    pub legal_entity_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub payment_terms_days: Option<i32>,
    pub has_payment_method: Option<bool>,
}

pub const DEFAULT_PAYMENT_TERMS_DAYS: i32 = 30;

#[tracing::instrument(skip_all, fields(legal_entity_id = input.legal_entity_id))]
pub async fn create_customer(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateCustomer,
) -> ServiceResult<entity::customer::Model> {
    require(principal, Scope::ContractsWrite)?;
    let entity = visible_entity(ctx, principal, input.legal_entity_id).await?;
    let new = party::NewCustomer {
        legal_entity_id: entity.id,
        name: validate::name("name", &input.name)?,
        email: input.email.as_deref().map(validate::email).transpose()?,
        payment_terms_days: validate::payment_terms(
            input
                .payment_terms_days
                .unwrap_or(DEFAULT_PAYMENT_TERMS_DAYS),
        )?,
        has_payment_method: input.has_payment_method.unwrap_or(false),
    };
    let txn = store::begin_write(&ctx.db).await?;
    let created = party::insert_customer(&txn, new).await?;
    txn.commit().await?;
    Ok(created)
}

pub async fn customers(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
) -> ServiceResult<Vec<entity::customer::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(party::customers_of(&ctx.db, principal, legal_entity_id).await?)
}

/// One customer the caller may read.
pub async fn customer(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<entity::customer::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(party::find_customer(&ctx.db, principal, id).await?)
}

/// What `updateCustomer` changes; `None` keeps a field, `email:
/// Some(None)` clears it.
pub struct UpdateCustomer {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub payment_terms_days: Option<i32>,
    pub has_payment_method: Option<bool>,
}

/// Changes a customer, audited. Invoices already issued keep their due
/// dates (they were computed when issued); the next ones use the new terms.
#[tracing::instrument(skip_all, fields(customer_id = id))]
pub async fn update_customer(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    change: UpdateCustomer,
) -> ServiceResult<entity::customer::Model> {
    require(principal, Scope::ContractsWrite)?;
    let before = party::find_customer(&ctx.db, principal, id)
        .await?
        .ok_or(ServiceError::NotFound("customer"))?;
    visible_entity(ctx, principal, before.legal_entity_id).await?;
    let values = party::CustomerValues {
        name: match &change.name {
            Some(n) => validate::name("name", n)?,
            None => before.name.clone(),
        },
        email: match &change.email {
            Some(Some(e)) => Some(validate::email(e)?),
            Some(None) => None,
            None => before.email.clone(),
        },
        payment_terms_days: validate::payment_terms(
            change
                .payment_terms_days
                .unwrap_or(before.payment_terms_days),
        )?,
        has_payment_method: change
            .has_payment_method
            .unwrap_or(before.has_payment_method),
    };
    let txn = store::begin_write(&ctx.db).await?;
    let after = party::update_customer(&txn, id, values).await?;
    let details = serde_json::json!({
        "name": after.name,
        "email": after.email,
        "paymentTermsDays": after.payment_terms_days,
        "hasPaymentMethod": after.has_payment_method,
    });
    crate::store::audit::record(
        &txn,
        crate::store::audit::NewAudit {
            legal_entity_id: Some(after.legal_entity_id),
            subject_type: "Customer",
            subject_id: after.id.to_string(),
            action: "CUSTOMER_UPDATED",
            actor: &principal.subject,
            details: Some(details),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(after)
}

/// The tax codes of a legal entity the caller may read.
pub async fn tax_codes(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
) -> ServiceResult<Vec<entity::tax_code::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(party::tax_codes_of(&ctx.db, principal, legal_entity_id).await?)
}

pub struct CreateTaxCode {
    pub legal_entity_id: i64,
    pub code: String,
    pub rate: Decimal,
}

#[tracing::instrument(skip_all, fields(legal_entity_id = input.legal_entity_id))]
pub async fn create_tax_code(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateTaxCode,
) -> ServiceResult<entity::tax_code::Model> {
    require(principal, Scope::ContractsWrite)?;
    let entity = visible_entity(ctx, principal, input.legal_entity_id).await?;
    let code = validate::name("code", &input.code)?;
    if input.rate.is_sign_negative() || input.rate > Decimal::ONE_HUNDRED {
        return Err(ServiceError::bad_input(
            "rate",
            "must be a percentage between 0 and 100",
        ));
    }
    let rate_e6 = Rate::from_decimal(input.rate)
        .map_err(|e| ServiceError::bad_input("rate", e.to_string()))?
        .e6();
    let new = party::NewTaxCode {
        legal_entity_id: entity.id,
        code: code.clone(),
        rate_e6,
    };
    let txn = store::begin_write(&ctx.db).await?;
    match party::insert_tax_code(&txn, new).await {
        Err(store::StoreError::Conflict(_)) => Err(ServiceError::bad_input(
            "code",
            format!("tax code {code:?} already exists in this legal entity"),
        )),
        Err(other) => Err(other.into()),
        Ok(created) => {
            txn.commit().await?;
            Ok(created)
        }
    }
}
