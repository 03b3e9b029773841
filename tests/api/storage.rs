//! Money never passes through a float, on either database: amounts stored as
//! scaled integers round-trip exactly, and sums computed by the database are
//! exact too (DESIGN.md, Money).

use billrun::domain::amount::Amount;
use chrono::{NaiveDate, Utc};
use entity::{customer, invoice, legal_entity};
use rust_decimal::Decimal;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, Set, Statement};

use crate::helpers::spawn_app;

fn dec(s: &str) -> Decimal {
    s.parse().expect("decimal literal")
}

async fn insert_invoice(
    db: &impl ConnectionTrait,
    entity: i64,
    customer: i64,
    total: Decimal,
) -> i64 {
    let raw = Amount::from_decimal(total)
        .expect("fits the storage scale")
        .e4();
    let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("date");
    invoice::ActiveModel {
        legal_entity_id: Set(entity),
        customer_id: Set(customer),
        status: Set(entity::status::InvoiceStatus::Posted),
        period_start: Set(day),
        period_end: Set(day),
        issue_date: Set(day),
        due_date: Set(day),
        currency: Set("KWD".into()),
        subtotal_e4: Set(raw),
        tax_total_e4: Set(0),
        total_e4: Set(raw),
        amount_paid_e4: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("insert invoice")
    .id
}

/// A legal entity and one customer, written straight through the entities.
async fn entity_and_customer(
    db: &impl ConnectionTrait,
    code: &str,
    currency: &str,
    timezone: &str,
) -> (legal_entity::Model, customer::Model) {
    let entity = legal_entity::ActiveModel {
        code: Set(code.into()),
        name: Set(format!("{code} entity")),
        currency: Set(currency.into()),
        country: Set(code.into()),
        timezone: Set(timezone.into()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("entity");
    let customer = customer::ActiveModel {
        legal_entity_id: Set(entity.id),
        name: Set(format!("{code} customer")),
        email: Set(None),
        payment_terms_days: Set(30),
        has_payment_method: Set(false),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .expect("customer");
    (entity, customer)
}

#[tokio::test]
async fn amounts_a_double_cannot_hold_round_trip_exactly_and_sum_exactly() {
    let app = spawn_app().await;
    let db = &app.db;
    let (entity, cust) = entity_and_customer(db, "KW", "KWD", "Asia/Kuwait").await;

    // SeaORM's default SQLite path turns the first into 10000000000000.
    for value in ["9999999999999.9999", "900719925474099.13", "1.125"] {
        let id = insert_invoice(db, entity.id, cust.id, dec(value)).await;
        let back = invoice::Entity::find_by_id(id)
            .one(db)
            .await
            .expect("read")
            .expect("row");
        assert_eq!(
            Amount::from_e4(back.total_e4).to_decimal(),
            dec(value),
            "Money: {value} must round-trip exactly"
        );
    }

    // 0.10 three times, summed by the database, is exactly 0.30.
    let (other, c2) = entity_and_customer(db, "EE", "EUR", "Europe/Tallinn").await;
    for _ in 0..3 {
        insert_invoice(db, other.id, c2.id, dec("0.10")).await;
    }
    let backend = db.get_database_backend();
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            "SELECT CAST(SUM(total_e4) AS BIGINT) AS s FROM invoice WHERE legal_entity_id = $1",
            [other.id.into()],
        ))
        .await
        .expect("sum query")
        .expect("one row");
    let sum: i64 = row.try_get("", "s").expect("sum column");
    assert_eq!(
        Amount::from_e4(sum).to_decimal(),
        dec("0.30"),
        "Money: database sums are exact"
    );
    assert_ne!(
        0.1_f64 + 0.1 + 0.1,
        0.3,
        "the float path would have been wrong"
    );
}
