//! Batch reads by id for the GraphQL DataLoaders: each returns only the
//! rows the principal may see (filtered by legal entity in SQL, like every
//! other read), so a loader can never leak another entity's row.

use std::collections::HashMap;

use entity::{
    billing_run, contract, contract_line, customer, invoice_line, legal_entity, tax_code,
};

use super::{Ctx, ServiceResult};
use crate::domain::access::Principal;
use crate::store::{self, invoice, party, runs};

pub async fn legal_entities(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<legal_entity::Model>> {
    Ok(store::legal_entity::find_many(&ctx.db, principal, ids).await?)
}

pub async fn customers(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<customer::Model>> {
    Ok(party::find_customers(&ctx.db, principal, ids).await?)
}

pub async fn tax_codes(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<tax_code::Model>> {
    Ok(party::find_tax_codes(&ctx.db, principal, ids).await?)
}

pub async fn contracts(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<contract::Model>> {
    Ok(store::contract::find_many(&ctx.db, principal, ids).await?)
}

pub async fn runs(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<billing_run::Model>> {
    Ok(runs::find_runs(&ctx.db, principal, ids).await?)
}

/// The lines of each visible contract (an empty list for one without).
pub async fn contract_lines(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<contract_line::Model>>> {
    let visible: Vec<i64> = contracts(ctx, principal, ids)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let lines = store::contract::lines_of(&ctx.db, &visible).await?;
    Ok(group(visible, lines, |l| l.contract_id))
}

/// The lines of each visible invoice (an empty list for one without).
pub async fn invoice_lines(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<invoice_line::Model>>> {
    let visible: Vec<i64> = invoice::find_many(&ctx.db, principal, ids)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let lines = invoice::lines_of(&ctx.db, &visible).await?;
    Ok(group(visible, lines, |l| l.invoice_id))
}

fn group<T>(owners: Vec<i64>, rows: Vec<T>, owner: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = owners.into_iter().map(|id| (id, Vec::new())).collect();
    for row in rows {
        out.entry(owner(&row)).or_default().push(row);
    }
    out
}
