//! Billing through the running app: the welcome balance, top-ups by Stripe webhook and dev test payment,
//! redemption codes, tiers, the Billing pages and CSV, and the `gatehouse audit` / `admin` commands.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{cli, spawn_app, spawn_app_with, TestApp};
use gatehouse::server::domain::account;
use gatehouse::server::domain::ledger::{self, Settlement};
use gatehouse::server::domain::money::Money;
use gatehouse::server::domain::pricing::Usage;
use gatehouse::server::domain::redemption::{self, NewCodes};
use gatehouse::server::payments::{stripe, stripe_signature};
use gatehouse::server::time::now_ms;
use rust_decimal::Decimal;
use std::sync::{Arc, Mutex};

const WEBHOOK_SECRET: &str = "whsec_test_gatehouse";

fn usd(s: &str) -> Money {
    Money::parse_usd(s).unwrap()
}

/// A same-origin form POST from a signed-in browser; `plain_form` sends it as a page without JavaScript would.
async fn post_as(
    app: &TestApp,
    path: &str,
    cookie: &str,
    form: &[(&str, &str)],
    plain_form: bool,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path))
        .header("origin", &app.address)
        .header("cookie", format!("gh_session={cookie}"))
        .form(form);
    if plain_form {
        req = req.header("accept", "text/html");
    }
    req.send().await.unwrap()
}

async fn balance_of(app: &TestApp, email: &str) -> Money {
    account::money_of(app.state.db.pool(), app.user_id(email).await).await.unwrap().unwrap().balance
}

async fn paid_minor(app: &TestApp, email: &str) -> i64 {
    account::money_of(app.state.db.pool(), app.user_id(email).await).await.unwrap().unwrap().paid_topups_minor
}

async fn audit_clean(app: &TestApp) {
    let report = gatehouse::server::domain::audit::run(app.state.db.pool(), now_ms()).await.unwrap();
    assert!(report.is_clean(), "{:?}", report.breaches);
}

#[tokio::test]
async fn a_new_account_starts_with_the_welcome_balance_once() {
    let app = spawn_app().await;
    app.log_in("welcome@example.com").await;
    assert_eq!(balance_of(&app, "welcome@example.com").await, usd("0.10"));
    // Logging in again is not a new account.
    app.log_in("welcome@example.com").await;
    assert_eq!(balance_of(&app, "welcome@example.com").await, usd("0.10"));
    audit_clean(&app).await;

    let none = spawn_app_with(&[("WELCOME_BALANCE", "0")]).await;
    none.log_in("nothing@example.com").await;
    assert_eq!(balance_of(&none, "nothing@example.com").await, Money::ZERO);
}

#[tokio::test]
async fn the_balance_page_shows_the_balance_tier_and_faq_and_explains_a_blocked_account() {
    let app = spawn_app().await;
    let cookie = app.log_in("page@example.com").await;
    let html = app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("$0.10"), "balance missing");
    assert!(html.contains("60 RPM"));
    assert!(html.contains("CN¥20.00 more to reach 1000 RPM"), "next tier missing: {html}");
    assert!(html.contains("Why am I getting a 402 error?"));
    assert!(!html.contains("API access is blocked until your balance is positive"));

    // Spend past zero: the page turns red and says why calls fail.
    let user = app.user_id("page@example.com").await;
    let s = Settlement {
        facts: Default::default(),
        user_id: user,
        request_key: "r1",
        api_key_id: None,
        key_name: Some("laptop"),
        channel: "default",
        model: "claude-opus-4-1",
        usage: Usage { input: 10_000, ..Usage::default() },
        official: usd("0.15"),
        multiplier: Decimal::ONE,
        now: now_ms(),
    };
    ledger::settle(app.state.db.pool(), s).await.unwrap();
    let html = app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("-$0.05"));
    assert!(html.contains("API access is blocked until your balance is positive"));
}

