//! The operator role and the admin console over HTTP: who gets in (and that everyone else gets 404 on every
//! page and server function), credit and debit, offline payments raising the tier, packages, disabling an
//! account (its keys and sessions stop at once), referrals and invite codes, and the append-only operator
//! log; and the same actions from the command line.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cli, spawn_app_with, TestApp};
use gatehouse::server::domain::operator_log;
use serde_json::Value;

const OPERATOR: &str = "ops@example.com";

async fn operator_app() -> TestApp {
    spawn_app_with(&[("ADMIN_EMAILS", "Ops@Example.com"), ("SUPPORT_EMAIL", "help@example.com")]).await
}

/// Every console page and server function, with a plausible body.
const PAGES: &[&str] =
    &["/admin", "/admin/accounts", "/admin/accounts/1", "/admin/referrals", "/admin/providers", "/admin/log"];
const FUNCTIONS: &[(&str, &[(&str, &str)])] = &[
    ("admin_dashboard", &[]),
    ("admin_accounts", &[("q", "")]),
    ("admin_account", &[("id", "1")]),
    ("admin_adjust", &[("id", "1"), ("amount", "5"), ("reason", "x"), ("key", "")]),
    (
        "admin_offline_payment",
        &[("id", "1"), ("amount", "20"), ("currency", "CNY"), ("method", "bank"), ("reason", "x"), ("key", "")],
    ),
    (
        "admin_grant",
        &[
            ("id", "1"),
            ("amount", "5"),
            ("title", ""),
            ("scope", "cc-omg"),
            ("days", "30"),
            ("reason", "x"),
            ("key", ""),
        ],
    ),
    ("admin_set_disabled", &[("id", "1"), ("disabled", "true"), ("reason", "x")]),
    ("admin_referrals", &[]),
    ("admin_decide_referral", &[("id", "1"), ("approve", "true"), ("reason", "")]),
    ("admin_set_invite_code", &[("code", "ABCD2345"), ("disabled", "true"), ("reason", "x")]),
    ("admin_providers", &[]),
    ("admin_log", &[("about", "")]),
];

