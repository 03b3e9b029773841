//! Customers and tax codes: the parties and rates a contract refers to.

use chrono::Utc;
use entity::{customer, tax_code};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewCustomer {
    pub legal_entity_id: i64,
    pub name: String,
    pub email: Option<String>,
    pub payment_terms_days: i32,
    pub has_payment_method: bool,
}

pub async fn insert_customer(
    conn: &impl ConnectionTrait,
    new: NewCustomer,
) -> StoreResult<customer::Model> {
    let model = customer::ActiveModel {
        legal_entity_id: Set(new.legal_entity_id),
        name: Set(new.name),
        email: Set(new.email),
        payment_terms_days: Set(new.payment_terms_days),
        has_payment_method: Set(new.has_payment_method),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok(model.insert(conn).await?)
}

/// Every changeable field of a customer.
pub struct CustomerValues {
    pub name: String,
    pub email: Option<String>,
    pub payment_terms_days: i32,
    pub has_payment_method: bool,
}

pub async fn update_customer(
    conn: &impl ConnectionTrait,
    id: i64,
    values: CustomerValues,
) -> StoreResult<customer::Model> {
    Ok(customer::ActiveModel {
        id: sea_orm::Unchanged(id),
        name: Set(values.name),
        email: Set(values.email),
        payment_terms_days: Set(values.payment_terms_days),
        has_payment_method: Set(values.has_payment_method),
        ..Default::default()
    }
    .update(conn)
    .await?)
}

/// An entity's tax codes by code.
pub async fn tax_codes_of(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
) -> StoreResult<Vec<tax_code::Model>> {
    Ok(scoped(
        tax_code::Entity::find(),
        tax_code::Column::LegalEntityId,
        principal,
    )
    .filter(tax_code::Column::LegalEntityId.eq(legal_entity_id))
    .order_by_asc(tax_code::Column::Code)
    .all(conn)
    .await?)
}

pub async fn customers_of(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    legal_entity_id: i64,
) -> StoreResult<Vec<customer::Model>> {
    Ok(scoped(
        customer::Entity::find(),
        customer::Column::LegalEntityId,
        principal,
    )
    .filter(customer::Column::LegalEntityId.eq(legal_entity_id))
    .order_by_asc(customer::Column::Name)
    .order_by_asc(customer::Column::Id)
    .all(conn)
    .await?)
}

pub async fn find_customer(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> StoreResult<Option<customer::Model>> {
    Ok(scoped(
        customer::Entity::find_by_id(id),
        customer::Column::LegalEntityId,
        principal,
    )
    .one(conn)
    .await?)
}

pub async fn find_customers(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<customer::Model>> {
    super::by_ids::<customer::Entity>(
        conn,
        principal,
        ids,
        customer::Column::Id,
        customer::Column::LegalEntityId,
    )
    .await
}

pub struct NewTaxCode {
    pub legal_entity_id: i64,
    pub code: String,
    pub rate_e6: i64,
}

pub async fn insert_tax_code(
    conn: &impl ConnectionTrait,
    new: NewTaxCode,
) -> StoreResult<tax_code::Model> {
    let model = tax_code::ActiveModel {
        legal_entity_id: Set(new.legal_entity_id),
        code: Set(new.code),
        rate_e6: Set(new.rate_e6),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok(model.insert(conn).await?)
}

pub async fn find_tax_codes(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<tax_code::Model>> {
    super::by_ids::<tax_code::Entity>(
        conn,
        principal,
        ids,
        tax_code::Column::Id,
        tax_code::Column::LegalEntityId,
    )
    .await
}
