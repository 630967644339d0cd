//! The key-management API (the seed's "API KEY management"): form-encoded POSTs with a managing key,
//! replies `{"statusCode","message","data"}`; lists show prefixes only; created keys cannot manage.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, TestApp};
use gatehouse::server::domain::keys;
use gatehouse::server::domain::money::Money;
use gatehouse::server::time::now_ms;
use serde_json::Value;

async fn key_for(app: &TestApp, user_id: i64, can_manage: bool) -> String {
    app.create_key(user_id, can_manage).await
}

async fn admin(app: &TestApp, path: &str, key: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(&format!("/api/v1/user/admin/{path}")))
        .bearer_auth(key)
        .form(form)
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap())
}

#[tokio::test]
async fn a_managing_key_lists_creates_updates_and_deletes_keys() {
    let app = spawn_app().await;
    app.log_in("scripts@example.com").await;
    let user = app.user_id("scripts@example.com").await;
    let manager = key_for(&app, user, true).await;

    let (status, v) = admin(&app, "balance", &manager, &[]).await;
    assert_eq!((status, v["statusCode"].as_u64()), (200, Some(200)));
    assert_eq!(v["data"]["balance"], "0.1");
    assert_eq!(v["data"]["free_balance"], "0");

    let (status, v) = admin(
        &app,
        "new-api-token",
        &manager,
        &[("remark", "translator"), ("max_fee", "2.5"), ("permissions", "[\"claude-haiku-4-5\"]"), ("expired_at", "0")],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let secret = v["data"]["token"].as_str().unwrap().to_string();
    assert!(secret.starts_with("sk-gh-") && secret.len() == 49);
    assert_eq!(v["data"]["is_admin"], false, "keys made through the API never manage keys");
    assert_eq!(v["data"]["max_fee"], "2.5");

    let (_, v) = admin(&app, "get-api-tokens", &manager, &[]).await;
    let list = v["data"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    let listed = list.iter().find(|k| k["remark"] == "translator").unwrap();
    let prefix = listed["token"].as_str().unwrap().to_string();
    assert!(prefix.ends_with('…') && !v.to_string().contains(&secret), "secrets are never listed");
    assert_eq!(listed["permissions"], serde_json::json!(["claude-haiku-4-5"]));

    let (status, v) =
        admin(&app, "update-api-token", &manager, &[("key", &prefix), ("remark", "renamed"), ("is_disabled", "1")])
            .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["data"]["remark"].as_str(), v["data"]["is_disabled"].as_bool()), (Some("renamed"), Some(true)));
    let refused = app.client.get(app.url("/v1/models")).bearer_auth(&secret).send().await.unwrap();
    assert_eq!(refused.status(), 401, "the disabled key is refused at once");

    let (status, _) =
        admin(&app, "update-api-token", &manager, &[("key", &prefix), ("permissions", "[\"llama\"]")]).await;
    assert_eq!(status, 400);
    let (status, _) = admin(&app, "del-api-token", &manager, &[("key", &secret)]).await;
    assert_eq!(status, 200);
    let (status, _) = admin(&app, "del-api-token", &manager, &[("key", &secret)]).await;
    assert_eq!(status, 404);

    let (_, v) = admin(&app, "rate-limit", &manager, &[]).await;
    assert_eq!(v["data"]["rpm"], 60);
    let (_, v) = admin(&app, "model-multiplier", &manager, &[]).await;
    assert_eq!(v["data"]["cc-omg"], "0.2");
}

#[tokio::test]
async fn ordinary_keys_and_other_accounts_cannot_manage_keys() {
    let app = spawn_app().await;
    app.log_in("a@example.com").await;
    app.log_in("b@example.com").await;
    let a = app.user_id("a@example.com").await;
    let b = app.user_id("b@example.com").await;
    let plain = key_for(&app, a, false).await;
    let (status, v) = admin(&app, "get-api-tokens", &plain, &[]).await;
    assert_eq!((status, v["statusCode"].as_u64()), (403, Some(403)));
    let (status, _) = admin(&app, "balance", "sk-gh-nope", &[]).await;
    assert_eq!(status, 401);
    // B's manager cannot touch A's keys, even knowing the full secret.
    let b_manager = key_for(&app, b, true).await;
    let (status, _) = admin(&app, "del-api-token", &b_manager, &[("key", &plain)]).await;
    assert_eq!(status, 404);
    assert_eq!(keys::list(app.state.db.pool(), a).await.unwrap().len(), 1);
}

/// A key the owner set up on the keys page, as the page makes it.
async fn page_key(app: &TestApp, user_id: i64, cap_usd: Option<i64>, can_manage: bool) -> (i64, String) {
    let new = keys::NewKey {
        user_id,
        name: "from the page",
        expires_at: None,
        spend_cap: cap_usd.map(Money::usd),
        models: &[],
        can_manage,
        on_page: true,
        now: now_ms(),
    };
    let (k, secret) = keys::create(app.state.db.pool(), new).await.unwrap();
    (k.id, secret)
}

