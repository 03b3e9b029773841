//! DataLoaders for object fields that would otherwise query once per row.
//! Created per request with the caller's principal, so every batch query is
//! filtered by legal entity exactly like a root query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    billing_run, contract as contract_row, contract_line, customer, invoice_line, legal_entity,
    tax_code,
};

use crate::domain::access::Principal;
use crate::service::{Ctx, ServiceError};
use crate::store::{self, billing as runs, contract, invoice, party};

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LegalEntityId(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct CustomerId(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct TaxCodeId(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct LinesOf(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ContractId(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct RunId(pub i64);
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct InvoiceLinesOf(pub i64);

pub struct Db {
    ctx: Ctx,
    principal: Principal,
}

pub type Loaders = DataLoader<Db>;

pub fn loaders(ctx: Ctx, principal: Principal) -> Loaders {
    DataLoader::new(Db { ctx, principal }, tokio::spawn)
}

type LoadResult<K, V> = Result<HashMap<K, V>, Arc<ServiceError>>;

fn fail(err: store::StoreError) -> Arc<ServiceError> {
    Arc::new(ServiceError::from(err))
}

impl Loader<LegalEntityId> for Db {
    type Value = legal_entity::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[LegalEntityId]) -> LoadResult<LegalEntityId, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = store::legal_entity::find_many(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|m| (LegalEntityId(m.id), m)).collect())
    }
}

impl Loader<CustomerId> for Db {
    type Value = customer::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[CustomerId]) -> LoadResult<CustomerId, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = party::find_customers(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|m| (CustomerId(m.id), m)).collect())
    }
}

impl Loader<TaxCodeId> for Db {
    type Value = tax_code::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[TaxCodeId]) -> LoadResult<TaxCodeId, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = party::find_tax_codes(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|m| (TaxCodeId(m.id), m)).collect())
    }
}

impl Loader<LinesOf> for Db {
    type Value = Vec<contract_line::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[LinesOf]) -> LoadResult<LinesOf, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        // Only contracts the caller may see contribute lines.
        let visible: Vec<i64> = contract::find_many(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|c| c.id)
            .collect();
        let mut out: HashMap<LinesOf, Self::Value> = visible
            .iter()
            .map(|id| (LinesOf(*id), Vec::new()))
            .collect();
        for line in contract::lines_of(&self.ctx.db, &visible)
            .await
            .map_err(fail)?
        {
            out.entry(LinesOf(line.contract_id)).or_default().push(line);
        }
        Ok(out)
    }
}

impl Loader<ContractId> for Db {
    type Value = contract_row::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[ContractId]) -> LoadResult<ContractId, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = contract::find_many(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|m| (ContractId(m.id), m)).collect())
    }
}

impl Loader<RunId> for Db {
    type Value = billing_run::Model;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[RunId]) -> LoadResult<RunId, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        let rows = runs::find_runs(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?;
        Ok(rows.into_iter().map(|m| (RunId(m.id), m)).collect())
    }
}

impl Loader<InvoiceLinesOf> for Db {
    type Value = Vec<invoice_line::Model>;
    type Error = Arc<ServiceError>;

    async fn load(&self, keys: &[InvoiceLinesOf]) -> LoadResult<InvoiceLinesOf, Self::Value> {
        let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
        // Only invoices the caller may see contribute lines.
        let visible: Vec<i64> = invoice::find_many(&self.ctx.db, &self.principal, &ids)
            .await
            .map_err(fail)?
            .into_iter()
            .map(|i| i.id)
            .collect();
        let mut out: HashMap<InvoiceLinesOf, Self::Value> = visible
            .iter()
            .map(|id| (InvoiceLinesOf(*id), Vec::new()))
            .collect();
        for line in invoice::lines_of(&self.ctx.db, &visible)
            .await
            .map_err(fail)?
        {
            out.entry(InvoiceLinesOf(line.invoice_id))
                .or_default()
                .push(line);
        }
        Ok(out)
    }
}

/// Turns a loader failure back into a GraphQL error with its code.
pub fn loader_error(err: Arc<ServiceError>) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => err.into(),
        Err(shared) => ServiceError::Internal(anyhow::anyhow!("{shared}")).into(),
    }
}
