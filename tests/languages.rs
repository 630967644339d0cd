//! Languages over HTTP: the switcher's route, the page's `<html lang>` from the cookie or `Accept-Language`,
//! the choice kept on a signed-in account, and the login email in each language.
#![cfg(feature = "ssr")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::spawn_app;
use reqwest::header::{ACCEPT_LANGUAGE, COOKIE, LOCATION, ORIGIN, SET_COOKIE};

#[tokio::test]
async fn the_switcher_sets_the_cookie_and_goes_back_only_to_this_site() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/lang/zh?next=%2Fbilling%2Fbills%3Fpage%3D2")).send().await.unwrap();
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()[LOCATION], "/billing/bills?page=2");
    let cookie = res.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.starts_with("i18n_pref_locale=zh;") && cookie.contains("Path=/"), "{cookie}");

    let away = app.client.get(app.url("/lang/ja?next=%2F%2Fevil.example")).send().await.unwrap();
    assert_eq!(away.headers()[LOCATION], "/");
    let unknown = app.client.get(app.url("/lang/fr?next=%2F")).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
    assert!(unknown.headers().get(SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_page_is_in_the_cookies_language_else_the_browsers_else_english() {
    let app = spawn_app().await;
    let page = |cookie: Option<&'static str>, accept: Option<&'static str>| {
        let mut req = app.client.get(app.url("/prices")).header("accept", "text/html");
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        if let Some(a) = accept {
            req = req.header(ACCEPT_LANGUAGE, a);
        }
        async move { req.send().await.unwrap().text().await.unwrap() }
    };
    let zh = page(None, Some("zh-CN,zh;q=0.9,en;q=0.8")).await;
    assert!(zh.contains("<html lang=\"zh\"") && zh.contains("价格"), "zh page");
    let ja = page(Some("i18n_pref_locale=ja"), Some("zh-CN")).await;
    assert!(ja.contains("<html lang=\"ja\"") && ja.contains("料金"), "the cookie wins");
    let en = page(None, Some("fr-FR,de;q=0.8")).await;
    assert!(en.contains("<html lang=\"en\"") && en.contains("Prices"), "English otherwise");
}

#[tokio::test]
async fn server_function_errors_come_in_the_pages_language() {
    let app = spawn_app().await;
    let res = app
        .client
        .post(app.url("/api/request_login"))
        .header(ORIGIN, &app.address)
        .header(COOKIE, "i18n_pref_locale=ja")
        .form(&[("email", "not-an-email"), ("next", "/")])
        .send()
        .await
        .unwrap();
    let body = res.text().await.unwrap();
    assert!(body.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)), "a Japanese error: {body}");
    assert_eq!(app.mail_count(), 0);
}

#[tokio::test]
async fn the_login_email_is_written_in_the_browsers_language_then_the_accounts() {
    let app = spawn_app().await;
    let ask = |email: &'static str, cookie: Option<&'static str>| {
        let mut req = app.client.post(app.url("/api/request_login")).header(ORIGIN, &app.address);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        async move { assert_eq!(req.form(&[("email", email), ("next", "/")]).send().await.unwrap().status(), 200) }
    };
    ask("li@example.com", Some("i18n_pref_locale=zh")).await;
    let zh = app.last_mail().unwrap();
    assert!(zh.subject.contains("登录") && zh.html.contains("lang=\"zh\""), "{}", zh.subject);
    assert!(zh.text.contains("15 分钟") && !zh.text.contains("Someone"), "{}", zh.text);

    ask("sato@example.com", Some("i18n_pref_locale=ja")).await;
    let ja = app.last_mail().unwrap();
    assert!(ja.subject.contains("ログイン") && ja.html.contains("lang=\"ja\""), "{}", ja.subject);

    ask("ann@example.com", None).await;
    assert!(app.last_mail().unwrap().subject.contains("login link"));

    // A signed-in choice is kept on the account: a browser without the cookie gets the email in it.
    let session = app.log_in("ann@example.com").await;
    let res = app
        .client
        .get(app.url("/lang/ja?next=%2F"))
        .header(COOKIE, format!("gh_session={session}"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 303);
    let id = app.user_id("ann@example.com").await;
    let user = gatehouse::server::auth::users::find(&app.state.db, id).await.unwrap().unwrap();
    assert_eq!(user.locale.as_deref(), Some("ja"));
    ask("ann@example.com", None).await;
    assert!(app.last_mail().unwrap().subject.contains("ログイン"), "the account's language");
    // ... unless the browser asking chose another.
    ask("ann@example.com", Some("i18n_pref_locale=zh")).await;
    assert!(app.last_mail().unwrap().subject.contains("登录"));
}
