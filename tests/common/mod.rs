//! Test support: `spawn_app()` starts Gatehouse on port 0 with a fresh database (SQLite file, or a new
//! PostgreSQL database when `TEST_DATABASE=postgres`), and helpers that act like a browser.
#![allow(dead_code)]

use gatehouse::server::config::Settings;
use gatehouse::server::startup::Application;
use gatehouse::server::state::AppState;
use reqwest::header::{HeaderMap, ORIGIN, SET_COOKIE};
use reqwest::{redirect, Client, Response};
use sqlx::{Connection, Executor};
use std::collections::HashMap;
use std::sync::OnceLock;
use tokio::sync::oneshot;

pub struct TestApp {
    pub address: String,
    pub state: AppState,
    pub client: Client,
    stop: Option<oneshot::Sender<()>>,
    /// Answered when the server has shut down (in-flight calls finished, charges written, database closed).
    stopped: Option<oneshot::Receiver<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

/// Starts the app with extra settings (`KEY`, `VALUE`) on top of the test defaults.
pub async fn spawn_app_with(extra: &[(&str, &str)]) -> TestApp {
    let mut values: HashMap<String, String> = HashMap::new();
    values.insert("GATEHOUSE_ADDR".into(), "127.0.0.1:0".into());
    values.insert("DATABASE_URL".into(), fresh_database_url().await);
    for (k, v) in extra {
        values.insert(k.to_string(), v.to_string());
    }
    let settings = Settings::from_values(&values).expect("test settings");
    let (stop, stopped) = oneshot::channel::<()>();
    let (started, ready) = oneshot::channel();
    // Every app of this test binary runs on one shared runtime, as in production: the test's own runtime
    // ends with the test, and work the app had handed to it must not die with it.
    let (finished, done) = oneshot::channel::<()>();
    server_runtime().spawn(async move {
        let app = Application::build(settings).await.expect("app builds");
        let _ = started.send((app.port(), app.state().clone()));
        let _ = app
            .run_until(async move {
                let _ = stopped.await;
            })
            .await;
        let _ = finished.send(());
    });
    let (port, state) = ready.await.expect("app started");
    let address = format!("http://127.0.0.1:{port}");
    let client = Client::builder()
        .redirect(redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("client");
    TestApp { address, state, client, stop: Some(stop), stopped: Some(done) }
}

fn server_runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("server runtime")
    })
}