/// A "may manage keys" key is for scripts: it cannot change itself, lift what the owner set on the page,
/// or make keys with more rights than it has.
#[tokio::test]
async fn a_managing_key_cannot_lift_limits_or_grant_more_than_it_has() {
    let app = spawn_app().await;
    app.log_in("limits@example.com").await;
    let user = app.user_id("limits@example.com").await;
    let (manager_id, manager) = page_key(&app, user, Some(10), true).await;
    let manager_prefix = keys::list(app.state.db.pool(), user).await.unwrap()[0].prefix.clone();

    // Itself: not even its name.
    for form in [vec![("max_fee", "0")], vec![("max_fee", "1000")], vec![("remark", "me")]] {
        let mut form = form;
        form.push(("key", &manager_prefix));
        let (status, v) = admin(&app, "update-api-token", &manager, &form).await;
        assert_eq!(status, 403, "{v}");
        assert!(v["message"].as_str().unwrap().contains("own settings"), "{v}");
    }
    let me = keys::find_for_user(app.state.db.pool(), user, &manager).await.unwrap().unwrap();
    assert_eq!((me.id, me.spend_cap, me.name.as_str()), (manager_id, Some(Money::usd(10)), "from the page"));

    // A key capped at $5 and disabled on the page.
    let (page_id, page_secret) = page_key(&app, user, Some(5), false).await;
    gatehouse::server::keys_view::set_disabled(&app.state, user, page_id, true, gatehouse::i18n::Locale::en)
        .await
        .unwrap();
    for form in [[("is_disabled", "0")], [("max_fee", "0")], [("max_fee", "6")]] {
        let mut form = form.to_vec();
        form.push(("key", &page_secret));
        let (status, v) = admin(&app, "update-api-token", &manager, &form).await;
        assert_eq!(status, 403, "{form:?}: {v}");
        assert!(v["message"].as_str().unwrap().contains("keys page"), "{v}");
    }
    let (status, v) = admin(&app, "update-api-token", &manager, &[("key", &page_secret), ("max_fee", "2")]).await;
    assert_eq!(status, 200, "tightening is always allowed: {v}");
    let page = keys::find_for_user(app.state.db.pool(), user, &page_secret).await.unwrap().unwrap();
    assert_eq!((page.spend_cap, page.disabled), (Some(Money::usd(2)), true));
    let refused = app.client.get(app.url("/v1/models")).bearer_auth(&page_secret).send().await.unwrap();
    assert_eq!(refused.status(), 401, "still disabled");

    // New keys: within its own $10 cap.
    let (status, v) = admin(&app, "new-api-token", &manager, &[("remark", "uncapped")]).await;
    assert_eq!(status, 403, "{v}");
    assert!(v["message"].as_str().unwrap().contains("at most $10"), "{v}");
    let (status, _) = admin(&app, "new-api-token", &manager, &[("remark", "big"), ("max_fee", "11")]).await;
    assert_eq!(status, 403);
    let (status, v) = admin(&app, "new-api-token", &manager, &[("remark", "small"), ("max_fee", "4")]).await;
    assert_eq!(status, 200, "{v}");
    let small = v["data"]["token"].as_str().unwrap().to_string();
    // A key it made may be loosened again, within its own limits; it may disable and enable it.
    let (status, _) =
        admin(&app, "update-api-token", &manager, &[("key", &small), ("max_fee", "10"), ("is_disabled", "1")]).await;
    assert_eq!(status, 200);
    let (status, _) = admin(&app, "update-api-token", &manager, &[("key", &small), ("is_disabled", "0")]).await;
    assert_eq!(status, 200);
    let (status, _) = admin(&app, "update-api-token", &manager, &[("key", &small), ("max_fee", "0")]).await;
    assert_eq!(status, 403);
    assert_eq!(keys::list(app.state.db.pool(), user).await.unwrap().len(), 3, "refused requests made nothing");
}

/// A capped manager's creations are judged one after the other: twenty parallel requests for $1 keys under
/// a $5 cap make exactly five keys.
#[tokio::test]
async fn parallel_creations_by_a_capped_manager_stay_within_its_cap() {
    let app = spawn_app().await;
    app.log_in("parallel-keys@example.com").await;
    let user = app.user_id("parallel-keys@example.com").await;
    let (_, manager) = page_key(&app, user, Some(5), true).await;
    let calls: Vec<_> = (0..20)
        .map(|i| {
            let request = app
                .client
                .post(app.url("/api/v1/user/admin/new-api-token"))
                .bearer_auth(&manager)
                .form(&[("remark", format!("script {i}")), ("max_fee", "1".into())]);
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut made = 0;
    for c in calls {
        let status = c.await.unwrap();
        assert!(status == 200 || status == 403, "{status}");
        made += usize::from(status == 200);
    }
    assert_eq!(made, 5);
    let keys = keys::list(app.state.db.pool(), user).await.unwrap();
    assert_eq!(keys.len(), 6, "the manager and the five it could make");
    let given =
        keys.iter().filter(|k| !k.limits_from_page).fold(Money::ZERO, |s, k| s.saturating_add(k.spend_cap.unwrap()));
    assert_eq!(given, Money::usd(5));
}
