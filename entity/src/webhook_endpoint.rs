//! The `webhook_endpoint` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The token subject that created it; only it sees the endpoint.
    pub owner_subject: String,
    /// The owner's role, scopes (JSON array) and legal entities (JSON
    /// array; NULL: every one) at the owner's last change.
    pub owner_role: String,
    pub owner_scopes: String,
    pub owner_entities: Option<String>,
    pub url: String,
    pub description: Option<String>,
    pub legal_entity_id: Option<i64>,
    /// JSON array; empty: every event type.
    pub event_types: String,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Encrypted (`v1:` + base64 of nonce and ciphertext), never plain.
    pub secret: String,
    pub previous_secret: Option<String>,
    pub rotated_at: Option<DateTimeUtc>,
    /// The first failure after the last success.
    pub failing_since: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
