//! Contracts and their lines.

use chrono::{NaiveDate, Utc};
use entity::status::ContractStatus;
use entity::{contract, contract_line};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewContract {
    pub legal_entity_id: i64,
    pub customer_id: i64,
    pub start_date: NaiveDate,
    pub end_date: Option<NaiveDate>,
    pub interval: &'static str,
    pub interval_count: i32,
    pub timing: &'static str,
    pub next_billing_date: Option<NaiveDate>,
    pub lines: Vec<NewContractLine>,
}

pub struct NewContractLine {
    pub description: String,
    pub quantity_e6: i64,
    pub unit_price_e6: i64,
    pub tax_code_id: Option<i64>,
}

/// Inserts a contract with its lines; call inside a transaction.
pub async fn insert(conn: &impl ConnectionTrait, new: NewContract) -> StoreResult<contract::Model> {
    let model = contract::ActiveModel {
        legal_entity_id: Set(new.legal_entity_id),
        customer_id: Set(new.customer_id),
        status: Set(ContractStatus::Active),
        start_date: Set(new.start_date),
        end_date: Set(new.end_date),
        billing_interval: Set(new.interval.to_string()),
        interval_count: Set(new.interval_count),
        timing: Set(new.timing.to_string()),
        next_period_index: Set(0),
        next_billing_date: Set(new.next_billing_date),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    let lines = new
        .lines
        .into_iter()
        .enumerate()
        .map(|(i, line)| contract_line::ActiveModel {
            contract_id: Set(model.id),
            line_no: Set(i32::try_from(i).unwrap_or(i32::MAX)),
            description: Set(line.description),
            quantity_e6: Set(line.quantity_e6),
            unit_price_e6: Set(line.unit_price_e6),
            tax_code_id: Set(line.tax_code_id),
            ..Default::default()
        });
    contract_line::Entity::insert_many(lines).exec(conn).await?;
    Ok(model)
}

/// One page of an entity's contracts in id order, after the `after` id.
pub async fn page(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
    after: Option<i64>,
    limit: u64,
) -> StoreResult<Vec<contract::Model>> {
    let mut query = scoped(
        contract::Entity::find(),
        contract::Column::LegalEntityId,
        principal,
    )
    .filter(contract::Column::LegalEntityId.eq(legal_entity_id));
    if let Some(after) = after {
        query = query.filter(contract::Column::Id.gt(after));
    }
    Ok(query
        .order_by_asc(contract::Column::Id)
        .limit(limit)
        .all(conn)
        .await?)
}

pub async fn find_many(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<contract::Model>> {
    super::by_ids::<contract::Entity>(
        conn,
        principal,
        ids,
        contract::Column::Id,
        contract::Column::LegalEntityId,
    )
    .await
}

/// Lines of the given contracts, in contract then line order. The contracts
/// were loaded through [`scoped`], so their lines need no second filter.
pub async fn lines_of(
    conn: &impl ConnectionTrait,
    contract_ids: &[i64],
) -> StoreResult<Vec<contract_line::Model>> {
    let (owner, line_no) = (
        contract_line::Column::ContractId,
        contract_line::Column::LineNo,
    );
    super::lines_of::<contract_line::Entity>(conn, contract_ids, owner, line_no).await
}
