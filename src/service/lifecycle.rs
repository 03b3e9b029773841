//! Contract lifecycle (DESIGN.md, Contract lifecycle): amend, pause, resume
//! and cancel. Each change is one transaction: it reads the contract, its
//! lines, pauses and billed lines, lets `domain::lifecycle` decide, issues
//! the credit notes for the billed days it takes back, writes the new terms
//! with a compare-and-set on the contract's version, and audits. Changes
//! take the contract's row lock first, so they apply one after the other;
//! one that still loses the compare-and-set (to a run's chunk) is tried
//! again from a fresh read.

use std::collections::{BTreeMap, HashMap};

use chrono::NaiveDate;
use entity::credit_note::CreditNoteReason;
use entity::status::ContractStatus;
use entity::{contract, legal_entity};
use serde_json::json;

use super::contracts::{check_line, ContractLineInput};
use super::credit_notes::issue_change_note;
use super::{entity_today, require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{Principal, Scope};
use crate::domain::amount::{Amount, Price, Quantity, Rate};
use crate::domain::credit::credit_line;
use crate::domain::currency::minor_units_of;
use crate::domain::events;
use crate::domain::lifecycle::{
    credits, period_holding, BilledLine, Change, CreditPiece, Effect, LineTerm, Span, Terms,
};
use crate::service::billing::plan::terms_of;
use crate::store::contract::{self as contracts, NewContractLine, SavedTerms};
use crate::store::credit_note::NewCreditNoteLine;
use crate::store::{self, audit, outbox, party};

/// A change as the API asks for it.
pub enum ChangeRequest {
    Amend {
        effective: NaiveDate,
        lines: Vec<ContractLineInput>,
    },
    Pause {
        from: NaiveDate,
        until: Option<NaiveDate>,
    },
    Resume {
        on: NaiveDate,
    },
    Cancel {
        policy: CancelPolicy,
        /// IMMEDIATE only; default today in the entity's timezone.
        effective: Option<NaiveDate>,
        reason: Option<String>,
    },
}

/// When a cancellation ends the contract.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelPolicy {
    /// On the given day (default today); billed days after it are credited.
    Immediate,
    /// With the current period; nothing credited.
    EndOfTerm,
}

impl CancelPolicy {
    fn as_str(self) -> &'static str {
        match self {
            CancelPolicy::Immediate => "IMMEDIATE",
            CancelPolicy::EndOfTerm => "END_OF_TERM",
        }
    }
}

impl ChangeRequest {
    /// What can be refused before reading anything: a date with
    /// END_OF_TERM, a reason that is not a short single-line text.
    fn check(&self) -> ServiceResult<()> {
        if let ChangeRequest::Cancel {
            policy,
            effective,
            reason,
        } = self
        {
            if *policy == CancelPolicy::EndOfTerm && effective.is_some() {
                return Err(ServiceError::bad_input(
                    "effectiveDate",
                    "only an IMMEDIATE cancellation takes a date",
                ));
            }
            if let Some(reason) = reason {
                crate::domain::validate::name("reason", reason)?;
            }
        }
        Ok(())
    }

    fn kind(&self) -> &'static str {
        match self {
            ChangeRequest::Amend { .. } => "AMENDED",
            ChangeRequest::Pause { .. } => "PAUSED",
            ChangeRequest::Resume { .. } => "RESUMED",
            ChangeRequest::Cancel { .. } => "CANCELLED",
        }
    }
}

/// How often a change that lost a race is read and tried again.
const ATTEMPTS: u32 = 5;

#[tracing::instrument(skip_all, fields(contract_id = id, kind = request.kind()))]
pub async fn change_contract(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    request: ChangeRequest,
) -> ServiceResult<contract::Model> {
    require(principal, Scope::ContractsWrite)?;
    request.check()?;
    let mut tried = 1;
    loop {
        match try_change(ctx, principal, id, &request).await {
            Err(err) if err.is_transient() && tried < ATTEMPTS => {
                tracing::info!(attempt = tried, "contract changed meanwhile; trying again");
                tried += 1;
            }
            other => return other,
        }
    }
}

