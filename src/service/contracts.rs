//! Creating and listing recurring contracts.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};
use entity::customer;
use rust_decimal::Decimal;

use super::setup::visible_entity;
use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::{Amount, Price, Quantity};
use crate::domain::money;
use crate::domain::schedule::{Interval, Schedule, Timing, MAX_INTERVAL_COUNT};
use crate::domain::terms::{interval_code, timing_code};
use crate::domain::validate;
use crate::store::{self, contract, party};

pub const MAX_LINES: usize = 100;
/// Dates outside these years are typos, not contracts.
const YEARS: std::ops::RangeInclusive<i32> = 1900..=2200;

pub struct CreateContract {
    pub customer_id: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub interval: Interval,
    pub interval_count: Option<i32>,
    pub timing: Option<Timing>,
    pub lines: Vec<ContractLineInput>,
}

#[derive(Clone)]
pub struct ContractLineInput {
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub tax_code_id: Option<i64>,
}

#[tracing::instrument(skip_all, fields(customer_id = input.customer_id))]
pub async fn create_contract(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateContract,
) -> ServiceResult<entity::contract::Model> {
    require(principal, Scope::ContractsWrite)?;
    let new = prepare(ctx, principal, input).await?;
    let txn = store::begin_write(&ctx.db).await?;
    let created = contract::insert(&txn, new).await?;
    txn.commit().await?;
    Ok(created)
}

/// Contracts one `createContracts` call may create.
pub const MAX_BATCH: usize = 1_000;

/// Up to [`MAX_BATCH`] contracts in one transaction, all or none; an
/// invalid input fails the call with its field named by index
/// (`inputs.2.lines.0.unitPrice`).
#[tracing::instrument(skip_all, fields(count = inputs.len()))]
pub async fn create_contracts(
    ctx: &Ctx,
    principal: &Principal,
    inputs: Vec<CreateContract>,
) -> ServiceResult<Vec<entity::contract::Model>> {
    require(principal, Scope::ContractsWrite)?;
    if inputs.is_empty() || inputs.len() > MAX_BATCH {
        return Err(ServiceError::bad_input(
            "inputs",
            format!("between 1 and {MAX_BATCH} contracts per call"),
        ));
    }
    // What every input refers to, read once for the whole call: its
    // customers, their legal entities and the tax codes its lines name.
    let customer_ids: Vec<i64> = inputs.iter().map(|i| i.customer_id).collect();
    let customers: HashMap<i64, customer::Model> =
        party::find_customers(&ctx.db, principal, &customer_ids)
            .await?
            .into_iter()
            .map(|c| (c.id, c))
            .collect();
    let mut entities = HashSet::new();
    for c in customers.values() {
        if entities.insert(c.legal_entity_id) {
            visible_entity(ctx, principal, c.legal_entity_id).await?;
        }
    }
    let tax_ids: Vec<i64> = inputs
        .iter()
        .flat_map(|i| i.lines.iter().filter_map(|l| l.tax_code_id))
        .collect();
    let tax_codes = party::find_tax_codes(&ctx.db, principal, &tax_ids).await?;
    let mut news = Vec::with_capacity(inputs.len());
    for (i, input) in inputs.into_iter().enumerate() {
        let customer = customers.get(&input.customer_id);
        let new = assemble(input, customer, &tax_codes);
        news.push(new.map_err(|e| e.under(&format!("inputs.{i}")))?);
    }
    let txn = store::begin_write(&ctx.db).await?;
    let created = contract::insert_many(&txn, news).await?;
    txn.commit().await?;
    Ok(created)
}

/// A contract checked and ready to insert: its terms, its customer (of a
/// legal entity the caller may write to) and its lines.
async fn prepare(
    ctx: &Ctx,
    principal: &Principal,
    input: CreateContract,
) -> ServiceResult<contract::NewContract> {
    let customer = party::find_customer(&ctx.db, principal, input.customer_id).await?;
    if let Some(c) = &customer {
        visible_entity(ctx, principal, c.legal_entity_id).await?;
    }
    let tax_ids: Vec<i64> = input.lines.iter().filter_map(|l| l.tax_code_id).collect();
    let tax_codes = party::find_tax_codes(&ctx.db, principal, &tax_ids).await?;
    assemble(input, customer.as_ref(), &tax_codes)
}

/// The checks of one contract given what it refers to (its customer, when
/// the caller may see it, whose legal entity was checked visible; the tax
/// codes its lines may name). No I/O, so one contract and a batch share it.
fn assemble(
    input: CreateContract,
    customer: Option<&customer::Model>,
    tax_codes: &[entity::tax_code::Model],
) -> ServiceResult<contract::NewContract> {
    let terms = check_terms(&input)?;
    let customer =
        customer.ok_or_else(|| ServiceError::bad_input("customerId", "customer does not exist"))?;
    let lines = input
        .lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| check_line(i, line, tax_codes, customer.legal_entity_id))
        .collect::<ServiceResult<Vec<_>>>()?;
    let new = contract::NewContract {
        legal_entity_id: customer.legal_entity_id,
        customer_id: customer.id,
        start_date: input.start_date,
        end_date: input.end_date,
        interval: interval_code(input.interval),
        interval_count: terms.interval_count,
        timing: timing_code(terms.timing),
        next_billing_date: terms.schedule.next_billing_date(0),
        lines,
    };
    Ok(new)
}

