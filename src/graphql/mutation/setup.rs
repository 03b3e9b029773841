//! Creating legal entities, customers, tax codes and contracts.

use async_graphql::{Context, InputObject, MaybeUndefined, Object, ID};

use crate::domain::access::Scope;
use crate::graphql::guard::{principal, Needs};
use crate::graphql::idempotent;
use crate::graphql::scalars::{Date, Dec};
use crate::graphql::types::contract::{BillingInterval, BillingTiming, Contract};
use crate::graphql::types::parse_id;
use crate::graphql::types::setup::{Customer, LegalEntity, TaxCode};
use crate::service::{contracts, setup, Ctx, ServiceError};

#[derive(InputObject)]
pub struct CreateLegalEntityInput {
    code: String,
    name: String,
    currency: String,
    country: String,
    timezone: String,
}

#[derive(InputObject)]
pub struct CreateCustomerInput {
    legal_entity_id: ID,
    name: String,
    email: Option<String>,
    payment_terms_days: Option<i32>,
    has_payment_method: Option<bool>,
}

#[derive(InputObject)]
pub struct CreateTaxCodeInput {
    legal_entity_id: ID,
    code: String,
    rate: Dec,
}

#[derive(InputObject)]
pub struct ContractLineInput {
    description: String,
    quantity: Dec,
    unit_price: Dec,
    tax_code_id: Option<ID>,
}

#[derive(InputObject)]
pub struct CreateContractInput {
    customer_id: ID,
    start_date: Date,
    end_date: Option<Date>,
    interval: BillingInterval,
    interval_count: Option<i32>,
    timing: Option<BillingTiming>,
    lines: Vec<ContractLineInput>,
}

/// The service's input: ids parsed, an id that is not ours named like a
/// missing one.
/// Contract lines as the service takes them (a tax code id that is not
/// ours named like a missing one).
pub(super) fn lines_to_service(
    lines: Vec<ContractLineInput>,
) -> Result<Vec<contracts::ContractLineInput>, ServiceError> {
    lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| {
            let tax_code_id = match &line.tax_code_id {
                None => None,
                Some(id) => Some(parse_id(id).ok_or_else(|| {
                    ServiceError::bad_input(
                        &format!("lines.{i}.taxCodeId"),
                        "tax code does not exist",
                    )
                })?),
            };
            Ok(contracts::ContractLineInput {
                description: line.description,
                quantity: line.quantity.0,
                unit_price: line.unit_price.0,
                tax_code_id,
            })
        })
        .collect()
}

pub(super) fn to_service(
    input: CreateContractInput,
) -> Result<contracts::CreateContract, ServiceError> {
    let lines = lines_to_service(input.lines)?;
    Ok(contracts::CreateContract {
        customer_id: parse_id(&input.customer_id)
            .ok_or_else(|| ServiceError::bad_input("customerId", "customer does not exist"))?,
        start_date: input.start_date.0,
        end_date: input.end_date.map(|d| d.0),
        interval: input.interval.into(),
        interval_count: input.interval_count,
        timing: input.timing.map(Into::into),
        lines,
    })
}

fn entity_id(id: &ID) -> Result<i64, ServiceError> {
    parse_id(id).ok_or(ServiceError::NotFound("legal entity"))
}

#[derive(InputObject)]
pub struct UpdateCustomerInput {
    name: Option<String>,
    /// null clears it.
    email: MaybeUndefined<String>,
    payment_terms_days: Option<i32>,
    has_payment_method: Option<bool>,
}

#[derive(Default)]
pub struct SetupMutation;

#[Object]
impl SetupMutation {
    #[graphql(guard = "Needs(Scope::ConfigWrite)", complexity = 100)]
    async fn create_legal_entity(
        &self,
        ctx: &Context<'_>,
        input: CreateLegalEntityInput,
    ) -> async_graphql::Result<LegalEntity> {
        let input = setup::CreateLegalEntity {
            code: input.code,
            name: input.name,
            currency: input.currency,
            country: input.country,
            timezone: input.timezone,
        };
        Ok(LegalEntity(
            setup::create_legal_entity(ctx.data::<Ctx>()?, principal(ctx)?, input).await?,
        ))
    }

    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomerInput,
    ) -> async_graphql::Result<Customer> {
        let input = setup::CreateCustomer {
            legal_entity_id: entity_id(&input.legal_entity_id)?,
            name: input.name,
            email: input.email,
            payment_terms_days: input.payment_terms_days,
            has_payment_method: input.has_payment_method,
        };
        Ok(Customer(
            setup::create_customer(ctx.data::<Ctx>()?, principal(ctx)?, input).await?,
        ))
    }

    /// Changes a customer; invoices already issued keep their due dates.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateCustomerInput,
    ) -> async_graphql::Result<Customer> {
        let id = parse_id(&id).ok_or(ServiceError::NotFound("customer"))?;
        let change = setup::UpdateCustomer {
            name: input.name,
            email: match input.email {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(e) => Some(Some(e)),
            },
            payment_terms_days: input.payment_terms_days,
            has_payment_method: input.has_payment_method,
        };
        Ok(Customer(
            setup::update_customer(ctx.data::<Ctx>()?, principal(ctx)?, id, change).await?,
        ))
    }

    /// Up to 1,000 contracts in one transaction, all or none.
    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 1000)]
    async fn create_contracts(
        &self,
        ctx: &Context<'_>,
        inputs: Vec<CreateContractInput>,
    ) -> async_graphql::Result<Vec<Contract>> {
        let inputs = inputs
            .into_iter()
            .enumerate()
            .map(|(i, input)| to_service(input).map_err(|e| e.under(&format!("inputs.{i}"))))
            .collect::<Result<Vec<_>, ServiceError>>()?;
        let created =
            contracts::create_contracts(ctx.data::<Ctx>()?, principal(ctx)?, inputs).await?;
        Ok(created.into_iter().map(Contract).collect())
    }

    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn create_tax_code(
        &self,
        ctx: &Context<'_>,
        input: CreateTaxCodeInput,
    ) -> async_graphql::Result<TaxCode> {
        let input = setup::CreateTaxCode {
            legal_entity_id: entity_id(&input.legal_entity_id)?,
            code: input.code,
            rate: input.rate.0,
        };
        Ok(TaxCode(
            setup::create_tax_code(ctx.data::<Ctx>()?, principal(ctx)?, input).await?,
        ))
    }

    #[graphql(guard = "Needs(Scope::ContractsWrite)", complexity = 100)]
    async fn create_contract(
        &self,
        ctx: &Context<'_>,
        input: CreateContractInput,
        #[graphql(
            desc = "Retrying with the same key returns the first result and creates nothing new (the Idempotency-Key header works too)."
        )]
        idempotency_key: Option<String>,
    ) -> async_graphql::Result<Contract> {
        let input = to_service(input)?;
        let (service, caller) = (ctx.data::<Ctx>()?, principal(ctx)?);
        let created = idempotent::once(
            ctx,
            idempotency_key,
            "createContract",
            contracts::create_contract(service, caller, input),
            |c| c.id,
            |id: i64| async move {
                contracts::contract(service, caller, id)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound("contract").into())
            },
        )
        .await?;
        Ok(Contract(created))
    }
}
