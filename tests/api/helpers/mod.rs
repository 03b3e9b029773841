//! `spawn_app()`: the real server on port 0 with a fresh migrated database
//! per test (a temp SQLite file, or a new PostgreSQL database when
//! `DATABASE_URL` is a postgres URL), GraphQL over HTTP, the entities most
//! tests start from, and `poll_until`, the one way a test waits for
//! something the server does in the background. The submodules hold what
//! several test modules share: billing runs (`billing`), invoices and
//! payments (`ar`), raw HTTP (`http`), forged tokens (`tokens`) and a raw
//! graphql-transport-ws client (`ws`).

pub mod ar;
pub mod billing;
pub mod http;
pub mod tokens;
pub mod ws;

use std::future::Future;
use std::time::{Duration, Instant};

use chrono::{NaiveDate, Utc};

use billrun::app::Application;
use billrun::auth::{Claims, JwtKeys};
use billrun::config::{DbArgs, LogFormat, ServeArgs};
use sea_orm::{ConnectionTrait, Database, DatabaseConnection};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "test-secret-that-is-long-enough-0123456789";

pub struct TestApp {
    pub addr: String,
    pub port: u16,
    pub db: DatabaseConnection,
    #[allow(dead_code)]
    pub database_url: String,
    pub client: reqwest::Client,
    #[allow(dead_code)]
    pub shutdown: CancellationToken,
    _dir: tempfile::TempDir,
}

/// A fresh database URL: a new PostgreSQL database when `DATABASE_URL` is
/// one (the test fails, never skips, when it is unreachable), else a temp
/// SQLite file.
pub async fn fresh_database(dir: &tempfile::TempDir) -> String {
    match std::env::var("DATABASE_URL") {
        Ok(base) if base.starts_with("postgres") => {
            let name = format!("billrun_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(base.as_str())
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at DATABASE_URL is unreachable: {e}"));
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            admin.close().await.ok();
            let (prefix, _) = base
                .rsplit_once('/')
                .expect("DATABASE_URL has a database name");
            format!("{prefix}/{name}")
        }
        _ => format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display()),
    }
}

pub fn serve_args(database_url: &str) -> ServeArgs {
    ServeArgs {
        bind: "127.0.0.1:0".into(),
        metrics_bind: String::new(),
        otlp_endpoint: String::new(),
        db: DbArgs {
            database_url: database_url.into(),
            db_pool_size: 5,
            db_statement_timeout_secs: 30,
            sqlite_busy_timeout_ms: 10_000,
        },
        jwt_secret: Some(SECRET.into()),
        jwt_public_keys: vec![],
        jwt_jwks_file: None,
        claims: Default::default(),
        cors_origins: vec!["http://allowed.example".into()],
        body_limit_bytes: 1024 * 1024,
        request_timeout_secs: 30,
        log_format: LogFormat::Text,
        rate_limit_per_minute: 0,
        introspection: billrun::config::Introspection::Staff,
        run_chunk_size: 500,
        run_chunk_invoices: 5_000,
        lease_secs: 15,
        max_billing_lead_days: 31,
        idempotency_pending_secs: 120,
        scheduler_poll_secs: 0,
        live_threads: 1,
        live_nice: 10,
        live_cpus: None,
        demo: false,
        webhooks: Default::default(),
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut ServeArgs)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let database_url = fresh_database(&dir).await;
    let mut args = serve_args(&database_url);
    configure(&mut args);
    let app = Application::build(args).await.expect("application builds");
    let port = app.port();
    let shutdown = app.shutdown_token();
    tokio::spawn(app.run_until_stopped());
    let mut app = TestApp::external(dir, database_url, port).await;
    app.shutdown = shutdown;
    app
}

pub fn token(role: &str, scopes: &[&str], entities: &[&str]) -> String {
    token_with(|c| {
        c.role = role.into();
        c.scopes = scopes.iter().map(|s| s.to_string()).collect();
        c.legal_entities = entities.iter().map(|s| s.to_string()).collect();
    })
}