/// What a change needs to know about its contract, read in its transaction.
struct Loaded {
    contract: contract::Model,
    entity: legal_entity::Model,
    terms: Terms,
    /// Stored pause ids, in the order of `terms.pauses`.
    pause_ids: Vec<i64>,
    today: NaiveDate,
}

async fn try_change(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    request: &ChangeRequest,
) -> ServiceResult<contract::Model> {
    // Who may change it is read before the transaction: the transaction
    // holds a pooled connection and the contract's lock, and must not wait
    // for a second connection while other changes wait for it.
    let visible = contracts::find_many(&ctx.db, principal, &[id])
        .await?
        .pop()
        .ok_or(ServiceError::NotFound("contract"))?;
    let entity = super::setup::visible_entity(ctx, principal, visible.legal_entity_id).await?;
    let txn = store::begin_write(&ctx.db).await?;
    contracts::lock_for_change(&txn, id).await?;
    let loaded = load(&txn, id, entity).await?;
    let (change, new_lines) = to_change(&txn, principal, &loaded, request).await?;
    let effect = loaded
        .terms
        .apply(&change, loaded.today)
        .map_err(|e| ServiceError::bad_input(e.field, e.message))?;
    let notes = match effect.credit {
        Some(range) => credit(&txn, &loaded, request, range, &principal.subject).await?,
        None => Vec::new(),
    };
    write_lines_and_pauses(&txn, &loaded, &change, &effect, new_lines).await?;
    let saved = saved_terms(&loaded, request, &effect)?;
    if !contracts::save_terms(&txn, id, loaded.contract.version, saved).await? {
        return Err(ServiceError::Internal(anyhow::Error::new(
            store::StoreError::Stale("the contract changed during the change".into()),
        )));
    }
    record(&txn, &loaded, request, &change, &notes, &principal.subject).await?;
    txn.commit().await?;
    contracts::find_many(&ctx.db, &system(), &[id])
        .await?
        .pop()
        .ok_or(ServiceError::NotFound("contract"))
}

fn system() -> Principal {
    Principal::system("system:contracts")
}

/// The contract as stored now (in the change's transaction, under its lock).
async fn load(
    txn: &impl sea_orm::ConnectionTrait,
    id: i64,
    entity: legal_entity::Model,
) -> ServiceResult<Loaded> {
    let contract = contracts::find_many(txn, &system(), &[id])
        .await?
        .pop()
        .ok_or(ServiceError::NotFound("contract"))?;
    match contract.status {
        ContractStatus::Cancelled => {
            return Err(ServiceError::bad_input("id", "the contract is cancelled"))
        }
        ContractStatus::Ended => {
            return Err(ServiceError::bad_input("id", "the contract has ended"))
        }
        _ => {}
    }
    let lines = contracts::lines_of(txn, &[id]).await?;
    let pauses = contracts::pause_rows(txn, &[id]).await?;
    let rates = rates_of(txn, lines.iter().filter_map(|l| l.tax_code_id)).await?;
    let line_refs: Vec<_> = lines.iter().collect();
    let stored_pauses: Vec<_> = pauses
        .iter()
        .map(|p| crate::domain::lifecycle::Pause {
            from: p.from_date,
            until: p.until_date,
        })
        .collect();
    let terms = terms_of(&contract, &line_refs, &stored_pauses, &rates)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("contract {id}: {e}")))?;
    Ok(Loaded {
        today: entity_today(&entity)?,
        contract,
        entity,
        terms,
        pause_ids: pauses.iter().map(|p| p.id).collect(),
    })
}

async fn rates_of(
    conn: &impl sea_orm::ConnectionTrait,
    ids: impl Iterator<Item = i64>,
) -> ServiceResult<HashMap<i64, rust_decimal::Decimal>> {
    let ids: Vec<i64> = ids.collect();
    Ok(party::find_tax_codes(conn, &system(), &ids)
        .await?
        .into_iter()
        .map(|t| (t.id, Rate::from_e6(t.rate_e6).to_decimal()))
        .collect())
}