async fn call(app: &TestApp, function: &str, form: &[(&str, &str)], cookie: &str) -> (u16, Value) {
    let res = app.post_form(&format!("/api/{function}"), form, Some(cookie)).await;
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn balance_of(app: &TestApp, cookie: &str) -> Value {
    let (status, v) = call(app, "billing_balance", &[], cookie).await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn messages(app: &TestApp, key: &str) -> u16 {
    app.client
        .post(app.url("/v1/messages"))
        .header("x-api-key", key)
        .json(&serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 16,
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn everyone_but_operators_gets_404_on_every_console_page_and_server_function() {
    let app = operator_app().await;
    let person = app.log_in("person@example.com").await;
    let operator = app.log_in(OPERATOR).await;
    for path in PAGES {
        for (who, cookie) in [("signed out", None), ("a person", Some(person.as_str()))] {
            let res = app.get_page(path, cookie).await;
            assert_eq!(res.status(), 404, "{path} as {who}");
            let body = res.text().await.unwrap();
            assert!(body.contains("Page not found"), "{path} as {who} shows the 404 page");
            assert!(!body.contains("Admin console"), "{path} as {who} does not name the console");
        }
        assert_eq!(app.get_page(path, Some(&operator)).await.status(), 200, "{path} as the operator");
    }
    for (function, form) in FUNCTIONS {
        let (status, _) = call(&app, function, form, &person).await;
        assert_eq!(status, 404, "{function} as a person");
        let res = app.post_form(&format!("/api/{function}"), form, None).await;
        assert_eq!(res.status(), 404, "{function} signed out");
    }
    // Nothing the refused calls asked for happened.
    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    assert!(log.is_empty(), "{log:?}");
    let person_id = app.user_id("person@example.com").await;
    assert!(balance_of(&app, &person).await["balance"]["shown"] == "$0.10", "the person's balance is untouched");
    assert_eq!(app.user_id("person@example.com").await, person_id);
    // The header links operators, and only them, to the console; the footer gives the support address.
    let home = app.get_page("/", Some(&operator)).await.text().await.unwrap();
    assert!(home.contains("href=\"/admin\""));
    assert!(home.contains("mailto:help@example.com"));
    let home = app.get_page("/", Some(&person)).await.text().await.unwrap();
    assert!(!home.contains("href=\"/admin\""));
}

#[tokio::test]
async fn an_operator_credits_and_debits_once_per_form_and_every_action_is_logged_with_its_reason() {
    let app = operator_app().await;
    let person = app.log_in("person@example.com").await;
    let operator = app.log_in(OPERATOR).await;
    let id = app.user_id("person@example.com").await.to_string();
    let form = [("id", id.as_str()), ("amount", "5"), ("reason", "goodwill"), ("key", "form-1")];
    assert_eq!(call(&app, "admin_adjust", &form, &operator).await.0, 200);
    // The same form sent again (a double click, a retry) applies once.
    assert_eq!(call(&app, "admin_adjust", &form, &operator).await.0, 200);
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$5.10");
    let debit = [("id", id.as_str()), ("amount", "-1.25"), ("reason", "correction"), ("key", "form-2")];
    assert_eq!(call(&app, "admin_adjust", &debit, &operator).await.0, 200);
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$3.85");
    // Bad input changes nothing and says what is wrong.
    for (amount, reason) in [("abc", "x"), ("0", "x"), ("5", " ")] {
        let bad = [("id", id.as_str()), ("amount", amount), ("reason", reason), ("key", "")];
        let (status, v) = call(&app, "admin_adjust", &bad, &operator).await;
        assert_eq!(status, 400, "{amount} {reason:?}: {v}");
    }
    let (status, _) =
        call(&app, "admin_adjust", &[("id", "999999"), ("amount", "5"), ("reason", "x"), ("key", "")], &operator).await;
    assert_eq!(status, 404);
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$3.85");

    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    let actions: Vec<(&str, &str, &str, &str)> =
        log.iter().map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str(), e.reason.as_str())).collect();
    assert_eq!(
        actions,
        vec![
            (OPERATOR, "debit", "person@example.com", "correction"),
            (OPERATOR, "credit", "person@example.com", "goodwill"),
        ]
    );
    // The log cannot be changed or emptied, on either database.
    assert!(sqlx::query("UPDATE operator_log SET reason = 'nothing'").execute(app.state.db.pool()).await.is_err());
    assert!(sqlx::query("DELETE FROM operator_log").execute(app.state.db.pool()).await.is_err());
    assert_eq!(operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap().len(), 2);
    // The console's log and the account page show them.
    let (_, page) = call(&app, "admin_log", &[("about", "person@")], &operator).await;
    assert_eq!(page["rows"].as_array().unwrap().len(), 2);
    let (_, account) = call(&app, "admin_account", &[("id", &id)], &operator).await;
    assert_eq!(account["log"].as_array().unwrap().len(), 2);
    assert_eq!(account["money"]["balance"]["shown"], "$3.85");
    let out = cli(&db_url(&app), &["audit"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}

fn db_url(app: &TestApp) -> String {
    app.state.settings.database_url.expose().to_string()
}

#[tokio::test]
async fn an_offline_payment_of_cny_20_credits_the_balance_and_raises_the_tier_to_1000_rpm() {
    let app = operator_app().await;
    let person = app.log_in("payer@example.com").await;
    let operator = app.log_in(OPERATOR).await;
    let id = app.user_id("payer@example.com").await.to_string();
    assert_eq!(balance_of(&app, &person).await["rpm"], 60);
    let payment = [
        ("id", id.as_str()),
        ("amount", "20"),
        ("currency", "CNY"),
        ("method", "WeChat Pay"),
        ("reason", "transfer 4471"),
        ("key", "pay-1"),
    ];
    assert_eq!(call(&app, "admin_offline_payment", &payment, &operator).await.0, 200);
    assert_eq!(call(&app, "admin_offline_payment", &payment, &operator).await.0, 200, "a resent form applies once");
    let v = balance_of(&app, &person).await;
    assert_eq!(v["rpm"], 1000);
    assert_eq!(v["paid_total"], "CNY 20.00");
    // CNY 20 at the default 0.14 USD per yuan, on top of the $0.10 welcome balance.
    assert_eq!(v["balance"]["shown"], "$2.90");
    // A currency the server does not convert is refused and changes nothing.
    let euros =
        [("id", id.as_str()), ("amount", "20"), ("currency", "EUR"), ("method", "bank"), ("reason", "x"), ("key", "")];
    let (status, err) = call(&app, "admin_offline_payment", &euros, &operator).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$2.90");
    // The proxy's limiter sees the new tier at once.
    let key = app.create_key(app.user_id("payer@example.com").await, false).await;
    let mut answered = 0;
    for _ in 0..70 {
        if messages(&app, &key).await == 200 {
            answered += 1;
        }
    }
    assert_eq!(answered, 70, "70 calls in a minute pass at 1000 RPM");
    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].action, "offline-payment");
    assert!(log[0].detail.contains("CNY 20.00 by WeChat Pay"), "{}", log[0].detail);
    let (paid,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM topups WHERE provider = 'offline' AND status = 'paid'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(paid, 1);
    app.settled().await;
    assert!(cli(&db_url(&app), &["audit"]).status.success());
}

#[tokio::test]
async fn a_disabled_account_loses_its_keys_and_sessions_at_once_and_cannot_log_in_until_enabled() {
    let app = operator_app().await;
    let person = app.log_in("later@example.com").await;
    let operator = app.log_in(OPERATOR).await;
    let user_id = app.user_id("later@example.com").await;
    let id = user_id.to_string();
    let key = app.create_key(user_id, false).await;
    assert_eq!(messages(&app, &key).await, 200, "the key works (and is now cached)");
    app.settled().await;
    let disable = [("id", id.as_str()), ("disabled", "true"), ("reason", "abuse report 12")];
    assert_eq!(call(&app, "admin_set_disabled", &disable, &operator).await.0, 200);
    assert_eq!(messages(&app, &key).await, 401, "its cached key is refused at once");
    assert_eq!(app.signed_in_email(Some(&person)).await, None, "its browser is signed out");
    // Its login links no longer log in.
    assert_eq!(app.request_login("later@example.com", "/").await.status(), 200);
    let token = app.last_token();
    let res = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(res.status(), 410);
    assert!(res.text().await.unwrap().contains("disabled"));
    let confirm = app.get_page(&format!("/auth/confirm?token={token}"), None).await.text().await.unwrap();
    assert!(confirm.contains("disabled by the operators"), "the confirm page says why");
    // An operator cannot disable their own account from the console.
    let me = app.user_id(OPERATOR).await.to_string();
    let (status, _) =
        call(&app, "admin_set_disabled", &[("id", &me), ("disabled", "true"), ("reason", "x")], &operator).await;
    assert_eq!(status, 400);

    let enable = [("id", id.as_str()), ("disabled", "false"), ("reason", "resolved")];
    assert_eq!(call(&app, "admin_set_disabled", &enable, &operator).await.0, 200);
    assert_eq!(messages(&app, &key).await, 200, "the key works again");
    let res = app.post_form("/api/confirm_login", &[("token", &token)], None).await;
    assert_eq!(res.status(), 200, "the link logs in again");
    let actions: Vec<String> =
        operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, vec!["enable-account", "disable-account"]);
    app.settled().await;
}

#[tokio::test]
async fn an_operator_grants_a_package_that_pays_for_the_next_call() {
    let app = operator_app().await;
    let person = app.log_in("grantee@example.com").await;
    let operator = app.log_in(OPERATOR).await;
    let user_id = app.user_id("grantee@example.com").await;
    let id = user_id.to_string();
    let grant = |scope: &'static str, key: &'static str| {
        let (app, id, operator) = (&app, id.clone(), operator.clone());
        async move {
            let form = [
                ("id", id.as_str()),
                ("amount", "3"),
                ("title", "Apology"),
                ("scope", scope),
                ("days", "10"),
                ("reason", "outage"),
                ("key", key),
            ];
            call(app, "admin_grant", &form, &operator).await
        }
    };
    let (status, err) = grant("cc-omgg", "g-0").await;
    assert_eq!(status, 400, "an unknown channel is refused: {err}");
    assert_eq!(grant("default", "g-1").await.0, 200);
    assert_eq!(grant("default", "g-1").await.0, 200);
    let (_, packages) = call(&app, "billing_packages", &[], &person).await;
    let packages = packages.as_array().unwrap().clone();
    assert_eq!(packages.len(), 1, "granted once: {packages:?}");
    assert_eq!(packages[0]["title"], "Apology");
    let key = app.create_key(user_id, false).await;
    assert_eq!(messages(&app, &key).await, 200);
    app.settled().await;
    let (_, packages) = call(&app, "billing_packages", &[], &person).await;
    assert_ne!(packages[0]["remaining"]["exact"], packages[0]["original"]["exact"], "the package paid for the call");
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$0.10", "the balance paid nothing");
}

#[tokio::test]
async fn the_command_line_promotes_operators_records_payments_and_disables_accounts_in_the_log() {
    let app = spawn_app_with(&[]).await;
    let url = db_url(&app);
    app.log_in("boss@example.com").await;
    app.log_in("payer@example.com").await;
    let out = cli(&url, &["admin", "promote", "boss@example.com"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let boss = app.log_in("boss@example.com").await;
    assert_eq!(app.get_page("/admin", Some(&boss)).await.status(), 200, "promoted: the console opens");
    let out = cli(
        &url,
        &[
            "admin",
            "record-payment",
            "payer@example.com",
            "300",
            "cny",
            "--method",
            "Alipay",
            "--reason",
            "order 9",
            "--key",
            "p9",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("tier now 10000 RPM"), "{said}");
    let again = cli(
        &url,
        &[
            "admin",
            "record-payment",
            "payer@example.com",
            "300",
            "cny",
            "--method",
            "Alipay",
            "--reason",
            "order 9",
            "--key",
            "p9",
        ],
    );
    assert!(String::from_utf8_lossy(&again.stdout).contains("already recorded"));
    let missing = cli(&url, &["admin", "record-payment", "payer@example.com", "300", "cny", "--method", "Alipay"]);
    assert_eq!(missing.status.code(), Some(2), "a payment needs a reason");
    let out = cli(&url, &["admin", "disable", "payer@example.com", "--reason", "chargeback"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli(&url, &["admin", "demote", "boss@example.com"]);
    assert!(out.status.success());
    assert_eq!(app.get_page("/admin", Some(&boss)).await.status(), 404, "demoted: the console is gone");
    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    let actions: Vec<(&str, &str)> = log.iter().map(|e| (e.actor.as_str(), e.action.as_str())).collect();
    assert_eq!(
        actions,
        vec![("cli", "demote"), ("cli", "disable-account"), ("cli", "offline-payment"), ("cli", "promote")]
    );
    assert!(cli(&url, &["audit"]).status.success());
}

#[tokio::test]
async fn the_dashboard_counts_todays_calls_spend_errors_and_active_accounts() {
    let app = operator_app().await;
    let operator = app.log_in(OPERATOR).await;
    app.log_in("caller@example.com").await;
    let user_id = app.user_id("caller@example.com").await;
    let key = app.create_key(user_id, false).await;
    for _ in 0..3 {
        assert_eq!(messages(&app, &key).await, 200);
    }
    app.settled().await;
    let (status, v) = call(&app, "admin_dashboard", &[], &operator).await;
    assert_eq!(status, 200, "{v}");
    let today = &v["periods"][0];
    assert_eq!(today["calls"], 3);
    assert_eq!(today["active_accounts"], 1);
    assert_ne!(today["spend"]["shown"], "$0.00");
    assert_eq!(v["accounts"], 2);
    let days = v["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(days[6]["calls"], 3);
    assert_eq!(days[6]["calls_percent"], 100);
    assert_eq!(v["by_model"][0]["name"], "claude-haiku-4-5");
    assert_eq!(v["by_model"][0]["percent"], 100);
    let (_, accounts) = call(&app, "admin_accounts", &[("q", "CALLER")], &operator).await;
    let accounts = accounts.as_array().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0]["email"], "caller@example.com");
    let (_, none) = call(&app, "admin_accounts", &[("q", "%")], &operator).await;
    assert!(none.as_array().unwrap().is_empty(), "a % is looked for literally");
}
