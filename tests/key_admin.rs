//! The key-management API (the seed's "API KEY management"): form-encoded POSTs with a managing key,
//! replies `{"statusCode","message","data"}`; lists show prefixes only; created keys cannot manage.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, TestApp};
use gatehouse::server::domain::keys;
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
