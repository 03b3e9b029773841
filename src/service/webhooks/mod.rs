//! Outbound webhooks (DESIGN.md, Webhooks): the use cases behind the
//! GraphQL fields (endpoints owned by their creator, deliveries, manual
//! retry) and, in the submodules, the machinery that sends: secrets at rest
//! (`secret`), the fan-out from the outbox (`fanout`), the HTTP client
//! with its address guard (`send`), outcomes (`outcome`) and the worker
//! loop (`worker`).

pub mod fanout;
pub mod outcome;
pub mod secret;
pub mod send;
pub mod worker;

use std::time::Duration;

use chrono::Utc;
use entity::webhook_endpoint::{ActiveModel, Model as Endpoint};
use entity::{domain_event, webhook_attempt, webhook_delivery};
use rand::RngCore;
use sea_orm::{ActiveValue::NotSet, Set};

use super::{require, Ctx, ServiceError, ServiceResult};
use crate::domain::access::{EntityAccess, Principal, Role, Scope};
use crate::domain::validate;
use crate::domain::webhook::address::AllowList;
use crate::domain::webhook::{self as rules, EventFilter};
use crate::store::{self, webhook as endpoints, webhook_delivery as queue};
pub use secret::SecretCipher;

/// Webhook configuration (`--webhook-*`, see `config::WebhookArgs`).
#[derive(Clone, Debug)]
pub struct Settings {
    pub cipher: SecretCipher,
    pub allow: AllowList,
    pub schedule: Vec<Duration>,
    pub disable_after: Duration,
    pub retention: Duration,
    pub timeout: Duration,
    pub concurrency: usize,
    pub poll: Duration,
}

impl Settings {
    /// The defaults of `config::WebhookArgs`, with `cipher`.
    pub fn new(cipher: SecretCipher) -> Self {
        Self::from_args(
            &crate::config::WebhookArgs::default(),
            cipher,
            AllowList::default(),
        )
    }

    pub fn from_args(
        args: &crate::config::WebhookArgs,
        cipher: SecretCipher,
        allow: AllowList,
    ) -> Self {
        Settings {
            cipher,
            allow,
            schedule: args.webhook_retry_schedule.0.clone(),
            disable_after: args.webhook_disable_after,
            retention: args.webhook_attempt_retention,
            timeout: args.webhook_timeout,
            concurrency: usize::try_from(args.webhook_concurrency).unwrap_or(16),
            poll: args.webhook_poll,
        }
    }
}

const ENDPOINT: &str = "webhook endpoint";
const DELIVERY: &str = "webhook delivery";

pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub legal_entity_id: Option<i64>,
    pub event_types: Option<Vec<String>>,
}

#[derive(Default)]
pub struct EndpointPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub enabled: Option<bool>,
}

/// A delivery with what its GraphQL object shows.
pub struct DeliveryView {
    pub delivery: webhook_delivery::Model,
    pub endpoint: Endpoint,
    pub event: domain_event::Model,
    pub attempts: Vec<webhook_attempt::Model>,
}

/// The owner's access as stored with the endpoint: role, scopes (JSON)
/// and legal entities (JSON; NULL: every one).
fn snapshot(principal: &Principal) -> (String, String, Option<String>) {
    let scopes: Vec<&str> = principal.scopes.iter().map(|s| s.as_str()).collect();
    let entities = match &principal.entities {
        EntityAccess::All => None,
        EntityAccess::Only(ids) => Some(serde_json::json!(ids).to_string()),
    };
    (
        principal.role.to_string(),
        serde_json::json!(scopes).to_string(),
        entities,
    )
}

/// The principal deliveries are checked against. Unreadable stored access
/// reads as none: nothing is delivered rather than too much.
pub fn owner_of(endpoint: &Endpoint) -> Principal {
    let mut owner = Principal {
        subject: endpoint.owner_subject.clone(),
        role: Role::Partner,
        scopes: Vec::new(),
        entities: EntityAccess::Only(Vec::new()),
        expires_at: None,
    };
    let Ok(role) = endpoint.owner_role.parse::<Role>() else {
        return owner;
    };
    let scopes: Vec<String> = serde_json::from_str(&endpoint.owner_scopes).unwrap_or_default();
    owner.role = role;
    owner.scopes = scopes.iter().filter_map(|s| s.parse().ok()).collect();
    owner.entities = match &endpoint.owner_entities {
        None => EntityAccess::All,
        Some(json) => EntityAccess::Only(serde_json::from_str(json).unwrap_or_default()),
    };
    owner
}

