//! Batch reads by id for the GraphQL DataLoaders: each returns only the
//! rows the principal may see (filtered by legal entity in SQL, like every
//! other read), so a loader can never leak another entity's row.

use std::collections::HashMap;

use entity::{
    audit_event, billing_run, contract, contract_line, contract_pause, credit_note,
    credit_note_line, customer, invoice, invoice_line, legal_entity, tax_code,
};

use super::{Ctx, ServiceResult};
use crate::domain::access::Principal;
use crate::store::{self, credit_note as notes, party, runs};

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

/// The pauses of each visible contract, oldest first.
pub async fn contract_pauses(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<contract_pause::Model>>> {
    let visible: Vec<i64> = contracts(ctx, principal, ids)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let pauses = store::contract::pause_rows(&ctx.db, &visible).await?;
    Ok(group(visible, pauses, |p| p.contract_id))
}

/// The lifecycle changes of each visible contract, oldest first.
pub async fn contract_history(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<audit_event::Model>>> {
    let visible: Vec<i64> = contracts(ctx, principal, ids)
        .await?
        .into_iter()
        .map(|c| c.id)
        .collect();
    let changes = store::audit::contract_changes(&ctx.db, &visible).await?;
    Ok(group(visible, changes, |a| {
        a.subject_id.parse().unwrap_or(0)
    }))
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
    let visible: Vec<i64> = store::invoice::find_many(&ctx.db, principal, ids)
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    let lines = store::invoice::lines_of(&ctx.db, &visible).await?;
    Ok(group(visible, lines, |l| l.invoice_id))
}

pub async fn invoices(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<invoice::Model>> {
    Ok(store::invoice::find_many(&ctx.db, principal, ids).await?)
}

/// Invoice lines by id, of visible invoices only.
pub async fn invoice_lines_by_id(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<Vec<invoice_line::Model>> {
    Ok(store::invoice::lines_by_id(&ctx.db, principal, ids).await?)
}

/// The credit notes of each visible invoice, oldest first.
pub async fn credit_notes_of(
    ctx: &Ctx,
    principal: &Principal,
    invoice_ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<credit_note::Model>>> {
    let found = notes::of_invoices(&ctx.db, principal, invoice_ids).await?;
    Ok(group(invoice_ids.to_vec(), found, |n| n.invoice_id))
}

/// The lines of each visible credit note.
pub async fn credit_note_lines(
    ctx: &Ctx,
    principal: &Principal,
    ids: &[i64],
) -> ServiceResult<HashMap<i64, Vec<credit_note_line::Model>>> {
    let visible: Vec<i64> = store::by_ids::<credit_note::Entity>(
        &ctx.db,
        principal,
        ids,
        credit_note::Column::Id,
        credit_note::Column::LegalEntityId,
    )
    .await?
    .into_iter()
    .map(|n| n.id)
    .collect();
    let lines = notes::lines_of(&ctx.db, &visible).await?;
    Ok(group(visible, lines, |l| l.credit_note_id))
}

/// Each customer's unused credit, at storage scale (zero when none).
pub async fn credit_balances(
    ctx: &Ctx,
    principal: &Principal,
    customer_ids: &[i64],
) -> ServiceResult<Vec<(i64, i64)>> {
    let found: HashMap<i64, i64> = notes::balances(&ctx.db, principal, customer_ids)
        .await?
        .into_iter()
        .collect();
    Ok(customer_ids
        .iter()
        .map(|c| (*c, found.get(c).copied().unwrap_or(0)))
        .collect())
}

fn group<T>(owners: Vec<i64>, rows: Vec<T>, owner: impl Fn(&T) -> i64) -> HashMap<i64, Vec<T>> {
    let mut out: HashMap<i64, Vec<T>> = owners.into_iter().map(|id| (id, Vec::new())).collect();
    for row in rows {
        out.entry(owner(&row)).or_default().push(row);
    }
    out
}