/// The domain's change, and for an amendment the checked lines to store.
async fn to_change(
    txn: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    loaded: &Loaded,
    request: &ChangeRequest,
) -> ServiceResult<(Change, Vec<NewContractLine>)> {
    let change = match request {
        ChangeRequest::Amend { effective, lines } => {
            return amendment(txn, principal, loaded, *effective, lines).await
        }
        ChangeRequest::Pause { from, until } => Change::Pause {
            from: *from,
            until: *until,
        },
        ChangeRequest::Resume { on } => Change::Resume { on: *on },
        ChangeRequest::Cancel {
            policy: CancelPolicy::Immediate,
            effective,
            ..
        } => Change::Cancel {
            last_day: effective.unwrap_or(loaded.today),
        },
        ChangeRequest::Cancel {
            policy: CancelPolicy::EndOfTerm,
            ..
        } => Change::Cancel {
            last_day: loaded.terms.end_of_term(loaded.today).ok_or_else(|| {
                ServiceError::bad_input("policy", "the contract has no current period")
            })?,
        },
    };
    Ok((change, Vec::new()))
}

async fn amendment(
    txn: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    loaded: &Loaded,
    effective: NaiveDate,
    lines: &[ContractLineInput],
) -> ServiceResult<(Change, Vec<NewContractLine>)> {
    if lines.is_empty() || lines.len() > 100 {
        return Err(ServiceError::bad_input(
            "lines",
            "an amendment has between 1 and 100 lines",
        ));
    }
    let tax_ids: Vec<i64> = lines.iter().filter_map(|l| l.tax_code_id).collect();
    let tax_codes = party::find_tax_codes(txn, principal, &tax_ids).await?;
    let entity_id = loaded.contract.legal_entity_id;
    let mut checked = Vec::with_capacity(lines.len());
    let mut terms = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let new = check_line(i, line.clone(), &tax_codes, entity_id)?;
        let tax_rate = new
            .tax_code_id
            .and_then(|id| tax_codes.iter().find(|t| t.id == id))
            .map_or(rust_decimal::Decimal::ZERO, |t| {
                Rate::from_e6(t.rate_e6).to_decimal()
            });
        terms.push(LineTerm {
            id: 0,
            description: new.description.clone(),
            quantity: Quantity::from_e6(new.quantity_e6).to_decimal(),
            unit_price: Price::from_e6(new.unit_price_e6).to_decimal(),
            tax_rate,
            in_force: Span::from_on(effective),
        });
        checked.push(new);
    }
    Ok((
        Change::Amend {
            effective,
            lines: terms,
        },
        checked,
    ))
}

/// Issues one credit note per invoice for the billed days in `range`.
async fn credit(
    txn: &impl sea_orm::ConnectionTrait,
    loaded: &Loaded,
    request: &ChangeRequest,
    range: Span,
    actor: &str,
) -> ServiceResult<Vec<entity::credit_note::Model>> {
    let minor = minor_units_of(&loaded.entity.currency);
    let rows = contracts::billed_lines(txn, loaded.contract.id).await?;
    let billed: Vec<BilledLine> = rows
        .iter()
        .filter_map(|(_, line, credited)| billed_line(&loaded.terms, line, credited))
        .collect();
    let pieces = credits(&billed, range, minor)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("crediting: {e}")))?;
    let mut by_invoice: BTreeMap<i64, Vec<&CreditPiece>> = BTreeMap::new();
    for piece in &pieces {
        by_invoice.entry(piece.invoice_id).or_default().push(piece);
    }
    let (reason, memo) = match request {
        ChangeRequest::Cancel { .. } => (
            CreditNoteReason::OrderCancellation,
            format!("Contract {} cancelled", loaded.contract.id),
        ),
        _ => (
            CreditNoteReason::OrderChange,
            format!(
                "Contract {} {}",
                loaded.contract.id,
                request.kind().to_lowercase()
            ),
        ),
    };
    let mut notes = Vec::with_capacity(by_invoice.len());
    for (invoice_id, pieces) in by_invoice {
        let Some((inv, _, _)) = rows.iter().find(|(i, _, _)| i.id == invoice_id) else {
            continue;
        };
        let lines = pieces
            .iter()
            .map(|p| note_line(&rows, p, minor))
            .collect::<ServiceResult<Vec<_>>>()?;
        let memo = format!(
            "{memo}: days {} to {}",
            first_day(&pieces),
            last_day(&pieces)
        );
        notes.push(issue_change_note(txn, inv, &loaded.entity, reason, memo, lines, actor).await?);
    }
    Ok(notes)
}

