//! The seed page's walkthrough as demo data: one Estonian legal entity, two
//! customers, each with a monthly €49.00 contract carrying VAT at 19.45 %.
//! (The page prints 58.48 per invoice, which follows from 19.35 %; billrun
//! follows the arithmetic: 49.00 + 9.53 = 58.53.)

use chrono::{Datelike, Utc};
use rust_decimal::Decimal;

use crate::domain::access::Principal;
use crate::domain::schedule::Interval;
use crate::service::{contracts, setup, Ctx, ServiceError};
use crate::store;

/// Loads the demo data when the database holds no legal entity yet.
/// Returns whether it did.
pub async fn seed_if_empty(ctx: &Ctx) -> anyhow::Result<bool> {
    if store::legal_entity::count(&ctx.db).await? > 0 {
        return Ok(false);
    }
    seed(ctx)
        .await
        .map_err(|e| anyhow::anyhow!("Failed to seed demo data: {e:?}"))?;
    Ok(true)
}

/// One entity, a tax code, customers and contracts, through the same
/// services the API calls. Long because it lists data, not logic.
async fn seed(ctx: &Ctx) -> Result<(), ServiceError> {
    let system = Principal::system("system:demo");
    let entity = setup::create_legal_entity(
        ctx,
        &system,
        setup::CreateLegalEntity {
            code: "ARF".into(),
            name: "Arfiti Demo OÜ".into(),
            currency: "EUR".into(),
            country: "EE".into(),
            timezone: "Europe/Tallinn".into(),
        },
    )
    .await?;
    let vat = setup::create_tax_code(
        ctx,
        &system,
        setup::CreateTaxCode {
            legal_entity_id: entity.id,
            code: "VAT".into(),
            rate: Decimal::new(1945, 2),
        },
    )
    .await?;
    // Contracts start on the first of the current month in Tallinn, so the
    // first run bills one period whenever the demo is started.
    let today = Utc::now()
        .with_timezone(&chrono_tz::Europe::Tallinn)
        .date_naive();
    let start = today.with_day(1).unwrap_or(today);
    for (name, email, has_method) in [
        ("Bolt", "billing@bolt.eu", true),
        ("Starship Technologies", "ap@starship.xyz", false),
    ] {
        let customer = setup::create_customer(
            ctx,
            &system,
            setup::CreateCustomer {
                legal_entity_id: entity.id,
                name: name.into(),
                email: Some(email.into()),
                payment_terms_days: Some(30),
                has_payment_method: Some(has_method),
            },
        )
        .await?;
        contracts::create_contract(
            ctx,
            &system,
            contracts::CreateContract {
                customer_id: customer.id,
                start_date: start,
                end_date: None,
                interval: Interval::Month,
                interval_count: Some(1),
                timing: None,
                lines: vec![contracts::ContractLineInput {
                    description: "Platform subscription".into(),
                    quantity: Decimal::ONE,
                    unit_price: Decimal::new(4900, 2),
                    tax_code_id: Some(vat.id),
                }],
            },
        )
        .await?;
    }
    Ok(())
}