pub fn filter_of(endpoint: &Endpoint) -> EventFilter {
    EventFilter {
        legal_entity_id: endpoint.legal_entity_id,
        event_types: serde_json::from_str(&endpoint.event_types).unwrap_or_default(),
    }
}

fn set_owner(row: &mut ActiveModel, principal: &Principal) {
    let (role, scopes, entities) = snapshot(principal);
    row.owner_role = Set(role);
    row.owner_scopes = Set(scopes);
    row.owner_entities = Set(entities);
}

fn description(value: Option<String>) -> ServiceResult<Option<String>> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => Ok(Some(validate::name("description", text)?)),
    }
}

fn event_types_json(types: Vec<String>) -> ServiceResult<String> {
    Ok(serde_json::json!(rules::event_types(types)?).to_string())
}

/// A new `whsec_` secret: the text shown once, and as stored.
fn new_secret(ctx: &Ctx) -> ServiceResult<(String, String)> {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = rules::format_secret(&bytes);
    let sealed = ctx
        .webhooks
        .cipher
        .seal(&secret)
        .map_err(ServiceError::Internal)?;
    Ok((secret, sealed))
}

async fn checked_url(ctx: &Ctx, raw: &str) -> ServiceResult<String> {
    let (url, target) = rules::address::check_url(raw, &ctx.webhooks.allow)?;
    send::check_resolved(&url, &target, &ctx.webhooks.allow).await?;
    Ok(url.to_string())
}

async fn owned(ctx: &Ctx, principal: &Principal, id: i64) -> ServiceResult<Endpoint> {
    endpoints::owned(&ctx.db, &principal.subject, id)
        .await?
        .ok_or(ServiceError::NotFound(ENDPOINT))
}

/// Creates an endpoint owned by the caller; returns it with its secret.
pub async fn create(
    ctx: &Ctx,
    principal: &Principal,
    input: NewEndpoint,
) -> ServiceResult<(Endpoint, String)> {
    require(principal, Scope::WebhooksWrite)?;
    let url = checked_url(ctx, &input.url).await?;
    if let Some(id) = input.legal_entity_id {
        store::legal_entity::find(&ctx.db, principal, id)
            .await?
            .ok_or(ServiceError::NotFound("legal entity"))?;
    }
    let (secret, sealed) = new_secret(ctx)?;
    let mut row = ActiveModel {
        id: NotSet,
        owner_subject: Set(principal.subject.clone()),
        url: Set(url),
        description: Set(description(input.description)?),
        legal_entity_id: Set(input.legal_entity_id),
        event_types: Set(event_types_json(input.event_types.unwrap_or_default())?),
        enabled: Set(true),
        disabled_reason: Set(None),
        secret: Set(sealed),
        previous_secret: Set(None),
        rotated_at: Set(None),
        failing_since: Set(None),
        created_at: Set(Utc::now()),
        ..Default::default()
    };
    set_owner(&mut row, principal);
    Ok((endpoints::insert(&ctx.db, row).await?, secret))
}

/// The caller's endpoints, oldest first.
pub async fn list(ctx: &Ctx, principal: &Principal) -> ServiceResult<Vec<Endpoint>> {
    require(principal, Scope::WebhooksWrite)?;
    Ok(endpoints::owned_all(&ctx.db, &principal.subject).await?)
}

/// Changes an endpoint; the owner's current access is stored with it.
/// Enabling clears the reason it was disabled and its failing streak.
pub async fn update(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    patch: EndpointPatch,
) -> ServiceResult<Endpoint> {
    require(principal, Scope::WebhooksWrite)?;
    let current = owned(ctx, principal, id).await?;
    let mut row: ActiveModel = current.into();
    if let Some(url) = patch.url {
        row.url = Set(checked_url(ctx, &url).await?);
    }
    if patch.description.is_some() {
        row.description = Set(description(patch.description)?);
    }
    if let Some(types) = patch.event_types {
        row.event_types = Set(event_types_json(types)?);
    }
    match patch.enabled {
        Some(true) => {
            row.enabled = Set(true);
            row.disabled_reason = Set(None);
            row.failing_since = Set(None);
        }
        Some(false) => {
            row.enabled = Set(false);
            row.disabled_reason = Set(Some("disabled by its owner".into()));
        }
        None => {}
    }
    set_owner(&mut row, principal);
    Ok(endpoints::update(&ctx.db, row).await?)
}