struct Terms {
    interval_count: i32,
    timing: Timing,
    schedule: Schedule,
}

/// The contract's dates, interval and line count, checked before anything
/// is read.
fn check_terms(input: &CreateContract) -> ServiceResult<Terms> {
    let interval_count = input.interval_count.unwrap_or(1);
    let in_range =
        u32::try_from(interval_count).is_ok_and(|n| (1..=MAX_INTERVAL_COUNT).contains(&n));
    if !in_range {
        return Err(ServiceError::bad_input(
            "intervalCount",
            format!("must be between 1 and {MAX_INTERVAL_COUNT}"),
        ));
    }
    for (field, date) in [
        ("startDate", Some(input.start_date)),
        ("endDate", input.end_date),
    ] {
        if let Some(date) = date.filter(|d| !YEARS.contains(&d.year())) {
            return Err(ServiceError::bad_input(
                field,
                format!("{date} is outside the years 1900-2200"),
            ));
        }
    }
    if input.end_date.is_some_and(|end| end < input.start_date) {
        return Err(ServiceError::bad_input(
            "endDate",
            "must not be before startDate",
        ));
    }
    if input.lines.is_empty() {
        return Err(ServiceError::bad_input(
            "lines",
            "a contract needs at least one line",
        ));
    }
    if input.lines.len() > MAX_LINES {
        return Err(ServiceError::bad_input(
            "lines",
            format!("at most {MAX_LINES} lines"),
        ));
    }
    let timing = input.timing.unwrap_or(Timing::InAdvance);
    let schedule = Schedule::new(
        input.start_date,
        input.end_date,
        input.interval,
        interval_count.unsigned_abs(),
        timing,
    )
    .map_err(|e| ServiceError::bad_input("startDate", e.to_string()))?;
    Ok(Terms {
        interval_count,
        timing,
        schedule,
    })
}

/// One line: a name, a positive quantity, a price that is not negative,
/// amounts the storage can hold and a tax code of the contract's entity.
pub(super) fn check_line(
    i: usize,
    line: ContractLineInput,
    tax_codes: &[entity::tax_code::Model],
    legal_entity_id: i64,
) -> ServiceResult<contract::NewContractLine> {
    {
        let field = |name: &str| format!("lines.{i}.{name}");
        let description = validate::name(&field("description"), &line.description)?;
        if line.quantity <= Decimal::ZERO {
            return Err(ServiceError::bad_input(
                &field("quantity"),
                "must be greater than zero",
            ));
        }
        if line.unit_price.is_sign_negative() && !line.unit_price.is_zero() {
            return Err(ServiceError::bad_input(
                &field("unitPrice"),
                "must not be negative",
            ));
        }
        let quantity_e6 = Quantity::from_decimal(line.quantity)
            .map_err(|e| ServiceError::bad_input(&field("quantity"), e.to_string()))?
            .e6();
        let unit_price_e6 = Price::from_decimal(line.unit_price)
            .map_err(|e| ServiceError::bad_input(&field("unitPrice"), e.to_string()))?
            .e6();
        // A period's line total (at most net plus 100 % tax) must fit the
        // storage range, or no invoice could ever be written for it.
        let storable = line
            .quantity
            .checked_mul(line.unit_price)
            .and_then(|net| net.checked_mul(Decimal::TWO))
            .map(|max| Amount::from_decimal(money::round_money(max, Amount::SCALE)).is_ok())
            .unwrap_or(false);
        if !storable {
            return Err(ServiceError::bad_input(
                &field("unitPrice"),
                "quantity × unit price exceeds the largest amount billrun can store",
            ));
        }
        if let Some(tax_id) = line.tax_code_id {
            // A tax code of another legal entity is as good as none.
            let ok = tax_codes
                .iter()
                .any(|t| t.id == tax_id && t.legal_entity_id == legal_entity_id);
            if !ok {
                return Err(ServiceError::bad_input(
                    &field("taxCodeId"),
                    "tax code does not exist in the contract's legal entity",
                ));
            }
        }
        Ok(contract::NewContractLine {
            description,
            quantity_e6,
            unit_price_e6,
            tax_code_id: line.tax_code_id,
        })
    }
}

pub const DEFAULT_PAGE_SIZE: u64 = 20;
pub const MAX_PAGE_SIZE: u64 = 100;

/// Clamps a requested page size; a negative size is bad input.
pub fn page_size(first: Option<i32>) -> ServiceResult<u64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(ServiceError::bad_input("first", "must not be negative")),
        Some(n) => Ok(u64::try_from(n).unwrap_or(0).min(MAX_PAGE_SIZE)),
    }
}

/// One page of contracts plus whether more follow.
pub async fn contracts(
    ctx: &Ctx,
    principal: &Principal,
    legal_entity_id: i64,
    first: Option<i32>,
    after: Option<i64>,
) -> ServiceResult<(Vec<entity::contract::Model>, bool)> {
    require(principal, Scope::BillingRead)?;
    let limit = page_size(first)?;
    let mut rows = contract::page(&ctx.db, principal, legal_entity_id, after, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((rows, more))
}

pub async fn contract(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<Option<entity::contract::Model>> {
    require(principal, Scope::BillingRead)?;
    Ok(contract::find_many(&ctx.db, principal, &[id]).await?.pop())
}