fn random_suffix() -> String {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("randomness");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A new, empty database for one test.
pub async fn fresh_database_url() -> String {
    match std::env::var("TEST_DATABASE").as_deref() {
        Ok("postgres") => {
            let admin = std::env::var("TEST_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
            sqlx::any::install_default_drivers();
            let name = format!("gatehouse_test_{}", random_suffix());
            let mut conn = sqlx::AnyConnection::connect(&admin).await.expect("connect to PostgreSQL");
            conn.execute(format!("CREATE DATABASE {name}").as_str()).await.expect("create test database");
            let base = admin.rsplit_once('/').map(|(b, _)| b.to_string()).unwrap_or(admin);
            format!("{base}/{name}")
        }
        Ok("sqlite") | Err(_) => {
            let dir = std::env::temp_dir().join("gatehouse-tests");
            std::fs::create_dir_all(&dir).expect("temp dir");
            format!("sqlite://{}/{}.db", dir.display(), random_suffix())
        }
        Ok(other) => panic!("TEST_DATABASE must be sqlite or postgres, not {other}"),
    }
}

/// A migrated database of its own, for tests of the domain without a server.
pub async fn fresh_db() -> gatehouse::server::db::Db {
    let db = gatehouse::server::db::Db::connect(&fresh_database_url().await).await.expect("connect");
    db.migrate().await.expect("migrate");
    db
}

/// Inserts an account directly (no welcome balance); returns its id.
pub async fn insert_user(db: &gatehouse::server::db::Db, email: &str) -> i64 {
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO users (email, email_normalized, created_at, last_login_at) VALUES ($1, $1, 0, 0) RETURNING id",
    )
    .bind(email)
    .fetch_one(db.pool())
    .await
    .expect("insert user");
    id
}

/// Grants the referral's Claude Code package (the shipped scope: Claude Code, Claude models in web chat),
/// lasting 30 days from now; `key` is its idempotency key.
pub async fn grant_claude_code_package(
    db: &gatehouse::server::db::Db,
    user_id: i64,
    amount_usd: i64,
    key: &str,
) -> i64 {
    use gatehouse::server::domain::{channels, ledger, money::Money, packages::PackageSource};
    let scope = channels::Scope::parse(channels::CLAUDE_CODE_SCOPE).expect("scope");
    let g = ledger::Grant {
        user_id,
        key,
        title: "Claude Code API $20",
        scope: &scope,
        amount: Money::usd(amount_usd),
        lifetime_ms: 30 * 86_400_000,
        source: PackageSource::Referral,
        now: gatehouse::server::time::now_ms(),
    };
    ledger::grant_package_now(db.pool(), g).await.expect("grant").package_id
}

impl TestApp {
    /// A new API key for an account (no limits); returns its secret.
    pub async fn create_key(&self, user_id: i64, can_manage: bool) -> String {
        let key = gatehouse::server::domain::keys::NewKey {
            user_id,
            name: "test key",
            expires_at: None,
            spend_cap: None,
            models: &[],
            can_manage,
            on_page: true,
            now: gatehouse::server::time::now_ms(),
        };
        gatehouse::server::domain::keys::create(self.state.db.pool(), key).await.expect("key").1
    }

    /// A free credit to the balance, as the operator's `admin credit` gives it.
    pub async fn top_up(&self, user_id: i64, usd: &str) {
        use gatehouse::server::domain::ledger::{self, Credit, EntryKind};
        use gatehouse::server::domain::money::Money;
        let credit = Credit {
            user_id,
            key: &format!("top-up-{user_id}-{usd}"),
            kind: EntryKind::Adjustment,
            amount: Money::parse_usd(usd).expect("an amount"),
            paid_minor: 0,
            memo: "test credit",
            now: gatehouse::server::time::now_ms(),
        };
        ledger::credit_now(self.state.db.pool(), credit).await.expect("credit");
        self.state.gateway.money_moved(user_id);
    }

    /// The account id behind an email address.
    pub async fn user_id(&self, email: &str) -> i64 {
        let normalized = gatehouse::shared::email::Email::parse(email).expect("email").normalized().to_string();
        gatehouse::server::domain::account::user_id_by_email(self.state.db.pool(), &normalized)
            .await
            .expect("query")
            .expect("an account")
    }

    /// A GET as a signed-in browser.
    pub async fn get_page(&self, path: &str, cookie: Option<&str>) -> Response {
        let mut req = self.client.get(self.url(path)).header("accept", "text/html");
        if let Some(c) = cookie {
            req = req.header("cookie", format!("gh_session={c}"));
        }
        req.send().await.expect("request")
    }

    /// Asks the server to shut down gracefully (as SIGTERM does).
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Shuts the server down as SIGTERM does and waits until it has finished.
    pub async fn shut_down(&mut self) {
        self.stop();
        if let Some(done) = self.stopped.take() {
            tokio::time::timeout(std::time::Duration::from_secs(30), done)
                .await
                .expect("the server stops within 30 s")
                .expect("the server task ends");
        }
    }

    /// Waits until every API call made so far has finished and its charge is committed.
    pub async fn settled(&self) {
        assert!(self.state.gateway.settled(std::time::Duration::from_secs(10)).await, "calls still running after 10 s");
    }

    /// Holds of running calls left in the admission book once every call has ended and been charged.
    pub async fn open_holds(&self) -> usize {
        self.settled().await;
        self.state.gateway.admissions().open_holds()
    }

    /// An account's bills once every call so far is charged, newest first.
    pub async fn bills_of(&self, user_id: i64) -> Vec<gatehouse::server::domain::bills::Bill> {
        self.settled().await;
        gatehouse::server::domain::bills::page(self.state.db.pool(), user_id, &Default::default(), 100, 0)
            .await
            .expect("bills")
            .0
    }

    /// Once every call so far is charged: the money audit finds nothing wrong and no hold is left open.
    pub async fn audit_clean(&self) {
        self.settled().await;
        let now = gatehouse::server::time::now_ms();
        let report = gatehouse::server::domain::audit::run(self.state.db.pool(), now).await.expect("audit");
        assert!(report.is_clean(), "{:?}", report.breaches);
        assert_eq!(self.open_holds().await, 0, "every hold ended");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A same-origin form POST, as the site's own pages send it.
    pub async fn post_form(&self, path: &str, form: &[(&str, &str)], cookie: Option<&str>) -> Response {
        let mut req = self.client.post(self.url(path)).header(ORIGIN, &self.address).form(form);
        if let Some(c) = cookie {
            req = req.header("cookie", format!("gh_session={c}"));
        }
        req.send().await.expect("request")
    }

    pub async fn request_login(&self, email: &str, next: &str) -> Response {
        self.post_form("/api/request_login", &[("email", email), ("next", next)], None).await
    }

    /// The newest mail in the dev mailbox, if any.
    pub fn last_mail(&self) -> Option<gatehouse::server::mail::OutgoingEmail> {
        self.state.mailer.dev_mailbox()?.list().first().map(|m| m.email.clone())
    }

    pub fn mail_count(&self) -> usize {
        self.state.mailer.dev_mailbox().map(|m| m.list().len()).unwrap_or(0)
    }

    /// The token from the newest login email.
    pub fn last_token(&self) -> String {
        token_in(&self.last_mail().expect("a login email").text).expect("a token in the email")
    }

    /// Requests a link and confirms it; returns the session cookie value.
    pub async fn log_in(&self, email: &str) -> String {
        assert_eq!(self.request_login(email, "/").await.status(), 200);
        let res = self.post_form("/api/confirm_login", &[("token", &self.last_token())], None).await;
        assert_eq!(res.status(), 200, "confirm failed: {:?}", res.text().await);
        session_cookie(res.headers()).expect("a session cookie")
    }

    /// The email shown as signed in for this cookie, if any.
    pub async fn signed_in_email(&self, cookie: Option<&str>) -> Option<String> {
        let res = self.post_form("/api/viewer", &[], cookie).await;
        assert_eq!(res.status(), 200);
        let v: serde_json::Value = res.json().await.expect("viewer json");
        v["user"]["email"].as_str().map(str::to_string)
    }
}

/// Runs the `gatehouse` binary (an operator command) against a database.
/// The shipped price table with `extra` lines added, written to a file of its own (for `PRICE_TABLE`).
pub fn price_table_with(extra: &str) -> std::path::PathBuf {
    let text = format!("{}\n{extra}\n", gatehouse::server::domain::pricing::DEFAULT_PRICE_TABLE);
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("random bytes");
    let name = b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let path = std::env::temp_dir().join(format!("prices-{name}.conf"));
    std::fs::write(&path, text).expect("a price table file");
    path
}

pub fn cli(database_url: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_gatehouse"))
        .args(args)
        .env("DATABASE_URL", database_url)
        .env_remove("GATEHOUSE_CONFIG")
        .output()
        .expect("run gatehouse")
}

/// Finds `/auth/confirm?token=…` in a message body and returns the token.
pub fn token_in(body: &str) -> Option<String> {
    let start = body.find("/auth/confirm?token=")? + "/auth/confirm?token=".len();
    let token: String =
        body[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (!token.is_empty()).then_some(token)
}

/// The raw `Set-Cookie` line for the session cookie.
pub fn session_set_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("gh_session="))
        .map(str::to_string)
}

/// The session cookie's value, when the response sets a non-empty one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let line = session_set_cookie(headers)?;
    let value = line.trim_start_matches("gh_session=").split(';').next()?.to_string();
    (!value.is_empty()).then_some(value)
}