#[tokio::test]
async fn billing_pages_ask_a_signed_out_visitor_to_log_in() {
    let app = spawn_app().await;
    for path in ["/billing/balance", "/billing/topup", "/billing/packages", "/billing/bills"] {
        let res = app.get_page(path, None).await;
        let html = res.text().await.unwrap();
        assert!(html.contains("Log in to see your billing"), "{path}");
        assert!(html.contains(&format!("/login?next={path}")), "{path}");
    }
    let res = app.post_form("/api/billing_balance", &[], None).await;
    assert_eq!(res.status(), 401);
    let res = app.get_page("/billing/bills.csv", None).await;
    assert_eq!(res.status(), 303);
}

#[tokio::test]
async fn a_dev_test_payment_goes_through_the_webhook_code_credits_and_raises_the_tier() {
    let app = spawn_app().await;
    let cookie = app.log_in("payer@example.com").await;
    let res =
        post_as(&app, "/api/billing_topup", &cookie, &[("amount", "20"), ("custom", ""), ("method", "test")], true)
            .await;
    assert_eq!(res.status(), 302);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/billing/balance?topup=test&credited=%242.80"), "{location}");
    // CNY 20 at 0.14 USD each, on top of the $0.10 welcome balance.
    assert_eq!(balance_of(&app, "payer@example.com").await, usd("2.90"));
    assert_eq!(paid_minor(&app, "payer@example.com").await, 2000);
    let html = app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("1000 RPM"));
    let html = app.get_page("/billing/bills?tab=movements", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains(">CN¥20.00<"), "movements tab: the amount paid");
    // In Chinese the yuan reads ¥, and the memo holds data, not an English sentence.
    let zh = format!("{cookie}; i18n_pref_locale=zh");
    let html = app.get_page("/billing/bills?tab=movements", Some(&zh)).await.text().await.unwrap();
    assert!(html.contains(">¥20.00<") && !html.contains("Top-up") && !html.contains("Welcome"), "{html}");
    audit_clean(&app).await;
}

#[tokio::test]
async fn tiers_follow_cumulative_paid_top_ups_at_each_threshold() {
    let app = spawn_app().await;
    let cookie = app.log_in("tiers@example.com").await;
    let pay = |amount: &'static str, custom: &'static str| {
        let app = &app;
        let cookie = cookie.clone();
        async move {
            post_as(
                app,
                "/api/billing_topup",
                &cookie,
                &[("amount", amount), ("custom", custom), ("method", "test")],
                false,
            )
            .await
        }
    };
    let rpm = |html: String| {
        let at = html.find(" RPM</p>").unwrap();
        html[..at].rsplit('>').next().unwrap().to_string()
    };
    assert_eq!(rpm(app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap()), "60");
    assert!(pay("custom", "19.99").await.status().is_success());
    assert_eq!(rpm(app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap()), "60");
    assert!(pay("custom", "0.01").await.status().is_client_error(), "below the minimum custom amount");
    assert!(pay("custom", "10.01").await.status().is_success());
    assert_eq!(rpm(app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap()), "1000");
    // The bar toward the next tier counts everything paid: CNY 30.00 of 300.00 is 10%, not 0% for a tier
    // just reached.
    let user = app.user_id("tiers@example.com").await;
    let next = gatehouse::server::billing_view::balance(&app.state, user, gatehouse::i18n::Locale::en)
        .await
        .unwrap()
        .next_tier
        .unwrap();
    assert_eq!((next.rpm, next.percent), (10_000, 10));
    assert!(pay("custom", "269.99").await.status().is_success());
    assert_eq!(paid_minor(&app, "tiers@example.com").await, 29_999);
    assert_eq!(rpm(app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap()), "1000");
    assert!(pay("custom", "10").await.status().is_success());
    assert_eq!(rpm(app.get_page("/billing/balance", Some(&cookie)).await.text().await.unwrap()), "10000");
    // Options other than those offered are refused.
    assert_eq!(pay("7", "").await.status(), 400);
}

