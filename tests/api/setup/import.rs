//! `billrun import-contracts`: a CSV imported through the createContracts
//! service by the real binary, in batches, a bad row named by its line with
//! nothing from its batch written.

use std::process::Command;

use serde_json::json;

use crate::helpers::{admin, spawn_app, TestApp};

fn import(app: &TestApp, csv: &str, entity: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("contracts.csv");
    std::fs::write(&file, csv).expect("write csv");
    Command::new(env!("CARGO_BIN_EXE_billrun"))
        .args([
            "import-contracts",
            file.to_str().expect("path"),
            "--legal-entity",
            entity,
        ])
        .env("DATABASE_URL", &app.database_url)
        .output()
        .expect("billrun runs")
}

async fn contracts(app: &TestApp, e: &str) -> Vec<serde_json::Value> {
    let q = "query($e: ID!) { contracts(legalEntityId: $e, first: 100) { nodes { customer { name } \
             startDate endDate interval timing lines { description quantity unitPrice taxCode { code } } } } }";
    app.data(&admin(), q, json!({ "e": e })).await["contracts"]["nodes"]
        .as_array()
        .expect("nodes")
        .clone()
}

const HEADER: &str = "contract,customer,start_date,end_date,interval,interval_count,timing,description,quantity,unit_price,tax_code\n";

#[tokio::test]
async fn a_csv_becomes_contracts_with_their_lines_customers_by_name_and_tax_codes_by_code() {
    let app = spawn_app().await;
    let e = app.create_entity("IM1", "EUR").await;
    app.create_customer(&e, "Acme Retail").await;
    let other = app.create_customer(&e, "Globex").await;
    app.create_tax_code(&e, "VAT20", "20").await;
    let csv = format!(
        "{HEADER}C-1,Acme Retail,2026-01-01,,MONTH,1,IN_ADVANCE,Platform,1,490.00,VAT20\n\
         C-1,Acme Retail,2026-01-01,,MONTH,1,IN_ADVANCE,Seats,12,15.00,VAT20\n\
         C-2,{other},2026-02-15,2026-12-31,QUARTER,,IN_ARREARS,Support,1,300.00,\n"
    );
    let out = import(&app, &csv, "IM1");
    assert!(out.status.success(), "import: {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("imported 2 contracts with 3 lines"));
    let created = contracts(&app, &e).await;
    assert_eq!(
        created,
        [
            json!({ "customer": { "name": "Acme Retail" }, "startDate": "2026-01-01", "endDate": null,
                    "interval": "MONTH", "timing": "IN_ADVANCE", "lines": [
                { "description": "Platform", "quantity": "1", "unitPrice": "490", "taxCode": { "code": "VAT20" } },
                { "description": "Seats", "quantity": "12", "unitPrice": "15", "taxCode": { "code": "VAT20" } }] }),
            json!({ "customer": { "name": "Globex" }, "startDate": "2026-02-15", "endDate": "2026-12-31",
                    "interval": "QUARTER", "timing": "IN_ARREARS", "lines": [
                { "description": "Support", "quantity": "1", "unitPrice": "300", "taxCode": null }] }),
        ]
    );
}

#[tokio::test]
async fn a_bad_row_is_reported_by_line_and_nothing_from_its_batch_is_written() {
    let app = spawn_app().await;
    let e = app.create_entity("IM2", "EUR").await;
    app.create_customer(&e, "Acme Retail").await;
    let mut csv = HEADER.to_string();
    // 1,000 good contracts fill the first batch (lines 2–1001); the bad
    // price is on line 1003, in the second batch.
    for i in 0..1001 {
        csv.push_str(&format!(
            "K{i},Acme Retail,2026-01-01,,MONTH,,,Plan,1,10.00,\n"
        ));
    }
    csv.push_str("K-bad,Acme Retail,2026-01-01,,MONTH,,,Plan,1,-5.00,\n");
    let out = import(&app, &csv, "IM2");
    assert!(!out.status.success(), "the import fails");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("line 1003: inputs.1.lines.0.unitPrice: must not be negative"),
        "the error names the CSV line and the field: {stderr}"
    );
    let q = "query($e: ID!) { contracts(legalEntityId: $e, first: 100, after: \"999\") { nodes { id } } }";
    let after = app.data(&admin(), q, json!({ "e": e })).await;
    let count = |v: &serde_json::Value| v["contracts"]["nodes"].as_array().map(Vec::len);
    assert_eq!(
        count(&after),
        Some(1),
        "the first batch (1,000) stays, the second is not written"
    );
    let unknown = import(&app, "contract,customer,colour\n", "IM2");
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown column \"colour\""));
    let nobody = import(
        &app,
        &format!("{HEADER}X,Nobody,2026-01-01,,MONTH,,,Plan,1,1,\n"),
        "IM2",
    );
    assert!(String::from_utf8_lossy(&nobody.stderr)
        .contains("line 2: customer: no customer of that name"));
}
