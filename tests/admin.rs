//! The operator role and the admin console over HTTP: who gets in (and that everyone else gets 404 on every
//! page and server function), credit and debit, offline payments raising the tier, packages, disabling an
//! account (its keys and sessions stop at once), editing the prices (in force on every instance without a
//! restart), and the append-only operator log; and the same actions from the command line.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cli, spawn_app_with, TestApp};
use gatehouse::server::domain::operator_log;
use gatehouse::server::domain::price_versions;
use gatehouse::server::domain::pricing::{PriceTable, Usage};
use serde_json::Value;

const OPERATOR: &str = "ops@example.com";

async fn operator_app() -> TestApp {
    spawn_app_with(&[("ADMIN_EMAILS", "Ops@Example.com"), ("SUPPORT_EMAIL", "help@example.com")]).await
}

/// Every console page and server function, with a plausible body.
const PAGES: &[&str] = &[
    "/admin",
    "/admin/accounts",
    "/admin/accounts/1",
    "/admin/referrals",
    "/admin/codes",
    "/admin/prices",
    "/admin/providers",
    "/admin/log",
];
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
    ("admin_codes", &[("note", "")]),
    (
        "admin_create_codes",
        &[("amount", "5"), ("count", "1"), ("uses", "1"), ("days", ""), ("note", ""), ("reason", "x"), ("key", "")],
    ),
    ("admin_disable_code", &[("id", "1"), ("reason", "x")]),
    ("admin_prices", &[]),
    ("admin_save_prices", &[("table", "x"), ("multipliers", "cc-omg=1"), ("reason", "x"), ("base", "0")]),
    ("admin_restore_prices", &[("id", "1"), ("reason", "x"), ("base", "0")]),
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
    for cookie in [None, Some(person.as_str())] {
        assert_eq!(app.get_page("/admin/codes.csv", cookie).await.status(), 404, "the codes export");
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
    assert_eq!(v["paid_total"], "CN¥20.00");
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
    match operator_log::Detail::read(&log[0].detail) {
        Some(operator_log::Detail::OfflinePayment { received: 2000, currency, method, counted: 2000, .. })
            if currency == "CNY" && method == "WeChat Pay" => {}
        other => panic!("{other:?} from {}", log[0].detail),
    }
    // The console words it in the reader's language; the operator's reason stays as written.
    let (_, en) = call(&app, "admin_log", &[("about", "")], &operator).await;
    assert_eq!(en["rows"][0]["action"], "Offline payment");
    assert_eq!(en["rows"][0]["detail"], "CN¥20.00 paid by WeChat Pay: $2.80 credited, CN¥20.00 toward the tier");
    assert_eq!(en["rows"][0]["reason"], "transfer 4471");
    let (_, zh) = call(&app, "admin_log", &[("about", "")], &format!("{operator}; i18n_pref_locale=zh")).await;
    assert_eq!(zh["rows"][0]["action"], "线下付款");
    assert_eq!(zh["rows"][0]["detail"], "通过 WeChat Pay 支付 ¥20.00：余额增加 $2.80，计入等级 ¥20.00");
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
    // A scope that does not read is refused in the reader's language.
    let zh = format!("{operator}; i18n_pref_locale=zh");
    let form = [("id", id.as_str()), ("amount", "3"), ("title", "x"), ("scope", "web chat"), ("days", "10")];
    let form = [&form[..], &[("reason", "outage"), ("key", "g-zh")]].concat();
    let (status, err) = call(&app, "admin_grant", &form, &zh).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("“web chat”不是渠道名称"), "{err}");
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
    let payment = [
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
    ];
    let out = cli(&url, &payment);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("tier now 10000 RPM"), "{said}");
    let again = cli(&url, &payment);
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

