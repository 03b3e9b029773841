//! Legal entities.

use chrono::Utc;
use entity::legal_entity::{self, Column, Entity};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::{scoped, StoreResult};
use crate::domain::access::Principal;

pub struct NewLegalEntity {
    pub code: String,
    pub name: String,
    pub currency: String,
    pub country: String,
    pub timezone: String,
}

pub async fn insert(
    conn: &impl ConnectionTrait,
    new: NewLegalEntity,
) -> StoreResult<legal_entity::Model> {
    let model = legal_entity::ActiveModel {
        code: Set(new.code),
        name: Set(new.name),
        currency: Set(new.currency),
        country: Set(new.country),
        timezone: Set(new.timezone),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    Ok(model.insert(conn).await?)
}

pub async fn list(
    conn: &impl ConnectionTrait,
    principal: &Principal,
) -> StoreResult<Vec<legal_entity::Model>> {
    Ok(scoped(Entity::find(), Column::Id, principal)
        .order_by_asc(Column::Code)
        .all(conn)
        .await?)
}

pub async fn find(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    id: i64,
) -> StoreResult<Option<legal_entity::Model>> {
    Ok(scoped(Entity::find_by_id(id), Column::Id, principal)
        .one(conn)
        .await?)
}

pub async fn find_many(
    conn: &impl ConnectionTrait,
    principal: &Principal,
    ids: &[i64],
) -> StoreResult<Vec<legal_entity::Model>> {
    super::by_ids::<legal_entity::Entity>(conn, principal, ids, Column::Id, Column::Id).await
}

pub async fn code_taken(conn: &impl ConnectionTrait, code: &str) -> StoreResult<bool> {
    Ok(Entity::find()
        .filter(Column::Code.eq(code))
        .one(conn)
        .await?
        .is_some())
}

pub async fn count(conn: &impl ConnectionTrait) -> StoreResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(Entity::find().count(conn).await?)
}
