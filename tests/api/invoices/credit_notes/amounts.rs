//! Credit notes, amounts: each credited line's tax follows its invoice
//! line's rate, rounded half away from zero to the currency's minor unit,
//! line by line; the note's totals are the sums of its lines, as on
//! invoices. A net finer than the minor unit is refused.

use serde_json::{json, Value};

use super::{billed, credit_lines, noted};
use crate::helpers::ar::{bad_input, customer_on_terms};
use crate::helpers::billing::pick;
use crate::helpers::{admin, spawn_app};

const TOTALS: [&str; 5] = [
    "currency",
    "subtotal",
    "taxTotal",
    "total",
    "appliedToInvoice",
];
const LINE: [&str; 4] = ["description", "netAmount", "taxAmount", "totalAmount"];

fn lines(note: &Value) -> Vec<Value> {
    note["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| pick(l, &LINE))
        .collect()
}

#[tokio::test]
async fn eur_tax_is_per_line_at_the_lines_rate_rounded_half_away_from_zero() {
    let app = spawn_app().await;
    let e = app.create_entity("CNE1", "EUR").await;
    let vat20 = app.create_tax_code(&e, "VAT20", "20").await;
    let vat1945 = app.create_tax_code(&e, "VAT1945", "19.45").await;
    let c = customer_on_terms(&app, &e, "Euro AS", 0).await;
    // Invoice: 100.00 + 20 % = 120.00; 50.00 + 19.45 % (9.725 → 9.73) =
    // 59.73; total 179.73.
    let (inv, ids) = billed(
        &app,
        &e,
        &c,
        "2026-05-04",
        &[("100.00", Some(&vat20)), ("50.00", Some(&vat1945))],
    )
    .await;
    // Line 0: 33.33 × 20 % = 6.666 → 6.67 (not truncated to 6.66): 40.00.
    // Line 1: 10.00 × 19.45 % = 1.945 → 1.95 (half away from zero; half to
    // even would give 1.94): 11.95.
    // Subtotal 43.33; tax 6.67 + 1.95 = 8.62, per line (rounding the sum
    // 8.611 once would give 8.61); total 51.95, all of it off the 179.73 due.
    let note = noted(&app, &inv, &[(&ids[0], "33.33"), (&ids[1], "10.00")], true).await;
    assert_eq!(
        lines(&note),
        [
            json!({ "description": "Line 0", "netAmount": "33.33", "taxAmount": "6.67", "totalAmount": "40.00" }),
            json!({ "description": "Line 1", "netAmount": "10.00", "taxAmount": "1.95", "totalAmount": "11.95" }),
        ],
        "Credit notes: tax at each invoice line's rate, rounded half away from zero per line: {note}"
    );
    assert_eq!(
        pick(&note, &TOTALS),
        json!({ "currency": "EUR", "subtotal": "43.33", "taxTotal": "8.62", "total": "51.95",
                "appliedToInvoice": "51.95" }),
        "Credit notes: totals as for invoices (sums of the rounded lines): {note}"
    );
    assert_eq!(
        pick(&note["invoice"], &["total", "amountCredited", "amountDue"]),
        json!({ "total": "179.73", "amountCredited": "51.95", "amountDue": "127.78" }),
        "Credit notes: 179.73 − 51.95 = 127.78 due"
    );
    let body = credit_lines(&app, &admin(), &inv, &[(&ids[0], "10.001")], true).await;
    bad_input(
        &body,
        Some("lines.0.netAmount"),
        "Credit notes: EUR allows 2 decimals",
    );
}

#[tokio::test]
async fn kwd_credits_round_tax_to_three_decimals() {
    let app = spawn_app().await;
    let e = app.create_entity("CNK1", "KWD").await;
    let ten = app.create_tax_code(&e, "T10", "10").await;
    let five = app.create_tax_code(&e, "T5", "5").await;
    let c = customer_on_terms(&app, &e, "Kuwait Co", 0).await;
    // Invoice: 10.000 + 1.000 and 2.500 + 0.125: total 13.625.
    let (inv, ids) = billed(
        &app,
        &e,
        &c,
        "2026-05-04",
        &[("10.000", Some(&ten)), ("2.500", Some(&five))],
    )
    .await;
    // Line 0: 1.005 × 10 % = 0.1005 → 0.101 (half away from zero; half to
    // even would give 0.100): 1.106.
    // Line 1: 0.333 × 5 % = 0.01665 → 0.017: 0.350.
    // Subtotal 1.338, tax 0.118, total 1.456; 13.625 − 1.456 = 12.169 due.
    let note = noted(&app, &inv, &[(&ids[0], "1.005"), (&ids[1], "0.333")], true).await;
    assert_eq!(
        lines(&note),
        [
            json!({ "description": "Line 0", "netAmount": "1.005", "taxAmount": "0.101", "totalAmount": "1.106" }),
            json!({ "description": "Line 1", "netAmount": "0.333", "taxAmount": "0.017", "totalAmount": "0.350" }),
        ],
        "Credit notes: KWD tax rounded half away from zero to 3 decimals, per line: {note}"
    );
    assert_eq!(
        pick(&note, &TOTALS),
        json!({ "currency": "KWD", "subtotal": "1.338", "taxTotal": "0.118", "total": "1.456",
                "appliedToInvoice": "1.456" }),
        "Credit notes: KWD totals: {note}"
    );
    assert_eq!(
        pick(&note["invoice"], &["total", "amountDue"]),
        json!({ "total": "13.625", "amountDue": "12.169" })
    );
    let body = credit_lines(
        &app,
        &admin(),
        &inv,
        &[(&ids[0], "1.000"), (&ids[1], "0.0005")],
        true,
    )
    .await;
    bad_input(
        &body,
        Some("lines.1.netAmount"),
        "Credit notes: KWD allows 3 decimals",
    );
}

#[tokio::test]
async fn jpy_credits_round_tax_to_whole_yen() {
    let app = spawn_app().await;
    let e = app.create_entity("CNJ1", "JPY").await;
    let ten = app.create_tax_code(&e, "T10", "10").await;
    let eight = app.create_tax_code(&e, "T8", "8").await;
    let c = customer_on_terms(&app, &e, "Tokyo KK", 0).await;
    // Invoice: 1000 + 100 and 500 + 40: total 1640.
    let (inv, ids) = billed(
        &app,
        &e,
        &c,
        "2026-05-04",
        &[("1000", Some(&ten)), ("500", Some(&eight))],
    )
    .await;
    // Line 0: 25 × 10 % = 2.5 → 3 (half away from zero; half to even would
    // give 2): 28. Line 1: 30 × 8 % = 2.4 → 2: 32.
    // Subtotal 55, tax 5, total 60; 1640 − 60 = 1580 due.
    let note = noted(&app, &inv, &[(&ids[0], "25"), (&ids[1], "30")], true).await;
    assert_eq!(
        lines(&note),
        [
            json!({ "description": "Line 0", "netAmount": "25", "taxAmount": "3", "totalAmount": "28" }),
            json!({ "description": "Line 1", "netAmount": "30", "taxAmount": "2", "totalAmount": "32" }),
        ],
        "Credit notes: JPY tax rounded half away from zero to whole yen, per line: {note}"
    );
    assert_eq!(
        pick(&note, &TOTALS),
        json!({ "currency": "JPY", "subtotal": "55", "taxTotal": "5", "total": "60",
                "appliedToInvoice": "60" }),
        "Credit notes: JPY totals: {note}"
    );
    assert_eq!(
        pick(&note["invoice"], &["total", "amountDue"]),
        json!({ "total": "1640", "amountDue": "1580" })
    );
    let body = credit_lines(&app, &admin(), &inv, &[(&ids[0], "10.5")], true).await;
    bad_input(
        &body,
        Some("lines.0.netAmount"),
        "Credit notes: JPY has no minor unit",
    );
}
