//! DataLoaders for object fields that would otherwise query once per row.
//! Created per request with the caller's principal, so every batch query is
//! filtered by legal entity exactly like a root query.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::{
    audit_event, billing_run, contract, contract_line, contract_pause, credit_note,
    credit_note_line, customer, invoice, invoice_line, legal_entity, tax_code,
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
/// whose rows `$keyed` turns into the loader's map.
macro_rules! loader {
    ($key:ident => $value:ty, $read:ident, $keyed:expr) => {
        #[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
        pub struct $key(pub i64);

        impl Loader<$key> for Db {
            type Value = $value;
            type Error = Arc<ServiceError>;

            async fn load(&self, keys: &[$key]) -> Result<HashMap<$key, $value>, Self::Error> {
                let ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
                let rows = batch::$read(&self.ctx, &self.principal, &ids).await?;
                Ok(rows.into_iter().map($keyed).collect())
            }
        }
    };
}

loader!(LegalEntityId => legal_entity::Model, legal_entities, |m| (LegalEntityId(m.id), m));
loader!(CustomerId => customer::Model, customers, |m| (CustomerId(m.id), m));
loader!(TaxCodeId => tax_code::Model, tax_codes, |m| (TaxCodeId(m.id), m));
loader!(ContractId => contract::Model, contracts, |m| (ContractId(m.id), m));
loader!(RunId => billing_run::Model, runs, |m| (RunId(m.id), m));
loader!(InvoiceId => invoice::Model, invoices, |m| (InvoiceId(m.id), m));
loader!(InvoiceLineId => invoice_line::Model, invoice_lines_by_id, |m| (InvoiceLineId(m.id), m));
loader!(CreditBalanceOf => i64, credit_balances, |(id, e4)| (CreditBalanceOf(id), e4));
// Lines and notes come grouped by owner; only contracts and invoices the caller may
// see contribute lines.
loader!(LinesOf => Vec<contract_line::Model>, contract_lines, |(id, l)| (LinesOf(id), l));
loader!(PausesOf => Vec<contract_pause::Model>, contract_pauses, |(id, p)| (PausesOf(id), p));
loader!(HistoryOf => Vec<audit_event::Model>, contract_history, |(id, a)| (HistoryOf(id), a));
loader!(InvoiceLinesOf => Vec<invoice_line::Model>, invoice_lines, |(id, l)| (
    InvoiceLinesOf(id),
    l
));
loader!(CreditNotesOf => Vec<credit_note::Model>, credit_notes_of, |(id, n)| (
    CreditNotesOf(id),
    n
));
loader!(CreditNoteLinesOf => Vec<credit_note_line::Model>, credit_note_lines, |(id, l)| (
    CreditNoteLinesOf(id),
    l
));

/// Turns a loader failure back into a GraphQL error with its code.
pub fn loader_error(err: Arc<ServiceError>) -> async_graphql::Error {
    match Arc::try_unwrap(err) {
        Ok(err) => err.into(),
        Err(shared) => ServiceError::Internal(anyhow::anyhow!("{shared}")).into(),
    }
}