pub fn token_with(edit: impl FnOnce(&mut Claims)) -> String {
    let mut claims = Claims {
        sub: "test-user".into(),
        exp: chrono::Utc::now().timestamp() + 3600,
        nbf: None,
        role: "ADMIN".into(),
        scopes: vec![],
        legal_entities: vec!["*".into()],
        iss: None,
        aud: None,
    };
    edit(&mut claims);
    JwtKeys::hs256(SECRET.as_bytes())
        .expect("keys")
        .mint(&claims)
        .expect("mint")
}

pub fn admin() -> String {
    token("ADMIN", &[], &["*"])
}

/// Today in `tz`, the day the server bills, posts and voids on for an
/// entity in that timezone.
pub fn today_in(tz: chrono_tz::Tz) -> NaiveDate {
    Utc::now().with_timezone(&tz).date_naive()
}

/// Today for the entities `create_entity` makes (Europe/Tallinn).
pub fn today() -> NaiveDate {
    today_in(chrono_tz::Europe::Tallinn)
}

pub fn is_postgres(database_url: &str) -> bool {
    database_url.starts_with("postgres")
}

/// Asks `probe` every `every` until it answers `Some`, and returns that;
/// panics naming `what` once `within` has passed. For state the server
/// reaches in the background (a pool recovering, a process starting) when
/// no mutation can `wait` for it and no subscription announces it.
pub async fn poll_until<T, F, Fut>(what: &str, within: Duration, every: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = probe().await {
            return found;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(every).await;
    }
}

impl TestApp {
    /// POSTs a GraphQL request and returns the JSON body.
    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Value {
        self.client
            .post(format!("{}/graphql", self.addr))
            .bearer_auth(token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .expect("request sent")
            .json()
            .await
            .expect("JSON body")
    }

    /// Like `gql` but panics on errors and returns `data`.
    pub async fn data(&self, token: &str, query: &str, variables: Value) -> Value {
        let body = self.gql(token, query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Runs `create<Kind>(input: $i) { id }` as admin; the new id.
    pub async fn create(&self, kind: &str, input: Value) -> String {
        let q = format!("mutation($i: Create{kind}Input!) {{ create{kind}(input: $i) {{ id }} }}");
        let data = self.data(&admin(), &q, json!({ "i": input })).await;
        let id = &data[format!("create{kind}")]["id"];
        id.as_str().expect("id").to_string()
    }

    /// A legal entity in Europe/Tallinn.
    pub async fn create_entity(&self, code: &str, currency: &str) -> String {
        let input = json!({ "code": code, "name": format!("{code} Ltd"), "currency": currency,
                            "country": "EE", "timezone": "Europe/Tallinn" });
        self.create("LegalEntity", input).await
    }

    /// A customer with an email and a payment method.
    pub async fn create_customer(&self, entity_id: &str, name: &str) -> String {
        let input = json!({ "legalEntityId": entity_id, "name": name, "email": "ap@example.com",
                            "hasPaymentMethod": true });
        self.create("Customer", input).await
    }

    pub async fn create_tax_code(&self, entity_id: &str, code: &str, rate: &str) -> String {
        let input = json!({ "legalEntityId": entity_id, "code": code, "rate": rate });
        self.create("TaxCode", input).await
    }

    /// A monthly contract with one line.
    pub async fn create_contract(
        &self,
        customer_id: &str,
        start: &str,
        price: &str,
        tax: Option<&str>,
    ) -> String {
        let line = json!({ "description": "Subscription", "quantity": "1", "unitPrice": price,
                           "taxCodeId": tax });
        let input = json!({ "customerId": customer_id, "startDate": start, "interval": "MONTH",
                            "lines": [line] });
        self.create("Contract", input).await
    }
}

pub fn code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("<no code>")
}

impl TestApp {
    /// A client of a server this test started some other way (the real
    /// binary, see `process.rs`) on `database_url`, a database created by
    /// `fresh_database(&dir)`; `dir` lives as long as the app.
    pub async fn external(dir: tempfile::TempDir, database_url: String, port: u16) -> TestApp {
        let db = Database::connect(database_url.as_str())
            .await
            .expect("test connection");
        TestApp {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            db,
            database_url,
            client: reqwest::Client::new(),
            shutdown: CancellationToken::new(),
            _dir: dir,
        }
    }

    /// Points this client at another server process on the same database.
    pub fn retarget(&mut self, port: u16) {
        self.port = port;
        self.addr = format!("http://127.0.0.1:{port}");
    }
}