fn first_day(pieces: &[&CreditPiece]) -> NaiveDate {
    pieces.iter().map(|p| p.days.from).min().unwrap_or_default()
}

fn last_day(pieces: &[&CreditPiece]) -> NaiveDate {
    pieces.iter().map(|p| p.days.to).max().unwrap_or_default()
}

/// A stored engine line as the domain credits it (lines written before
/// m0007 without days, or by hand, are not credited by changes).
fn billed_line(
    terms: &Terms,
    line: &entity::invoice_line::Model,
    credited: &[(NaiveDate, NaiveDate)],
) -> Option<BilledLine> {
    let days = Span::new(line.service_from?, line.service_to?)?;
    let period = period_holding(&terms.schedule, days.from)?;
    let full_net = Quantity::from_e6(line.quantity_e6)
        .to_decimal()
        .checked_mul(Price::from_e6(line.unit_price_e6).to_decimal())?;
    Some(BilledLine {
        invoice_id: line.invoice_id,
        invoice_line_id: line.id,
        days,
        full_net,
        period,
        creditable: Amount::from_e4(line.net_e4 - line.credited_e4).to_decimal(),
        credited: credited
            .iter()
            .filter_map(|(from, to)| Span::new(*from, *to))
            .collect(),
    })
}

fn note_line(
    rows: &[contracts::BilledRow],
    piece: &CreditPiece,
    minor: u32,
) -> ServiceResult<NewCreditNoteLine> {
    let line = rows
        .iter()
        .map(|(_, l, _)| l)
        .find(|l| l.id == piece.invoice_line_id)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("credited line missing")))?;
    let amounts = credit_line(piece.net, Rate::from_e6(line.tax_rate_e6), minor)
        .map_err(|e| ServiceError::Internal(anyhow::anyhow!("crediting: {e}")))?;
    Ok(NewCreditNoteLine {
        invoice_line_id: line.id,
        description: format!(
            "{} ({} to {})",
            line.description, piece.days.from, piece.days.to
        ),
        net_e4: amounts.net.e4(),
        tax_rate_e6: line.tax_rate_e6,
        tax_e4: amounts.tax.e4(),
        total_e4: amounts.total.e4(),
        service: Some((piece.days.from, piece.days.to)),
    })
}

async fn write_lines_and_pauses(
    txn: &impl sea_orm::ConnectionTrait,
    loaded: &Loaded,
    change: &Change,
    effect: &Effect,
    new_lines: Vec<NewContractLine>,
) -> ServiceResult<()> {
    let id = loaded.contract.id;
    match change {
        Change::Amend { effective, .. } => {
            let from = (*effective).max(loaded.terms.schedule.start);
            contracts::replace_lines(
                txn,
                id,
                &effect.ended_lines,
                &effect.dropped_lines,
                from,
                new_lines,
            )
            .await?;
        }
        Change::Pause { from, until } => {
            let pause = crate::domain::lifecycle::Pause {
                from: *from,
                until: *until,
            };
            contracts::insert_pause(txn, id, pause).await?;
        }
        Change::Resume { on } => {
            let at = loaded
                .terms
                .pauses
                .iter()
                .zip(&effect.terms.pauses)
                .position(|(old, new)| old.until != new.until);
            if let Some(pause_id) = at.and_then(|i| loaded.pause_ids.get(i)) {
                contracts::end_pause(txn, *pause_id, *on).await?;
            }
        }
        Change::Cancel { .. } => {}
    }
    Ok(())
}

