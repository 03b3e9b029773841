//! DataLoaders for object fields that would otherwise query once per row.
//! Created per request with the caller's principal, so every batch query is
//! filtered by legal entity exactly like a root query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    billing_run, contract, contract_line, customer, invoice_line, legal_entity, tax_code,
};

use crate::domain::access::Principal;
use crate::service::{batch, Ctx, ServiceError};

pub struct Db {
    ctx: Ctx,
    principal: Principal,
}

pub type Loaders = DataLoader<Db>;

pub fn loaders(ctx: Ctx, principal: Principal) -> Loaders {
    DataLoader::new(Db { ctx, principal }, tokio::spawn)
}

/// A key type per loader: `$key(id)` loads `$value` through `batch::$read`,
/// keyed by `$id_of` of each row (rows come back as a list) or already
/// grouped by owner (`grouped`).
macro_rules! loader {
    ($key:ident => $value:ty, $read:ident, |$row:ident| $id_of:expr) => {
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub struct $key(pub i64);

        impl Loader<$key> for Db {
            type Value = $value;
            type Error = Arc<ServiceError>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Self::Error> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = batch::$read(&self.ctx, &self.principal, &ids).await?;
                Ok(rows.into_iter().map(|$row| ($key($id_of), $row)).collect())
            }
        }
    };
    ($key:ident => $value:ty, $read:ident, grouped) => {
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub struct $key(pub i64);

        impl Loader<$key> for Db {
            type Value = $value;
            type Error = Arc<ServiceError>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Self::Error> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let groups = batch::$read(&self.ctx, &self.principal, &ids).await?;
                Ok(groups
                    .into_iter()
                    .map(|(id, rows)| ($key(id), rows))
                    .collect())
            }
        }
    };
}

loader!(LegalEntityId => legal_entity::Model, legal_entities, |m| m.id);
loader!(CustomerId => customer::Model, customers, |m| m.id);
loader!(TaxCodeId => tax_code::Model, tax_codes, |m| m.id);
loader!(ContractId => contract::Model, contracts, |m| m.id);
loader!(RunId => billing_run::Model, runs, |m| m.id);
// Only contracts and invoices the caller may see contribute lines.
loader!(LinesOf => Vec<contract_line::Model>, contract_lines, grouped);
loader!(InvoiceLinesOf => Vec<invoice_line::Model>, invoice_lines, grouped);

/// Turns a loader failure back into a GraphQL error with its code.
pub fn loader_error(err: Arc<ServiceError>) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => err.into(),
        Err(shared) => ServiceError::Internal(anyhow::anyhow!("{shared}")).into(),
    }
}