/// (multiplier, official cost in units, usage) of each of the account's bills, oldest first.
async fn bills(app: &TestApp, user_id: i64) -> Vec<(String, i64, Usage)> {
    app.settled().await;
    let rows: Vec<(String, i64, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT multiplier, official_cost, input_tokens, output_tokens, cache_write_5m_tokens, cache_write_1h_tokens, \
         cache_read_tokens FROM bills WHERE user_id = $1 ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(app.state.db.pool())
    .await
    .unwrap();
    let n = |x: i64| u64::try_from(x).unwrap();
    rows.into_iter()
        .map(|r| {
            let usage = Usage {
                input: n(r.2),
                output: n(r.3),
                cache_write_5m: n(r.4),
                cache_write_1h: n(r.5),
                cache_read: n(r.6),
                web_searches: 0,
                images: 0,
            };
            (r.0, r.1, usage)
        })
        .collect()
}

#[tokio::test]
async fn edited_prices_apply_to_calls_admitted_after_the_save_on_every_instance_without_a_restart() {
    let app = spawn_app_with(&[("ADMIN_EMAILS", OPERATOR), ("MOCK_STREAM_PACE_MS", "40")]).await;
    let url = db_url(&app);
    // A second instance on the same database.
    let other = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    let operator = app.log_in(OPERATOR).await;
    let (status, v) = call(&app, "admin_prices", &[], &operator).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["version"].is_null(), "the configuration's prices are in force");
    let table = v["table_text"].as_str().unwrap().to_string();
    const HALF: &str = "cc-omg=0.5,codex-omg=0.2,web-chat=1,default=1";
    const OLD: &str = "claude-haiku-4-5         1      5      1.25    2     0.10";
    const NEW: &str = "claude-haiku-4-5         2      10     2.50    4     0.20";
    assert!(table.contains(OLD));
    let doubled = table.replace(OLD, NEW);

    // A table that does not read is refused with its line, and nothing is saved.
    let bad = format!("{table}\nclaude-new  three  15  3.75  6  0.30\n");
    let form = [("table", bad.as_str()), ("multipliers", HALF), ("reason", "new prices"), ("base", "0")];
    let (status, err) = call(&app, "admin_save_prices", &form, &operator).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("line"), "{err}");
    let form = [("table", doubled.as_str()), ("multipliers", HALF), ("reason", " "), ("base", "0")];
    assert_eq!(call(&app, "admin_save_prices", &form, &operator).await.0, 400, "a version needs a reason");
    // Multipliers that leave a channel out (it would fall to the default rate) or name one that does not exist.
    for multipliers in ["cc-omg=0.5,web-chat=1,default=1", "cc-omg=0.5,codex_omg=0.2,web-chat=1,default=1"] {
        let form = [("table", doubled.as_str()), ("multipliers", multipliers), ("reason", "x"), ("base", "0")];
        let (status, err) = call(&app, "admin_save_prices", &form, &operator).await;
        assert_eq!(status, 400, "{multipliers}: {err}");
    }
    assert!(price_versions::newest(app.state.db.pool()).await.unwrap().is_none());

    // A streamed call admitted before the save is charged at the prices it started with.
    app.log_in("caller@example.com").await;
    let user_id = app.user_id("caller@example.com").await;
    app.top_up(user_id, "5").await;
    let key = app.create_key(user_id, false).await;
    let cc = "/api/v1/ai/anthropic/cc-omg/v1/messages";
    let slow = app
        .client
        .post(app.url(cc))
        .header("x-api-key", &key)
        .json(&serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 64, "stream": true,
            "messages": [{"role": "user", "content": "Tell me a long story."}]}))
        .send();
    let slow = tokio::spawn(async move { slow.await.unwrap().text().await.unwrap() });
    while app.state.gateway.running_calls() == 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let form = [("table", doubled.as_str()), ("multipliers", HALF), ("reason", "new prices"), ("base", "0")];
    let (status, id) = call(&app, "admin_save_prices", &form, &operator).await;
    assert_eq!(status, 200, "{id}");
    let id = id.as_i64().unwrap();
    assert!(slow.await.unwrap().contains("message_stop"));
    // A call admitted after it pays the new ones.
    let res = app
        .client
        .post(app.url(cc))
        .header("x-api-key", &key)
        .json(&serde_json::json!({"model": "claude-haiku-4-5", "max_tokens": 64,
            "messages": [{"role": "user", "content": "hello"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let shipped = PriceTable::shipped().unwrap();
    let made = bills(&app, user_id).await;
    assert_eq!(made.len(), 2);
    let (old_rate, old_cost, old_usage) = &made[0];
    assert_eq!((old_rate.as_str(), *old_cost), ("0.2", shipped.cost("claude-haiku-4-5", old_usage).unwrap().units()));
    let (new_rate, new_cost, new_usage) = &made[1];
    let twice = shipped.cost("claude-haiku-4-5", new_usage).unwrap().units() * 2;
    assert_eq!((new_rate.as_str(), *new_cost), ("0.5", twice));

    // The other instance takes the version within seconds, and so do the public prices pages.
    let waited = std::time::Instant::now();
    while other.state.pricing.version() != Some(id) {
        assert!(waited.elapsed() < std::time::Duration::from_secs(15), "the other instance never took version {id}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for instance in [&app, &other] {
        let page = instance.get_page("/prices", None).await.text().await.unwrap();
        assert!(page.contains("×0.5"), "the prices page shows the new multiplier");
    }

    // A page opened before that save cannot overwrite it unseen.
    let stale = [("table", table.as_str()), ("multipliers", HALF), ("reason", "from an old tab"), ("base", "0")];
    let (status, err) = call(&app, "admin_save_prices", &stale, &operator).await;
    assert_eq!(status, 400);
    assert!(err.to_string().contains("changed since"), "{err}");
    // Versions are kept; restoring one saves it again as the newest.
    let base = id.to_string();
    let multipliers = "cc-omg=0.3,codex-omg=0.2,web-chat=1,default=1";
    let form = [("table", table.as_str()), ("multipliers", multipliers), ("reason", "too much"), ("base", &base)];
    let (status, third) = call(&app, "admin_save_prices", &form, &operator).await;
    assert_eq!(status, 200);
    assert_eq!(app.state.pricing.current().multipliers.for_channel("cc-omg").to_string(), "0.3");
    let (status, restored) = call(
        &app,
        "admin_restore_prices",
        &[("id", &base), ("reason", "back"), ("base", &third.to_string())],
        &operator,
    )
    .await;
    assert_eq!(status, 200, "{restored}");
    assert_eq!(app.state.pricing.version(), restored.as_i64());
    assert_eq!(app.state.pricing.current().multipliers.for_channel("cc-omg").to_string(), "0.5");
    let (_, v) = call(&app, "admin_prices", &[], &operator).await;
    assert_eq!(v["versions"].as_array().unwrap().len(), 3);
    assert_eq!(v["versions"][0]["in_force"], true);
    let log = operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap();
    assert_eq!(log.iter().filter(|e| e.action == "edit-prices").count(), 3, "refused saves are not logged");
    match operator_log::Detail::read(&log[0].detail) {
        Some(operator_log::Detail::PricesSaved { restored: Some(from), .. }) if from == id => {}
        other => panic!("{other:?} from {}", log[0].detail),
    }
    // A restarted server starts with the newest version.
    let restarted = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    assert_eq!(restarted.state.pricing.version(), restored.as_i64());
    app.settled().await;
}

#[tokio::test]
async fn redemption_codes_are_made_once_per_form_withdrawn_for_good_and_exported_without_the_codes() {
    let app = operator_app().await;
    let operator = app.log_in(OPERATOR).await;
    let person = app.log_in("redeemer@example.com").await;
    let form = [
        ("amount", "2"),
        ("count", "3"),
        ("uses", "1"),
        ("days", "30"),
        ("note", "meetup"),
        ("reason", "community event"),
        ("key", "batch-1"),
    ];
    let (status, made) = call(&app, "admin_create_codes", &form, &operator).await;
    assert_eq!(status, 200, "{made}");
    let made: Vec<String> = serde_json::from_value(made).unwrap();
    assert_eq!(made.len(), 3);
    let (status, again) = call(&app, "admin_create_codes", &form, &operator).await;
    assert_eq!(status, 400, "the same form again makes no second batch: {again}");
    let (_, listed) = call(&app, "admin_codes", &[("note", "MEET")], &operator).await;
    let rows = listed["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["state"] == "Active" && r["uses"] == "0 of 1"));
    // Withdraw one: it can no longer be redeemed; another still can.
    let id = rows[0]["id"].as_i64().unwrap().to_string();
    assert_eq!(call(&app, "admin_disable_code", &[("id", &id), ("reason", "leaked")], &operator).await.0, 200);
    assert_eq!(call(&app, "admin_disable_code", &[("id", &id), ("reason", "leaked")], &operator).await.0, 400);
    let withdrawn =
        made.iter().find(|c| c.ends_with(rows[0]["hint"].as_str().unwrap().trim_start_matches('…'))).unwrap();
    let res = app.post_form("/api/billing_redeem", &[("code", withdrawn.as_str())], Some(&person)).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("withdrawn"));
    let other = made.iter().find(|c| *c != withdrawn).unwrap();
    let res = app.post_form("/api/billing_redeem", &[("code", other.as_str())], Some(&person)).await;
    assert_eq!(res.status(), 200, "{:?}", res.text().await);
    assert_eq!(balance_of(&app, &person).await["balance"]["shown"], "$2.10");
    // The export lists every code by its last symbols, never the code.
    let res = app.get_page("/admin/codes.csv", Some(&operator)).await;
    assert_eq!(res.status(), 200);
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.contains("Withdrawn") && csv.contains("Used up") && csv.contains("meetup"), "{csv}");
    assert!(made.iter().all(|c| !csv.contains(c.as_str())), "no code in clear");
    let actions: Vec<String> =
        operator_log::page(app.state.db.pool(), None, None, 10).await.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, vec!["disable-code", "create-codes"]);
}