fn saved_terms(
    loaded: &Loaded,
    request: &ChangeRequest,
    effect: &Effect,
) -> ServiceResult<SavedTerms> {
    let schedule = &effect.terms.schedule;
    let cursor = effect.terms.cursor;
    let next_billing_date = schedule.next_billing_date(cursor.next_index);
    let cancelled = matches!(request, ChangeRequest::Cancel { .. });
    let status = match (cancelled, next_billing_date) {
        (true, _) => ContractStatus::Cancelled,
        (false, None) => ContractStatus::Ended,
        (false, Some(_)) => loaded.contract.status,
    };
    Ok(SavedTerms {
        end_date: schedule.end,
        next_period_index: i32::try_from(cursor.next_index)
            .map_err(|_| ServiceError::Internal(anyhow::anyhow!("too many periods")))?,
        next_billing_date,
        billed_through: cursor.billed_through,
        status,
        cancelled_at: if cancelled {
            Some(loaded.today)
        } else {
            loaded.contract.cancelled_at
        },
    })
}

/// The change in the contract's history (the audit trail, which
/// `Contract.history` reads) and in the outbox.
async fn record(
    txn: &impl sea_orm::ConnectionTrait,
    loaded: &Loaded,
    request: &ChangeRequest,
    change: &Change,
    notes: &[entity::credit_note::Model],
    actor: &str,
) -> ServiceResult<()> {
    let details = details_of(request, change, notes);
    let subject_id = loaded.contract.id.to_string();
    outbox::insert_events(
        txn,
        vec![outbox::NewEvent {
            event_type: events::CONTRACT_CHANGED,
            legal_entity_id: loaded.contract.legal_entity_id,
            subject_id: subject_id.clone(),
            payload: json!({ "contractId": subject_id, "kind": request.kind(), "details": details }),
        }],
    )
    .await?;
    audit::record(
        txn,
        audit::NewAudit {
            legal_entity_id: Some(loaded.contract.legal_entity_id),
            subject_type: "Contract",
            subject_id,
            action: request.kind(),
            actor,
            details: Some(details),
        },
    )
    .await?;
    Ok(())
}

/// What `history` shows of a change: its effective date, the notes it
/// issued, and what it was asked (pause end, policy and reason, new lines).
fn details_of(
    request: &ChangeRequest,
    change: &Change,
    notes: &[entity::credit_note::Model],
) -> serde_json::Value {
    let effective = match change {
        Change::Amend { effective, .. } => *effective,
        Change::Pause { from, .. } => *from,
        Change::Resume { on } => *on,
        Change::Cancel { last_day } => *last_day,
    };
    let mut details = json!({
        "effectiveDate": effective.to_string(),
        "creditNoteIds": notes.iter().map(|n| n.id.to_string()).collect::<Vec<_>>(),
    });
    match (request, change) {
        (ChangeRequest::Pause { until, .. }, _) => {
            details["until"] = json!(until.map(|d| d.to_string()));
        }
        (ChangeRequest::Cancel { policy, reason, .. }, _) => {
            details["policy"] = json!(policy.as_str());
            details["reason"] = json!(reason);
        }
        (_, Change::Amend { lines, .. }) => {
            let lines: Vec<_> = lines
                .iter()
                .map(|l| {
                    json!({
                        "description": l.description,
                        "quantity": l.quantity.normalize().to_string(),
                        "unitPrice": l.unit_price.normalize().to_string(),
                    })
                })
                .collect();
            details["lines"] = json!(lines);
        }
        _ => {}
    }
    details
}