pub async fn delete(ctx: &Ctx, principal: &Principal, id: i64) -> ServiceResult<bool> {
    require(principal, Scope::WebhooksWrite)?;
    owned(ctx, principal, id).await?;
    let tx = store::begin_write(&ctx.db).await?;
    let gone = endpoints::delete(&tx, id).await?;
    tx.commit().await?;
    Ok(gone)
}

/// A new secret; the old one keeps signing beside it for 24 hours.
pub async fn rotate(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
) -> ServiceResult<(Endpoint, String)> {
    require(principal, Scope::WebhooksWrite)?;
    let current = owned(ctx, principal, id).await?;
    let (secret, sealed) = new_secret(ctx)?;
    let previous = current.secret.clone();
    let mut row: ActiveModel = current.into();
    row.previous_secret = Set(Some(previous));
    row.secret = Set(sealed);
    row.rotated_at = Set(Some(Utc::now()));
    set_owner(&mut row, principal);
    Ok((endpoints::update(&ctx.db, row).await?, secret))
}

/// One page of an endpoint's deliveries, newest first; `true` when more
/// follow.
pub async fn deliveries(
    ctx: &Ctx,
    principal: &Principal,
    endpoint_id: i64,
    status: Option<webhook_delivery::WebhookDeliveryStatus>,
    first: Option<i32>,
    before: Option<i64>,
) -> ServiceResult<(Vec<DeliveryView>, bool)> {
    require(principal, Scope::EventsRead)?;
    let endpoint = owned(ctx, principal, endpoint_id).await?;
    let limit = super::contracts::page_size(first)?;
    let mut rows = queue::page(&ctx.db, principal, endpoint_id, status, before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    Ok((views(ctx, endpoint, rows).await?, more))
}

/// The events and attempts of deliveries of one endpoint, in two queries.
async fn views(
    ctx: &Ctx,
    endpoint: Endpoint,
    rows: Vec<webhook_delivery::Model>,
) -> ServiceResult<Vec<DeliveryView>> {
    let ids: Vec<i64> = rows.iter().map(|d| d.id).collect();
    let event_ids: Vec<i64> = rows.iter().map(|d| d.event_id).collect();
    let mut events = queue::events(&ctx.db, &event_ids).await?;
    let mut attempts = queue::attempts_of(&ctx.db, &ids).await?;
    let mut out = Vec::with_capacity(rows.len());
    for delivery in rows {
        let Some(at) = events.iter().position(|e| e.id == delivery.event_id) else {
            return Err(ServiceError::Internal(anyhow::anyhow!(
                "delivery {} names a missing event",
                delivery.id
            )));
        };
        let event = events.swap_remove(at);
        let (mine, rest) = attempts
            .into_iter()
            .partition(|a| a.delivery_id == delivery.id);
        attempts = rest;
        out.push(DeliveryView {
            delivery,
            endpoint: endpoint.clone(),
            event,
            attempts: mine,
        });
    }
    Ok(out)
}

/// Queues one more attempt of a FAILED delivery of the caller's endpoint.
pub async fn retry(ctx: &Ctx, principal: &Principal, id: i64) -> ServiceResult<DeliveryView> {
    require(principal, Scope::WebhooksWrite)?;
    let delivery = queue::by_id(&ctx.db, id)
        .await?
        .filter(|d| principal.can_see(d.legal_entity_id))
        .ok_or(ServiceError::NotFound(DELIVERY))?;
    let endpoint = endpoints::owned(&ctx.db, &principal.subject, delivery.endpoint_id)
        .await?
        .ok_or(ServiceError::NotFound(DELIVERY))?;
    if !queue::retry(&ctx.db, id).await? {
        return Err(ServiceError::bad_input(
            "id",
            format!(
                "the delivery is {}; only a FAILED one can be retried",
                delivery.status
            ),
        ));
    }
    let fresh = queue::by_id(&ctx.db, id)
        .await?
        .ok_or(ServiceError::NotFound(DELIVERY))?;
    let mut views = views(ctx, endpoint, vec![fresh]).await?;
    views.pop().ok_or(ServiceError::NotFound(DELIVERY))
}

/// Opens a stored secret (the worker signing, never the API).
pub fn open_secret(ctx: &Ctx, sealed: &str) -> ServiceResult<Vec<u8>> {
    let plain = ctx
        .webhooks
        .cipher
        .open(sealed)
        .map_err(ServiceError::Internal)?;
    rules::secret_bytes(&plain)
        .ok_or_else(|| ServiceError::Internal(anyhow::anyhow!("a stored secret is malformed")))
}