/// A stand-in for Stripe's API that records the checkout sessions asked for.
async fn mock_stripe() -> (String, Arc<Mutex<Vec<String>>>) {
    use axum::routing::post;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let router = axum::Router::new().route(
        "/v1/checkout/sessions",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let n = {
                    let mut seen = record.lock().unwrap();
                    seen.push(format!("{auth}\n{body}"));
                    seen.len()
                };
                axum::Json(serde_json::json!({
                    "id": format!("cs_test_mock_{n}"),
                    "object": "checkout.session",
                    "url": format!("https://checkout.stripe.com/c/pay/cs_test_mock_{n}")
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (format!("http://{addr}"), seen)
}

async fn stripe_app() -> (TestApp, Arc<Mutex<Vec<String>>>) {
    let (base, seen) = mock_stripe().await;
    let app = spawn_app_with(&[
        ("STRIPE_SECRET_KEY", "sk_test_gatehouse"),
        ("STRIPE_WEBHOOK_SECRET", WEBHOOK_SECRET),
        ("STRIPE_API_BASE", base.as_str()),
        ("TEST_PAYMENTS", "false"),
    ])
    .await;
    (app, seen)
}

async fn send_webhook(app: &TestApp, payload: &[u8], signature: &str) -> reqwest::Response {
    app.client
        .post(app.url("/webhooks/stripe"))
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(payload.to_vec())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn stripe_checkout_is_created_and_the_signed_webhook_credits_once() {
    let (app, seen) = stripe_app().await;
    let cookie = app.log_in("stripe@example.com").await;
    let html = app.get_page("/billing/topup", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Pay with card (Stripe)"));
    assert!(!html.contains("Test payment"), "test payments are off here");

    let res =
        post_as(&app, "/api/billing_topup", &cookie, &[("amount", "100"), ("custom", ""), ("method", "card")], true)
            .await;
    assert_eq!(res.status(), 302);
    assert_eq!(res.headers()["location"], "https://checkout.stripe.com/c/pay/cs_test_mock_1");
    let request = seen.lock().unwrap()[0].clone();
    assert!(request.starts_with("Bearer sk_test_gatehouse\n"));
    assert!(request.contains("line_items%5B0%5D%5Bprice_data%5D%5Bunit_amount%5D=10000"), "{request}");
    assert!(request.contains("line_items%5B0%5D%5Bprice_data%5D%5Bcurrency%5D=cny"));
    let (topup_id,): (i64,) = sqlx::query_as("SELECT id FROM topups WHERE checkout_session_id = 'cs_test_mock_1'")
        .fetch_one(app.state.db.pool())
        .await
        .unwrap();
    // Nothing is credited before Stripe confirms.
    assert_eq!(balance_of(&app, "stripe@example.com").await, usd("0.10"));

    let event = stripe::completed_event("evt_1", "cs_test_mock_1", topup_id, 10_000, "cny");
    let now = now_ms() / 1000;
    let bad = stripe_signature::sign("whsec_wrong", now, &event);
    assert_eq!(send_webhook(&app, &event, &bad).await.status(), 400);
    let stale = stripe_signature::sign(WEBHOOK_SECRET, now - 3600, &event);
    assert_eq!(send_webhook(&app, &event, &stale).await.status(), 400);
    assert_eq!(send_webhook(&app, &event, "").await.status(), 400);
    assert_eq!(balance_of(&app, "stripe@example.com").await, usd("0.10"), "refused events credit nothing");

    let good = stripe_signature::sign(WEBHOOK_SECRET, now, &event);
    assert_eq!(send_webhook(&app, &event, &good).await.status(), 200);
    assert_eq!(balance_of(&app, "stripe@example.com").await, usd("14.10"));
    // Stripe delivers the same event again: credited once.
    assert_eq!(send_webhook(&app, &event, &good).await.status(), 200);
    // A second event for the same session (e.g. async_payment_succeeded) does not credit again either.
    let second = stripe::completed_event("evt_2", "cs_test_mock_1", topup_id, 10_000, "cny");
    assert_eq!(send_webhook(&app, &second, &stripe_signature::sign(WEBHOOK_SECRET, now, &second)).await.status(), 200);
    assert_eq!(balance_of(&app, "stripe@example.com").await, usd("14.10"));
    assert_eq!(paid_minor(&app, "stripe@example.com").await, 10_000);
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_webhook_whose_amount_does_not_match_the_order_credits_nothing() {
    let (app, _) = stripe_app().await;
    let cookie = app.log_in("mismatch@example.com").await;
    post_as(&app, "/api/billing_topup", &cookie, &[("amount", "20"), ("custom", ""), ("method", "card")], false).await;
    let (topup_id,): (i64,) = sqlx::query_as("SELECT id FROM topups").fetch_one(app.state.db.pool()).await.unwrap();
    let event = stripe::completed_event("evt_x", "cs_test_mock_1", topup_id, 1, "cny");
    let sig = stripe_signature::sign(WEBHOOK_SECRET, now_ms() / 1000, &event);
    assert_eq!(send_webhook(&app, &event, &sig).await.status(), 200);
    let garbage = b"not json";
    let sig = stripe_signature::sign(WEBHOOK_SECRET, now_ms() / 1000, garbage);
    assert_eq!(send_webhook(&app, garbage, &sig).await.status(), 400);
    assert_eq!(balance_of(&app, "mismatch@example.com").await, usd("0.10"));
}

#[tokio::test]
async fn test_payments_are_refused_when_turned_off() {
    let app = spawn_app_with(&[("TEST_PAYMENTS", "false")]).await;
    let cookie = app.log_in("nopay@example.com").await;
    let res =
        post_as(&app, "/api/billing_topup", &cookie, &[("amount", "20"), ("custom", ""), ("method", "test")], false)
            .await;
    assert_eq!(res.status(), 403);
    assert_eq!(balance_of(&app, "nopay@example.com").await, usd("0.10"));
    let html = app.get_page("/billing/topup", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Card payments are not set up on this server yet"));
    // Without Stripe or test payments there is no webhook to post to.
    assert_eq!(send_webhook(&app, b"{}", "t=1,v1=00").await.status(), 404);
}

async fn redeem(app: &TestApp, cookie: &str, code: &str) -> reqwest::Response {
    post_as(app, "/api/billing_redeem", cookie, &[("code", code)], false).await
}

#[tokio::test]
async fn redemption_codes_work_once_and_explain_every_refusal() {
    let app = spawn_app().await;
    let a = app.log_in("coder-a@example.com").await;
    let b = app.log_in("coder-b@example.com").await;
    let now = now_ms();
    let single = NewCodes { count: 1, amount: usd("5"), max_uses: 1, expires_at: None, note: "", now };
    let code = redemption::create(&mut app.state.db.pool().acquire().await.unwrap(), single).await.unwrap().remove(0);
    // Typed in lower case with spaces: still the same code.
    let typed = format!(" {} ", code.to_lowercase());
    assert_eq!(redeem(&app, &a, &typed).await.status(), 200);
    assert_eq!(balance_of(&app, "coder-a@example.com").await, usd("5.10"));
    let again = redeem(&app, &a, &code).await;
    assert_eq!(again.status(), 400);
    assert!(again.text().await.unwrap().contains("already redeemed"));
    let used = redeem(&app, &b, &code).await;
    assert_eq!(used.status(), 400);
    assert!(used.text().await.unwrap().contains("already been used"));
    let unknown = redeem(&app, &b, "GH-NOPE-NOPE-NOPE-NOPE").await;
    assert!(unknown.text().await.unwrap().contains("does not exist"));
    let expired = NewCodes { count: 1, amount: usd("5"), max_uses: 1, expires_at: Some(now - 1), note: "", now };
    let old = redemption::create(&mut app.state.db.pool().acquire().await.unwrap(), expired).await.unwrap().remove(0);
    assert!(redeem(&app, &b, &old).await.text().await.unwrap().contains("expired"));
    assert_eq!(balance_of(&app, "coder-b@example.com").await, usd("0.10"));

    // A multi-use code: each account once, up to its number of uses; codes do not raise the tier.
    let multi = NewCodes { count: 1, amount: usd("1"), max_uses: 2, expires_at: None, note: "", now };
    let shared = redemption::create(&mut app.state.db.pool().acquire().await.unwrap(), multi).await.unwrap().remove(0);
    assert_eq!(redeem(&app, &a, &shared).await.status(), 200);
    assert_eq!(redeem(&app, &b, &shared).await.status(), 200);
    let c = app.log_in("coder-c@example.com").await;
    assert!(redeem(&app, &c, &shared).await.text().await.unwrap().contains("already been used"));
    assert_eq!(paid_minor(&app, "coder-a@example.com").await, 0);

    // Without JavaScript the form returns to the page with the message.
    let res = post_as(&app, "/api/billing_redeem", &c, &[("code", "GH-NOPE")], true).await;
    assert_eq!(res.status(), 302);
    assert!(res.headers()["location"].to_str().unwrap().starts_with("/billing/topup?code_error="));
    audit_clean(&app).await;
}

async fn seed_bills(app: &TestApp, email: &str) {
    let user = app.user_id(email).await;
    let now = now_ms();
    common::grant_claude_code_package(&app.state.db, user, 20, "seed-grant").await;
    for (i, (channel, model, key)) in [
        ("cc-omg", "claude-sonnet-4-5", "laptop"),
        ("cc-omg", "claude-haiku-4-5", "translate"),
        ("default", "gpt-4o", "laptop"),
    ]
    .into_iter()
    .enumerate()
    {
        let usage = Usage { input: 1000, output: 500, ..Usage::default() };
        let official = app.state.pricing.current().table.cost(model, &usage).unwrap();
        let s = Settlement {
            facts: Default::default(),
            user_id: user,
            request_key: &format!("seed-{i}"),
            api_key_id: None,
            key_name: Some(key),
            channel,
            model,
            usage,
            official,
            multiplier: app.state.pricing.current().multipliers.for_channel(channel),
            now: now + i64::try_from(i).unwrap(),
        };
        ledger::settle(app.state.db.pool(), s).await.unwrap();
    }
}

#[tokio::test]
async fn packages_and_bills_pages_list_deductions_and_calls_with_filters_and_csv() {
    let app = spawn_app().await;
    let cookie = app.log_in("bills@example.com").await;
    seed_bills(&app, "bills@example.com").await;

    let html = app.get_page("/billing/packages", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Claude Code API $20"));
    // Sonnet 4.5: 1000 x $3 + 500 x $15 per million = $0.0105; Haiku 4.5: $0.0035.
    assert!(html.contains("$19.986"), "remaining after two deductions");
    assert!(html.contains("Deduction records (2)"));
    assert!(html.contains("Claude Code (cc-omg) · Claude models in web chat"));

    let html = app.get_page("/billing/bills", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("3 calls, page 1 of 1"));
    assert!(html.contains("claude-haiku-4-5") && html.contains("gpt-4o"));
    // gpt-4o on the plain channel is paid by the balance at x 1: 1000 x 2.5 + 500 x 10 per million.
    assert!(html.contains("$0.0075"));

    let html = app.get_page("/billing/bills?model=gpt-4o", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("1 call, page 1 of 1"));
    let html = app.get_page("/billing/bills?key=translate", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("1 call, page 1 of 1"));
    let html =
        app.get_page("/billing/bills?from=2000-01-01&until=2000-01-02", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("No calls match."));
    let html = app.get_page("/billing/bills?from=someday", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("is not a date like 2026-11-25"));

    let csv = app.get_page("/billing/bills.csv?key=laptop", Some(&cookie)).await;
    assert_eq!(csv.status(), 200);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = csv.text().await.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("time_utc,key,channel,model"));
    assert!(lines.iter().any(|l| l.contains(",laptop,default,gpt-4o,1000,500,0,0,0.0075,0,0.0075,1")), "{text}");
    assert!(
        lines.iter().any(|l| l.contains(",laptop,cc-omg,claude-sonnet-4-5,1000,500,0,0,0.0105,0.0105,0,0.2")),
        "{text}"
    );

    // Another person sees none of it.
    let other = app.log_in("someone-else@example.com").await;
    let html = app.get_page("/billing/bills", Some(&other)).await.text().await.unwrap();
    assert!(html.contains("No calls match."));
    let html = app.get_page("/billing/packages", Some(&other)).await.text().await.unwrap();
    assert!(html.contains("No resource packages yet"));
    let csv = app.get_page("/billing/bills.csv", Some(&other)).await.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1);
    audit_clean(&app).await;
}

#[tokio::test]
async fn bills_are_paged_fifty_at_a_time() {
    let app = spawn_app().await;
    let cookie = app.log_in("many@example.com").await;
    let user = app.user_id("many@example.com").await;
    for i in 0..55 {
        let s = Settlement {
            facts: Default::default(),
            user_id: user,
            request_key: &format!("many-{i}"),
            api_key_id: None,
            key_name: Some("k"),
            channel: "default",
            model: "gpt-4o-mini",
            usage: Usage { input: 10, ..Usage::default() },
            official: Money::from_units(1_500),
            multiplier: Decimal::ONE,
            now: now_ms() + i,
        };
        ledger::settle(app.state.db.pool(), s).await.unwrap();
    }
    let html = app.get_page("/billing/bills", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("55 calls, page 1 of 2"));
    assert!(html.contains("/billing/bills?page=2"));
    let html = app.get_page("/billing/bills?page=2", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("55 calls, page 2 of 2"));
    assert_eq!(html.matches("data-testid=\"balance-paid\"").count(), 5);
}

#[tokio::test]
async fn the_operator_commands_credit_grant_create_codes_and_audit() {
    let url = common::fresh_database_url().await;
    let app = spawn_app_with(&[("DATABASE_URL", url.as_str())]).await;
    app.log_in("op@example.com").await;

    let out = cli(&url, &["admin", "credit", "op@example.com", "3.5", "--reason", "goodwill", "--key", "ticket-1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("balance now $3.60"));
    let again = cli(&url, &["admin", "credit", "op@example.com", "3.5", "--reason", "goodwill", "--key", "ticket-1"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already applied"));
    let missing_reason = cli(&url, &["admin", "credit", "op@example.com", "1"]);
    assert!(!missing_reason.status.success());
    let nobody = cli(&url, &["admin", "credit", "nobody@example.com", "1", "--reason", "x"]);
    assert!(String::from_utf8_lossy(&nobody.stderr).contains("no account"));

    let out = cli(&url, &["admin", "grant-package", "op@example.com", "20", "--days", "30"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"Claude Code API $20.00\""), "{out:?}");

    let out = cli(&url, &["admin", "create-codes", "5", "--count", "3", "--uses", "1", "--days", "7"]);
    assert!(out.status.success());
    let codes: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(codes.len(), 3);
    assert!(codes.iter().all(|c| c.starts_with("GH-")));

    let out =
        cli(&url, &["admin", "record-call", "op@example.com", "claude-opus-4-1", "--input", "1000", "--output", "100"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("packages paid $0.0225"), "{out:?}");
    assert_eq!(balance_of(&app, "op@example.com").await, usd("3.60"));

    let out = cli(&url, &["audit"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stdout).contains("clean"));
    sqlx::query("UPDATE users SET balance = balance - 7").execute(app.state.db.pool()).await.unwrap();
    let out = cli(&url, &["audit"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BREACH: account"));
    assert_eq!(cli(&url, &["frobnicate"]).status.code(), Some(2));
}

#[tokio::test]
async fn movements_sum_each_run_of_calls_and_every_line_follows_from_the_one_before() {
    let app = spawn_app().await;
    app.log_in("moves@example.com").await;
    let user = app.user_id("moves@example.com").await;
    let pool = app.state.db.pool();
    let day = 86_400_000;
    let start = now_ms() - 2 * day;
    let call = |key: String, at: i64, official: &str| Settlement {
        facts: Default::default(),
        user_id: user,
        request_key: Box::leak(key.into_boxed_str()),
        api_key_id: None,
        key_name: Some("laptop"),
        channel: "default",
        model: "gpt-4o",
        usage: Usage { input: 1000, ..Usage::default() },
        official: usd(official),
        multiplier: Decimal::ONE,
        now: at,
    };
    // Two calls, a top-up, two more calls the same day, one call the next day.
    ledger::settle(pool, call("m1".into(), start, "0.01")).await.unwrap();
    ledger::settle(pool, call("m2".into(), start + 1, "0.02")).await.unwrap();
    let credit = ledger::Credit {
        user_id: user,
        key: "moves-topup",
        kind: ledger::EntryKind::Topup,
        amount: usd("2.80"),
        paid_minor: 2000,
        memo: &gatehouse::server::domain::ledger_memo::paid(2000, "CNY", None),
        now: start + 2,
    };
    ledger::credit_now(pool, credit).await.unwrap();
    ledger::settle(pool, call("m3".into(), start + 3, "0.000123")).await.unwrap();
    ledger::settle(pool, call("m4".into(), start + 4, "0.5")).await.unwrap();
    ledger::settle(pool, call("m5".into(), start + day, "0.25")).await.unwrap();

    let lines = gatehouse::server::domain::bills::movements(pool, user, start - day, 200).await.unwrap();
    let shape: Vec<(i64, i64)> = lines.iter().map(|l| (l.calls, l.balance_delta.units())).collect();
    assert_eq!(
        shape,
        vec![
            (1, -usd("0.25").units()),
            (2, -usd("0.500123").units()),
            (0, usd("2.80").units()),
            (2, -usd("0.03").units()),
            (0, usd("0.10").units()),
        ]
    );
    for pair in lines.windows(2) {
        assert_eq!(pair[1].balance_after.checked_add(pair[0].balance_delta), Some(pair[0].balance_after));
    }
    assert_eq!(lines[0].balance_after, balance_of(&app, "moves@example.com").await);

    // The page: one line per run, in cents with the exact figure beside it.
    let rows = gatehouse::server::billing_view::movements(&app.state, user, gatehouse::i18n::Locale::en).await.unwrap();
    assert_eq!(rows[1].what, "API calls (2 calls)");
    assert_eq!(rows[1].balance_change.shown, "-$0.50");
    assert_eq!(rows[1].balance_change.exact, "-$0.500123");
    assert!(rows[1].balance_change.rounded);
    assert_eq!(rows[2].what, "Top-up");

    // The Bills totals add up what the filter matches.
    let sums = gatehouse::server::domain::bills::totals(pool, user, &Default::default()).await.unwrap();
    assert_eq!(sums.calls, 5);
    assert_eq!(sums.balance_paid, usd("0.780123"));
    assert_eq!(sums.official_cost, usd("0.780123"));
    let html = app.get_page("/billing/bills", Some(&app.log_in("moves@example.com").await)).await.text().await.unwrap();
    assert!(html.contains("Total, 5 calls matching"), "{html}");
    assert!(html.contains("exactly $0.780123"));
    audit_clean(&app).await;
}

#[tokio::test]
async fn a_key_created_by_a_plain_form_post_is_shown_once_on_the_page_it_lands_on() {
    let app = spawn_app().await;
    let cookie = app.log_in("nojs@example.com").await;
    let user = app.user_id("nojs@example.com").await;
    let form = [("name", "Plain form"), ("days", ""), ("cap", "2"), ("models", "")];
    let res = post_as(&app, "/keys", &cookie, &form, true).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let keys = gatehouse::server::domain::keys::list(app.state.db.pool(), user).await.unwrap();
    assert_eq!(keys.len(), 1);
    let start = html.find("value=\"sk-gh-").expect("the secret on the page") + "value=\"".len();
    let secret: String =
        html[start..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    assert!(secret.starts_with(&keys[0].prefix.trim_end_matches('…').to_string()), "{secret} vs {}", keys[0].prefix);
    assert!(gatehouse::server::domain::keys::by_secret(app.state.db.pool(), &secret).await.unwrap().is_some());
    // Shown once: the page itself never shows it again.
    let again = app.get_page("/keys", Some(&cookie)).await.text().await.unwrap();
    assert!(!again.contains(&secret));

    // A bad form is explained and creates nothing; signed out or from another site, nothing either.
    let res =
        post_as(&app, "/keys", &cookie, &[("name", "x"), ("days", "soon"), ("cap", ""), ("models", "")], true).await;
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("number of days"));
    let res = app.client.post(app.url("/keys")).header("origin", &app.address).form(&form).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .post(app.url("/keys"))
        .header("origin", "https://evil.example")
        .header("cookie", format!("gh_session={cookie}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    assert_eq!(gatehouse::server::domain::keys::list(app.state.db.pool(), user).await.unwrap().len(), 1);
}

#[tokio::test]
async fn usage_sums_the_last_thirty_days_per_day_channel_model_and_key_and_exports_them() {
    let app = spawn_app().await;
    let cookie = app.log_in("usage@example.com").await;
    seed_bills(&app, "usage@example.com").await;
    let user = app.user_id("usage@example.com").await;
    let v = gatehouse::server::usage_view::usage(&app.state, user, gatehouse::i18n::Locale::en).await.unwrap();
    assert_eq!(v.days.len(), 30);
    assert_eq!(v.days.iter().map(|d| d.calls).sum::<i64>(), 3);
    assert_eq!(v.days.last().unwrap().calls, 3, "today's bar holds today's calls");
    assert_eq!(v.total.calls, 3);
    // gpt-4o on the plain channel is the only call the balance paid: $0.0075.
    assert_eq!(v.total.balance_paid.exact, "$0.0075");
    assert_eq!(v.by_model.len(), 3);
    for lines in [&v.by_channel, &v.by_model, &v.by_key] {
        assert_eq!(lines.iter().map(|l| l.calls).sum::<i64>(), 3);
    }
    let res = app.get_page("/billing/usage.csv", Some(&cookie)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-disposition"], "attachment; filename=\"gatehouse-usage.csv\"");
    let csv = res.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(csv.lines().any(|l| l.ends_with(",default,gpt-4o,laptop,1,1000,500,0.0075,0,0.0075")), "{csv}");
    let html = app.get_page("/billing/usage", Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Spend per day, last 30 days"));
    // Signed out: sent to log in.
    let res = app.get_page("/billing/usage.csv", None).await;
    assert_eq!(res.status(), 303);
}

/// Starting checkouts and leaving them unpaid is limited: the sixth unfinished one within an hour is
/// refused with a clear message, and no order or Stripe session is made for it.
#[tokio::test]
async fn unfinished_checkouts_are_limited_per_hour() {
    let (app, seen) = stripe_app().await;
    let cookie = app.log_in("abandoner@example.com").await;
    for n in 0..5 {
        let res = post_as(
            &app,
            "/api/billing_topup",
            &cookie,
            &[("amount", "100"), ("custom", ""), ("method", "card")],
            false,
        )
        .await;
        assert!(res.status().is_success() || res.status().is_redirection(), "checkout {n}: {}", res.status());
    }
    let res =
        post_as(&app, "/api/billing_topup", &cookie, &[("amount", "100"), ("custom", ""), ("method", "card")], false)
            .await;
    assert_eq!(res.status(), 429);
    assert!(res.text().await.unwrap().contains("not finished"));
    assert_eq!(seen.lock().unwrap().len(), 5, "no sixth Stripe session");
    let (orders,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM topups").fetch_one(app.state.db.pool()).await.unwrap();
    assert_eq!(orders, 5);
}
